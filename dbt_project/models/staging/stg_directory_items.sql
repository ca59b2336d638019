{{ config(tags=["directory"], meta={"freshness_hours": 26}) }}

-- The latest snapshot of Jira issues and Confluence pages.
select
    item_id,
    tenant_id,
    item_type,
    container_id,
    container_type,
    author_team_id,
    author_user_id,
    created_at,
    snapshot_date
from {{ source('raw', 'directory_items') }}
where snapshot_date = (select max(snapshot_date) from {{ source('raw', 'directory_items') }})
