"""db.GroupCommit: writes arriving together share one transaction, each caller gets its own
result only after the write, and one bad write fails only its own caller."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from suite_server.db import GroupCommit


class Writer:
    """A write function that records its batches and can hold the first one until told."""

    def __init__(self) -> None:
        self.batches: list[list] = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.written: set = set()

    def __call__(self, items: list) -> list:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.started.set()
            assert self.release.wait(10)
        if "bad" in items:
            raise ValueError("bad item")
        self.written.update(items)  # "committed": only now may a caller return
        return [f"stored {item}" for item in items]


def test_writes_that_arrive_during_a_write_go_together_in_the_next_one():
    writer = Writer()
    group = GroupCommit(writer)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(group.submit, 0)
        assert writer.started.wait(10)
        rest = [pool.submit(group.submit, n) for n in range(1, 8)]
        threading.Event().wait(0.3)  # every caller is waiting for the write in progress
        assert not any(future.done() for future in rest)  # nobody returns before its commit
        writer.release.set()
        results = [first.result(10)] + [future.result(10) for future in rest]
    assert results == [f"stored {n}" for n in range(8)]
    assert writer.batches[0] == [0] and sorted(writer.batches[1]) == list(range(1, 8))
    assert writer.written == set(range(8))


def test_one_bad_write_fails_only_its_own_caller():
    writer = Writer()
    group = GroupCommit(writer)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(group.submit, "a")
        assert writer.started.wait(10)
        others = {item: pool.submit(group.submit, item) for item in ("b", "bad", "c")}
        threading.Event().wait(0.2)
        writer.release.set()
        assert first.result(10) == "stored a"
        assert others["b"].result(10) == "stored b" and others["c"].result(10) == "stored c"
        with pytest.raises(ValueError, match="bad item"):
            others["bad"].result(10)
    # The batch failed as a whole, then each was written alone.
    assert sorted(writer.batches[1]) == ["b", "bad", "c"] and writer.written == {"a", "b", "c"}


def test_a_stopped_writer_leaves_no_caller_waiting_forever():
    class Stop(BaseException):
        pass

    calls = []
    entered, release = threading.Event(), threading.Event()

    def write(items):
        calls.append(list(items))
        if len(calls) == 1:
            entered.set()
            release.wait(10)
            raise Stop  # as a worker being shut down would
        return items

    group = GroupCommit(write)
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(group.submit, 1)
        assert entered.wait(10)
        second = pool.submit(group.submit, 2)
        threading.Event().wait(0.2)
        release.set()
        with pytest.raises(Stop):
            first.result(10)
        assert second.result(10) == 2  # written by the next caller's round
