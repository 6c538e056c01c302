"""Frozen vs fine-tuned encoder, in one run, under the evaluation's own protocols.

Recommendation: the content model (item vectors from the encoder) is scored by
:func:`evaluate_recommend` under its leave-one-out protocol, once with the base encoder
(``content-frozen``) and once per tuned encoder (``content-lora``, ``content-full``).  The
other recommenders that read the item vectors (``sasrec-text``, the hybrids) can be scored
alongside it, ``sasrec-text-frozen`` against ``sasrec-text-lora``: a tuned encoder may help
a model that learns on top of its vectors differently from one that ranks by them alone.
The encoder learns only from the training sequences the evaluation fits on, and holds out
each user's newest training item (the validation item) for early stopping: the test item is
never seen.

Search: dense retrieval is scored by :func:`evaluate_search` on the held-out half of the
queries (``dense-frozen``, ``dense-lora``...); the encoder learns from the training half
(the same seeded 50/50 split), a tenth of which is kept for early stopping.

Each tuned model is trained in its own process (so its peak memory is its own), merged into
a plain model folder and evaluated through a throw-away engine whose ``encoder.model`` is
that folder, with its vectors cached apart from the shared cache.  Trainable parameters,
wall time and peak memory come with each mode.

The base (``base_model``: the default MiniLM, or any local sentence-transformers folder;
the CLI's default is ``SHOPLM_ENCODER`` when set) is the one model behind every frozen
figure: the frozen score, the rank filter, the vector hard negatives, and the start of each
tuned model.

    python -m shoplm.evaluation.finetune_eval --data DIR --task recommend|search --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from shoplm.config import DEFAULT_ENCODER, EncoderSettings
from shoplm.datasets import RecDataset, SearchDataset, load_dataset
from shoplm.evaluation.finetune_options import add_finetune_options, finetune_config
from shoplm.evaluation.options import comma_list, parse_model_params
from shoplm.evaluation.paired import PAIRED_METRIC, describe, paired_difference
from shoplm.evaluation.recommend_eval import evaluate_recommend, held_out_split
from shoplm.evaluation.report import SLICE_KEYS
from shoplm.evaluation.runner import Progress, embedding_cache_path, say_on_stderr
from shoplm.evaluation.search_eval import evaluate_search, split_queries
from shoplm.evaluation.threads import limit_threads
from shoplm.finetune.data import Encode, TrainingData
from shoplm.finetune.filtering import keep_within_rank, pairs_to_build
from shoplm.finetune.job import run_in_child
from shoplm.finetune.negatives import add_hard_negatives
from shoplm.finetune.pairs import recommendation_data, search_data
from shoplm.finetune.refit import describe_refit
from shoplm.finetune.train import FinetuneConfig, with_task_scale
from shoplm.recommend.content import DEFAULT_HALF_LIFE
from shoplm.text.cache import EmbeddingCache
from shoplm.text.encoder import TextEncoder

TASKS = ("recommend", "search")
METHOD = {"recommend": "content", "search": "dense"}
# the recommenders whose fit reads the encoder's item vectors (the others would score the same
# with any encoder); content always runs: it picks the validation half-life and the cold slice
TEXT_RECOMMENDERS = ("content", "sasrec-text", "hybrid", "hybrid-no-kg")
TUNED_CACHE = "tuned-embeddings.sqlite"  # in the run's workdir, apart from the machine's cache
# recommend: the paired gain on each slice of the test users evaluate_recommend marks, and
# on the rest (slice -> the name of the rest)
SLICES = dict(zip(SLICE_KEYS, ("other_items", "new_transitions"), strict=True))
BASE_PARAMS = 22_713_216  # all-MiniLM-L6-v2; replaced by the count a job reports


def evaluate_finetune(
    data: str | Path,
    task: str | None = None,
    modes: Sequence[str] = ("lora",),
    config: FinetuneConfig | None = None,
    max_pairs: int | None = None,
    window: int = 1,
    valid_half_life: float | Literal["tuned"] | None = "tuned",
    negatives: str | None = None,
    max_positive_rank: int | None = None,
    max_valid: int | None = 500,
    valid_corpus_size: int | None = None,
    max_users: int | None = None,
    max_queries: int | None = None,
    tune: bool = True,
    workdir: str | Path | None = None,
    base_model: str = DEFAULT_ENCODER,
    models: Sequence[str] = ("content",),
    model_params: Mapping[str, Mapping[str, Any]] | None = None,
    show_progress: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score ``<method>-frozen`` and ``<method>-<mode>`` for each mode (see module docstring).

    ``config`` holds the training settings every mode shares (its ``mode`` is set per mode;
    its ``seed`` also draws the pairs, validation users and test sample); a config that does
    not set ``scale`` takes its task's (:data:`finetune_options.SCALE`).  ``negatives``
    defaults to ``bm25`` for search and ``none`` for recommendation.  ``valid_half_life``
    (recommendation) weighs each validation user's history: ``"tuned"`` takes the half-life
    the frozen content model chose on the validation item, so early stopping scores the
    encoder the way the content model uses it.
    ``max_positive_rank`` keeps only the pairs whose positive the base encoder ranks within
    that many items for the anchor (:mod:`shoplm.finetune.filtering`), before ``max_pairs``
    draws from them.
    ``models`` (recommendation): the recommenders scored with each encoder, from
    :data:`TEXT_RECOMMENDERS`; content is always one of them.  ``model_params``: their
    parameters, as a home's ``recommend.params`` (recommendation; see
    :func:`~shoplm.evaluation.recommend_eval.evaluate_recommend`).
    """
    say = progress or (lambda _msg: None)
    if max_positive_rank is not None and max_positive_rank < 1:
        raise ValueError(f"max_positive_rank must be >= 1, got {max_positive_rank}")
    started = time.perf_counter()
    dataset = load_dataset(data)
    task = task or ("search" if isinstance(dataset, SearchDataset) else "recommend")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
    bad = [m for m in modes if m not in ("lora", "full")]
    if bad:
        raise ValueError(f"unknown fine-tuning mode(s) {bad}; choose lora and/or full")
    methods = scored_methods(task, models)
    template = with_task_scale(config or FinetuneConfig(), task)
    seed = template.seed

    def score(label: str, model: str, cache: Path | None = None) -> dict[str, Any]:
        """The evaluation's result, with ``"rows"``: each method's NDCG@10 per user (query).

        ``cache``: a vector cache of its own (None: the machine's), for a tuned model.
        """
        say(f"evaluating {', '.join(f'{method}-{label}' for method in methods)}")
        encoder = {"model": model}
        if task == "recommend":
            result = evaluate_recommend(
                dataset, models=methods, max_users=max_users, tune=tune, seed=seed,
                show_progress=show_progress, progress=say, encoder=encoder,
                per_user=PAIRED_METRIC, embedding_cache=cache, model_params=model_params,
            )  # fmt: skip
            return {**result, "rows": result.pop("per_user")["models"]}
        result = evaluate_search(
            dataset, models=methods, max_queries=max_queries, seed=seed,
            show_progress=show_progress, progress=say, encoder=encoder,
            per_query=PAIRED_METRIC, embedding_cache=cache,
        )  # fmt: skip
        return {**result, "rows": result.pop("per_query")["models"]}

    metrics: dict[str, dict[str, float]] = {}
    paired: dict[str, dict[str, float]] = {}
    slices: dict[str, dict[str, Any]] = {}  # the paired gain on each slice (SLICES)
    costs: dict[str, dict[str, Any]] = {}
    runs: dict[str, dict[str, Any]] = {}
    began = time.perf_counter()
    frozen = score("frozen", base_model)
    tuning = {f"{m}-frozen": frozen.get("tuning", {}).get(m) for m in methods}
    # what each model chose on validation (sasrec-text: its epoch and content weights)
    reports = {f"{m}-frozen": frozen.get("model_reports", {}).get(m) for m in methods}
    metrics.update({f"{m}-frozen": frozen["metrics"][m] for m in methods})
    costs["frozen"] = {
        "trainable_params": 0,
        "total_params": BASE_PARAMS,
        "train_wall_seconds": 0.0,
        "peak_rss_mb": None,
        "eval_seconds": round(time.perf_counter() - began, 2),
    }
    if task == "recommend":
        cold_max = frozen["cold_items"]["max_training_users"]
        slices = {
            "cold_items": {"max_training_users": cold_max, "models": {}},
            "other_items": {"min_training_users": cold_max + 1, "models": {}},
            "seen_transitions": {"test_step_in_training": True, "models": {}},
            "new_transitions": {"test_step_in_training": False, "models": {}},
        }
    half_life = profile_half_life(valid_half_life, frozen)
    say("building training pairs (training split only)")
    training = task_training_data(
        dataset, task, window, pairs_to_build(max_pairs, max_positive_rank), max_valid,
        valid_corpus_size, seed, half_life,
    )  # fmt: skip
    source = negatives or ("bm25" if task == "search" else "none")
    filtered = None
    with contextlib.ExitStack() as stack:
        needs_encoder = source == "vector" or max_positive_rank is not None
        encode = stack.enter_context(_base_encode(base_model)) if needs_encoder else None
        if max_positive_rank is not None and encode is not None:
            say(f"ranking {len(training.pairs)} pairs' positives with the base encoder")
            filtered = keep_within_rank(training, encode, max_positive_rank, max_pairs, seed)
            say(f"{filtered['pairs_within_rank']} pairs within rank {max_positive_rank}")
        mined = add_hard_negatives(training, source, seed=seed, encode=encode)
    say(f"{len(training.pairs)} pairs, {len(training.valid)} validation cases, negatives {source}")
    with _workdir(workdir) as root:
        for mode in modes:
            lora_layers = template.lora_layers if mode == "lora" else None
            config = FinetuneConfig.model_validate(
                {**template.model_dump(), "mode": mode, "lora_layers": lora_layers}
            )
            say(f"fine-tuning ({mode}) in a child process")
            report = run_in_child(
                training, config, root / mode, base=base_model, platform=training.kind
            )
            costs["frozen"]["total_params"] = report["total_params"] - (
                report["trainable_params"] if mode == "lora" else 0
            )
            began = time.perf_counter()
            result = score(mode, report["model_folder"], root / TUNED_CACHE)
            marked = {part: frozen[part]["rows"] for part in SLICES} if task == "recommend" else {}
            for method in methods:
                name = f"{method}-{mode}"
                metrics[name] = result["metrics"][method]
                frozen_rows, tuned_rows = frozen["rows"][method], result["rows"][method]
                paired[name] = paired_difference(frozen_rows, tuned_rows)
                if task == "recommend":
                    for part, gain in slice_gains(marked, frozen_rows, tuned_rows).items():
                        slices[part]["models"][name] = gain
                tuning[name] = result.get("tuning", {}).get(method)
                reports[name] = result.get("model_reports", {}).get(method)
            costs[mode] = {
                **training_cost(report),
                "eval_seconds": round(time.perf_counter() - began, 2),
            }
            runs[mode] = {
                "model_id": report["model_id"],
                "base_model": report["base_model"],
                "valid_ndcg@10_base": report["metrics"]["valid_ndcg@10_base"],
                "valid_ndcg@10_best": report["metrics"]["valid_ndcg@10_best"],
                "best_step": report["metrics"]["best_step"],
                "history": report["metrics"]["history"],
                "strength": report["metrics"]["strength"],
                "strength_trials": report["metrics"]["strength_trials"],
                "refit": report["metrics"].get("refit"),
                "config": report["config"],
                "lora": report["lora"],
            }
    count_key = "n_users" if task == "recommend" else "n_queries"
    protocol = _finetune_protocol(task, half_life, valid_half_life == "tuned")
    return {
        "task": task,
        "dataset": frozen["dataset"],
        "base_model": base_model,
        "protocol": frozen["protocol"] + "; " + protocol,
        count_key: frozen[count_key],
        "seconds": round(time.perf_counter() - started, 2),
        "metrics": metrics,
        "paired": {
            "metric": PAIRED_METRIC,
            "baseline": f"{METHOD[task]}-frozen",
            "baselines": {name: f"{name.rsplit('-', 1)[0]}-frozen" for name in paired},
            "models": paired,
            **({"slices": slices} if slices else {}),
        },
        "training": costs,
        "tuning": {name: trials for name, trials in tuning.items() if trials},
        "model_reports": {name: report for name, report in reports.items() if report},
        "finetune": {
            "data_hash": training.data_hash(),
            "pairs": len(training.pairs),
            "valid_cases": len(training.valid),
            "hard_negatives": mined,
            "positive_rank_filter": filtered,
            "notes": training.notes,
            "runs": runs,
        },
    }


