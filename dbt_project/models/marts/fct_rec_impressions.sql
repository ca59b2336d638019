{{ config(
    pre_hook="{{ delete_event_time_window('impression_ts') }}",
    partition_by=window_partition_by(),
    tags=["event_hour"],
    meta={"freshness_hours": 4},
) }}

-- Built per impression hour, once its labels are mature (Dagster waits for the arrival hours
-- Settings.label_delay_hours after it): the hourly learning path does not wait for the day.
-- Every home-feed impression with its outcome: clicked, dwell, and engaged (the user then
-- edited, commented, shared or transitioned that item within the attribution window; the
-- window is no longer than the session gap, so the engagement is in the same session).
with impressions as (
    select *
    from {{ ref('stg_events') }}
    where event_type = {{ event_type_rec_impression() }} and {{ in_event_time_window('event_ts') }}
),

clicks as (
    select rec_request_id, position, min(event_ts) as click_ts, max(dwell_ms) as dwell_ms
    from {{ ref('stg_events') }}
    where event_type = {{ event_type_rec_click() }} and {{ in_widened_window('event_ts', 1) }}
    group by rec_request_id, position
),

engagements as (
    select user_id, item_id, event_ts
    from {{ ref('stg_events') }}
    where event_type in ({{ engagement_events() }}) and {{ in_widened_window('event_ts', 1) }}
),

engaged as (
    select distinct i.event_id
    from impressions as i
    inner join engagements as e
        on e.user_id = i.user_id
        and e.item_id = i.item_id
        and e.event_ts > i.event_ts
        and e.event_ts <= {{ dbt.dateadd('minute', var('attribution_window_minutes'), 'i.event_ts') }}
)

select
    i.event_id as impression_id,
    i.rec_request_id,
    i.position,
    i.tenant_id,
    i.user_id,
    i.item_id,
    i.item_type,
    i.event_ts as impression_ts,
    i.event_date as impression_date,
    i.propensity,
    i.model_version,
    c.click_ts is not null as clicked,
    c.click_ts,
    coalesce(c.dwell_ms, 0) as dwell_ms,
    g.event_id is not null as engaged
    {{ window_partition_column('i.event_ts') }}
from impressions as i
left join clicks as c
    on c.rec_request_id = i.rec_request_id and c.position = i.position and c.click_ts >= i.event_ts
left join engaged as g
    on g.event_id = i.event_id
