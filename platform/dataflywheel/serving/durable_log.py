"""An append-only log on local disk with group commit: what the collector acknowledges is on disk.

Requests hand their records to one writer thread; it writes everything waiting, calls fsync
once for all of them, and only then resolves each request's future. Under load many requests
share one fsync (group commit), so durability costs one disk flush per batch of batches, not
per request. Records are bytes without newlines (one record per line); a line cut short by a
crash was never acknowledged and is skipped on reading. Segments are closed by size or age and
handed to compaction (``serving.compaction``), which turns them into landing-zone Parquet and
deletes them.

Each writer process takes the first free numbered slot folder under the log's root (a file
lock): service workers side by side each have a log of their own, and a slot a dead process
left behind is taken over, and its segments compacted, by the next process to start.
"""

from __future__ import annotations

import fcntl
import os
import queue
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from dataflywheel.serving.batching import take_waiting

SEGMENT_SUFFIX = ".log"
CLOSED_SUFFIX = ".closed"


MAX_SLOTS = 64


def _take_slot(root: Path):
    """The first slot folder under ``root`` no live process holds, locked, and its lock file."""
    for slot in range(MAX_SLOTS):
        folder = root / str(slot)
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / "LOCK", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return folder, lock
    raise RuntimeError(f"all {MAX_SLOTS} log slots under {root} are held by live processes")


def drained(root: Path) -> bool:
    """Everything acknowledged under ``root`` is landed: no closed segment waits for compaction
    and no open segment holds a record (it would be closed, then landed, within its age limit)."""
    if any(Path(root).glob(f"*/*{CLOSED_SUFFIX}")):
        return False
    try:
        return all(path.stat().st_size == 0 for path in Path(root).glob(f"*/*{SEGMENT_SUFFIX}"))
    except FileNotFoundError:  # closed (renamed) while looked at: not landed yet
        return False


class DurableLog:
    def __init__(self, root: Path, max_segment_bytes: int = 64 << 20, max_segment_seconds: float = 60.0):
        # One writer per slot: a second process would close the first one's open segment under it.
        self.folder, self._lock = _take_slot(Path(root))
        self.max_segment_bytes, self.max_segment_seconds = max_segment_bytes, max_segment_seconds
        self._queue: queue.Queue[tuple[bytes, Future] | None] = queue.Queue()
        self._close_open_segments()  # a crash left them: everything in them is as durable as it gets
        self._segment, self._opened_at, self._written = self._open_segment()
        self.pending_bytes = 0  # waiting for the writer: what the service reports as queue depth
        self._thread = threading.Thread(target=self._write_loop, name="durable-log", daemon=True)
        self._thread.start()

    def append(self, record: bytes) -> Future:
        """A future resolved once ``record`` is written and fsync'd (or failed with the error)."""
        if b"\n" in record:
            raise ValueError("a record is one line")
        done: Future = Future()
        self.pending_bytes += len(record)
        self._queue.put((record, done))
        return done

    def close(self) -> None:
        """Write what is queued, close the segment for compaction, stop the writer."""
        self._queue.put(None)
        self._thread.join()
        self._rotate()
        self._lock.close()

    @property
    def writing(self) -> bool:
        return self._thread.is_alive()

    def closed_segments(self) -> list[Path]:
        return sorted(self.folder.glob(f"*{CLOSED_SUFFIX}"))

    def _open_segment(self):
        name = f"{time.time_ns():020d}-{os.getpid()}{SEGMENT_SUFFIX}"
        return open(self.folder / name, "ab"), time.monotonic(), 0

    def _close_open_segments(self) -> None:
        for path in sorted(self.folder.glob(f"*{SEGMENT_SUFFIX}")):
            path.rename(path.with_suffix(CLOSED_SUFFIX))

    def _rotate(self) -> None:
        self._segment.close()
        path = Path(self._segment.name)
        if self._written:
            path.rename(path.with_suffix(CLOSED_SUFFIX))
        else:
            path.unlink()

    def _write_loop(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=1.0)
            except queue.Empty:
                first = ()
            batch = [first] if first else []
            # Everything already waiting shares this write and fsync.
            stop = first is None or take_waiting(self._queue, batch)
            if batch:
                self._commit(batch)
            if self._written and (
                self._written >= self.max_segment_bytes
                or time.monotonic() - self._opened_at >= self.max_segment_seconds
            ):
                self._rotate()
                self._segment, self._opened_at, self._written = self._open_segment()

    def _commit(self, batch: list[tuple[bytes, Future]]) -> None:
        data = b"".join(record + b"\n" for record, _ in batch)
        # A record whose client gave up (its future cancelled) is written all the same (a retry
        # of it is a redelivery raw_events dedups); only the others are told.
        waiting = [done for _, done in batch if done.set_running_or_notify_cancel()]
        try:
            self._segment.write(data)
            self._segment.flush()
            os.fsync(self._segment.fileno())
        except OSError as error:  # not acknowledged: the clients retry
            for done in waiting:
                done.set_exception(error)
        else:
            self._written += len(data)
            for done in waiting:
                done.set_result(None)
        self.pending_bytes -= sum(len(record) for record, _ in batch)


def complete_records(segment: Path) -> bytes:
    """A segment's complete records, newline-terminated; a last line without its newline was cut
    by a crash (never acknowledged)."""
    data = segment.read_bytes()
    return data[: data.rfind(b"\n") + 1]


def read_records(segment: Path) -> list[bytes]:
    return [line for line in complete_records(segment).split(b"\n") if line]
