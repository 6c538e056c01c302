"""Cross-platform transfer of a task head: one shop's reviews teach another shop's head.

Source and target are two platforms with the same task (sentiment: clothing reviews ->
office-product reviews).  A *shared* LoRA head is trained on the source; on the target,
every variant is scored once on the same held-out test rows:

- ``probe-<f>``: frozen encoder + linear head on a seeded share ``f`` of the target's
  training and validation rows (the cheap baseline);
- ``transfer-zero-shot``: the source head as it is, no target rows at all;
- ``transfer-<f>`` / ``-100%``: the source adapter merged into the base, then a fresh
  target adapter + head trained on the share's rows (or on all of them);
- ``alone-<f>`` / ``-100%``: the same target adapter + head on the plain base, same rows.

``variants`` runs only some of the trained variants (the zero-shot one comes free with the
shared head): e.g. ``transfer-100%`` alone, when ``alone-100%`` is a run of
``shoplm evaluate heads`` already made with the same split and settings.

Each variant makes its choices (stopping point, class weights, logit offsets) on its own
validation rows (the same share of the target's validation split), never on test.  Every
head is saved apart (adapter + head safetensors, manifest naming its base), so the target
platform's small adapter sits on the shared one.

    shoplm evaluate heads-transfer --source DIR --target DIR --json
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from shoplm.config import progress_wanted
from shoplm.datasets import TextLabelDataset, load_dataset
from shoplm.evaluation.finetune_eval import _workdir
from shoplm.evaluation.heads_eval import (
    EVAL_HEAD,
    FRACTIONS,
    Progress,
    TaskData,
    add_training_options,
    brief,
    build_task,
    task_split,
    train_and_score,
    training_config,
)
from shoplm.evaluation.options import comma_list
from shoplm.evaluation.threads import limit_threads
from shoplm.evaluation.transfer_eval import share_label
from shoplm.heads import Examples, HeadConfig, TaskHead, TaskSpec
from shoplm.heads.intervals import paired_bootstrap
from shoplm.heads.predicting import Scored
from shoplm.heads.split import cap_rows

TASKS = ("sentiment", "rating")
# the settings of `shoplm evaluate heads` (LoRA r 16 on the top 2 blocks), no class weights
DEFAULT_HEAD = dataclasses.replace(EVAL_HEAD, class_weights="none")


def evaluate_heads_transfer(
    source: str | Path,
    target: str | Path,
    task: str = "sentiment",
    fraction: float = 0.1,
    max_source_train: int | None = 4000,
    max_valid: int | None = 2000,
    max_test: int | None = 2000,
    head: HeadConfig | None = None,
    workdir: str | Path | None = None,
    threads: int | None = None,
    show_progress: bool = False,
    progress: Progress | None = None,
    variants: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train the shared head on ``source``, every variant on ``target``; score each once.

    ``fraction`` is the share of the target's training and validation rows the ``-<f>``
    variants see (seeded, natural class mix).  ``max_source_train`` caps the source's
    training rows (drawn evenly across classes; offsets chosen on its validation rows
    restore the priors).  ``max_valid`` caps every validation split, ``max_test`` the target's
    test rows.  ``head`` holds the training settings of every head (default
    :data:`DEFAULT_HEAD`); each variant takes its own mode and base model, and its seed seeds
    the splits too.  ``variants`` names the trained variants to run (default: all of
    :func:`variant_plan`), checked before any training.
    """
    head = head or DEFAULT_HEAD
    seed = head.seed
    say = progress or (lambda _message: None)
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    limit_threads(threads)
    started = time.perf_counter()
    source_task = build_task(task, _reviews(source, "source"), seed=seed)
    target_task = build_task(task, _reviews(target, "target"), seed=seed)
    if source_task.spec != target_task.spec:
        raise ValueError(
            f"source and target disagree on the task: {source_task.spec} vs {target_task.spec}"
        )
    spec = target_task.spec
    share = share_label(fraction)
    chosen = _chosen_variants(share, variants)
    source_parts = _source_parts(source_task, seed, max_source_train, max_valid)
    target_rows = _target_rows(target_task, seed, fraction, max_valid, max_test)
    test = target_task.examples.subset(target_rows["test"])

    def config(base: str, mode: str = "lora") -> HeadConfig:
        return dataclasses.replace(head, mode=mode, base_model=base)

    def rows(name: str) -> dict[str, Examples]:
        examples = target_task.examples
        return {
            "train": examples.subset(target_rows[f"train-{name}"]),
            "valid": examples.subset(target_rows[f"valid-{name}"]),
            "test": test,
        }

    metrics: dict[str, dict[str, Any]] = {}
    validation: dict[str, dict[str, float]] = {}
    training: dict[str, dict[str, Any]] = {}
    heads: dict[str, dict[str, Any]] = {}
    scored: dict[str, Scored] = {}  # each variant's test outputs, for the paired comparisons
    with _workdir(workdir) as root:
        say(f"shared head on {source_task.dataset}: {len(source_parts['train'])} training rows")
        # scored on the target's test rows with no target row seen: the zero-shot variant
        run = train_and_score(
            spec, {**source_parts, "test": test}, config(head.base_model), show_progress, say
        )
        metrics["transfer-zero-shot"] = run.metrics
        validation["shared"], training["shared"] = run.validation, run.training
        scored["transfer-zero-shot"] = run.scored
        shared_base = str(run.head.export_encoder(root / "shared-encoder"))
        heads["shared"] = _save(run.head, root / "shared", source_task.dataset, stacked=False)
        say(f"transfer-zero-shot: test {brief(run.metrics)}")
        del run
        gc.collect()
        for name, (on_shared, mode, part) in chosen.items():
            base = shared_base if on_shared else head.base_model
            say(f"{name}: {len(target_rows[f'train-{part}'])} target training rows")
            run = train_and_score(spec, rows(part), config(base, mode), show_progress, say)
            metrics[name], scored[name] = run.metrics, run.scored
            validation[name], training[name] = run.validation, run.training
            folder = root / name.replace("%", "")
            heads[name] = _save(run.head, folder, target_task.dataset, stacked=on_shared)
            say(f"{name}: test {brief(run.metrics)}")
            del run
            gc.collect()
    return {
        "task": "heads-transfer",
        "head_task": spec.name,
        "source": source_task.dataset,
        "target": target_task.dataset,
        "dataset": target_task.dataset,
        "protocol": _protocol(
            source_task, target_task, share, target_rows, len(source_parts["train"])
        ),
        "n_test": len(test),
        "fraction": fraction,
        "seconds": round(time.perf_counter() - started, 2),
        "metrics": metrics,
        "paired": paired_comparisons(spec, scored, seed),
        "validation": validation,
        "training": training,
        "heads": heads,
        "rows": {
            "source_train": len(source_parts["train"]),
            "source_valid": len(source_parts["valid"]),
            **{name: len(r) for name, r in target_rows.items()},
        },
        "config": head.to_dict(),
        "seed": seed,
        "environment": {"torch_threads": torch.get_num_threads()},
    }


