"""The landing zone: immutable Parquet files partitioned by arrival hour.

Layout under the landing root (a local folder or any fsspec URL)::

    events/arrival_hour=2026-11-22T13/<batch>.parquet
    directory/snapshot_date=2026-11-22/users.parquet, items.parquet

A file appears whole or not at all (locally: a temporary file linked into place; on an object
store: one conditional write), and an existing file is never rewritten: landing is append-only.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from dataflywheel.contracts.schema import WIRE_TEXT_FIELDS
from dataflywheel.ingest.landed_files import schema_problem

HOUR_FORMAT = "%Y-%m-%dT%H"
EVENTS_DIR = "events"
DIRECTORY_DIR = "directory"

WIRE_SCHEMA = pa.schema(
    [pa.field(name, pa.string()) for name in WIRE_TEXT_FIELDS]
    + [pa.field("received_ts", pa.timestamp("us", tz="UTC"), nullable=False)]
)


# Dictionary-encode only the columns with few distinct values; ids and timestamps are unique.
DICTIONARY_COLUMNS = [
    "event_type",
    "tenant_id",
    "item_type",
    "surface",
    "model_version",
    "properties",
    "schema_version",
    "position",
    "role",
    "container_type",
]


def hour_key(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime(HOUR_FORMAT)


def parse_hour_key(key: str) -> datetime:
    return datetime.strptime(key, HOUR_FORMAT).replace(tzinfo=timezone.utc)


def _fs(root: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, path = fsspec.core.url_to_fs(root)
    fs.invalidate_cache(path)  # an object store's client caches listings; the landing zone changes under it
    return fs, path.rstrip("/")


def filesystem(root: str) -> fsspec.AbstractFileSystem:
    """The filesystem the landing zone at ``root`` lives on (for an engine to read it)."""
    return _fs(root)[0]


def _protocols(fs: fsspec.AbstractFileSystem) -> list[str]:
    return [fs.protocol] if isinstance(fs.protocol, str) else list(fs.protocol)


def _protocol(fs: fsspec.AbstractFileSystem) -> str:
    return _protocols(fs)[0]


def hour_dir(root: str, hour: str) -> str:
    return f"{root.rstrip('/')}/{EVENTS_DIR}/arrival_hour={hour}"


def write_atomic(table: pa.Table, url: str) -> bool:
    """Write ``table`` to ``url`` whole or not at all, never replacing a file already there; False
    if one is. Readers never see a partial file, and of two writers of one name, one wins."""
    fs, path = _fs(url)
    if _protocol(fs) in ("file", "local"):
        return _write_local(table, path)
    try:  # an object store: one conditional write (S3's If-None-Match: *), visible only once complete
        with fs.open(path, "xb") as f:
            _write_parquet(table, f)
    except FileExistsError:
        return False
    except OSError:  # some S3 APIs answer a lost race otherwise (AWS: 409 ConditionalRequestConflict)
        if fs.exists(path):
            return False
        raise
    return True


def _write_local(table: pa.Table, path: str) -> bool:
    if os.path.exists(path):
        return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        with open(tmp, "wb") as f:
            _write_parquet(table, f)
            f.flush()
            os.fsync(f.fileno())  # the collector deletes its log segment once this returns
        os.link(tmp, path)  # atomic, and refuses an existing name (a rename would replace it)
    except FileExistsError:
        return False
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    folder = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(folder)  # the new name itself survives a crash
    finally:
        os.close(folder)
    return True


def _write_parquet(table: pa.Table, f) -> None:
    # Snappy, not zstd: the edge writes every byte once and ingestion reads it once, so CPU
    # matters more than size here (measured: zstd-1 files are 0.55x the size, writing the
    # simulator's week 7% slower).
    pq.write_table(table, f, compression="snappy", use_dictionary=DICTIONARY_COLUMNS)


def land_events(root: str, hour: str, batch_name: str, table: pa.Table) -> bool:
    """Land one batch of wire-format events that all arrived in ``hour``.

    Text columns may be any Arrow string type (string, large_string, string_view): all are
    the same UTF8 in Parquet. Anything else (an all-null column, extra columns) is cast to the
    wire schema first, so the platform never lands a file it would then quarantine.
    """
    if schema_problem(table.schema) is not None or table.schema.names != WIRE_SCHEMA.names:
        table = table.select(WIRE_SCHEMA.names).cast(WIRE_SCHEMA)
    return write_atomic(table, f"{hour_dir(root, hour)}/{batch_name}.parquet")


def _stamp(info: dict) -> str:
    """What identifies a file's content cheaply: its size and modification time (S3: its ETag)."""
    modified = info.get("ETag") or info.get("mtime") or info.get("LastModified") or info.get("created") or ""
    return f"{int(info.get('size') or 0)}:{modified}"


def event_files_by_hour(root: str) -> dict[str, dict[str, str]]:
    """Landed event files by arrival hour, each with its stamp, ignoring in-flight temporary files."""
    fs, path = _fs(root)
    base = f"{path}/{EVENTS_DIR}"
    if not fs.exists(base):
        return {}
    by_hour: dict[str, dict[str, str]] = {}
    for entry, info in fs.find(base, detail=True).items():
        parent, name = entry.rsplit("/", 1)
        if name.endswith(".parquet") and "arrival_hour=" in parent:
            by_hour.setdefault(parent.rsplit("arrival_hour=", 1)[1], {})[entry] = _stamp(info)
    prefix = _url_prefix(fs)
    return {hour: {prefix + p: stamp for p, stamp in sorted(files.items())} for hour, files in sorted(by_hour.items())}


def _url_prefix(fs: fsspec.AbstractFileSystem) -> str:
    """What turns a path into the fsspec URL DuckDB and readers need (local paths stay plain)."""
    protocol = _protocol(fs)
    return "" if protocol in ("file", "local") else f"{protocol}://"


def list_event_files(root: str) -> dict[str, list[str]]:
    """Landed event files by arrival hour."""
    return {hour: list(files) for hour, files in event_files_by_hour(root).items()}


def event_file_stamps(root: str, hour: str) -> dict[str, str]:
    """Landed event files of one arrival hour, each with its stamp."""
    fs, path = _fs(hour_dir(root, hour))
    prefix = _url_prefix(fs)
    return {prefix + p: _stamp(info) for p, info in sorted(fs.glob(f"{path}/*.parquet", detail=True).items())}


def fingerprint(stamps: Mapping[str, str]) -> str:
    """What an hour's files are: their names and stamps. Any file added, removed or replaced
    changes it (a replacement of the same size written within the same clock tick aside)."""
    lines = sorted(f"{url.rsplit('/', 1)[-1]}:{stamp}" for url, stamp in stamps.items())
    return hashlib.sha1("\n".join(lines).encode()).hexdigest()[:16]


def directory_url(root: str, snapshot_date: str, name: str) -> str:
    return f"{root.rstrip('/')}/{DIRECTORY_DIR}/snapshot_date={snapshot_date}/{name}.parquet"


def list_directory_snapshots(root: str) -> list[str]:
    fs, path = _fs(root)
    base = f"{path}/{DIRECTORY_DIR}"
    if not fs.exists(base):
        return []
    return sorted(p.rsplit("snapshot_date=", 1)[1] for p in fs.ls(base, detail=False) if "snapshot_date=" in p)
