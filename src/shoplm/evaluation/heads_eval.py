"""Task heads on a public dataset: the LoRA head against the frozen-encoder linear probe.

One run builds the task's examples, splits them once (seeded: stratified by label, or by
query / user where rows of one group must not straddle the split), trains every mode on
the same training rows, makes every choice (stopping point, class weights, logit offsets)
on the validation rows, and scores each mode once on the test rows.  Per mode it reports
the task metrics, trainable parameters, wall time and peak memory.

Tasks and the data that supports them:

- ``sentiment``: review text -> negative (1-2 stars) / neutral (3) / positive (4-5);
  ``womens_clothing_reviews``, ``amazon_office_reviews_sample``.  With ``star_targets`` the
  head learns the five star ratings and reports their three sentiment groups (the split,
  the metrics and the test rows stay the 3-way ones).  With ``ordinal`` it learns the star
  rating as one number and cuts it into the three groups at two cutpoints chosen on
  validation (again the same split, metrics and test rows).  With ``recommended_targets``
  (clothing reviews, which ask "do you recommend it?") it learns sentiment (or, with
  ``star_targets`` too, the star rating) crossed with the reviewer's recommend flag and
  reports the sentiment group: an auxiliary target that splits the 3-star reviews.
- ``rating``: review text -> star rating (regression, RMSE); the same two datasets.
- ``categorisation``: product text -> category path cut at ``category_level`` levels
  (``amazon_office``), or query -> product class (``wands_queries``); classes with fewer
  than ``min_class_count`` examples are left out.
- ``click``: (query, product title) -> relevant, from ``homedepot_search`` crowd judgments
  (mean relevance >= ``relevance_threshold``).  There are no click logs here: this is a
  relevance stand-in for click prediction, split by query.
- ``purchase``: (the user's last items, candidate item) -> bought next, from sequential
  data (``amazon_office``, ``amazon_games``): the true next item against ONE uniformly
  sampled item the user never interacted with (implicit feedback, sampled negatives).

``python -m shoplm.evaluation.heads_eval --task sentiment --data <folder> --json``
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shoplm.config import progress_wanted
from shoplm.datasets import (
    QueryClassDataset,
    RecDataset,
    SearchDataset,
    TextLabelDataset,
    load_dataset,
)
from shoplm.datasets.types import SENTIMENT_NAMES, sentiment_label
from shoplm.evaluation.options import comma_list
from shoplm.evaluation.threads import limit_threads
from shoplm.heads import Examples, HeadConfig, LoraSettings, TaskHead, TaskKind, TaskSpec
from shoplm.heads.ensemble import HeadEnsemble
from shoplm.heads.intervals import bootstrap_interval, interval_columns, paired_bootstrap
from shoplm.heads.model import pick_device
from shoplm.heads.predicting import Scored
from shoplm.heads.resources import ResourceMeter
from shoplm.heads.scoring import constant_metrics
from shoplm.heads.spec import encode_targets
from shoplm.heads.split import FRACTIONS, cap_rows, split_rows
from shoplm.pretrain import MaskedLmConfig, pretrain_masked_lm
from shoplm.text.cache import EmbeddingCache

TASKS = ("sentiment", "rating", "categorisation", "click", "purchase")
MODES = ("probe", "lora")
HISTORY_ITEMS = 3  # recent items shown as the user's context in the purchase task
STAR_NAMES = ("1 star", "2 stars", "3 stars", "4 stars", "5 stars")
STAR_SENTIMENT = tuple(SENTIMENT_NAMES[sentiment_label(stars)] for stars in range(1, 6))
RECOMMEND_FLAGS = ("not recommended", "recommended")
Progress = Callable[[str], None]
# the head settings of these evaluations (chosen on validation for clothing-review sentiment
# on a 2-core CPU): the defaults of evaluate_heads, of the CLI options and of heads-transfer
EVAL_HEAD = HeadConfig(encoder_lr=1e-3, lora=LoraSettings(r=16, alpha=32, layers=2))


@dataclass
class HeadRun:
    """One trained head and what :func:`train_and_score` found: test metrics (with the
    interval and cost), validation metrics, training notes, and the scored test outputs."""

    head: TaskHead | HeadEnsemble
    metrics: dict[str, Any]
    validation: dict[str, float]
    training: dict[str, Any]
    scored: Scored


@dataclass
class TaskData:
    """A task's examples before splitting, with what the split must respect."""

    spec: TaskSpec
    examples: Examples
    dataset: str
    description: str
    groups: list[str] | None = None  # rows sharing a group stay in one split


