"""Connect to (or start) the Ray cluster named by the compute settings, once per process."""

from __future__ import annotations

import importlib.util
from typing import Any

from shoplm.config import ComputeSettings


class RayNotInstalledError(ImportError):
    """compute.backend is "ray" but Ray is not installed."""


def ray_available() -> bool:
    """True when the ``ray`` package can be imported."""
    return importlib.util.find_spec("ray") is not None


def ensure_ray(settings: ComputeSettings) -> Any:
    """The ``ray`` module, initialised: joins ``settings.ray_address`` or starts a local Ray.

    A Ray already initialised in this process (by a test, a notebook, a driver script) is
    used as it is, so the caller keeps control of its resources.
    """
    if not ray_available():
        raise RayNotInstalledError(
            'compute.backend is "ray" but Ray is not installed: '
            "pip install 'shoplm[ray]' (or set compute.backend to \"local\")"
        )
    import ray

    if not ray.is_initialized():
        ray.init(
            address=settings.ray_address,
            include_dashboard=False,
            configure_logging=False,
            log_to_driver=False,
        )
    return ray
