"""Dynamic batching: requests that arrive while a batch is being scored are scored together next.

Featurizing and scoring a request costs mostly a fixed amount per call (building and running
one columnar query), little per candidate. One thread takes whatever requests are waiting,
up to ``max_batch``, and hands them to ``work`` in one call. It never waits for a batch to
fill: at low load a batch is one request and costs what it did alone; under load, batches
grow by themselves, so throughput rises with load instead of latency exploding.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def take_waiting(waiting: queue.Queue | queue.SimpleQueue, batch: list, limit: int | None = None) -> bool:
    """Move what is already waiting (never waiting for more) into ``batch``, up to ``limit``
    items in all; True if the stop mark (None) was among them."""
    while limit is None or len(batch) < limit:
        try:
            item = waiting.get_nowait()
        except queue.Empty:
            return False
        if item is None:
            return True
        batch.append(item)
    return False


class Batcher(Generic[Item, Result]):
    def __init__(self, work: Callable[[list[Item]], list[Result]], max_batch: int = 32, name: str = "batcher"):
        self.work, self.max_batch = work, max_batch
        self._waiting: queue.SimpleQueue[tuple[Item, Future] | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Item) -> Future:
        """The item's result, once its batch is done (or the batch's exception)."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        future: Future = Future()
        self._waiting.put((item, future))
        return future

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def waiting(self) -> int:
        """Items submitted and not yet taken into a batch."""
        return self._waiting.qsize()

    def close(self) -> None:
        """Finish what was submitted, then stop."""
        self._closed = True
        self._waiting.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._waiting.get()
            if first is None:
                return
            batch = [first]
            stopping = take_waiting(self._waiting, batch, self.max_batch)
            self._finish(batch)
            if stopping:
                return

    def _finish(self, batch: list[tuple[Item, Future]]) -> None:
        # A request given up on (its future cancelled) is not worked on; the others are marked
        # running, so that no cancellation can come between them and their result.
        batch = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
        if not batch:
            return
        try:
            results = self.work([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
        except BaseException as failure:  # every request of the batch gets the error, none hangs
            for _, future in batch:
                future.set_exception(failure)
            return
        for (_, future), result in zip(batch, results):
            future.set_result(result)
