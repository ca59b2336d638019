"""Raw tables: ``raw_events`` per arrival hour, and the daily directory snapshots."""

from datetime import date, timedelta

import dagster as dg

from dataflywheel import settings
from dataflywheel.defs.partitions import arrival_hours, event_days
from dataflywheel.defs.resources import Warehouse
from dataflywheel.ingest.directory import load_directory_snapshot
from dataflywheel.ingest.raw_events import HourCounts, ingest_hour
from dataflywheel.ingest.volume import loaded_a_week_earlier, within_tolerance

_TOLERANCE = settings.current().volume_tolerance  # as the definitions were loaded: quoted in a description
RAW_DIRECTORY_USERS = dg.AssetKey("raw_directory_users")  # the directory sensor's marker
OWNERS = ["team:data-platform"]


def _volume_check(loaded: int, baseline: int) -> dg.AssetCheckResult:
    if baseline == 0:
        return dg.AssetCheckResult(
            check_name="volume_vs_last_week", passed=True, metadata={"baseline": "none (no data a week earlier)"}
        )
    return dg.AssetCheckResult(
        check_name="volume_vs_last_week",
        passed=within_tolerance(loaded, baseline, settings.current().volume_tolerance),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"loaded": loaded, "same_hour_last_week": baseline, "ratio": round(loaded / baseline, 3)},
    )


def _conservation_check(counts: HourCounts) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name="conservation",
        passed=counts.conserved,
        metadata={
            "landed": counts.landed,
            "loaded + duplicates + quarantined + rows of quarantined files": counts.loaded
            + counts.duplicates
            + counts.quarantined
            + counts.rejected_rows,
            "files": counts.files,
            "files_fingerprint": counts.fingerprint,
            "quarantined_files": len(counts.rejected_files),
            "files accounted for": counts.files_accounted,
        },
    )


def _files_check(counts: HourCounts) -> dg.AssetCheckResult:
    """A quarantined file fails this check (an error, so it alerts) without holding the hour back."""
    return dg.AssetCheckResult(
        check_name="files_readable",
        passed=not counts.rejected_files,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={f.name: f"{f.rejected}: {f.detail} ({f.rows} rows)" for f in counts.rejected_files},
    )


landing_events = dg.AssetSpec(
    "landing_events",
    group_name="ingestion",
    owners=OWNERS,
    kinds={"parquet"},
    partitions_def=arrival_hours(),
    description="Immutable Parquet files of product events by arrival hour, as the collector and "
    "simulator land them. Reported by the landing sensor; never rewritten.",
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=1)),
)


@dg.asset(
    deps=[landing_events],
    partitions_def=arrival_hours(),
    group_name="ingestion",
    owners=OWNERS,
    kinds={"duckdb", "parquet"},
    pool="duckdb",
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=2), warn_window=timedelta(hours=1)),
    check_specs=[
        dg.AssetCheckSpec(
            "conservation",
            asset="raw_events",
            blocking=True,
            description="Every landed file is read or quarantined whole, and every landed row is loaded, a "
            "duplicate, quarantined, or in a quarantined file: nothing is lost.",
        ),
        dg.AssetCheckSpec(
            "files_readable",
            asset="raw_events",
            description="Every landed file carries the event schema and decodes; a file that does not is "
            "quarantined whole (raw.quarantined_files, with the reason), the rest of the hour loads, and this "
            "check fails so the alerts sensor reports it. docs/operations.md: replacing a bad file.",
        ),
        dg.AssetCheckSpec(
            "volume_vs_last_week",
            asset="raw_events",
            description=f"Loaded volume within {1 - _TOLERANCE:g}x-{1 / (1 - _TOLERANCE):g}x of the same hour a "
            "week earlier.",
        ),
    ],
)
def raw_events(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Product events of one arrival hour: files screened, rows validated, deduplicated by event_id,
    malformed rows and files quarantined with a reason. Replaces the hour in one transaction, so
    re-runs are idempotent."""
    hour = context.partition_time_window.start.replace(tzinfo=None)
    with warehouse.landing() as engine:
        lateness = timedelta(hours=settings.current().allowed_lateness_hours)
        counts = ingest_hour(engine, settings.current().landing_url, hour, allowed_lateness=lateness)
        volume = _volume_check(counts.loaded, loaded_a_week_earlier(engine, hour))
        warehouse.publish_raw(engine, hour)
    return dg.MaterializeResult(
        metadata={
            "landed": counts.landed,
            "loaded": counts.loaded,
            "duplicates": counts.duplicates,
            "quarantined": counts.quarantined,
            "files": counts.files,
            "files_fingerprint": counts.fingerprint,
            "quarantined_files": len(counts.rejected_files),
            "quarantined_by_reason": counts.reasons,
            "lateness_seconds": {k: v for k, v in counts.lateness_seconds.items() if v is not None},
            "event_dates": counts.event_dates,
            "beyond_watermark": counts.beyond_watermark,
            "dagster/row_count": counts.loaded,
        },
        check_results=[_conservation_check(counts), _files_check(counts), volume],
    )


def _directory_spec(key: str | dg.AssetKey, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        group_name="ingestion",
        owners=OWNERS,
        kinds={"duckdb", "parquet"},
        description=description,
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26)),
    )


@dg.multi_asset(
    specs=[
        _directory_spec(RAW_DIRECTORY_USERS, "Daily snapshots of the user directory (teams, roles, join dates)."),
        _directory_spec("raw_directory_items", "Daily snapshots of Jira issues and Confluence pages, with homes."),
    ],
    partitions_def=event_days(),
    pool="duckdb",
)
def raw_directory(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Load one day's directory export; the snapshot date is replaced in one transaction."""
    snapshot = date.fromisoformat(context.partition_key)
    with warehouse.landing() as engine:
        rows = load_directory_snapshot(engine, settings.current().landing_url, snapshot)
        warehouse.publish_raw(engine, snapshot)
    yield dg.MaterializeResult(asset_key=RAW_DIRECTORY_USERS, metadata={"dagster/row_count": rows["directory_users"]})
    yield dg.MaterializeResult(asset_key="raw_directory_items", metadata={"dagster/row_count": rows["directory_items"]})
