{{ config(meta={"dagster": {"ref": {"name": "fct_rec_impressions"}}}) }}

-- Tenant isolation: a feed never shows an item from another tenant.
select i.impression_id, i.tenant_id, d.tenant_id as item_tenant_id
from {{ ref('fct_rec_impressions') }} as i
inner join {{ ref('dim_items') }} as d on d.item_id = i.item_id
where d.tenant_id <> i.tenant_id