def paired_comparisons(
    spec: TaskSpec, scored: dict[str, Scored], seed: int
) -> dict[str, dict[str, Any]]:
    """Each trained transfer variant against the variants trained without the source on the
    same target rows (``alone-<f>``, ``probe-<f>``): the difference of the test figure with
    its paired-bootstrap 95% interval (the same test rows resampled for both), keyed
    ``"transfer-<f> vs alone-<f>"``.  Pairs with a variant that did not run are left out."""
    found: dict[str, dict[str, Any]] = {}
    for name in scored:
        if not name.startswith("transfer-") or name == "transfer-zero-shot":
            continue
        share = name.removeprefix("transfer-")
        for baseline in (f"alone-{share}", f"probe-{share}"):
            if baseline in scored:
                result = paired_bootstrap(spec, scored[baseline], scored[name], seed=seed)
                found[f"{name} vs {baseline}"] = {
                    k: round(v, 6) if isinstance(v, float) else v for k, v in result.items()
                }
    return found


def variant_plan(share: str) -> dict[str, tuple[bool, str, str]]:
    """Every trained variant, in the order they run, for a share label such as ``10%``:
    name -> (stacked on the shared adapter?, mode, which target rows)."""
    return {
        f"probe-{share}": (False, "probe", share),
        f"transfer-{share}": (True, "lora", share),
        f"alone-{share}": (False, "lora", share),
        "transfer-100%": (True, "lora", "100%"),
        "alone-100%": (False, "lora", "100%"),
    }


def _chosen_variants(
    share: str, variants: Sequence[str] | None
) -> dict[str, tuple[bool, str, str]]:
    plan = variant_plan(share)
    if variants is None:
        return plan
    if not variants or any(name not in plan for name in variants):
        raise ValueError(f"variants must be some of {list(plan)}, got {list(variants)}")
    return {name: step for name, step in plan.items() if name in variants}


def _reviews(path: str | Path, role: str) -> TextLabelDataset:
    dataset = load_dataset(path)
    if not isinstance(dataset, TextLabelDataset):
        raise ValueError(f"the {role} {path} holds a {type(dataset).__name__}, not reviews")
    return dataset


