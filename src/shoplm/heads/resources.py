"""Wall time and peak memory of one block of work, for comparing training modes.

The process-wide peak (``ru_maxrss``) only ever grows, so two modes run in one process
could not be told apart by it.  Instead a background thread samples the resident set size
while the block runs; the reported peak is the highest sample, and ``peak_rss_delta_mb``
what the block added on top of the memory the process already held when it started.
On a GPU, torch's own peak counter of allocated memory is reported as well.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import torch

INTERVAL_S = 0.05
_STATUS = Path("/proc/self/status")


def rss_mb() -> float:
    """Current resident set size in MiB (the process peak where /proc is missing)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


class ResourceMeter:
    """``with ResourceMeter() as meter: ...`` then ``meter.report()``."""

    def __init__(self, device: torch.device | None = None) -> None:
        self.device = device
        self.start_mb = 0.0
        self.peak_mb = 0.0
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def __enter__(self) -> ResourceMeter:
        self.start_mb = self.peak_mb = rss_mb()
        if self._cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.seconds = time.perf_counter() - self._started
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb())

    @property
    def _cuda(self) -> bool:
        return self.device is not None and self.device.type == "cuda"

    def _sample(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            self.peak_mb = max(self.peak_mb, rss_mb())

    def report(self) -> dict[str, float]:
        out = {
            "wall_seconds": round(self.seconds, 2),
            "peak_rss_mb": round(self.peak_mb, 1),
            "peak_rss_delta_mb": round(self.peak_mb - self.start_mb, 1),
        }
        if self._cuda:
            out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
        return out
