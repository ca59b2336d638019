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

{#- Pre-hook of event-time incremental models: the run replaces its window (delete, then the
    materialization appends), inside the model's transaction, so re-runs are idempotent. -#}
{% macro delete_event_time_window(column) %}
    {% if is_incremental() %}
        delete from {{ this }} where {{ in_event_time_window(column) }}
    {% endif %}
{% endmacro %}
