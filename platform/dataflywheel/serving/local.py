"""The service on a loopback port inside this process, for the closed loop and its tests.

Real HTTP (uvicorn, the ASGI server ``dataflywheel serve`` runs) rather than an in-process
test client: the simulated users reach the service the way any client does. In this process
so that the simulation's clock, which the service stamps everything with, is shared.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(app: FastAPI, ready_timeout_s: float = 120.0) -> Iterator[str]:
    """``app`` served on a free loopback port until the block ends (then shut down as on SIGTERM:
    the collector's open log segment is closed and landed). Yields the base URL once the app
    has started; not necessarily ready (``/readyz``: a deployment may still be missing)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="service", daemon=True)
    thread.start()
    deadline = time.monotonic() + ready_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


def deployed_version(url: str) -> str | None:
    """The model version the service at ``url`` serves with (None: nothing deployed yet)."""
    return httpx.get(f"{url}/readyz", timeout=10).json().get("model_version")