def scored_methods(task: str, models: Sequence[str]) -> list[str]:
    """The models each encoder is scored with: search's dense retrieval, or the named
    recommenders that read item vectors, content first (it is always scored)."""
    if task == "search":
        if list(models) not in ([], ["content"], ["dense"]):
            raise ValueError(f"search scores dense retrieval only; got models {list(models)}")
        return [METHOD[task]]
    unknown = [m for m in models if m not in TEXT_RECOMMENDERS]
    if unknown:
        raise ValueError(
            f"model(s) {unknown} do not read the encoder's item vectors (their scores would be "
            f"the same with any encoder); choose from {list(TEXT_RECOMMENDERS)}"
        )
    return list(dict.fromkeys([METHOD[task], *models]))


def slice_gains(
    marked: Mapping[str, Sequence[int]], frozen: Sequence[float], tuned: Sequence[float]
) -> dict[str, Any]:
    """The paired gain on each slice of the users and on the rest of them.

    ``marked`` maps a slice of :data:`SLICES` to its users' rows; the rest is named by
    ``SLICES``.  A part of fewer than 2 users is left out.  A tuned encoder can gain where the
    co-purchases it learnt apply (warm test items, steps seen in training) and lose the text
    neighbourhood the others depend on: one overall figure hides which."""
    gains = {}
    for name, rows in marked.items():
        inside = set(rows)
        members = {
            name: sorted(inside),
            SLICES[name]: [r for r in range(len(frozen)) if r not in inside],
        }
        for part, users in members.items():
            if len(users) >= 2:
                gains[part] = paired_difference(
                    [frozen[r] for r in users], [tuned[r] for r in users]
                )
    return gains


