{{ config(
    pre_hook="{{ delete_event_time_window('activity_date') }}",
    partition_by=window_partition_by(),
    tags=["event_time"],
    meta={"freshness_hours": 26},
) }}

-- Per item and day: how it was seen and acted on, across all surfaces.
-- Counting per (item, user) first makes the distinct-user counts a plain count.
with per_user as (
    select
        event_date,
        tenant_id,
        item_id,
        user_id,
        min(item_type) as item_type,
        sum(case when event_type in ({{ view_events() }}) then 1 else 0 end) as views,
        sum(case when event_type in ({{ edit_events() }}) then 1 else 0 end) as edits,
        sum(case when event_type in ({{ comment_events() }}) then 1 else 0 end) as comments,
        sum(case when event_type in ({{ share_events() }}) then 1 else 0 end) as shares,
        sum(case when event_type = {{ event_type_rec_impression() }} then 1 else 0 end) as feed_impressions,
        sum(case when event_type = {{ event_type_rec_click() }} then 1 else 0 end) as feed_clicks,
        sum(coalesce(dwell_ms, 0)) as dwell_ms
    from {{ ref('stg_events') }}
    where item_id is not null and {{ in_event_time_window('event_ts') }}
    group by event_date, tenant_id, item_id, user_id
)

select
    event_date as activity_date,
    tenant_id,
    item_id,
    min(item_type) as item_type,
    sum(views) as views,
    sum(case when views > 0 then 1 else 0 end) as unique_viewers,
    sum(edits) as edits,
    sum(comments) as comments,
    sum(shares) as shares,
    sum(feed_impressions) as feed_impressions,
    sum(feed_clicks) as feed_clicks,
    sum(case when edits + comments + shares > 0 then 1 else 0 end) as engaged_users,
    sum(dwell_ms) as total_dwell_ms
    {{ window_partition_column('event_date') }}
from per_user
group by event_date, tenant_id, item_id
