{#- The sources on Spark: each table of source `raw` (models/staging/_sources.yml) is a Parquet
    folder of the raw layer under DATAFLYWHEEL_RAW_PARQUET (the platform's settings set it: the
    home folder's raw/ by default), one file per partition, registered as an external table and
    refreshed so newly written files are read (ingest/raw_layer.py writes them). DuckDB holds the
    raw tables itself: nothing to do. -#}

{% macro register_raw_layer() %}
    {{ return(adapter.dispatch('register_raw_layer')()) }}
{% endmacro %}

{% macro default__register_raw_layer() %}{% endmacro %}

{% macro spark__register_raw_layer() %}
    {% if execute %}
        {% set root = env_var('DATAFLYWHEEL_RAW_PARQUET') %}
        {% do run_query('create database if not exists raw') %}
        {% for source in graph.sources.values() if source.source_name == 'raw' %}
            {% do run_query('create table if not exists raw.' ~ source.name ~ " using parquet location '" ~ root ~ '/' ~ source.name ~ "'") %}
            {% do run_query('refresh table raw.' ~ source.name) %}
        {% endfor %}
    {% endif %}
{% endmacro %}