def training_cost(report: dict[str, Any]) -> dict[str, Any]:
    """What a fine-tuning job's report says it cost: size, time, memory, device, threads
    (``train_seconds`` is the validated run's steps; the wall time includes any refit)."""
    refit = report.get("metrics", {}).get("refit") or {}
    return {
        "trainable_params": report["trainable_params"],
        "total_params": report["total_params"],
        "steps": report["steps"],
        "train_seconds": report["train_seconds"],
        "refit_seconds": refit.get("seconds_this_run", 0.0),
        "train_wall_seconds": report["wall_seconds"],
        "pairs_per_second": report["pairs_per_second"],
        "peak_rss_mb": report["peak_rss_mb"],
        "peak_gpu_mb": report["peak_gpu_mb"],
        "device": report["device"],
        "torch_threads": report["torch_threads"],
    }


def task_training_data(
    dataset: Any,
    task: str,
    window: int,
    max_pairs: int | None,
    max_valid: int | None,
    valid_corpus_size: int | None,
    seed: int,
    half_life: float | None = DEFAULT_HALF_LIFE,
) -> TrainingData:
    """The fine-tuning pairs of ``task`` from the dataset's training split only.

    ``half_life`` weighs recommendation histories (validation profiles, windows > 1).
    """
    if task == "recommend":
        if not isinstance(dataset, RecDataset):
            raise ValueError(f"task recommend needs a recommendation dataset, got {dataset.name}")
        train, _, _, _ = held_out_split(dataset, dataset.protocol)
        return recommendation_data(
            dataset.items, train, window=window, half_life=half_life, max_pairs=max_pairs,
            max_valid=max_valid, valid_corpus_size=valid_corpus_size, seed=seed,
        )  # fmt: skip
    if not isinstance(dataset, SearchDataset):
        raise ValueError(f"task search needs a search dataset, got {dataset.name}")
    train_half, _ = split_queries(dataset.queries, 0.5, seed)
    share = 0.1 if max_valid is None else min(0.1, max_valid / max(len(train_half), 1))
    return search_data(
        dataset.items, train_half, max_pairs=max_pairs, seed=seed, valid_fraction=share,
        valid_corpus_size=valid_corpus_size or 5000,
    )  # fmt: skip