# ------------------------------------------------------------------ task builders
def build_task(
    task: str,
    dataset: Any,
    category_level: int = 2,
    min_class_count: int = 5,
    relevance_threshold: float = 2.5,
    seed: int = 42,
    star_targets: bool = False,
    ordinal: bool = False,
    recommended_targets: bool = False,
) -> TaskData:
    """The examples of ``task`` from a loaded dataset; an unsupported pair says which fit."""
    targets = {
        "star targets": star_targets,
        "ordinal": ordinal,
        "recommended targets": recommended_targets,
    }
    chosen = [option for option, wanted in targets.items() if wanted]
    for option in chosen:
        if task != "sentiment":
            raise ValueError(f"{option} is a sentiment option, not one of task {task!r}")
    if ordinal and len(chosen) > 1:
        raise ValueError(f"ordinal learns one number: it takes no finer targets, got {chosen}")
    if task in ("sentiment", "rating") and isinstance(dataset, TextLabelDataset):
        return _reviews(task, dataset, star_targets, ordinal, recommended_targets)
    if task == "categorisation" and isinstance(dataset, RecDataset | QueryClassDataset):
        return _categories(dataset, category_level, min_class_count)
    if task == "click" and isinstance(dataset, SearchDataset):
        return _click(dataset, relevance_threshold)
    if task == "purchase" and isinstance(dataset, RecDataset):
        return _purchase(dataset, seed)
    supported = {
        "sentiment": "womens_clothing_reviews, amazon_office_reviews_sample",
        "rating": "womens_clothing_reviews, amazon_office_reviews_sample",
        "categorisation": "amazon_office (item category paths), wands_queries",
        "click": "homedepot_search (judged relevance as a click stand-in)",
        "purchase": "amazon_office, amazon_games (next item vs a sampled negative)",
    }
    if task not in supported:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    raise ValueError(
        f"task {task!r} does not fit dataset {dataset.name!r}; use one of: {supported[task]}"
    )


def _reviews(
    task: str,
    data: TextLabelDataset,
    star_targets: bool = False,
    ordinal: bool = False,
    recommended_targets: bool = False,
) -> TaskData:
    if task == "sentiment" and ordinal:
        spec = TaskSpec("sentiment", TaskKind.ORDINAL, STAR_NAMES, STAR_SENTIMENT)
        targets: list[Any] = [_star_name(row, r) for row, r in enumerate(data.ratings)]
        what = (
            "review text -> negative (1-2 stars) / neutral (3) / positive (4-5), the head "
            "learning the star rating as one number (squared error) and cutting it into the "
            "three groups at two cutpoints chosen on validation"
        )
    elif task == "sentiment":
        spec, targets, what = _sentiment_classes(data, star_targets, recommended_targets)
    else:
        spec = TaskSpec("rating", TaskKind.REGRESSION)
        targets = [float(r) for r in data.ratings]
        what = "review text -> star rating 1..5 (regression)"
    return TaskData(spec, Examples(data.texts, targets), data.name, what)


def _sentiment_classes(
    data: TextLabelDataset, star_targets: bool, recommended_targets: bool
) -> tuple[TaskSpec, list[Any], str]:
    """The 3-way sentiment task, or one trained on finer labels that report their group: the
    five star ratings, sentiment crossed with the reviewer's recommend flag, or both."""
    what = "review text -> negative (1-2 stars) / neutral (3) / positive (4-5)"
    labels: tuple[str, ...] = SENTIMENT_NAMES
    groups: tuple[str, ...] = SENTIMENT_NAMES
    targets = [SENTIMENT_NAMES[label] for label in data.labels]
    finer: list[str] = []
    if star_targets:
        labels, groups = STAR_NAMES, STAR_SENTIMENT
        targets = [_star_name(row, r) for row, r in enumerate(data.ratings)]
        finer.append("the five star ratings")
    if recommended_targets:
        if data.recommended is None:
            raise ValueError(
                f"{data.name} has no recommend flag per review: recommended targets need one "
                "(womens_clothing_reviews has it)"
            )
        labels = tuple(f"{label}, {flag}" for label in labels for flag in RECOMMEND_FLAGS)
        groups = tuple(group for group in groups for _ in RECOMMEND_FLAGS)
        targets = [
            f"{target}, {RECOMMEND_FLAGS[flag]}"
            for target, flag in zip(targets, data.recommended, strict=True)
        ]
        finer.append("the reviewer's recommend flag")
    if not finer:
        return TaskSpec("sentiment", TaskKind.CLASSIFICATION, SENTIMENT_NAMES), targets, what
    spec = TaskSpec("sentiment", TaskKind.CLASSIFICATION, labels, groups)
    trained_on = " crossed with ".join(finer)
    what += f", the head trained on {trained_on} ({len(labels)} labels), reporting their group"
    return spec, targets, what


