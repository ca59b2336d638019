"""Dynamic batching: requests waiting together are served in one call, each gets its own result."""

import threading
import time

import pytest

from dataflywheel.serving.batching import Batcher


def test_requests_that_wait_while_a_batch_runs_are_taken_together_and_each_gets_its_result():
    sizes, started = [], threading.Event()

    def double(items):
        sizes.append(len(items))
        started.set()
        time.sleep(0.05)  # slow enough for the others to queue up behind the first
        return [2 * item for item in items]

    batcher = Batcher(double, max_batch=16)
    first = batcher.submit(0)
    started.wait(5)
    futures = [batcher.submit(i) for i in range(1, 41)]
    assert [f.result(5) for f in [first, *futures]] == [2 * i for i in range(41)]
    batcher.close()
    assert sizes[0] == 1  # nobody waits for a batch to fill
    assert max(sizes) == 16 and sum(sizes) == 41  # the rest went in full batches, none twice


def test_a_failing_batch_fails_each_of_its_requests_and_the_next_batch_still_runs():
    running, gate = threading.Event(), threading.Event()

    def work(items):
        running.set()
        gate.wait(5)
        if "bad" in items:
            raise ValueError("bad input")
        return items

    batcher = Batcher(work)
    blocked = batcher.submit("first")  # holds the thread while the next two queue together
    running.wait(5)
    together = [batcher.submit("ok"), batcher.submit("bad")]
    gate.set()
    assert blocked.result(5) == "first"
    for future in together:
        with pytest.raises(ValueError, match="bad input"):
            future.result(5)
    assert batcher.submit("later").result(5) == "later"
    batcher.close()


def test_closing_finishes_what_was_submitted():
    batcher = Batcher(lambda items: (time.sleep(0.01), items)[1], max_batch=4)
    futures = [batcher.submit(i) for i in range(10)]
    batcher.close()
    assert all(f.done() for f in futures) and [f.result() for f in futures] == list(range(10))


def test_a_request_given_up_on_is_skipped_and_the_batcher_keeps_serving():
    running, gate = threading.Event(), threading.Event()

    def work(items):
        running.set()
        gate.wait(5)
        return items

    batcher = Batcher(work)
    first = batcher.submit("first")
    running.wait(5)
    abandoned, kept = batcher.submit("abandoned"), batcher.submit("kept")
    assert abandoned.cancel()  # its client went away while it waited
    gate.set()
    assert first.result(5) == "first" and kept.result(5) == "kept"
    assert batcher.submit("later").result(5) == "later" and batcher.alive
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit("too late")


def test_a_wrong_number_of_results_fails_the_batch_and_not_the_batcher():
    batcher = Batcher(lambda items: items[:-1] if "short" in items else items)
    with pytest.raises(RuntimeError, match="results for a batch"):
        batcher.submit("short").result(5)
    assert batcher.submit("fine").result(5) == "fine"
    batcher.close()
