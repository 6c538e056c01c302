"""How many CPU threads an evaluation may use.

Kept apart from ``runner`` (which imports the Engine) so the task-head evaluations, which
never open an engine, can use it without that import.
"""

from __future__ import annotations

import os


def limit_threads(threads: int | None) -> None:
    """Cap torch's CPU threads here and in every child process this run starts.

    Fine-tuning jobs train in child processes, whose torch reads ``OMP_NUM_THREADS`` when
    it starts, so the variable is set as well as this process's thread count.  Lets two
    evaluations share a small machine without fighting over its cores.  None: leave as is.
    """
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
