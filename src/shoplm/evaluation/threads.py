"""How many CPU threads an evaluation may use.

Kept apart from ``runner`` (which imports the Engine) so the task-head evaluations, which
never open an engine, can use it without that import.
"""

from __future__ import annotations


def limit_threads(threads: int | None) -> None:
    """Cap torch's CPU threads (None: leave as is), so two runs can share a small machine.

    Fine-tuning jobs started from here follow the cap: :func:`shoplm.finetune.job.run_in_child`
    hands this process's thread count to the child.
    """
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)
