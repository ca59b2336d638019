{#- Warehouse-specific SQL lives here, behind names, so models stay portable. -#}

{% macro seconds_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('seconds_between')(start_ts, end_ts)) }}
{%- endmacro %}

{% macro default__seconds_between(start_ts, end_ts) -%}
    {{ dbt.datediff(start_ts, end_ts, 'second') }}
{%- endmacro %}

{#- From whole microseconds: a difference of two epoch() doubles is off in the eighth digit. -#}
{% macro duckdb__seconds_between(start_ts, end_ts) -%}
    ((epoch_us({{ end_ts }}) - epoch_us({{ start_ts }})) / 1000000.0)
{%- endmacro %}

{#- Spark: to the microsecond, as on DuckDB (dbt.datediff counts whole seconds). -#}
{% macro spark__seconds_between(start_ts, end_ts) -%}
    (cast(unix_micros({{ end_ts }}) - unix_micros({{ start_ts }}) as double) / 1000000.0)
{%- endmacro %}

{#- Overrides dbt-spark's dateadd (dispatch search order in dbt_project.yml): its hour, minute
    and second steps go through unix_timestamp, which drops the fraction of a second and so moves
    attribution-window and session edges. timestampadd keeps the microseconds. -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}
