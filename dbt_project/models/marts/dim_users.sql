{{ config(materialized="table", tags=["directory"], meta={"freshness_hours": 26}) }}

-- One row per user: tenant, team, role, and tenure as of the latest directory snapshot.
with team_sizes as (
    select team_id, count(*) as team_size
    from {{ ref('stg_directory_users') }}
    group by team_id
)

select
    u.user_id,
    u.tenant_id,
    u.team_id,
    t.team_size,
    u.role,
    u.utc_offset_hours,
    u.joined_at,
    {{ dbt.datediff('u.joined_at', 'u.snapshot_date', 'day') }} as tenure_days,
    u.snapshot_date as as_of_date
from {{ ref('stg_directory_users') }} as u
inner join team_sizes as t on t.team_id = u.team_id
