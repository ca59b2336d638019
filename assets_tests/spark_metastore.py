"""The Hive metastore service a home's Spark processes share (``dataflywheel spark-metastore``),
started for a test on a free loopback port and stopped after it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from contextlib import contextmanager
from pathlib import Path

from dataflywheel import settings
from dataflywheel.serving.local import free_port
from homes import wait_for

START_SECONDS = 120  # a JVM, and the catalog's tables made in Derby on first start


@contextmanager
def spark_metastore(environment: dict[str, str], log: Path):
    """The service of the home ``environment`` names, running; its thrift:// URI."""
    port = free_port()
    command = [str(settings.PROJECT_ROOT / ".venv" / "bin" / "dataflywheel"), "spark-metastore", "--port", str(port)]
    with open(log, "wb") as output:
        service = subprocess.Popen(
            command, env=environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )

    def listening() -> bool:
        assert service.poll() is None, log.read_text(errors="replace")[-3000:]
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(listening, START_SECONDS, "the Spark metastore service", lambda: log.read_text(errors="replace"))
        yield f"thrift://127.0.0.1:{port}"
    finally:
        os.killpg(service.pid, signal.SIGTERM)
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:  # its shutdown hooks hung once in CI; the catalog is this test's own
            os.killpg(service.pid, signal.SIGKILL)
            service.wait(timeout=30)
