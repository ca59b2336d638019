-- A view over every arrival hour: its rows are always current, so it is rebuilt only when it is
-- missing or this SQL changes (meta.rebuild), not per partition.
{{ config(meta={"rebuild": "when_missing_or_changed"}) }}

-- Product events, typed, with their event-time hour and day and the product they belong to.
select
    event_id,
    event_type,
    event_ts,
    received_ts,
    {{ dbt.date_trunc('hour', 'event_ts') }} as event_hour,
    cast(event_ts as date) as event_date,
    {{ product_of('event_type') }} as product,
    tenant_id,
    user_id,
    item_id,
    item_type,
    surface,
    rec_request_id,
    position,
    propensity,
    model_version,
    dwell_ms,
    properties,
    arrival_hour,
    {{ seconds_between('event_ts', 'received_ts') }} as lateness_seconds
from {{ source('raw', 'raw_events') }}