def _star_name(row: int, rating: float) -> str:
    """``4.0`` -> ``"4 stars"``; anything but a whole 1-5 rating is an error naming the row."""
    if rating not in (1, 2, 3, 4, 5):
        raise ValueError(f"row {row}: rating {rating!r} is not a whole number of stars 1-5")
    return STAR_NAMES[int(rating) - 1]


def _categories(data: RecDataset | QueryClassDataset, level: int, min_count: int) -> TaskData:
    pairs: list[tuple[str, str]] = []
    if isinstance(data, QueryClassDataset):
        pairs = [(text, label) for _, text, label in data.queries if label]
        what = "query -> product class"
    else:
        for item in data.items:
            path = [p.strip() for p in (item.category or "").split(">") if p.strip()]
            if len(path) < level:
                continue
            text = ". ".join(p for p in (item.title, item.brand, item.description) if p)
            pairs.append((text, " > ".join(path[:level])))
        what = f"item title. brand. description -> category path cut at {level} levels"
    counts = Counter(label for _, label in pairs)
    kept = sorted(label for label, n in counts.items() if n >= min_count)
    if len(kept) < 2:
        raise ValueError(f"{data.name}: fewer than two classes with >= {min_count} examples")
    keep = set(kept)
    pairs = [(t, label) for t, label in pairs if label in keep]
    dropped = sum(n for label, n in counts.items() if label not in keep)
    what += (
        f"; {len(kept)} classes with >= {min_count} examples "
        f"({dropped} examples of rarer classes left out)"
    )
    spec = TaskSpec("categorisation", TaskKind.CLASSIFICATION, tuple(kept))
    examples = Examples([t for t, _ in pairs], [label for _, label in pairs])
    return TaskData(spec, examples, data.name, what)


def _click(data: SearchDataset, threshold: float) -> TaskData:
    titles = {item.item_id: item.title for item in data.items}
    texts, targets, groups = [], [], []
    for query in data.queries:
        for item_id, relevance in sorted(query.judgments.items()):
            texts.append(f"{query.text} [SEP] {titles[item_id]}")
            targets.append(int(relevance >= threshold))
            groups.append(query.query_id)
    spec = TaskSpec("click", TaskKind.BINARY, ("not_relevant", "relevant"))
    what = (
        f"(query [SEP] product title) -> relevant when the mean crowd relevance >= "
        f"{threshold}; a stand-in for click prediction (no click logs exist for this data); "
        "split by query"
    )
    return TaskData(spec, Examples(texts, targets), data.name, what, groups)


def _purchase(data: RecDataset, seed: int) -> TaskData:
    titles = {item.item_id: item.title for item in data.items}
    catalog = sorted(titles)
    rng = random.Random(seed)
    texts, targets, groups = [], [], []
    for user_id in sorted(data.sequences):
        items = data.sequences[user_id]
        if len(items) < 2:
            continue
        history = "; ".join(titles[i] for i in items[-1 - HISTORY_ITEMS : -1])
        seen = set(items)
        negative = rng.choice(catalog)
        while negative in seen:
            negative = rng.choice(catalog)
        for candidate, bought in ((items[-1], 1), (negative, 0)):
            texts.append(f"{history} [SEP] {titles[candidate]}")
            targets.append(bought)
            groups.append(user_id)
    spec = TaskSpec("purchase", TaskKind.BINARY, ("not_bought", "bought"))
    what = (
        f"(user's previous {HISTORY_ITEMS} item titles [SEP] candidate title) -> bought next; "
        "per user the true next item (positive) and ONE uniformly sampled item the user never "
        "interacted with (negative, seeded): implicit feedback with sampled negatives, not "
        "real non-purchases; split by user"
    )
    return TaskData(spec, Examples(texts, targets), data.name, what, groups)


