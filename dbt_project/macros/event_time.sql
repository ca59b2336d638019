{#- The event-time window of a run: [min_ts, max_ts), from vars Dagster sets per partition. -#}

{% macro window_start() %}cast('{{ var("min_ts") }}' as timestamp){% endmacro %}
{% macro window_end() %}cast('{{ var("max_ts") }}' as timestamp){% endmacro %}

{% macro in_event_time_window(column) -%}
    ({{ column }} >= {{ window_start() }} and {{ column }} < {{ window_end() }})
{%- endmacro %}

{#- The window widened on both sides, for sessions and labels that cross its edges. -#}
{% macro in_widened_window(column, hours) -%}
    ({{ column }} >= {{ dbt.dateadd('hour', -hours, window_start()) }}
     and {{ column }} < {{ dbt.dateadd('hour', hours, window_end()) }})
{%- endmacro %}

{#- How an event-time incremental model replaces its window, so re-runs are idempotent.
    DuckDB: a pre-hook deletes the window, then the materialization appends, in one transaction.
    Spark (Parquet tables: no DELETE): the model carries the hour of its window column as a
    partition column, `_window_hour`, and dbt-spark's insert_overwrite replaces the partitions the
    run writes (dbt_project.yml). An hour of the window the run writes no row for keeps its old
    rows: an hour whose every row is gone or moved since (a late event moving a session's start
    into an earlier hour, when no other session starts in its old hour) keeps them, a duplicate
    on Spark that DuckDB's delete would not leave. -#}
{% macro delete_event_time_window(column) %}
    {{ return(adapter.dispatch('delete_event_time_window')(column)) }}
{% endmacro %}

{% macro default__delete_event_time_window(column) %}
    {% if is_incremental() %}
        delete from {{ this }} where {{ in_event_time_window(column) }}
    {% endif %}
{% endmacro %}

{% macro spark__delete_event_time_window(column) %}{% endmacro %}

{% macro window_partition_by() %}
    {{ return(['_window_hour'] if target.type == 'spark' else none) }}
{% endmacro %}

{#- The partition column itself: the last one the model selects, on Spark only. -#}
{% macro window_partition_column(column) %}
    {{ return(adapter.dispatch('window_partition_column')(column)) }}
{% endmacro %}

{% macro default__window_partition_column(column) %}{% endmacro %}

{% macro spark__window_partition_column(column) %}, date_format({{ column }}, 'yyyy-MM-dd-HH') as _window_hour{% endmacro %}
