{{ config(materialized="table", tags=["directory"], meta={"freshness_hours": 26}) }}

-- One row per Jira issue or Confluence page: its project or space, author team, and age.
with container_sizes as (
    select container_id, count(*) as container_items
    from {{ ref('stg_directory_items') }}
    group by container_id
)

select
    i.item_id,
    i.tenant_id,
    i.item_type,
    i.container_id,
    i.container_type,
    c.container_items,
    i.author_team_id,
    i.author_user_id,
    i.created_at,
    i.snapshot_date as as_of_date
from {{ ref('stg_directory_items') }} as i
inner join container_sizes as c on c.container_id = i.container_id
