"""A real S3 API for the tests: moto's server on a free loopback port, as its own process, and
an empty bucket per test. Clients find it as any AWS SDK would: by ``AWS_ENDPOINT_URL_S3``."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid

import pytest

from dataflywheel import settings
from dataflywheel.serving.local import free_port


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """``http://127.0.0.1:PORT`` of a moto server started for this test session."""
    port, log = free_port(), tmp_path_factory.mktemp("moto") / "server.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [str(settings.PROJECT_ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def s3_landing(s3_endpoint, monkeypatch) -> str:
    """An ``s3://`` landing root in a new bucket; this process and its children reach it."""
    import boto3
    import fsspec

    for name, value in {
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    fsspec.filesystem("s3").clear_instance_cache()  # an instance made before these variables is stale
    bucket = f"landing-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/landing"
