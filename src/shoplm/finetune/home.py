"""Fine-tune an engine home's encoder on its own catalog and events, then switch to it.

After :func:`finetune_home` the home's ``config.json`` names the merged model folder as
``encoder.model``, so the next ``fit`` encodes with it.  The embedding cache is keyed by the
model id, and the tuned folder's id differs from the base's, so items are re-encoded once
and vectors of the two models never mix.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoplm.datasets import SearchQuery
from shoplm.finetune.data import TrainingData
from shoplm.finetune.filtering import keep_within_rank, pairs_to_build
from shoplm.finetune.job import train
from shoplm.finetune.manifest import base_of
from shoplm.finetune.negatives import add_hard_negatives
from shoplm.finetune.pairs import recommendation_data, search_data, store_sequences
from shoplm.finetune.train import FinetuneConfig, Progress, with_task_scale
from shoplm.recommend.content import DEFAULT_HALF_LIFE, ContentModel
from shoplm.schema import EVENT_WEIGHTS, Item
from shoplm.search.learn import click_examples

if TYPE_CHECKING:
    from shoplm.engine import Engine

FINETUNE_DIR = "finetune"
TASKS = ("recommend", "search")
MIN_CLICK_QUERIES = 10  # below this a tenth held out for validation is a query or none
VALID_QUERY_SHARE = 0.1


def finetune_dir(home: Path, platform: str, mode: str, task: str = "recommend") -> Path:
    """Where one platform's run keeps its checkpoint, adapter, merged model and manifest.

    A search run keeps its own folder (``<platform>/search/<mode>``), so it never resumes or
    replaces the behaviour run's checkpoint.
    """
    root = Path(home) / FINETUNE_DIR / platform
    return root / mode if task == "recommend" else root / task / mode


def content_half_life(engine: Engine, platform: str) -> float | None:
    """The recency half-life the platform's content model builds taste vectors with.

    Validation scores the tuned encoder through that same weighting, so early stopping keeps
    the weights that serve best as the content model is actually configured (the fitted
    model's choice, or the model's default before any fit).
    """
    from shoplm.engine import NotFittedError

    try:
        model = engine.fitted(platform).models.get("content")
    except NotFittedError:
        model = None
    return model.half_life if isinstance(model, ContentModel) else DEFAULT_HALF_LIFE


def finetune_home(
    engine: Engine,
    config: FinetuneConfig,
    platform: str | None = None,
    window: int = 1,
    max_pairs: int | None = None,
    max_valid: int | None = 1000,
    negatives: str = "bm25",
    task: str = "recommend",
    max_positive_rank: int | None = None,
    use_it: bool = True,
    in_child: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Tune on the platform's behaviour; the task says which pairs and which validation.

    ``recommend``: (history -> next item) pairs, each user's newest item validates, histories
    weighed with :func:`content_half_life`.  ``search``: (query -> item acted on from its
    results) pairs from the click log (:func:`click_log_data`), a seeded share of the queries
    validates.
    ``max_positive_rank`` trains only on pairs whose next item the base already ranks within
    that many (:mod:`shoplm.finetune.filtering`); ``max_pairs`` draws from those.

    The base is the home's encoder, or the base it was tuned from when it already is a
    tuned folder; it also ranks the pairs for that filter and the vector hard negatives, so
    a second run picks the same pairs as the first.  With ``use_it`` the home's settings
    switch to the tuned folder, unless no trained step validated above the base: then the
    home keeps its encoder (``encoder_kept``; the base when that was this run's own folder),
    as switching would re-encode the catalog for no gain.  Engines opened before (this one
    included) keep the encoder they loaded until reopened.
    """
    say = progress or (lambda _msg: None)
    if task not in TASKS:
        raise ValueError(f"task must be {' or '.join(TASKS)}, got {task!r}")
    platform = engine.resolve_platform(platform)
    items = list(engine.store.iter_items(platform))
    if not items:
        raise ValueError(f"platform {platform!r} has no items: ingest a catalog first")
    config = with_task_scale(config, task)
    build = pairs_to_build(max_pairs, max_positive_rank)
    if task == "search":
        if window != 1:
            raise ValueError("window applies to task recommend (histories), not to queries")
        data = click_log_data(engine, platform, items, build, max_valid, config.seed)
    else:
        sequences = store_sequences(engine.store, platform)
        if not sequences:
            raise ValueError(f"platform {platform!r} has no events: fine-tuning learns from them")
        data = recommendation_data(
            items, sequences, window=window, half_life=content_half_life(engine, platform),
            max_pairs=build, max_valid=max_valid, seed=config.seed,
        )  # fmt: skip
    base = base_of(engine.settings.encoder.model)
    encode = engine.base_encoder().encode_cached
    filtered = None
    if max_positive_rank is not None:
        say(f"ranking {len(data.pairs)} pairs' next items with the encoder")
        filtered = keep_within_rank(data, encode, max_positive_rank, max_pairs, config.seed)
    validating = "queries" if task == "search" else "users"
    say(f"{len(data.pairs)} training pairs and {len(data.valid)} validation {validating}")
    mined = add_hard_negatives(data, negatives, seed=config.seed, encode=encode)
    out = finetune_dir(engine.home, platform, config.mode, task)
    result = train(data, config, out, base=base, platform=platform, in_child=in_child, progress=say)
    result["task"] = task
    result["hard_negatives"] = mined
    result["positive_rank_filter"] = filtered
    result["encoder_set"] = False
    if use_it and result["metrics"]["beats_base"] is False:
        # Re-encoding for this model would gain nothing; a home an older shoplm switched to
        # it anyway goes back to the base.
        current = engine.settings.encoder.model
        kept = base if _same_folder(current, result["model_folder"]) else current
        if kept != current:
            engine.settings.encoder.model = kept
            engine.settings.save(engine.home)
        result["encoder_kept"] = kept
    elif use_it:
        engine.settings.encoder.model = result["model_folder"]
        engine.settings.save(engine.home)
        result["encoder_set"] = True
    return result


def click_log_data(
    engine: Engine,
    platform: str,
    items: list[Item],
    max_pairs: int | None,
    max_valid: int | None,
    seed: int,
) -> TrainingData:
    """(query -> item) pairs from the platform's click log; held-out queries validate.

    Every event that names a query and a catalog item counts, weighted by intent
    (:func:`shoplm.search.learn.click_examples`: a purchase outweighs a click); validation
    ranks each held-out query's items with those weights as gains.  A tenth of the queries
    (at most ``max_valid``) validate, as in the search evaluation.
    """
    known = {item.item_id for item in items}
    examples = click_examples(engine.store.event_columns(platform).search_clicks(), known)
    if len(examples) < MIN_CLICK_QUERIES:
        raise ValueError(
            f"platform {platform!r} has {len(examples)} queries with a clicked catalog item; "
            f"tuning for search needs at least {MIN_CLICK_QUERIES} (events with both a "
            "query and an item_id: clicks, carts or purchases from search results)"
        )
    queries = [SearchQuery(query_id=text, text=text, judgments=gains) for text, gains in examples]
    share = VALID_QUERY_SHARE
    if max_valid is not None:
        share = min(share, max_valid / len(queries))
    return search_data(
        items, queries, min_relevance=min(w for w in EVENT_WEIGHTS.values() if w > 0),
        gain_offset=0.0, valid_fraction=share, max_pairs=max_pairs, seed=seed,
    )  # fmt: skip


def _same_folder(model: str, folder: str) -> bool:
    return Path(model).expanduser().resolve() == Path(folder).resolve()
