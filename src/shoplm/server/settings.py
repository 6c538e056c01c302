"""Settings of a running server: where it listens, who may call it, how it reacts live.

Read in this order, later wins: defaults, ``<home>/server.json``, ``SHOPLM_CORS_ORIGINS`` and
``SHOPLM_READ_REQUIRES_KEY`` from the environment, explicit arguments (``shoplm serve``
options).  Kept apart from ``config.json``, which says what ``fit`` builds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shoplm.config import read_settings_file
from shoplm.realtime.settings import RealtimeSettings

SERVER_FILE = "server.json"
_TRUE_WORDS = {"1", "true", "yes", "on"}


class ServerSettings(BaseModel):
    """Unknown keys in server.json are an error naming the key."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    cors_origins: list[str] = Field(
        default_factory=list, description="Browser origins allowed to call the API; '*' for any."
    )
    read_requires_key: bool = Field(
        default=False, description="Require an API key (any scope) for search/recommend too."
    )
    metrics_requires_key: bool = Field(
        default=False, description="Require an admin API key for /metrics."
    )
    reports_dir: Path | None = Field(
        default=None, description="Evaluation reports shown by the console [<home>/reports]."
    )
    upsert_wait_s: float = Field(
        default=5.0, ge=0, le=60, description="How long ?wait=true upserts wait to be live."
    )
    warm_up: bool = Field(
        default=True, description="Load the text encoder before accepting requests."
    )
    request_threads: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Requests computed at once (the worker-thread pool of the sync routes). "
        "Work is CPU-bound and holds the GIL, so more threads than a few only queue on it: "
        "with 32 concurrent requests on 2 cores a pool of 40 served about half the rate of "
        "a pool of 4.",
    )
    compute_threads: int | None = Field(
        default=1,
        ge=1,
        description="Threads of torch and of the BLAS library inside one request; None keeps "
        "their defaults. Requests already run in parallel, and on a busy machine several "
        "threads per small operation wait on each other (seen on 2 busy cores: a query "
        "encoding took 0.5 s with 2 threads, 12 ms with 1; a recommendation 13 ms vs 4 ms).",
    )
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)

    @classmethod
    def load(cls, home: Path | None = None, **overrides: Any) -> ServerSettings:
        data = read_settings_file(Path(home) / SERVER_FILE) if home is not None else {}
        origins = os.environ.get("SHOPLM_CORS_ORIGINS")
        if origins:
            data["cors_origins"] = [o.strip() for o in origins.split(",") if o.strip()]
        if os.environ.get("SHOPLM_READ_REQUIRES_KEY", "").strip().lower() in _TRUE_WORDS:
            data["read_requires_key"] = True
        for key, value in overrides.items():
            if value is None:
                continue
            if key == "realtime" and isinstance(value, dict):
                data["realtime"] = {**data.get("realtime", {}), **value}
            else:
                data[key] = value
        return cls.model_validate(data)
