{{ config(tags=["directory"], meta={"freshness_hours": 26}) }}

-- The latest snapshot of the user directory.
select
    user_id,
    tenant_id,
    team_id,
    role,
    utc_offset_hours,
    joined_at,
    snapshot_date
from {{ source('raw', 'directory_users') }}
where snapshot_date = (select max(snapshot_date) from {{ source('raw', 'directory_users') }})
