"""Which landed files an hour can read: each file's footer is checked against the wire schema first.

A file that cannot be read, or does not carry exactly the wire schema, is quarantined whole
(its name, the reason, and its row count where the footer gives one): one bad file never
blocks the good files of its hour, and what loads does not depend on the order the files
are listed in. A column the schema does not know rejects the file rather than being dropped:
a new field is a new schema version, agreed with the clients, not something to lose quietly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from dataflywheel.contracts.schema import SERVER_FIELDS, WIRE_TEXT_FIELDS


class FileReason(StrEnum):
    UNREADABLE_FILE = "unreadable_file"  # no Parquet footer: zero bytes, truncated, not Parquet
    MISSING_COLUMNS = "missing_columns"
    MISTYPED_COLUMNS = "mistyped_columns"
    UNEXPECTED_COLUMNS = "unexpected_columns"
    UNDECODABLE_CONTENT = "undecodable_content"  # a sound footer, but data the engine cannot decode (bad UTF-8)


@dataclass(frozen=True)
class LandedFile:
    url: str
    rows: int  # from the footer; 0 when there is no readable footer
    rejected: FileReason | None = None
    detail: str = ""

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    def reject(self, reason: FileReason, detail: str) -> "LandedFile":
        return LandedFile(self.url, self.rows, reason, detail)


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def _conforms(name: str, kind: pa.DataType) -> bool:
    return pa.types.is_timestamp(kind) if name in SERVER_FIELDS else _is_text(kind)


def schema_problem(schema: pa.Schema) -> tuple[FileReason, str] | None:
    """Why a file of this schema cannot be loaded as wire events, or None if it can."""
    expected = (*WIRE_TEXT_FIELDS, *SERVER_FIELDS)
    present = {field.name: field.type for field in schema}
    missing = [name for name in expected if name not in present]
    if missing:
        return FileReason.MISSING_COLUMNS, f"missing {', '.join(missing)}"
    mistyped = [f"{name} is {present[name]}" for name in expected if not _conforms(name, present[name])]
    if mistyped:
        return FileReason.MISTYPED_COLUMNS, "; ".join(mistyped)
    extra = [name for name in present if name not in expected]
    if extra:
        return FileReason.UNEXPECTED_COLUMNS, f"columns not in the event schema: {', '.join(extra)}"
    return None


def screen(url: str) -> LandedFile:
    """A landed file as its footer describes it: readable, or rejected with the reason."""
    try:
        with fsspec.open(url, "rb") as f:
            parquet = pq.ParquetFile(f)
            rows, schema = parquet.metadata.num_rows, parquet.schema_arrow
    except pa.ArrowInvalid as error:  # the content; an OSError (gone, no permission, the network) fails the run
        return LandedFile(url, 0, FileReason.UNREADABLE_FILE, error_summary(error))
    problem = schema_problem(schema)
    return LandedFile(url, rows) if problem is None else LandedFile(url, rows, *problem)


def error_summary(error: BaseException) -> str:
    """The first line of an error's message, bounded: what a quarantine entry records."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
