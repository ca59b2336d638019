"""How dbt models become Dagster assets: group, owners, freshness, automation and their true inputs.

Models read ``raw_events`` through the ``stg_events`` view, which has no partitions; the
translator gives each partitioned model its real dependency on the arrival hours it needs:
a day's models its 24 hours, an impression hour's labels the hours until they are mature.
"""

from datetime import timedelta
from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from dataflywheel import settings
from dataflywheel.defs.automation import when_inputs_arrive, when_missing_or_changed

DEFAULT_FRESHNESS_HOURS = 26
DIRECTORY_SOURCES = ("directory_users", "directory_items")  # raw sources loaded per daily snapshot
RAW_EVENTS = dg.AssetKey("raw_events")
EVENT_DAY_TAG = "event_time"  # models partitioned by event day
EVENT_HOUR_TAG = "event_hour"  # models partitioned by event hour (the labels)


def label_delay_of(tags: list[str]) -> int:
    """Hours after its own that a model's partition reads: an impression hour's labels arrive later."""
    return settings.current().label_delay_hours if EVENT_HOUR_TAG in tags else 0


def raw_events_dep(tags: list[str]) -> list[dg.AssetDep]:
    """The arrival hours a partitioned model's window needs loaded."""
    if EVENT_HOUR_TAG in tags:
        # Hour h's labels: clicks and engagements arriving up to label_delay_hours after it.
        mature = dg.TimeWindowPartitionMapping(start_offset=0, end_offset=label_delay_of(tags))
        return [dg.AssetDep(RAW_EVENTS, partition_mapping=mature)]
    if EVENT_DAY_TAG in tags:
        return [dg.AssetDep(RAW_EVENTS)]  # the day's 24 arrival hours; later ones: the late-events sensor
    return []


class DataflywheelTranslator(DagsterDbtTranslator):
    def __init__(self):
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return "transform"

    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props.get("resource_type") != "model":
            return spec
        meta = props.get("config", {}).get("meta", {})
        if meta.get("rebuild") == "when_missing_or_changed":
            return spec.replace_attributes(automation_condition=when_missing_or_changed())
        hours = meta.get("freshness_hours", DEFAULT_FRESHNESS_HOURS)
        raw = raw_events_dep(props.get("tags", []))
        # The directory models read the newest export loaded: rebuilt whenever one loads, never
        # waiting for a day whose export is late or missing.
        exports = [self.get_asset_key(p) for p in self._directory_sources(manifest, props)]
        snapshots = (
            [self.get_asset_key(parent) for parent in self._unpartitioned_parents(manifest, unique_id)] if raw else []
        )
        have = {d.asset_key for d in spec.deps}
        return spec.replace_attributes(
            # A model reading the source directly gets the mapping of its partitions instead of the default;
            # the models only its tests read (the dims of a relationships test) become inputs too.
            deps=[
                *(d for d in spec.deps if not raw or d.asset_key != RAW_EVENTS),
                *raw,
                *(dg.AssetDep(key) for key in snapshots if key not in have),
            ],
            freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=hours)),
            automation_condition=when_inputs_arrive(
                snapshots, may_be_missing=exports, settle_hours=label_delay_of(props.get("tags", []))
            ),
        )

    @staticmethod
    def _directory_sources(manifest: Mapping[str, Any], props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        sources = manifest["sources"]
        return [
            sources[uid]
            for uid in props.get("depends_on", {}).get("nodes", [])
            if uid in sources and sources[uid]["name"] in DIRECTORY_SOURCES
        ]

    @staticmethod
    def _unpartitioned_parents(manifest: Mapping[str, Any], unique_id: str) -> list[Mapping[str, Any]]:
        """The models without partitions (the views, the directory models) that this one reads, or
        that its tests read (a relationships test fails while its dim does not exist)."""
        nodes = manifest["nodes"]
        tests = [
            uid for uid in manifest["child_map"].get(unique_id, []) if nodes.get(uid, {}).get("resource_type") == "test"
        ]
        read = {p for uid in (unique_id, *tests) for p in nodes[uid].get("depends_on", {}).get("nodes", [])}
        return [
            nodes[uid]
            for uid in sorted(read - {unique_id})
            if nodes.get(uid, {}).get("resource_type") == "model"
            and not {EVENT_DAY_TAG, EVENT_HOUR_TAG} & set(nodes[uid].get("tags", []))
        ]