# ------------------------------------------------------------------------ split
def task_split(built: TaskData, seed: int) -> tuple[dict[str, list[int]], list[Any] | None]:
    """The seeded 70/10/20 split of a task's rows, and the strata it kept (None: by group,
    or unstratified for regression)."""
    reported = built.spec.reported_targets(built.examples.targets)
    strata = reported if built.spec.has_classes and built.groups is None else None
    split = split_rows(len(built.examples), seed, FRACTIONS, strata=strata, groups=built.groups)
    return split, strata


# -------------------------------------------------------------------------- run
def evaluate_heads(
    data: str | Path,
    task: str = "sentiment",
    modes: Sequence[str] = MODES,
    head: HeadConfig = EVAL_HEAD,
    max_train: int | None = 8000,
    max_valid: int | None = 3000,
    max_test: int | None = 2000,
    balance_train: bool = True,
    members: int = 1,
    class_weights: str = "auto",
    lora_class_weights: str | None = "none",
    category_level: int = 2,
    min_class_count: int = 5,
    relevance_threshold: float = 2.5,
    star_targets: bool = False,
    ordinal: bool = False,
    recommended_targets: bool = False,
    pretrain: MaskedLmConfig | None = None,
    save_to: str | Path | None = None,
    threads: int | None = None,
    cache_vectors: bool = False,
    show_progress: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Train every mode on one seeded split and score each on the same test rows.

    ``head`` holds the training settings every mode shares (its ``mode`` and
    ``class_weights`` are set per mode; its ``seed`` also seeds the split).  The defaults
    (:data:`EVAL_HEAD`) are the setting chosen on validation for womens_clothing_reviews
    sentiment on a 2-core CPU: 8000 training rows, LoRA rank 16 on the top 2 of 6 blocks,
    2 epochs.

    ``class_weights`` applies to every mode unless ``lora_class_weights`` overrides it for
    LoRA ("auto" trains each variant and keeps the better on validation, which doubles
    LoRA's time).  ``balance_train`` draws the capped training rows evenly across classes;
    the logit offsets (ordinal: cutpoints) chosen on validation then restore the natural
    class priors.
    ``members`` > 1 trains that many LoRA heads (seeds ``head.seed``, ``head.seed + 1``, ...) and
    scores the mean of their outputs (:class:`HeadEnsemble`), each member's test score beside.
    ``cache_vectors`` lets the probe reuse frozen vectors from shoplm's
    embedding cache (faster reruns, but then its wall time is not a from-scratch time).
    ``pretrain`` first pretrains the base by masked-token prediction on the training rows'
    texts only (:mod:`shoplm.pretrain`); every mode then starts from that encoder, kept in
    ``save_to/pretrained-base`` when saving, else in a folder removed after the run.
    """
    say = progress or (lambda _message: None)
    if members < 1:
        raise ValueError(f"members must be at least 1, got {members}")
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ValueError(f"modes must be among {MODES}, got {list(modes)}")
    limit_threads(threads)
    started = time.perf_counter()
    seed = head.seed
    dataset = load_dataset(data)
    built = build_task(
        task,
        dataset,
        category_level,
        min_class_count,
        relevance_threshold,
        seed,
        star_targets,
        ordinal,
        recommended_targets,
    )
    spec, examples = built.spec, built.examples
    split, strata = task_split(built, seed)
    balanced = balance_train and spec.kind in (TaskKind.CLASSIFICATION, TaskKind.ORDINAL)
    reported = spec.reported_targets(examples.targets)
    rows = {
        "train": cap_rows(split["train"], max_train, seed, reported if balanced else None),
        "valid": cap_rows(split["valid"], max_valid, seed + 1),
        "test": cap_rows(split["test"], max_test, seed + 2),
    }
    parts = {name: examples.subset(r) for name, r in rows.items()}
    say(
        f"{spec.name} on {built.dataset}: {len(examples)} examples; train {len(rows['train'])}"
        f", valid {len(rows['valid'])}, test {len(rows['test'])}"
    )
    with _pretrained(pretrain, parts["train"].texts, head, save_to, show_progress, say) as (
        head,
        pretrained,
    ):
        configs = {
            mode: replace(
                head,
                mode=mode,
                class_weights=(
                    lora_class_weights if mode == "lora" and lora_class_weights else class_weights
                ),
            )
            for mode in modes
        }
        natural_train = examples.subset(split["train"])  # before the cap: the real class prior
        constant = _constant(spec, natural_train, parts["test"])
        metrics: dict[str, dict[str, Any]] = {"constant": constant}
        validation: dict[str, dict[str, float]] = {}
        training: dict[str, dict[str, Any]] = {}
        for mode in modes:
            say(f"training {mode} ...")
            cache = _vector_cache() if cache_vectors and mode == "probe" else None
            try:
                run = train_and_score(
                    spec,
                    parts,
                    configs[mode],
                    show_progress,
                    say,
                    cache,
                    members=members if mode == "lora" else 1,
                )
            finally:  # a failed run must not leave the machine's vector cache open
                if cache is not None:
                    cache.close()
            metrics[mode], validation[mode] = run.metrics, run.validation
            training[mode] = run.training
            if save_to is not None:
                run.head.save(Path(save_to) / mode, metrics={"test": metrics[mode]})
            say(f"{mode}: test {brief(metrics[mode])}")
            del run
            gc.collect()
    return {
        "task": "heads",
        "head_task": spec.name,
        "dataset": built.dataset,
        "protocol": _protocol(built, rows, balanced),
        "n_test": len(rows["test"]),
        "seconds": round(time.perf_counter() - started, 2),
        "metrics": metrics,
        "validation": validation,
        "training": training,
        "config": {mode: cfg.to_dict() for mode, cfg in configs.items()},
        "pretrain": pretrained,
        "members": members,
        "labels": list(spec.reported_labels),
        "trained_labels": list(spec.labels),
        "label_counts": _label_counts(spec, parts),
        "split": {
            "seed": seed,
            "fractions": list(FRACTIONS),
            "by": "group" if built.groups else ("label" if strata is not None else "random"),
            "caps": {"train": max_train, "valid": max_valid, "test": max_test},
            "balanced_train": balanced,
            "sizes": {name: len(r) for name, r in rows.items()},
            "rows": rows,
        },
        "environment": {
            "device": str(pick_device(head.device)),
            "torch_threads": torch.get_num_threads(),
            "probe_vectors_cached": cache_vectors,
        },
    }


@contextmanager
def _pretrained(
    pretrain: MaskedLmConfig | None,
    texts: list[str],
    head: HeadConfig,
    save_to: str | Path | None,
    show_progress: bool,
    say: Progress,
) -> Iterator[tuple[HeadConfig, dict[str, Any] | None]]:
    """The head settings on a base pretrained on ``texts`` (the training rows'), and the
    pretraining report; without ``pretrain``, the settings as they are and None.  The base
    lives in ``save_to/pretrained-base`` when saving, else in a folder removed on exit."""
    if pretrain is None:
        yield head, None
        return
    with ExitStack() as stack:
        folder = (
            Path(save_to) / "pretrained-base"
            if save_to is not None
            else Path(stack.enter_context(tempfile.TemporaryDirectory())) / "base"
        )
        report = pretrain_masked_lm(texts, head.base_model, folder, pretrain, show_progress, say)
        yield replace(head, base_model=str(folder)), report


def train_and_score(
    spec: TaskSpec,
    parts: dict[str, Examples],
    config: HeadConfig,
    show_progress: bool = False,
    say: Progress | None = None,
    cache: EmbeddingCache | None = None,
    members: int = 1,
) -> HeadRun:
    """Train one head (``members`` > 1: an ensemble of that many) on ``parts["train"]``
    (choices on ``"valid"``) and score it once on ``"test"``, with the test figure's bootstrap
    interval (an ensemble's notes hold each member's test metrics alone, from the same pass).
    """
    alone: list[dict[str, float]] = []
    lexical_test: dict[str, Any] = {}
    head: TaskHead | HeadEnsemble
    with ResourceMeter(pick_device(config.device)) as meter:
        train, valid, test = parts["train"], parts["valid"], parts["test"]
        if members > 1:
            head = HeadEnsemble.train(
                spec, train, valid, config, members, show_progress, say, cache
            )
            network, truth, alone = head.evaluate_members(test, show_progress)
        else:
            head = TaskHead.train(spec, train, valid, config, show_progress, say, cache)
            network = head.network_outputs(test.texts, show_progress)
            truth = encode_targets(spec, test.targets)
        if head.lexical is None:
            scored = head.scored(network, truth)
        else:
            scored, lexical_test = _blend_parts_scored(head, network, test.texts, truth)
    interval = bootstrap_interval(spec, scored, seed=config.seed)
    metrics = {
        **{k: round(v, 6) for k, v in scored.metrics.items()},
        **interval_columns(interval),
        "trainable_parameters": head.trainable_parameters,
        **meter.report(),
    }
    validation = {k: round(v, 6) for k, v in head.info["validation"].items()}
    training = {k: v for k, v in head.info.items() if k != "validation"}
    if alone:
        training["member_test"] = [{k: round(v, 6) for k, v in m.items()} for m in alone]
    if lexical_test:
        training["lexical"] = {**training["lexical"], "test": lexical_test}
    if head.calibration is not None:
        name = "cutpoints" if spec.kind is TaskKind.ORDINAL else "offsets"
        training[name] = [round(float(v), 3) for v in head.calibration]
    return HeadRun(head, metrics, validation, training, scored)


def _blend_parts_scored(
    head: TaskHead | HeadEnsemble, network: np.ndarray, texts: Sequence[str], truth: np.ndarray
) -> tuple[Scored, dict[str, Any]]:
    """A blended head's (ensemble's) test score, and what its parts score alone on the same
    rows: the network outputs without the words, the word classifier alone, and the blend's
    paired gain over the network alone (bootstrap); ``network``: the raw outputs on
    ``texts``."""
    assert head.lexical is not None
    blend, network_alone, words_alone = head.lexical.parts_scored(
        head.spec, network, texts, truth, head.calibration
    )
    gain = paired_bootstrap(head.spec, network_alone, blend, seed=head.config.seed)
    report = {
        "network_alone": {k: round(v, 6) for k, v in network_alone.metrics.items()},
        "lexical_alone": {k: round(v, 6) for k, v in words_alone.metrics.items()},
        "gain_over_network": {
            k: round(v, 6) if isinstance(v, float) else v for k, v in gain.items()
        },
    }
    return blend, report


def _vector_cache() -> EmbeddingCache:
    from shoplm.evaluation.runner import embedding_cache_path  # imports the Engine: only here

    return EmbeddingCache(embedding_cache_path())


def _constant(spec: TaskSpec, train: Examples, test: Examples) -> dict[str, float]:
    """The no-text baseline: majority class, training positive rate, or training mean."""
    scores = constant_metrics(
        spec, encode_targets(spec, train.targets), encode_targets(spec, test.targets)
    )
    return {k: round(v, 6) for k, v in scores.items()}


def _label_counts(spec: TaskSpec, parts: dict[str, Examples]) -> dict[str, dict[str, int]]:
    if spec.kind is TaskKind.REGRESSION:
        return {}
    out = {}
    for name, part in parts.items():
        y = encode_targets(spec, part.targets).astype(np.int64)
        counts = np.bincount(y, minlength=len(spec.labels))
        out[name] = {label: int(counts[i]) for i, label in enumerate(spec.labels)}
    return out


def _protocol(built: TaskData, rows: dict[str, list[int]], balanced: bool) -> str:
    return (
        f"{built.description}. One seeded split {FRACTIONS[0]:.0%}/{FRACTIONS[1]:.0%}/"
        f"{FRACTIONS[2]:.0%} (train/valid/test), capped to {len(rows['train'])}/"
        f"{len(rows['valid'])}/{len(rows['test'])} rows"
        f"{' (training rows drawn evenly across classes)' if balanced else ''}; every mode "
        "trains on the same rows; stopping point, class weights and logit offsets (ordinal: "
        "cutpoints) chosen on valid; each mode scored once on test. probe = frozen encoder + "
        "linear head; lora = LoRA adapter on the encoder + the same head, trained end to "
        "end; constant = majority class / positive rate / mean of the whole (uncapped) "
        "training split"
    )


def brief(scores: dict[str, Any]) -> str:
    keys = ("accuracy", "macro_f1", "auc", "log_loss", "rmse", "wall_seconds", "peak_rss_mb")
    return ", ".join(f"{k} {scores[k]}" for k in keys if k in scores)


# -------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="shoplm evaluate heads",
        description="Train the LoRA head and the linear probe on one split; score both.",
    )
    p.add_argument("--task", choices=TASKS, default="sentiment")
    p.add_argument("--data", required=True, type=Path, help="dataset folder (shared/data layout)")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated: probe,lora")
    p.add_argument("--max-train", type=int, default=8000)
    p.add_argument("--max-valid", type=int, default=3000)
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--no-balance", action="store_true", help="random (not class-even) train cap")
    add_training_options(p)
    p.add_argument("--class-weights", choices=("none", "balanced", "auto"), default="auto")
    p.add_argument("--lora-class-weights", choices=("none", "balanced", "auto"), default="none")
    p.add_argument("--category-level", type=int, default=2)
    p.add_argument("--min-class-count", type=int, default=5)
    p.add_argument("--relevance-threshold", type=float, default=2.5)
    p.add_argument(
        "--star-targets",
        action="store_true",
        help="sentiment: train on the five star ratings, report their three sentiment groups",
    )
    p.add_argument(
        "--ordinal",
        action="store_true",
        help="sentiment: learn the star rating as one number, cut it into the three sentiment "
        "groups at two cutpoints chosen on validation",
    )
    p.add_argument(
        "--recommended-targets",
        action="store_true",
        help="sentiment (clothing reviews): train on sentiment (with --star-targets, the stars) "
        "crossed with the reviewer's recommend flag, report the three sentiment groups",
    )
    p.add_argument(
        "--members",
        type=int,
        default=1,
        help="LoRA: train this many heads (seeds SEED, SEED+1, ...) and average their outputs; "
        "each member's own test score is reported beside the ensemble's",
    )
    p.add_argument(
        "--pretrain-epochs",
        type=int,
        default=0,
        help="first pretrain the base by masked-token prediction on the training rows' texts "
        "for this many epochs (0: no pretraining); every mode starts from that encoder",
    )
    p.add_argument("--pretrain-lr", type=float, default=MaskedLmConfig.encoder_lr)
    p.add_argument("--save", type=Path, default=None, help="save each head to SAVE/<mode>")
    p.add_argument("--cache-vectors", action="store_true", help="probe: use the vector cache")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    return p


def add_training_options(p: argparse.ArgumentParser) -> None:
    """The head-training options every heads evaluation takes (see :func:`training_config`)."""
    head = EVAL_HEAD
    p.add_argument("--epochs", type=int, default=head.epochs)
    p.add_argument("--max-seq-length", type=int, default=head.max_seq_length)
    p.add_argument("--batch-size", type=int, default=head.batch_size)
    p.add_argument(
        "--micro-batch-size",
        type=int,
        default=head.micro_batch_size,
        help="LoRA: run each batch forward and backward in parts of this many rows, their "
        "gradients added before the update: the same training in less memory [the whole batch]",
    )
    p.add_argument("--encoder-lr", type=float, default=head.encoder_lr)
    p.add_argument("--head-lr", type=float, default=head.head_lr)
    p.add_argument(
        "--init-head",
        choices=("random", "probe"),
        default=head.init_head,
        help="LoRA: start the output layer at random or from a linear probe fitted first (LP-FT)",
    )
    p.add_argument(
        "--pooling",
        choices=("normalised", "mean"),
        default=head.pooling,
        help="what the output layer reads: the L2-normalised mean of the token vectors, or "
        "the plain mean",
    )
    p.add_argument(
        "--head-dropout",
        type=float,
        default=head.head_dropout,
        help="LoRA: dropout on the pooled vector while training",
    )
    p.add_argument(
        "--label-smoothing",
        type=float,
        default=head.label_smoothing,
        help="classification: the share of each target spread over every label",
    )
    p.add_argument(
        "--collapse-retries",
        type=int,
        default=head.collapse_retries,
        help="LoRA: train a head that validates no better than a constant prediction again "
        "at half the encoder learning rate, up to this many times",
    )
    p.add_argument(
        "--ema-decay",
        type=float,
        default=head.ema_decay,
        help="LoRA: validate and keep a moving average of the weights (decay per step, "
        "e.g. 0.99) instead of the last step's",
    )
    p.add_argument(
        "--rdrop",
        type=float,
        default=head.rdrop,
        help="LoRA, classification: run each batch twice and add this weight times the KL "
        "divergence between the two passes' predictions to the loss (R-Drop; 0: off)",
    )
    p.add_argument(
        "--layer-lr-decay",
        type=float,
        default=head.layer_lr_decay,
        help="LoRA: each block's adapter learns at this factor times the rate of the block "
        "above it (the top block at --encoder-lr; 1: every block alike)",
    )
    p.add_argument(
        "--refit",
        action="store_true",
        help="LoRA: once validation has chosen the stopping step and class offsets, train "
        "again on the training and validation rows together for as long and keep that head",
    )
    p.add_argument(
        "--lexical",
        action="store_true",
        help="classification: blend the head with a word-level classifier (TF-IDF of words "
        "and word pairs, logistic regression) fitted on the training rows, its weight chosen "
        "on validation",
    )
    p.add_argument("--lora-r", type=int, default=head.lora.r)
    p.add_argument("--lora-alpha", type=int, default=head.lora.alpha)
    p.add_argument(
        "--lora-layers",
        type=int,
        default=head.lora.layers,
        help="adapt only the top N blocks (0: all)",
    )
    p.add_argument(
        "--dora",
        action="store_true",
        help="weight-decomposed LoRA (DoRA): the adapter turns each weight's direction and a "
        "vector per layer learns its length",
    )
    p.add_argument("--base-model", default=head.base_model, help="bundled name or local folder")
    p.add_argument("--seed", type=int, default=head.seed)
    p.add_argument(
        "--device", default=None, help="a torch device, e.g. cpu or cuda [cuda when present]"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def training_config(args: argparse.Namespace, class_weights: str) -> HeadConfig:
    """A LoRA head's settings from :func:`add_training_options` (the template a caller varies
    by mode and base model)."""
    return HeadConfig(
        mode="lora",
        base_model=args.base_model,
        max_seq_length=args.max_seq_length,
        batch_size=args.batch_size,
        micro_batch_size=args.micro_batch_size,
        epochs=args.epochs,
        encoder_lr=args.encoder_lr,
        head_lr=args.head_lr,
        init_head=args.init_head,
        pooling=args.pooling,
        head_dropout=args.head_dropout,
        label_smoothing=args.label_smoothing,
        collapse_retries=args.collapse_retries,
        ema_decay=args.ema_decay,
        rdrop=args.rdrop,
        layer_lr_decay=args.layer_lr_decay,
        refit=args.refit,
        lexical=args.lexical,
        class_weights=class_weights,  # type: ignore[arg-type]
        seed=args.seed,
        device=args.device,
        lora=LoraSettings(
            r=args.lora_r,
            alpha=args.lora_alpha,
            layers=args.lora_layers or None,
            dora=args.dora,
        ),
    )


def pretrain_config(args: argparse.Namespace) -> MaskedLmConfig | None:
    """The masked-LM pretraining asked for by ``--pretrain-epochs`` (None when 0), at the
    heads' sequence length, batch size, seed and device."""
    if args.pretrain_epochs < 0:
        raise SystemExit(f"--pretrain-epochs must be 0 or more, got {args.pretrain_epochs}")
    if args.pretrain_epochs == 0:
        return None
    return MaskedLmConfig(
        epochs=args.pretrain_epochs,
        encoder_lr=args.pretrain_lr,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        seed=args.seed,
        device=args.device,
    )


def main(argv: Sequence[str] | None = None) -> int:
    from shoplm.evaluation.runner import say_on_stderr  # imports the Engine: only here

    args = _parser().parse_args(argv)

    result = evaluate_heads(
        args.data,
        task=args.task,
        modes=comma_list(args.modes),
        max_train=args.max_train,
        max_valid=args.max_valid,
        max_test=args.max_test,
        balance_train=not args.no_balance,
        class_weights=args.class_weights,
        lora_class_weights=args.lora_class_weights,
        category_level=args.category_level,
        min_class_count=args.min_class_count,
        relevance_threshold=args.relevance_threshold,
        star_targets=args.star_targets,
        ordinal=args.ordinal,
        recommended_targets=args.recommended_targets,
        members=args.members,
        pretrain=pretrain_config(args),
        save_to=args.save,
        head=training_config(args, args.class_weights),
        threads=args.threads,
        cache_vectors=args.cache_vectors,
        show_progress=progress_wanted(),
        progress=say_on_stderr,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        from shoplm.evaluation.report import format_table

        print(
            f"{result['head_task']} on {result['dataset']} ({result['n_test']} test rows, "
            f"{result['seconds']} s)"
        )
        print(f"protocol: {result['protocol']}")
        print(format_table(result["metrics"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