def profile_half_life(
    setting: float | Literal["tuned"] | None, frozen: dict[str, Any]
) -> float | None:
    """The validation profiles' half-life: as given, or the frozen content model's choice."""
    if setting != "tuned":
        return setting
    params = frozen.get("model_params", {}).get("content", {})
    return params.get("half_life", DEFAULT_HALF_LIFE)


def parse_half_life(text: str) -> float | Literal["tuned"] | None:
    """CLI value of ``--valid-half-life``: ``tuned``, ``none`` (equal weights) or a number."""
    if text in ("tuned", "none"):
        return None if text == "none" else "tuned"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--valid-half-life must be 'tuned', 'none' or a number, got {text!r}"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"--valid-half-life must be > 0, got {value}")
    return value


def _finetune_protocol(task: str, half_life: float | None, tuned: bool) -> str:
    if task == "recommend":
        origin = "the frozen content model's choice on it" if tuned else "as given"
        return (
            "fine-tuning: contrastive (in-batch negatives) on (previous items -> next item) "
            "pairs of the training sequences only, each user's newest training item (the "
            "validation item) held out for early stopping, histories weighed by recency "
            f"half-life {half_life} ({origin}); test items never seen"
        )
    return (
        "fine-tuning: contrastive (in-batch + BM25 hard negatives) on (query -> relevant "
        "title) pairs of the training half of the queries only, a seeded share of it (at most "
        "10%) held out for early stopping; the scored held-out half never seen"
    )