def _source_parts(
    built: TaskData, seed: int, max_train: int | None, max_valid: int | None
) -> dict[str, Examples]:
    """The source's training rows (capped, class-even) and validation rows."""
    split, _ = task_split(built, seed)
    labels = built.spec.reported_targets(built.examples.targets)
    return {
        "train": built.examples.subset(cap_rows(split["train"], max_train, seed, labels)),
        "valid": built.examples.subset(cap_rows(split["valid"], max_valid, seed + 1)),
    }


def _target_rows(
    built: TaskData, seed: int, fraction: float, max_valid: int | None, max_test: int | None
) -> dict[str, list[int]]:
    """Target row lists: all and a seeded share of train and valid, and the test rows."""
    split, _ = task_split(built, seed)
    valid = cap_rows(split["valid"], max_valid, seed + 1)
    share = share_label(fraction)
    return {
        "train-100%": split["train"],
        "valid-100%": valid,
        f"train-{share}": cap_rows(split["train"], _share(split["train"], fraction), seed + 3),
        f"valid-{share}": cap_rows(valid, _share(valid, fraction), seed + 4),
        "test": cap_rows(split["test"], max_test, seed + 2),
    }


def _share(rows: Sequence[int], fraction: float) -> int:
    return max(1, round(len(rows) * fraction))


def _save(head: TaskHead, folder: Path, platform: str, stacked: bool) -> dict[str, Any]:
    """Save a head (adapter + head + manifest) and say where, on what base, for which shop."""
    head.save(folder)
    return {
        "folder": str(folder),
        "platform": platform,
        "mode": head.config.mode,
        "base_model": head.config.base_model,
        "stacked_on_shared": stacked,
        "trainable_parameters": head.trainable_parameters,
    }


def _protocol(
    source: TaskData, target: TaskData, share: str, rows: dict[str, list[int]], n_source: int
) -> str:
    return (
        f"{target.description}. Source {source.dataset}: a shared LoRA head trained on "
        f"{n_source} rows of its seeded {FRACTIONS[0]:.0%} training split (class-even), "
        f"choices on its validation split. Target {target.dataset}: one seeded "
        f"{FRACTIONS[0]:.0%}/{FRACTIONS[1]:.0%}/{FRACTIONS[2]:.0%} split; the {share} "
        f"variants train on a seeded {share} of its training rows ({len(rows[f'train-{share}'])}"
        f") and choose on the same share of its validation rows ({len(rows[f'valid-{share}'])})"
        f", the 100% ones on all {len(rows['train-100%'])} / {len(rows['valid-100%'])}; "
        "transfer-* merge the shared adapter into the base and train a fresh target adapter "
        "and head on top, alone-* the same on the plain base, probe-* a linear head on the "
        "frozen base, transfer-zero-shot is the shared head as trained on the source; every "
        f"variant scored once on the same {len(rows['test'])} target test rows"
    )


# -------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> int:
    from shoplm.evaluation.runner import say_on_stderr  # imports the Engine: only here

    p = argparse.ArgumentParser(
        prog="shoplm evaluate heads-transfer",
        description="A task head's adapter from one platform vs training on the target alone.",
    )
    p.add_argument("--source", required=True, type=Path, help="source reviews folder")
    p.add_argument("--target", required=True, type=Path, help="target reviews folder")
    p.add_argument("--task", choices=TASKS, default="sentiment")
    p.add_argument("--fraction", type=float, default=0.1, help="share of the target's rows")
    p.add_argument(
        "--max-source-train", type=int, default=4000, help="source training rows (0: all)"
    )
    p.add_argument("--max-valid", type=int, default=2000)
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--class-weights", choices=("none", "balanced", "auto"), default="none")
    p.add_argument("--workdir", type=Path, default=None, help="keep the heads here")
    p.add_argument(
        "--variants",
        default=None,
        help="comma-separated trained variants to run (default all: probe-<f>, transfer-<f>, "
        "alone-<f>, transfer-100%%, alone-100%%)",
    )
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    add_training_options(p)
    args = p.parse_args(argv)
    result = evaluate_heads_transfer(
        args.source, args.target, task=args.task, fraction=args.fraction,
        max_source_train=args.max_source_train or None, max_valid=args.max_valid,
        max_test=args.max_test, head=training_config(args, args.class_weights),
        workdir=args.workdir, threads=args.threads, show_progress=progress_wanted(),
        progress=say_on_stderr,
        variants=None if args.variants is None else comma_list(args.variants),
    )  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['head_task']}: {result['source']} -> {result['target']}")
        for name, row in result["metrics"].items():
            print(f"{name:20s} {brief(row)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
