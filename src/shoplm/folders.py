"""Writing a folder whole or not at all: saved heads, pretrained and compacted encoders, and
training checkpoints.

The new content is written beside the target and swapped in only once complete, so an
interrupted or failed write leaves the folder that was there.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced_whole(target: Path) -> Iterator[Path]:
    """A fresh path beside ``target`` to write the new folder at; on a clean exit it replaces
    ``target``, on an error it is removed and ``target`` stays as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = target.with_name(f".{target.name}.new")
    old = target.with_name(f".{target.name}.old")
    for leftover in (fresh, old):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        yield fresh
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)


__all__ = ["replaced_whole"]
