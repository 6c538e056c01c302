"""The engine's platform -> fitted map, routed through the real-time layer.

``Engine.fit`` and ``Engine.fitted`` install a fit with ``engine._fitted[platform] = fit``;
handing the engine this map instead (``Engine.attach_fitted_slots``) lets the real-time
layer lay the post-fit items over every fit at the moment it is installed, so a background
retrain swaps in complete, in one assignment, and a restarted server serves what arrived
after the last fit.
"""

from __future__ import annotations

from collections.abc import Callable

from shoplm.fitted import FittedPlatform


class FittedSlots(dict[str, FittedPlatform]):
    """A dict whose item assignment calls ``install(platform, fitted)``, which stores."""

    def __init__(self, install: Callable[[str, FittedPlatform], None]) -> None:
        super().__init__()
        self._install = install

    def __setitem__(self, platform: str, fitted: FittedPlatform) -> None:
        self._install(platform, fitted)

    def put(self, platform: str, snapshot: FittedPlatform) -> None:
        """Store a snapshot as is (the installer's own write)."""
        super().__setitem__(platform, snapshot)
