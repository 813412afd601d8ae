"""The in-process runner: jobs on a few threads of this process, for running with no services
(a fresh checkout, the demo, tests), each after the request that enqueued it is done. See
runner.py for the rules every runner keeps."""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
import uuid
from dataclasses import dataclass, field

from flask import Flask, current_app, g, has_request_context

from suite_server.jobs import attempts, tasks
from suite_server.jobs.tasks import Retry, Task

_HELD = "_suite_server_held_jobs"


@dataclass(order=True)
class _Job:
    due: float  # time.monotonic()
    seq: int  # first come, first served among jobs due at the same time
    task: Task = field(compare=False)
    args: list = field(compare=False)
    kwargs: dict = field(compare=False)
    job_id: str = field(compare=False)
    retries: int = field(compare=False)
    failures: int = field(default=0, compare=False)
    reschedules: int = field(default=0, compare=False)


class InProcessRunner:
    """Jobs on a few threads of this process, for running with no services. Pending jobs are
    lost when the process exits; the job functions are the same ones RQ runs."""

    def __init__(self, app: Flask, threads: int = 2) -> None:
        self.app = app
        self.threads = threads
        self._cond = threading.Condition()
        self._heap: list[_Job] = []  # queued and scheduled jobs, soonest due first
        self._live: set[str] = set()  # ids of jobs held, queued, scheduled or running
        self._running = 0
        self._workers: list[threading.Thread] = []
        self._pid: int | None = None
        self._stopped = False
        self._seq = itertools.count()

    def enqueue(self, name, args, kwargs, *, delay=0, job_id=None, retries=0):
        task = tasks.get(name)
        with self._cond:
            if job_id is not None and job_id in self._live:
                return None
            job = _Job(0.0, 0, task, args, kwargs, job_id or uuid.uuid4().hex, retries)
            self._live.add(job.job_id)
        job.due = time.monotonic() + delay
        if has_request_context() and current_app._get_current_object() is self.app:
            # Hold it until the request is over (release_held): the request's own work, its
            # commit and its response, comes first, as it would with a separate worker.
            g.setdefault(_HELD, []).append(job)
        else:
            self._push(job)
        return job.job_id

    def depths(self) -> dict[str, int]:
        with self._cond:
            waiting = [job.task.queue for job in self._heap]
        return {name: waiting.count(name) for name in tasks.QUEUES}

    def running(self) -> int:
        """Jobs running now, on this process's threads (the admin's Queues page)."""
        with self._cond:
            return self._running

    def release_held(self, _exc: BaseException | None = None) -> None:
        """teardown_request: hand the jobs this request enqueued to the threads."""
        for job in g.pop(_HELD, []):
            self._push(job)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued, scheduled or running. False if that did not happen
        within `timeout` seconds (say, a retry is due later than that)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop now: no job starts from here on, not a queued one, not a retry that comes due, not
        one enqueued later; those are dropped (their work is still pending in the database, where
        the sweeps find it on the next start). Waits up to `timeout` for the jobs running now.
        Returns whether nothing was dropped or left running."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._stopped = True
            dropped = bool(self._heap)
            for job in self._heap:
                self._live.discard(job.job_id)
            self._heap.clear()
            self._cond.notify_all()
            workers, self._workers = self._workers, []
            while self._running and deadline > time.monotonic():
                self._cond.wait(deadline - time.monotonic())
            idle = not self._running
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return idle and not dropped

    def _push(self, job: _Job) -> None:
        with self._cond:
            if self._stopped:  # enqueued, released by a request or retried after shutdown()
                self._live.discard(job.job_id)
                return
            if self._pid != os.getpid():  # first use, or a forked child: threads do not fork
                self._pid, self._workers = os.getpid(), []
            if not self._workers:
                for number in range(self.threads):
                    worker = threading.Thread(
                        target=self._work, name=f"suite-server-job-{number}", daemon=True
                    )
                    worker.start()
                    self._workers.append(worker)
            job.seq = next(self._seq)
            heapq.heappush(self._heap, job)
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    wait = self._heap[0].due - time.monotonic() if self._heap else None
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                job = heapq.heappop(self._heap)
                self._running += 1
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

    def _run(self, job: _Job) -> None:
        try:
            attempts.perform(
                self.app,
                job.task,
                job.args,
                job.kwargs,
                last_attempt=job.failures >= job.retries,
                reschedules=job.reschedules,
            )
        except Retry as retry:
            job.reschedules += 1
            return self._later(job, retry.after)
        except Exception:
            job.failures += 1
            if job.failures <= job.retries:
                return self._later(job, attempts.backoff(job.failures))
        with self._cond:
            self._live.discard(job.job_id)

    def _later(self, job: _Job, seconds: float) -> None:
        # Pushed back while still counted as running, so drain() never sees a gap.
        job.due = time.monotonic() + seconds
        self._push(job)
