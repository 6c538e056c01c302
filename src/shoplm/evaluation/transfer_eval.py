"""Transfer across platforms: a shared adapter from one catalog helps a small new one.

One base encoder; a *shared* LoRA adapter trained on a source platform's behaviour
(``amazon_games``: history -> next item) and, per target platform, a small adapter trained
on top of it.  The target (``amazon_office``) is scored under its own leave-one-out protocol
with the content model (:func:`evaluate_recommend`, ``models=["content"]``) for:

- ``content-frozen``: the base encoder;
- ``content-transfer-zero-shot``: base + shared adapter, no target data at all;
- ``content-transfer-<f>`` / ``-100%``: the shared adapter merged into the base, then a
  target adapter trained on the pairs of a seeded share ``f`` of the target users (or all);
- ``content-alone-<f>`` / ``-100%``: a target adapter on the plain base, same pairs;
- ``itemknn-<f>``, ``als-<f>``, ``itemknn-100%``: ID-only CF fitted on the same users'
  training sequences; it has no text, so nothing can transfer to it.

Every target adapter learns only from its users' training sequences (leave-one-out: the
test item removed; each user's newest training item held out for early stopping), so the
test item is never trained on.  Each adapter is stored on its own (``adapter/``: peft
safetensors + ``manifest.json`` naming base model, platform, data hash and metrics), and the
run checks that loading and switching adapters on one loaded base gives the vectors of the
merged folders (``swap_check``).

    shoplm evaluate transfer --source DIR --target DIR --workdir DIR --json
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shoplm.config import DEFAULT_ENCODER
from shoplm.datasets import RecDataset, load_dataset
from shoplm.evaluation.finetune_eval import (
    TUNED_CACHE,
    _workdir,
    add_base_model_option,
    parse_half_life,
    profile_half_life,
    training_cost,
)
from shoplm.evaluation.finetune_options import add_finetune_options, finetune_config
from shoplm.evaluation.metrics import item_coverage, ranking_metrics
from shoplm.evaluation.paired import PAIRED_METRIC, describe, paired_difference
from shoplm.evaluation.ranking import top_k_from_scores
from shoplm.evaluation.recommend_eval import evaluate_recommend, held_out_split
from shoplm.evaluation.runner import Progress, say_on_stderr, seeded_sample
from shoplm.evaluation.threads import limit_threads
from shoplm.finetune.data import TrainingData
from shoplm.finetune.job import train
from shoplm.finetune.manifest import MANIFEST_FILE, write_json
from shoplm.finetune.pairs import recommendation_data
from shoplm.finetune.train import FinetuneConfig, with_task_scale
from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, UserBatch
from shoplm.recommend.training import fit_models
from shoplm.recommend.validation import hold_out_last
from shoplm.schema import EventType
from shoplm.store.base import EventColumns

KS = (5, 10, 20)
SWAP_TEXTS = 8  # target item texts encoded by the swap check
SWAP_TOLERANCE = 1e-4
CF_SHARE = ("itemknn", "als")  # ID-only CF fitted on the share of users
CF_ALL = ("itemknn",)  # ... and on all users
PROTOCOL = (
    "transfer: a shared LoRA adapter trained on {source} (history -> next item pairs of its "
    "leave-one-out training sequences, at most {max_source_pairs} pairs, each user's newest "
    "training item held out for early stopping); on {target}, target adapters are trained "
    "on the pairs of the training sequences of a seeded {share} of the target users "
    "({n_share} of {n_target} users, seed {seed}) or of all of them, the newest training "
    "item of each held out for early stopping, never the test item; content-transfer-* "
    "merge the shared adapter into the base and train the target adapter on top, "
    "content-alone-* train it on the plain base, content-transfer-zero-shot uses the "
    "shared adapter alone; every content variant ranks all target test users with the "
    "content model (its content tuning on the validation item as in the recommendation "
    "protocol); ID-only CF ({cf}) is fitted (and tuned on the validation item) on the "
    "training sequences of the same share of users only, then every test user is scored "
    "from their own training sequence with the fitted model (item-kNN: the sum of the "
    "similarity rows of the history items; ALS: users outside the share folded in by the "
    "exact least-squares solve against the fixed item factors, users inside it with their "
    "fitted factors), full ranking, training items excluded; items no fitted user took "
    "have no similarities or trained factors, which is what an ID-only model cannot "
    "transfer"
)


def evaluate_transfer(
    source: str | Path,
    target: str | Path,
    fraction: float = 0.1,
    max_source_pairs: int | None = 50_000,
    max_target_users: int | None = None,
    config: FinetuneConfig | None = None,
    max_target_pairs: int | None = None,
    window: int = 1,
    valid_half_life: float | Literal["tuned"] | None = "tuned",
    max_valid: int | None = 500,
    valid_corpus_size: int | None = 5000,
    tune: bool = True,
    base: str = DEFAULT_ENCODER,
    workdir: str | Path | None = None,
    isolate: bool = True,
    show_progress: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train the shared and target adapters, score every variant on the target (see module).

    ``config``: every adapter's LoRA training settings (the recommendation scale unless it
    sets one); its ``seed`` also draws the target share and the scored users.

    ``max_target_users`` caps the scored target test users (a seeded sample; training
    still uses every user of its share).  ``max_target_pairs`` caps each target adapter's
    pairs (a seeded sample of its users' pairs; the 10% share usually has fewer).
    ``valid_half_life`` weighs validation histories (``"tuned"``: the half-life the frozen
    content model chose on the target's validation item, as in :mod:`finetune_eval`).
    ``isolate`` trains each adapter in a child process so its peak memory is its own;
    without it training runs here (faster to start, and ``peak_rss_mb`` is then this
    process's peak so far).
    """
    say = progress or (lambda _msg: None)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    config = with_task_scale(config or FinetuneConfig(), "recommend")
    if config.mode != "lora":
        raise ValueError("the transfer experiment trains LoRA adapters: config.mode must be lora")
    seed = config.seed
    started = time.perf_counter()
    source_data = _rec_dataset(source, "source")
    target_data = _rec_dataset(target, "target")
    share = share_label(fraction)
    target_train, _, _, _ = held_out_split(target_data, target_data.protocol)
    sample = share_of_users(target_train, fraction, seed)

    def pairs(dataset: RecDataset, sequences: dict[str, list[str]], cap: int | None) -> Any:
        return recommendation_data(
            dataset.items, sequences, window=window, half_life=half_life, max_pairs=cap,
            max_valid=max_valid, valid_corpus_size=valid_corpus_size, seed=seed,
        )  # fmt: skip

    user_rows: dict[str, list[float]] = {}  # each content variant's NDCG@10 per test user

    def score(label: str, model: str, cache: Path | None = None) -> dict[str, Any]:
        say(f"evaluating {label} on {target_data.name}")
        began = time.perf_counter()
        result = evaluate_recommend(
            target_data, models=["content"], max_users=max_target_users, tune=tune,
            explain_users=0, seed=seed, show_progress=show_progress, progress=say,
            encoder={"model": model}, per_user=PAIRED_METRIC, embedding_cache=cache,
        )  # fmt: skip
        user_rows[label] = result.pop("per_user")["models"]["content"]
        result["eval_seconds"] = round(time.perf_counter() - began, 2)
        return result

    metrics: dict[str, dict[str, float]] = {}
    costs: dict[str, dict[str, Any]] = {}
    evaluations: dict[str, dict[str, Any]] = {}
    frozen = score("content-frozen", base)
    metrics["content-frozen"] = frozen["metrics"]["content"]
    evaluations["content-frozen"] = _eval_notes(frozen)
    costs["content-frozen"] = {"trainable_params": 0, "train_seconds": 0.0, "peak_rss_mb": None}
    half_life = profile_half_life(valid_half_life, frozen)

    with _workdir(workdir) as root:
        runs_root, cache = root / "adapters", root / TUNED_CACHE
        say(f"building source pairs from {source_data.name} (training split only)")
        shared_data = pairs(source_data, _source_sequences(source_data), max_source_pairs)
        say(f"{len(shared_data.pairs)} source pairs; training the shared adapter")
        runs: dict[str, dict[str, Any]] = {}
        runs["shared"] = train(
            shared_data, config, runs_root / "shared", base, source_data.name, isolate, say
        )
        shared_base = runs["shared"]["model_folder"]
        zero = score("content-transfer-zero-shot", shared_base, cache)
        metrics["content-transfer-zero-shot"] = zero["metrics"]["content"]
        evaluations["content-transfer-zero-shot"] = _eval_notes(zero)
        costs["content-transfer-zero-shot"] = _cost(runs["shared"])

        everyone = sorted(target_train)
        plan = [
            (f"transfer-{share}", sample, shared_base),
            ("transfer-100%", everyone, shared_base),
            (f"alone-{share}", sample, base),
            ("alone-100%", everyone, base),
        ]
        target_pairs: dict[str, TrainingData] = {}
        for name, users, run_base in plan:
            label = f"content-{name}"
            key = name.rsplit("-", 1)[1]
            if key not in target_pairs:
                chosen = {u: target_train[u] for u in users}
                target_pairs[key] = pairs(target_data, chosen, max_target_pairs)
            data = target_pairs[key]
            say(f"{label}: {len(data.pairs)} target pairs from {len(users)} users")
            runs[name] = train(
                data, config, runs_root / _slug(name), run_base, target_data.name, isolate, say
            )
            result = score(label, runs[name]["model_folder"], cache)
            metrics[label] = result["metrics"]["content"]
            evaluations[label] = _eval_notes(result)
            costs[label] = _cost(runs[name])

        for name, users in [(f"{m}-{share}", sample) for m in CF_SHARE] + [
            (f"{m}-100%", everyone) for m in CF_ALL
        ]:
            model = name.rsplit("-", 1)[0]
            say(f"fitting {name} on {len(users)} users' training sequences")
            cf = cf_transfer_scores(
                target_data, model, users, max_target_users, tune=tune, seed=seed
            )
            metrics[name] = cf.pop("metrics")
            evaluations[name] = cf
            costs[name] = {"trainable_params": None, "train_seconds": cf["fit_seconds"]}

        say("checking adapter swapping on a loaded base against the merged folders")
        texts = [item.text() for item in target_data.items[:SWAP_TEXTS]]
        swap = swap_check(runs, texts)
        adapters = _store_manifests(runs, metrics, source_data.name, target_data.name)

    n_share_pairs = len(target_pairs[share].pairs)
    protocol = PROTOCOL.format(
        source=source_data.name, max_source_pairs=max_source_pairs, target=target_data.name,
        share=share, n_share=len(sample), n_target=len(everyone), seed=seed,
        cf=", ".join([*(f"{m}-{share}" for m in CF_SHARE), *(f"{m}-100%" for m in CF_ALL)]),
    )  # fmt: skip
    if max_target_pairs is not None:
        protocol += f"; each target adapter's pairs capped at {max_target_pairs} (seeded sample)"
    origin = "the frozen content model's choice" if valid_half_life == "tuned" else "as given"
    protocol += f"; validation profiles weigh history by recency half-life {half_life} ({origin})"
    return {
        "task": "transfer",
        "source": source_data.name,
        "target": target_data.name,
        "dataset": target_data.name,
        "protocol": frozen["protocol"] + "; " + protocol,
        "n_users": frozen["n_users"],
        "n_items": frozen["n_items"],
        "fraction": fraction,
        "share_users": len(sample),
        "target_users": len(everyone),
        "seconds": round(time.perf_counter() - started, 2),
        "metrics": metrics,
        "paired": paired_comparisons(user_rows, share),
        "training": costs,
        "evaluations": evaluations,
        "pairs": {
            "source": len(shared_data.pairs),
            f"target-{share}": n_share_pairs,
            "target-100%": len(target_pairs["100%"].pairs),
        },
        "adapters": adapters,
        "swap_check": swap,
        "seeds": {"seed": seed, "share_sample": seed, "training": seed, "evaluation": seed},
        "config": config.model_dump(),
        "base_model": base,
        "peak_rss_mb_parent": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def paired_comparisons(user_rows: dict[str, list[float]], share: str) -> dict[str, Any]:
    """User-by-user gains of each tuned variant over the frozen encoder, and of transfer.

    Transfer is also set against training alone on the same share of the target's data:
    the experiment's own question, answered with its noise.
    """
    compared = [(name, "content-frozen") for name in user_rows if name != "content-frozen"]
    compared += [(f"content-transfer-{s}", f"content-alone-{s}") for s in (share, "100%")]
    return {
        "metric": PAIRED_METRIC,
        "comparisons": [
            {"model": candidate, "against": baseline}
            | paired_difference(user_rows[baseline], user_rows[candidate])
            for candidate, baseline in compared
        ],
    }


def share_of_users(train: dict[str, list[str]], fraction: float, seed: int) -> list[str]:
    """A seeded ``fraction`` of the users (at least one), sorted; the same seed, same users."""
    users = sorted(u for u, seq in train.items() if seq)
    size = max(1, round(len(users) * fraction))
    return sorted(random.Random(seed).sample(users, size))


def cf_transfer_scores(
    dataset: RecDataset,
    model: str,
    fit_users: Sequence[str],
    max_users: int | None = None,
    tune: bool = True,
    seed: int = 42,
    ks: Sequence[int] = KS,
) -> dict[str, Any]:
    """An ID-only model fitted on ``fit_users``' training sequences, scored on every test user.

    The test users (the seeded sample :func:`evaluate_recommend` scores) are ranked from
    their own training sequences: users outside ``fit_users`` go in as unknown users
    (``user_rows`` -1), which item-kNN scores from its similarities and ALS folds in.
    """
    began = time.perf_counter()
    train, _, targets, _ = held_out_split(dataset, dataset.protocol)
    item_ids = [item.item_id for item in dataset.items]
    data = _interactions({u: train[u] for u in fit_users}, item_ids)
    tuned = [model] if tune and len(hold_out_last(data).user_rows) else []
    fitted = fit_models([model], data, FitContext(seed=seed), tune_models=tuned)
    recommender = fitted.models[model]
    fit_seconds = time.perf_counter() - began
    users = seeded_sample([u for u in targets if train.get(u)], max_users, seed)
    histories = [data.history_rows(train[u]) for u in users]
    index = data.item_index
    relevant = [{index[t] for t in targets[u]} for u in users]
    rows = np.array([data.user_index.get(u, -1) for u in users], dtype=np.int64)
    ranked = []
    for start in range(0, len(users), 1024):
        stop = start + 1024
        batch = UserBatch(rows[start:stop], histories[start:stop])
        ranked.append(top_k_from_scores(recommender.score(batch), max(ks), batch.histories))
    top = np.concatenate(ranked) if ranked else np.zeros((0, max(ks)), dtype=np.int64)
    scores = ranking_metrics(top, relevant, ks)
    scores.pop("n_users", None)
    scores["coverage@10"] = item_coverage(top, len(item_ids), k=min(10, max(ks)))
    return {
        "metrics": {name: round(float(v), 6) for name, v in scores.items()},
        "n_users": len(users),
        "fit_users": len(fit_users),
        "known_test_users": int((rows >= 0).sum()),
        "params": fitted.params[model],
        "tuned": bool(tuned),
        "fit_seconds": round(fit_seconds, 2),
        "seconds": round(time.perf_counter() - began, 2),
    }


def swap_check(runs: dict[str, dict[str, Any]], texts: Sequence[str]) -> dict[str, Any]:
    """Adapters loaded and switched on one loaded base vs their merged folders.

    One base is loaded per distinct base model (the plain base for the shared and
    ``alone`` adapters, the shared-merged base for the ``transfer`` ones); every adapter
    trained on it is loaded onto it without reloading it, switched to in turn, and its
    vectors compared with the merged folder's (and with the base's before any adapter was
    loaded: ``moved_from_base`` shows the adapter does change the vectors).
    """
    from transformers.utils import logging as hf_logging

    from shoplm.finetune.model import load_adapter, load_sentence_model, switch_adapter

    def encode(model: Any) -> np.ndarray:
        return model.encode(
            list(texts), convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )

    by_base: dict[str, list[str]] = {}
    for name, run in runs.items():
        by_base.setdefault(run["base_model"], []).append(name)
    diffs: dict[str, float] = {}
    moved: dict[str, float] = {}
    verbosity = hf_logging.get_verbosity()
    for base, names in by_base.items():
        served = load_sentence_model(base)
        plain = encode(served)
        # transformers reports the adapters already loaded as "missing" from each new one.
        hf_logging.set_verbosity_error()
        try:
            for name in names:
                folder = Path(runs[name]["adapter_folder"])
                load_adapter(served, folder, _slug(name), activate=False)
        finally:
            hf_logging.set_verbosity(verbosity)
        for name in names:
            switch_adapter(served, _slug(name))
            swapped = encode(served)
            merged = encode(load_sentence_model(runs[name]["model_folder"]))
            diffs[name] = float(np.abs(swapped - merged).max())
            moved[name] = float(np.abs(swapped - plain).max())
    worst = max(diffs.values()) if diffs else 0.0
    return {
        "texts": len(texts),
        "bases_loaded": len(by_base),
        "max_abs_diff": worst,
        "per_adapter": diffs,
        "moved_from_base": moved,  # 0 where early stopping kept the base's weights
        "tolerance": SWAP_TOLERANCE,
        "ok": worst <= SWAP_TOLERANCE,
    }


def _rec_dataset(path: str | Path, role: str) -> RecDataset:
    dataset = load_dataset(path)
    if not isinstance(dataset, RecDataset):
        raise ValueError(f"the {role} {path} holds a {type(dataset).__name__}, not sequences")
    if not any(item.text().strip() for item in dataset.items):
        raise ValueError(f"the {role} {dataset.name} has no item text: a text adapter needs it")
    return dataset


def _source_sequences(dataset: RecDataset) -> dict[str, list[str]]:
    """The source's leave-one-out training sequences (its test items are never used)."""
    train, _, _, _ = held_out_split(dataset, dataset.protocol)
    return train


def _interactions(sequences: dict[str, list[str]], item_ids: list[str]) -> Interactions:
    """Sequences as purchase events, the way the evaluation ingests them into the engine."""
    users = [u for u, seq in sequences.items() for _ in seq]
    items = [i for seq in sequences.values() for i in seq]
    stamps = [float(t) for seq in sequences.values() for t in range(len(seq))]
    n = len(items)
    columns = EventColumns(
        user_ids=np.array(users, dtype=object),
        item_ids=np.array(items, dtype=object),
        types=np.array([EventType.PURCHASE.value] * n, dtype=object),
        values=np.full(n, np.nan),
        timestamps=np.array(stamps, dtype=np.float64),
        session_ids=np.array([""] * n, dtype=object),
    )
    return Interactions.from_events(columns, item_ids)


def _cost(run: dict[str, Any]) -> dict[str, Any]:
    return {**training_cost(run), "pairs": run["data"]["pairs"]}


def _eval_notes(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "n_users": result["n_users"],
        "eval_seconds": result["eval_seconds"],
        "content_params": result["model_params"].get("content", {}),
    }


def _store_manifests(
    runs: dict[str, dict[str, Any]],
    metrics: dict[str, dict[str, float]],
    source: str,
    target: str,
) -> dict[str, dict[str, Any]]:
    """Write ``adapter/manifest.json`` beside each adapter's safetensors; their summary."""
    summary = {}
    for name, run in runs.items():
        adapter = Path(run["adapter_folder"])
        manifest = json.loads((adapter.parent / MANIFEST_FILE).read_text())
        shared = name == "shared"
        label = "content-transfer-zero-shot" if shared else f"content-{name}"
        manifest["transfer"] = {
            "role": "shared" if shared else "platform",
            "variant": name,
            "source": source,
            "target": target,
            "share_of_target_users": None if shared else name.rsplit("-", 1)[1],
            "stacked_on_shared": name.startswith("transfer-"),
            "target_metrics": {label: metrics[label]},
        }
        write_json(adapter / MANIFEST_FILE, manifest)
        summary[name] = {
            "adapter_folder": str(adapter),
            "manifest": str(adapter / MANIFEST_FILE),
            "model_folder": run["model_folder"],
            "model_id": run["model_id"],
            "base_model": run["base_model"],
            "platform": run["platform"],
            "data_hash": run["data_hash"],
            "valid_ndcg@10_base": run["metrics"]["valid_ndcg@10_base"],
            "valid_ndcg@10_best": run["metrics"]["valid_ndcg@10_best"],
            "best_step": run["metrics"]["best_step"],
            "strength": run["metrics"]["strength"],
            "refit": run["metrics"].get("refit"),
        }
    return summary


def share_label(fraction: float) -> str:
    """0.1 -> "10%" (the variant names' suffix)."""
    return f"{fraction * 100:.4g}%"


def _slug(name: str) -> str:
    """A folder / peft adapter name: no ``%`` or ``-``."""
    return name.replace("%", "").replace("-", "_")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="shoplm evaluate transfer",
        description="Shared adapter from a source platform vs training on the target alone.",
    )
    parser.add_argument("--source", required=True, type=Path, help="source dataset folder")
    parser.add_argument("--target", required=True, type=Path, help="target dataset folder")
    parser.add_argument("--fraction", type=float, default=0.1, help="share of target users")
    parser.add_argument("--max-source-pairs", type=int, default=50_000)
    parser.add_argument("--max-target-users", type=int, default=None, help="scored test users")
    add_finetune_options(parser)
    parser.add_argument(
        "--max-target-pairs", type=int, default=None, help="cap each target adapter's pairs"
    )
    parser.add_argument("--window", type=int, default=1, help="history items per anchor")
    parser.add_argument(
        "--valid-half-life",
        type=parse_half_life,
        default="tuned",
        help="validation profiles' recency half-life: tuned (the frozen content model's "
        "choice on the target), none or a number [tuned]",
    )
    parser.add_argument("--max-valid", type=int, default=500)
    parser.add_argument("--valid-corpus-size", type=int, default=5000)
    parser.add_argument("--no-tune", action="store_true", help="skip content and CF tuning")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads [all]")
    parser.add_argument("--workdir", type=Path, default=None, help="keep adapters here")
    parser.add_argument(
        "--in-process", action="store_true", help="train here, not in child processes"
    )
    add_base_model_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    limit_threads(args.threads)
    result = evaluate_transfer(
        args.source, args.target, fraction=args.fraction,
        max_source_pairs=args.max_source_pairs, max_target_users=args.max_target_users,
        config=finetune_config(args), max_target_pairs=args.max_target_pairs,
        window=args.window, valid_half_life=args.valid_half_life,
        max_valid=args.max_valid, valid_corpus_size=args.valid_corpus_size,
        tune=not args.no_tune, workdir=args.workdir, base=args.base_model,
        isolate=not args.in_process, show_progress=True, progress=say_on_stderr,
    )  # fmt: skip
    if args.workdir is not None:
        write_json(args.workdir / "transfer-result.json", result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name, row in result["metrics"].items():
            print(f"{name:28s} NDCG@10 {row['NDCG@10']:.4f}  HR@10 {row['HR@10']:.4f}")
        for gain in result["paired"]["comparisons"]:
            print(f"{gain['model']} - {gain['against']}: {describe(gain)}")
        print(f"swap check: max abs diff {result['swap_check']['max_abs_diff']:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
