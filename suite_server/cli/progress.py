"""A one-line progress bar on stderr for the commands that run a batch (docs/cli.md "Progress").

Only a person at a terminal wants it: when stderr is not a terminal (a pipe, a file, cron's mail,
a test's runner) nothing at all is written, so scripts see exactly the output they saw before.
The services that run a batch know nothing of this: they take a plain `on_progress(done, total)`
callback, and `progress(...)` hands them one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

OnProgress = Callable[[int, int | None], None]

BAR_WIDTH = 24
EVERY = 0.1  # seconds between redraws at most: a fast batch must not spend its time drawing


class Bar:
    """Draws `label [####....] done/total pct rate ETA` over itself with a carriage return, at
    most every EVERY seconds, and a last line with the elapsed time at `finish`."""

    def __init__(
        self,
        label: str,
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
        every: float = EVERY,
    ) -> None:
        self.label, self.stream, self.clock, self.every = label, stream, clock, every
        self.started = clock()
        self.drawn_at: float | None = None
        self.done, self.total = 0, None
        self.width = 0  # of the line on screen, to blank what a shorter line leaves

    def update(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total
        now = self.clock()
        if self.drawn_at is not None and now - self.drawn_at < self.every and done != total:
            return
        self.drawn_at = now
        self._draw(self._line(now, final=False))

    def finish(self) -> None:
        if self.drawn_at is None:
            return  # nothing to do, nothing drawn: no bar
        self._draw(self._line(self.clock(), final=True))
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, line: str) -> None:
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def _line(self, now: float, final: bool) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        parts = [self.label]
        if self.total:
            share = min(self.done / self.total, 1.0)
            filled = int(share * BAR_WIDTH)
            parts.append("[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]")
            parts.append(f"{self.done}/{self.total}")
            parts.append(f"{share:4.0%}")
        else:
            parts.append(str(self.done))
        parts.append(f"{rate:.1f}/s")
        if final:
            parts.append(f"in {duration(elapsed)}")
        elif self.total and rate > 0:
            parts.append(f"ETA {duration((self.total - self.done) / rate)}")
        return " ".join(parts)


def duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _ignore(done: int, total: int | None) -> None:
    pass


@contextmanager
def progress(label: str, stream: TextIO | None = None) -> Iterator[OnProgress]:
    """`with progress("reconciling tenants") as on_progress: service(..., on_progress=...)`:
    a bar on stderr when it is a terminal, a callback that does nothing otherwise. The bar's last
    line is drawn even when the batch stops on an error, so the error starts on a line of its
    own."""
    stream = stream or sys.stderr  # looked up now: click's test runner swaps it
    if not stream.isatty():
        yield _ignore
        return
    bar = Bar(label, stream)
    try:
        yield bar.update
    finally:
        bar.finish()
