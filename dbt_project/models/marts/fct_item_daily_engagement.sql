{{ config(
    pre_hook="{{ delete_event_time_window('activity_date') }}",
    tags=["event_time"],
    meta={"freshness_hours": 26},
) }}

-- Per item and day: how it was seen and acted on, across all surfaces.
select
    event_date as activity_date,
    tenant_id,
    item_id,
    min(item_type) as item_type,
    sum(case when event_type in ('issue_viewed', 'page_viewed') then 1 else 0 end) as views,
    count(distinct case when event_type in ('issue_viewed', 'page_viewed') then user_id end) as unique_viewers,
    sum(case when event_type in ('page_edited', 'issue_transitioned') then 1 else 0 end) as edits,
    sum(case when event_type in ('issue_commented', 'page_commented') then 1 else 0 end) as comments,
    sum(case when event_type = 'page_shared' then 1 else 0 end) as shares,
    sum(case when event_type = 'rec_impression' then 1 else 0 end) as feed_impressions,
    sum(case when event_type = 'rec_click' then 1 else 0 end) as feed_clicks,
    count(distinct case
        when event_type in ('issue_transitioned', 'issue_commented', 'page_edited', 'page_commented', 'page_shared')
        then user_id end) as engaged_users,
    sum(coalesce(dwell_ms, 0)) as total_dwell_ms
from {{ ref('stg_events') }}
where item_id is not null and {{ in_event_time_window('event_ts') }}
group by event_date, tenant_id, item_id
