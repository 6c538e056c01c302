"""Fit's heavy batch work on a Ray cluster, chosen by ``Settings.compute.backend = "ray"``.

- ``ray_encode``: the catalog's text vectors with Ray Data (one model per actor);
- ``ray_train``: SASRec's epoch loop data-parallel with Ray Train (DDP, one shard per worker).

Ray is an optional dependency (``pip install 'shoplm[ray]'``); nothing here imports it
until a Ray path is actually used.
"""

from shoplm.distributed.session import ensure_ray, ray_available

__all__ = ["ensure_ray", "ray_available"]
