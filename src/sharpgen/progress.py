"""Per-step log lines with rate and ETA, for long jobs whose output goes to a log file."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints ``label: step i/n (rate/s, elapsed, ETA) details`` after each step."""

    def __init__(self, label: str, total: int, unit: str = "step", stream: TextIO | None = None) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream or sys.stderr
        self.done = 0
        self.start = time.perf_counter()

    def step(self, details: str = "", n: int = 1) -> None:
        self.done += n
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else float("inf")
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        print(
            f"{self.label}: {self.unit} {self.done}/{self.total} ({rate:.2f} {self.unit}/s, "
            f"elapsed {elapsed:.1f} s, ETA {eta:.1f} s) {details}".rstrip(),
            file=self.stream,
            flush=True,
        )
