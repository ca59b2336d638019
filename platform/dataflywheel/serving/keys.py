"""Per-tenant API keys: created and revoked by command, stored hashed, each bound to one tenant.

A key is ``dfw_<id>_<secret>``: the id finds its row, the secret (32 random bytes) is checked
against its SHA-256 in constant time. A fast hash is enough for a secret of that entropy (no
dictionary to guess from); the stored hash never lets anyone rebuild the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "dfw"


@dataclass(frozen=True)
class Key:
    key_id: str
    tenant_id: str
    created_at: float
    revoked_at: float | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(
                """CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,
                   secret_sha256 TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL)"""
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def _reader(self) -> sqlite3.Connection:
        """This thread's connection for lookups, kept open: a key is checked on every request,
        and opening the database costs more than the lookup. A revocation is seen at once."""
        if not hasattr(self._local, "connection"):
            self._local.connection = sqlite3.connect(self.path)
        return self._local.connection

    def create(self, tenant_id: str) -> str:
        """A new key for ``tenant_id``; the only time the full key is ever shown."""
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        with self._connect() as con:
            con.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)", (key_id, tenant_id, _digest(secret), time.time())
            )
        return f"{PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> bool:
        with self._connect() as con:
            changed = con.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (time.time(), key_id)
            ).rowcount
        return changed == 1

    def list(self) -> list[Key]:
        with self._connect() as con:
            rows = con.execute("SELECT key_id, tenant_id, created_at, revoked_at FROM api_keys ORDER BY created_at")
            return [Key(*row) for row in rows.fetchall()]

    def tenant_of(self, key: str) -> str | None:
        """The tenant a live key belongs to, or None (unknown, malformed, wrong secret, revoked)."""
        prefix, _, rest = key.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != PREFIX or not key_id or not secret:
            return None
        found = (
            self._reader()
            .execute("SELECT tenant_id, secret_sha256 FROM api_keys WHERE key_id = ? AND revoked_at IS NULL", (key_id,))
            .fetchone()
        )
        if found is None or not hmac.compare_digest(found[1], _digest(secret)):
            return None
        return found[0]
