"""How dbt models become Dagster assets: group, owners, freshness and automation from dbt config."""

from datetime import timedelta
from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

DEFAULT_FRESHNESS_HOURS = 26
DIRECTORY_SOURCES = ("directory_users", "directory_items")  # raw sources loaded per daily snapshot


class DataflywheelTranslator(DagsterDbtTranslator):
    def __init__(self):
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return "transform"

    def get_partition_mapping(self, dbt_resource_props, dbt_parent_resource_props) -> dg.PartitionMapping | None:
        """The directory models are a snapshot: they read the newest day's export, not every day's."""
        if dbt_parent_resource_props.get("name") in DIRECTORY_SOURCES:
            return dg.LastPartitionMapping()
        return super().get_partition_mapping(dbt_resource_props, dbt_parent_resource_props)

    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props.get("resource_type") != "model":
            return spec
        hours = props.get("config", {}).get("meta", {}).get("freshness_hours", DEFAULT_FRESHNESS_HOURS)
        return spec.replace_attributes(
            freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=hours)),
            automation_condition=dg.AutomationCondition.eager(),
        )
