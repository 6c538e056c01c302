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
from shoplm.finetune.loss import positive_log_frequency
from shoplm.finetune.model import load_trainable_state, trainable_state
from shoplm.finetune.prefix import item_ids_used
from shoplm.finetune.steps import batch_loss, epoch_batch, schedule, seed_all, take_step

if TYPE_CHECKING:
    from shoplm.finetune.train import FinetuneConfig

CHECKPOINT = "refit-checkpoint"
EncodeTexts = Callable[[Sequence[str]], np.ndarray]


def refit_steps(chosen_step: int, pairs: int, all_pairs: int, batch_size: int) -> int:
    """The step of the refit that has seen as many epochs as ``chosen_step`` of the run."""
    per_epoch = max(1, pairs // batch_size)
    all_per_epoch = max(1, all_pairs // batch_size)
    return round(chosen_step * all_per_epoch / per_epoch)


def refit(
    model: Any,
    origin: dict[str, Any],
    embed: Callable[[list[str]], Any],
    encode: EncodeTexts,
    data: TrainingData,
    config: FinetuneConfig,
    chosen_step: int,
    out: Path,
    identity: dict[str, Any],
    say: Callable[[str], None],
    show: bool = False,
) -> dict[str, Any]:
    """Train ``model`` from ``origin`` on pairs + held-out pairs; leaves the refit weights in it.

    ``chosen_step`` is the validated run's step to match; ``identity`` names the run (data hash,
    base, settings), so a checkpoint from another run is not resumed.
    """
    import torch

    started = time.perf_counter()
    pairs = [*data.pairs, *data.held_out]
    per_epoch = max(1, len(pairs) // config.batch_size)
    total = per_epoch * config.epochs
    steps = min(total, refit_steps(chosen_step, len(data.pairs), len(pairs), config.batch_size))
    warmup = int(total * config.warmup_ratio)
    report = {
        "pairs": len(data.pairs),
        "held_out_pairs": len(data.held_out),
        "chosen_step": chosen_step,
        "steps": steps,
    }
    wanted = {**identity, "held_out_hash": data.held_out_hash(), "steps": steps}
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    folder = Path(out) / CHECKPOINT
    saved = ckpt.load_checkpoint(folder)
    if saved is not None and all(saved["state"].get(k) == v for k, v in wanted.items()):
        state = saved["state"]
        load_trainable_state(model, saved["weights"])
        ckpt.restore_optimizer(optimizer, saved["optimizer"], state.pop("optimizer_groups"))
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
    bank_ids = sorted(item_ids_used(data, held_out=True)) if config.bank_every else []
    bank: Any = None
    log_q = (
        positive_log_frequency([p.positive for p in pairs], list(data.corpus))
        if config.popularity_correction
        else None
    )
    bar = tqdm(
        total=steps, initial=state["step"], desc="refit", unit="step", disable=not show,
        file=sys.stderr,
    )  # fmt: skip
    model.train()
    while state["step"] < steps:
        epoch, in_epoch = divmod(state["step"], per_epoch)
        batch = epoch_batch(pairs, config.seed, epoch, in_epoch, config.batch_size)
        if bank_ids and (bank is None or state["step"] % config.bank_every == 0):
            bank = torch.from_numpy(encode([data.corpus[i] for i in bank_ids]))
        loss = batch_loss(embed, data, batch, config, (bank_ids, bank) if bank_ids else None, log_q)
        lr = config.lr * schedule(state["step"], warmup, total)
        state["last_loss"] = take_step(loss, optimizer, params, lr, config.max_grad_norm)
        state["step"] += 1
        bar.update(1)
        bar.set_postfix(loss=f"{state['last_loss']:.3f}")
        if state["step"] % config.checkpoint_every == 0 or state["step"] == steps:
            weights = trainable_state(model)
            ckpt.save_checkpoint(folder, state, weights, {}, optimizer)
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
