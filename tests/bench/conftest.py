"""The bench scripts import each other as top-level modules (``python bench/x.py`` puts
``bench/`` on the path): the tests import them the same way."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench_module() -> Callable[[str], ModuleType]:
    """Import ``bench/<name>.py`` (and what it imports from ``bench/``) by its name."""

    def load(name: str) -> ModuleType:
        sys.path.insert(0, str(BENCH))
        try:
            return importlib.import_module(name)
        finally:
            sys.path.remove(str(BENCH))

    return load
