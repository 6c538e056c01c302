"""Refit: train once more on every pair, the held-out ones too, for as long as validation chose.

Early stopping needs held-out answers: each user's newest item, the validation queries' judged
items.  They are also a shop's freshest behaviour, and a run that only validated on them never
learns from them.  Once validation has chosen how long to train (the best step), a refit starts
the trainable weights again from where the run started and trains on the pairs and the held-out
pairs together for the same number of epochs (the best step scaled to the larger data's batches
per epoch), on the same learning-rate schedule.  The evaluations refit their recommenders on
all training items after tuning in the same way.

Nothing is left to validate a refit on, so its weights are exported as they are.  It checkpoints
like the run itself (``refit-checkpoint/``) and resumes where it stopped.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from shoplm.finetune import checkpoint as ckpt
from shoplm.finetune.data import TrainingData
from shoplm.finetune.model import load_trainable_state, trainable_state
from shoplm.finetune.prefix import item_ids_used
from shoplm.finetune.steps import (
    Stepper,
    epoch_batch,
    matching_step,
    schedule,
    seed_all,
    steps_per_epoch,
)

if TYPE_CHECKING:
    from shoplm.finetune.train import FinetuneConfig

CHECKPOINT = "refit-checkpoint"


def refit_steps(chosen_step: int, pairs: int, all_pairs: int, batch_size: int) -> int:
    """The step of the refit that has seen as many epochs as ``chosen_step`` of the run."""
    return matching_step(
        chosen_step, steps_per_epoch(pairs, batch_size), steps_per_epoch(all_pairs, batch_size)
    )


def refit(
    model: Any,
    origin: dict[str, Any],
    embed: Callable[[list[str]], Any],
    encode: Callable[[Sequence[str]], np.ndarray],
    data: TrainingData,
    config: FinetuneConfig,
    chosen_step: int,
    out: Path,
    identity: dict[str, Any],
    say: Callable[[str], None],
    show: bool = False,
) -> dict[str, Any]:
    """Train ``model`` from ``origin`` on pairs + held-out pairs, leaving the refit weights in
    it; the report says how many steps (0, and the model untouched, when there is nothing to
    refit: no held-out pairs, or validation kept the base).

    ``chosen_step`` is the validated run's step to match; ``identity`` names the run (data hash,
    base, settings), so a checkpoint from another run is not resumed.
    """
    started = time.perf_counter()
    pairs = [*data.pairs, *data.held_out]
    per_epoch = steps_per_epoch(len(pairs), config.batch_size)
    total = per_epoch * config.epochs
    steps = min(total, refit_steps(chosen_step, len(data.pairs), len(pairs), config.batch_size))
    report = {
        "pairs": len(data.pairs),
        "held_out_pairs": len(data.held_out),
        "chosen_step": chosen_step,
        "steps": steps if data.held_out else 0,
    }
    if not report["steps"]:
        why = "no held-out pairs" if not data.held_out else "validation kept the base model"
        say(f"nothing to refit ({why}): the validated weights are exported")
        return report
    wanted = {**identity, "held_out_hash": data.held_out_hash(), "steps": steps}
    bank_ids = sorted(item_ids_used(data, held_out=True)) if config.bank_every else []
    stepper = Stepper(model, embed, encode, data, pairs, bank_ids, config)
    folder = Path(out) / CHECKPOINT
    saved = ckpt.load_checkpoint(folder)
    if saved is not None and all(saved["state"].get(k) == v for k, v in wanted.items()):
        state = saved["state"]
        load_trainable_state(model, saved["weights"])
        ckpt.restore_optimizer(stepper.optimizer, saved["optimizer"], state.pop("optimizer_groups"))
        ckpt.restore_rng(saved["rng"])
        say(f"resuming the refit at step {state['step']} of {steps}")
    else:
        seed_all(config.seed)
        load_trainable_state(model, origin)
        state = {**wanted, "step": 0}
        say(
            f"refitting on {len(pairs)} pairs ({len(data.held_out)} held out until now) "
            f"for {steps} steps"
        )
    warmup = int(total * config.warmup_ratio)
    bar = tqdm(
        total=steps, initial=state["step"], desc="refit", unit="step", disable=not show,
        file=sys.stderr,
    )  # fmt: skip
    model.train()
    while state["step"] < steps:
        epoch, in_epoch = divmod(state["step"], per_epoch)
        batch = epoch_batch(pairs, config.seed, epoch, in_epoch, config.batch_size)
        lr = config.lr * schedule(state["step"], warmup, total)
        state["last_loss"] = stepper.step(batch, state["step"], lr)
        state["step"] += 1
        bar.update(1)
        bar.set_postfix(loss=f"{state['last_loss']:.3f}")
        if state["step"] % config.checkpoint_every == 0 or state["step"] == steps:
            ckpt.save_checkpoint(folder, state, trainable_state(model), {}, stepper.optimizer)
    bar.close()
    model.eval()
    return {**report, "seconds_this_run": round(time.perf_counter() - started, 2)}


def describe_refit(refit: dict[str, Any]) -> str:
    """What a refit did, in words: its steps, or why it trained none."""
    if not refit["steps"]:
        why = "no held-out pairs" if not refit["held_out_pairs"] else "validation kept the base"
        return f"refit: none ({why})"
    return (
        f"refit: {refit['steps']} steps on {refit['pairs'] + refit['held_out_pairs']} pairs "
        f"({refit['held_out_pairs']} held out for validation), matching step "
        f"{refit['chosen_step']}"
    )
