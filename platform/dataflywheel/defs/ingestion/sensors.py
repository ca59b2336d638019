"""Sensors that turn new landing-zone files into partition runs.

They only list the landing zone and keep a cursor; they never open the warehouse.
"""

import json

import dagster as dg

from dataflywheel import settings
from dataflywheel.defs.ingestion.assets import RAW_DIRECTORY_USERS, landing_events, raw_events
from dataflywheel.defs.ingestion.jobs import directory_job, ingest_job
from dataflywheel.defs.partitions import arrival_hours, event_days, landing_hour_of, partition_key_of
from dataflywheel.ingest.landing import event_files_by_hour, fingerprint, list_directory_snapshots, parse_hour_key

NO_FILES = fingerprint({})


def hours_with_changed_files(fingerprints: dict[str, str], seen: dict[str, str]) -> dict[str, str]:
    """Arrival hours whose files changed since the cursor: new files, and also a bad file an
    operator removed or replaced (docs/operations.md), down to every file of an hour removed."""
    changed = {hour: print_ for hour, print_ in fingerprints.items() if seen.get(hour) != print_}
    emptied = {hour: NO_FILES for hour, print_ in seen.items() if hour not in fingerprints and print_ != NO_FILES}
    return {**changed, **emptied}


def _from_file_counts(seen: dict, files_by_hour: dict[str, dict[str, str]]) -> dict[str, str]:
    """A cursor or load record of before fingerprints held file counts: an hour with as many
    files as then counts as seen, so an upgrade does not re-load every hour."""
    return {
        hour: fingerprint(files_by_hour.get(hour, {}))
        if isinstance(mark, int) and mark == len(files_by_hour.get(hour, {}))
        else mark
        for hour, mark in seen.items()
    }


@dg.sensor(job=ingest_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_sensor(context: dg.SensorEvaluationContext):
    """Request ``raw_events`` for every arrival hour whose files changed, late files for old hours included."""
    files_by_hour = event_files_by_hour(settings.current().landing_url)
    seen = json.loads(context.cursor) if context.cursor else loaded_fingerprints(context.instance)
    seen = _from_file_counts(seen, files_by_hour)
    changed = hours_with_changed_files({h: fingerprint(files) for h, files in files_by_hour.items()}, seen)
    partitions = arrival_hours()
    valid_keys, first = set(partitions.get_partition_keys()), partitions.start.replace(tzinfo=None)
    requests, landed, settled = [], [], {}
    for hour, print_ in sorted(changed.items()):
        key = partition_key_of(hour)
        if key not in valid_keys:
            if parse_hour_key(hour).replace(tzinfo=None) < first:  # never a partition: said once, then left
                context.log.warning(f"Landing hour {hour} is before the partitions start; skipped")
                settled[hour] = print_
            # else the hour under way: not settled, so it is requested once it is a partition
            continue
        requests.append(dg.RunRequest(run_key=f"{key}:{print_}", partition_key=key))
        landed.append(dg.AssetMaterialization(landing_events.key, partition=key, metadata={"fingerprint": print_}))
        settled[hour] = print_
    return dg.SensorResult(
        run_requests=requests, asset_events=landed, cursor=json.dumps({**seen, **settled}, sort_keys=True)
    )


def loaded_fingerprints(instance: dg.DagsterInstance) -> dict[str, str | int]:
    """The files' fingerprint of each arrival hour when ``raw_events`` last loaded it (or, for a
    load recorded before fingerprints, its file count), from Dagster's event log.

    Seeds a fresh cursor, so hours already loaded (by a backfill or the demo) are not
    requested again; an hour whose files changed since is.
    """
    prints: dict[str, str | int] = {}
    for record in _all_materializations(instance, raw_events.key):  # newest first
        metadata = record.asset_materialization.metadata
        mark = metadata.get("files_fingerprint") or metadata.get("files")
        hour = landing_hour_of(record.partition_key)
        if mark is not None and hour not in prints:
            prints[hour] = mark.value
    return prints


def _all_materializations(instance: dg.DagsterInstance, key: dg.AssetKey):
    cursor = None
    while True:
        page = instance.fetch_materializations(key, limit=10_000, cursor=cursor)
        yield from page.records
        if not page.has_more:
            return
        cursor = page.cursor


@dg.sensor(job=directory_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def directory_sensor(context: dg.SensorEvaluationContext):
    """Request the directory load for each new daily snapshot."""
    done = (
        set(json.loads(context.cursor))
        if context.cursor
        else {r.partition_key for r in _all_materializations(context.instance, RAW_DIRECTORY_USERS)}
    )
    valid_keys = set(event_days().get_partition_keys())
    snapshots = [
        d for d in list_directory_snapshots(settings.current().landing_url) if d not in done and d in valid_keys
    ]
    for snapshot_date in snapshots:
        yield dg.RunRequest(run_key=snapshot_date, partition_key=snapshot_date)
    context.update_cursor(json.dumps(sorted(done | set(snapshots))))
