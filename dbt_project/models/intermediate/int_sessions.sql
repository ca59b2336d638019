{{ config(
    pre_hook="{{ delete_event_time_window('session_start') }}",
    partition_by=window_partition_by(),
    meta={"freshness_hours": 26},
) }}

-- Sessions: a user's run of activity with no gap of session_gap_minutes or more.
-- A session belongs to the window its first event falls in; events around the window are
-- read too, so sessions crossing midnight are whole and the same from either side.
with events as (
    select
        tenant_id,
        user_id,
        event_ts,
        product,
        event_type,
        -- event_id breaks ties, so both windows below see the same total order.
        event_id,
        lag(event_ts) over (partition by user_id order by event_ts, event_id) as previous_ts
    from {{ ref('stg_events') }}
    where {{ in_widened_window('event_ts', var('boundary_hours')) }}
),

numbered as (
    select
        *,
        sum(
            case
                when previous_ts is null then 1
                when {{ seconds_between('previous_ts', 'event_ts') }} >= {{ var('session_gap_minutes') }} * 60 then 1
                else 0
            end
        ) over (partition by user_id order by event_ts, event_id rows between unbounded preceding and current row)
            as session_number
    from events
),

sessions as (
    select
        user_id,
        min(tenant_id) as tenant_id,
        min(event_ts) as session_start,
        max(event_ts) as session_end,
        count(*) as events,
        sum(case when product = {{ product_jira() }} then 1 else 0 end) as jira_events,
        sum(case when product = {{ product_confluence() }} then 1 else 0 end) as confluence_events,
        sum(case when event_type = {{ event_type_rec_impression() }} then 1 else 0 end) as feed_impressions,
        sum(case when event_type = {{ event_type_rec_click() }} then 1 else 0 end) as feed_clicks
    from numbered
    group by user_id, session_number
)

select
    {{ dbt.hash("user_id || '|' || cast(session_start as " ~ dbt.type_string() ~ ")") }} as session_id,
    tenant_id,
    user_id,
    session_start,
    session_end,
    {{ seconds_between('session_start', 'session_end') }} as duration_seconds,
    events,
    jira_events,
    confluence_events,
    feed_impressions,
    feed_clicks
    {{ window_partition_column('session_start') }}
from sessions
where {{ in_event_time_window('session_start') }}
