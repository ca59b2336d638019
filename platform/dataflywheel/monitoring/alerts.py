"""Alerts and where they go: a SQLite table and the log by default, a webhook by configuration.

The table is SQLite, not the DuckDB warehouse: alerts are written by a sensor, outside any
run, and the warehouse has one writer (a run). The webhook speaks Slack's incoming-webhook
JSON (``{"text": ...}``), which most chat tools accept.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from dataflywheel import settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    kind: str  # freshness_failed | _warning | _recovered | run_failed | blocking_check_failed | drift_confirmed | ...
    subject: str  # the asset, check or run it is about
    detail: str
    severity: str  # error | warning | info
    at: float  # when it happened (epoch seconds)
    key: str  # what makes it unique (e.g. the Dagster event's storage id): one alert per key, ever

    def text(self) -> str:
        return f"[{self.severity}] {self.kind}: {self.subject} - {self.detail}"


class AlertSink(Protocol):
    def send(self, alerts: list[Alert]) -> None: ...


class SqliteAlertSink:
    """The ``alerts`` table; ``key`` is unique, so a replayed alert is stored once."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path)
        columns = [row[1] for row in con.execute("PRAGMA table_info(alerts)")]
        if "source_id" in columns:  # the first version's table (integer ids): kept aside, not lost
            con.execute("ALTER TABLE alerts RENAME TO alerts_by_source_id")
        con.execute(
            """CREATE TABLE IF NOT EXISTS alerts (key TEXT PRIMARY KEY, kind TEXT, subject TEXT,
               detail TEXT, severity TEXT, at REAL)"""
        )
        return con

    def send(self, alerts: list[Alert]) -> None:
        with self._connect() as con:
            con.executemany(
                "INSERT OR IGNORE INTO alerts VALUES (:key, :kind, :subject, :detail, :severity, :at)",
                [asdict(a) for a in alerts],
            )
        for alert in alerts:
            log.warning(alert.text())

    def read(self) -> list[Alert]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT kind, subject, detail, severity, at, key FROM alerts ORDER BY at, rowid"
            ).fetchall()
        return [Alert(*row) for row in rows]


class WebhookAlertSink:
    def __init__(self, url: str, timeout_s: float = 5.0):
        self.url, self.timeout_s = url, timeout_s

    def send(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            body = json.dumps({"text": alert.text()}).encode()
            request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()


def configured_sinks() -> list[AlertSink]:
    """The alerts table under the home folder, and a webhook if ``DATAFLYWHEEL_ALERT_WEBHOOK`` is set."""
    config = settings.current()
    chosen: list[AlertSink] = [SqliteAlertSink(config.alerts_path)]
    if config.alert_webhook:
        chosen.append(WebhookAlertSink(config.alert_webhook))
    return chosen
