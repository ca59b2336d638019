{{ config(
    pre_hook="{{ delete_event_time_window('activity_date') }}",
    partition_by=window_partition_by(),
    tags=["event_time"],
    meta={"freshness_hours": 26},
) }}

-- Daily active users and events per tenant and product.
select
    event_date as activity_date,
    tenant_id,
    product,
    count(distinct user_id) as daily_active_users,
    count(*) as events
    {{ window_partition_column('event_date') }}
from {{ ref('stg_events') }}
where {{ in_event_time_window('event_ts') }}
group by event_date, tenant_id, product
