"""Progress of a batch on stderr: a live bar on a terminal, a plain line now and then elsewhere.

    [##########..........]  20/40 done, 1 failed, 20 left, ETA 0:14

"failed" counts submissions whose status is not ``graded``; the ETA extrapolates the
rate of the submissions graded in this run (cached ones cost nothing and are left out).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24


def _clock_text(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ProgressMeter:
    """Thread-safe counter with a rendering on ``stream``.

    On a TTY the bar is redrawn in place after every submission; otherwise one line is
    written at most every ``interval`` seconds, and always at the end.
    """

    def __init__(self, stream: TextIO | None = None, *, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, tty: bool | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.clock = clock
        self.total = self.done = self.failed = self.reused = 0
        self._lock = threading.Lock()
        self._started = self._last_line = clock()
        self._drawn = False

    def start(self, total: int, reused: int = 0, reused_failed: int = 0, unreadable: int = 0) -> None:
        """``reused`` results come from the cache (``reused_failed`` of them not ``graded``);
        ``unreadable`` entries were settled without grading (each one a failure)."""
        with self._lock:
            settled = reused + unreadable
            self.total, self.done, self.reused = total, settled, settled
            self.failed = reused_failed + unreadable
            self._started = self._last_line = self.clock()
            if reused:
                self._line(f"{reused} of {total} already graded (cache); grading {total - settled}")
            self._render(force=True)

    def update(self, ok: bool) -> None:
        with self._lock:
            self.done += 1
            self.failed += 0 if ok else 1
            self._render(force=self.done == self.total)

    def note(self, message: str) -> None:
        with self._lock:
            self._line(message)
            if self.tty and self.total:
                self._render(force=True)

    def close(self) -> None:
        with self._lock:
            if self.tty and self._drawn:
                self.stream.write("\n")
                self.stream.flush()
                self._drawn = False

    def text(self) -> str:
        left = self.total - self.done
        fresh = self.done - self.reused
        elapsed = self.clock() - self._started
        eta = _clock_text(elapsed / fresh * left) if fresh and left else ("0:00" if not left else "?")
        filled = int(BAR_WIDTH * self.done / self.total) if self.total else BAR_WIDTH
        return (f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.done:>{len(str(self.total))}}/"
                f"{self.total} done, {self.failed} failed, {left} left, ETA {eta}")

    def _render(self, force: bool) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + self.text())
            self.stream.flush()
            self._drawn = True
        elif force or self.clock() - self._last_line >= self.interval:
            self._line(self.text())

    def _line(self, message: str) -> None:
        prefix = "\r\033[K" if self.tty and self._drawn else ""
        self.stream.write(prefix + message + "\n")
        self.stream.flush()
        self._drawn = False
        self._last_line = self.clock()
