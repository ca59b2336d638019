"""A real PostgreSQL server for the tests, started from Debian's binaries on a free loopback port
and stopped after the session. PostgreSQL refuses to run as root: as root, it runs as the
``postgres`` user the Debian package creates."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from dataflywheel import settings
from dataflywheel.serving.local import free_port

USER, DATABASE = "dataflywheel", "dagster"


def server_binaries() -> Path | None:
    """The newest installed server's bin folder (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


@pytest.fixture(scope="session")
def postgres_url():
    """The SQLAlchemy URL of a fresh database on a server of this test session's own."""
    bindir = server_binaries()
    if bindir is None:
        pytest.skip("PostgreSQL's server is not installed here (Debian: apt-get install postgresql; .ci/run does)")
    with postgres_server(bindir) as url:
        yield url


@contextmanager
def postgres_server(bindir: Path):
    """Start a server with one empty database; its URL; stop the server and remove its files."""
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = _server_folder(as_postgres)
    data, port = root / "data", free_port()

    def run(*command: str) -> None:
        done = subprocess.run([*as_postgres, *command], capture_output=True, text=True, cwd=root)
        log = root / "server.log"
        assert done.returncode == 0, f"{command[0]}: {done.stderr}{log.read_text() if log.exists() else ''}"

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE)
        yield f"postgresql+psycopg2://{USER}@127.0.0.1:{port}/{DATABASE}"
    finally:
        if (data / "postmaster.pid").exists():
            stop = [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
            subprocess.run(stop, cwd=root, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _server_folder(as_postgres: list[str]) -> Path:
    """A folder the server's user owns: under the project's home folder where that user can reach
    it (every folder above it searchable), else in the system's temporary folder."""
    parent = settings.PROJECT_ROOT / ".dataflywheel" / "test-postgres"
    parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="server-", dir=parent))
    root.chmod(0o755)
    if as_postgres:
        shutil.chown(root, "postgres", "postgres")
        if subprocess.run([*as_postgres, "test", "-w", str(root)]).returncode != 0:
            shutil.rmtree(root)
            root = Path(tempfile.mkdtemp(prefix="dataflywheel-postgres-"))
            root.chmod(0o755)
            shutil.chown(root, "postgres", "postgres")
    return root
