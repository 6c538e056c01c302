"""Writing a folder or a file whole or not at all: saved heads, pretrained and compacted
encoders, training checkpoints, and the JSON files a home keeps (config, manifests, models,
key files).

The new content is written beside the target and swapped in only once complete, so an
interrupted or failed write leaves what was there, and the partial copy is removed.
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


@contextmanager
def replaced_file(target: Path) -> Iterator[Path]:
    """A path beside ``target`` to write the new file at; on a clean exit it replaces
    ``target`` (one rename), on an error it is removed and ``target`` stays as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = target.with_name(f"{target.name}.tmp")
    try:
        yield fresh
        fresh.replace(target)
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise


def write_text_whole(target: Path, text: str, mode: int | None = None) -> Path:
    """``text`` as ``target`` (UTF-8), whole or not at all; ``mode``: its permission bits,
    set before it appears under its name."""
    with replaced_file(target) as fresh:
        fresh.write_text(text, encoding="utf-8")
        if mode is not None:
            fresh.chmod(mode)
    return Path(target)


__all__ = ["replaced_file", "replaced_whole", "write_text_whole"]
