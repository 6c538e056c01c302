"""Timing and peak-memory probes for the benchmark suite.

Memory: faiss, bm25s and implicit allocate in C, which ``tracemalloc`` does not see, so a
stage's peak is the process's resident-set high-water mark (``VmHWM``).  Linux lets a
process reset that mark (``/proc/self/clear_refs`` = 5), so each measured call gets its own
peak; where the reset is refused, the lifetime peak from ``getrusage`` is reported instead
and marked as such.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _lifetime_peak_kb() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB elsewhere


@dataclass
class Measured:
    """Wall times of one measured activity (ms or s) and its resident-memory peak (MiB)."""

    times: list[float]
    unit: str
    peak_rss_mb: float
    extra_rss_mb: float  # peak minus the resident set when the activity began
    peak_exact: bool  # False: lifetime peak (the reset was refused)
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.times)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]

        return {
            "median": statistics.median(ordered),
            "p90": pct(0.90),
            "p99": pct(0.99),
            "n": len(ordered),
            "unit": self.unit,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "extra_rss_mb": round(self.extra_rss_mb, 1),
            "peak_exact": self.peak_exact,
            **self.info,
        }


class PeakMemory:
    """``with PeakMemory() as m: ...`` then ``m.peak_mb`` and ``m.extra_mb``."""

    def __enter__(self) -> PeakMemory:
        self.exact = _reset_peak()
        self.start_kb = _status_kb("VmRSS") or _lifetime_peak_kb()
        return self

    def __exit__(self, *exc: object) -> None:
        hwm = _status_kb("VmHWM") if self.exact else None
        self.peak_kb = hwm if hwm is not None else _lifetime_peak_kb()
        self.exact = self.exact and hwm is not None

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    @property
    def extra_mb(self) -> float:
        return max(0.0, (self.peak_kb - self.start_kb) / 1024)


def latencies(call: Callable[[Any], object], inputs: Sequence[Any], warmup: int = 3) -> Measured:
    """Milliseconds per call, one input at a time, after ``warmup`` untimed calls."""
    for item in inputs[:warmup]:
        call(item)
    took = []
    with PeakMemory() as memory:
        for item in inputs:
            began = time.perf_counter()
            call(item)
            took.append((time.perf_counter() - began) * 1000.0)
    return Measured(took, "ms", memory.peak_mb, memory.extra_mb, memory.exact)


def durations(run: Callable[[], object], repeats: int = 1) -> tuple[Measured, object]:
    """Seconds per run (the last run's result is returned); memory over all runs."""
    took = []
    result: object = None
    with PeakMemory() as memory:
        for _ in range(max(1, repeats)):
            result = None  # let the previous result go before the next run
            began = time.perf_counter()
            result = run()
            took.append(time.perf_counter() - began)
    return Measured(took, "s", memory.peak_mb, memory.extra_mb, memory.exact), result