@contextlib.contextmanager
def _base_encode(base_model: str) -> Iterator[Encode]:
    """The base encoder's unit vectors, through the machine's embedding cache (then closed)."""
    with EmbeddingCache(embedding_cache_path()) as cache:
        yield TextEncoder(EncoderSettings(model=base_model), cache=cache).encode_cached


@contextlib.contextmanager
def _workdir(workdir: str | Path | None) -> Iterator[Path]:
    if workdir is not None:
        path = Path(workdir)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="shoplm-finetune-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def add_base_model_option(parser: argparse.ArgumentParser) -> None:
    """``--base-model``: the frozen encoder of the run, ``SHOPLM_ENCODER`` when set."""
    parser.add_argument(
        "--base-model",
        default=os.environ.get("SHOPLM_ENCODER") or DEFAULT_ENCODER,
        help="the frozen encoder every tuned one starts from: the bundled default or a local "
        "sentence-transformers folder [SHOPLM_ENCODER, else the default]",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="shoplm evaluate finetune", description="Frozen vs fine-tuned encoder in one run."
    )
    parser.add_argument("--data", required=True, type=Path, help="dataset folder")
    parser.add_argument("--task", choices=TASKS, default=None)
    parser.add_argument("--modes", default="lora", help="comma-separated: lora,full")
    parser.add_argument(
        "--models",
        default="content",
        help="recommendation: comma-separated recommenders scored with each encoder, of "
        f"{','.join(TEXT_RECOMMENDERS)} (content always runs) [content]",
    )
    parser.add_argument(
        "--params",
        type=parse_model_params,
        default=None,
        help="recommendation: the models' parameters as JSON, as a home's recommend.params, "
        'e.g. \'{"sasrec-text": {"text_vectors": "home"}}\'',
    )
    add_finetune_options(parser)
    parser.add_argument("--max-pairs", type=int, default=None)
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument(
        "--valid-half-life",
        type=parse_half_life,
        default="tuned",
        help="validation profiles' recency half-life: tuned (the frozen content model's), "
        "none or a number [tuned]",
    )
    parser.add_argument("--negatives", choices=("none", "bm25", "vector"), default=None)
    parser.add_argument(
        "--max-positive-rank",
        type=int,
        default=None,
        help="train only on pairs whose positive the base encoder ranks within this many",
    )
    parser.add_argument("--max-valid", type=int, default=500)
    parser.add_argument("--valid-corpus-size", type=int, default=None)
    parser.add_argument("--max-users", type=int, default=None)
    parser.add_argument("--max-queries", type=int, default=None)
    parser.add_argument("--no-tune", action="store_true", help="skip content-model tuning")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads [all]")
    parser.add_argument("--workdir", type=Path, default=None, help="keep models here")
    add_base_model_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    limit_threads(args.threads)
    result = evaluate_finetune(
        args.data, task=args.task, modes=comma_list(args.modes), config=finetune_config(args),
        max_pairs=args.max_pairs, window=args.window, valid_half_life=args.valid_half_life,
        negatives=args.negatives, max_positive_rank=args.max_positive_rank,
        max_valid=args.max_valid,
        valid_corpus_size=args.valid_corpus_size, max_users=args.max_users,
        max_queries=args.max_queries, tune=not args.no_tune,
        workdir=args.workdir, base_model=args.base_model, models=comma_list(args.models),
        model_params=args.params, show_progress=True, progress=say_on_stderr,
    )  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name, row in result["metrics"].items():
            print(f"{name:20s} " + "  ".join(f"{k} {v:.4f}" for k, v in row.items()))
        unit = "users" if result["task"] == "recommend" else "queries"
        for name, gain in result["paired"]["models"].items():
            counts = f"{gain['better']} {unit} better, {gain['worse']} worse"
            print(f"{name:20s} {PAIRED_METRIC} over frozen {describe(gain)}; {counts}")
        for slice_name, part in result["paired"].get("slices", {}).items():
            for name, gain in part["models"].items():
                where = f"{slice_name} ({gain['n']} {unit})"
                print(f"{name:20s} {where}: {PAIRED_METRIC} over frozen {describe(gain)}")
        for mode, run in result["finetune"]["runs"].items():
            if run["refit"]:
                print(f"{mode:8s} {describe_refit(run['refit'])}")
        for mode, cost in result["training"].items():
            print(f"{mode:8s} {cost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
