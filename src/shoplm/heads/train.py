"""The training loops: LoRA end to end over token batches, or the head alone over vectors.

Both evaluate on the validation rows at fixed points, keep the best trainable weights seen
so far (only adapter and head: a few MB at most) and stop once ``patience`` evaluations in
a row bring no improvement; the best weights are restored at the end.  A LoRA head's refit
(:func:`refit_network`) then trains a fresh head for as many epochs over the training and
validation rows together, with nothing left to validate on.  Test rows never enter here.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from shoplm.finetune.steps import schedule
from shoplm.heads.averaging import WeightAverage
from shoplm.heads.batches import collate, tokenize, training_batches
from shoplm.heads.config import HeadConfig
from shoplm.heads.features import run_batches
from shoplm.heads.model import HeadNet
from shoplm.heads.prefix import PrefixStates
from shoplm.heads.scoring import (
    TargetScale,
    beats_constant,
    brief_scores,
    calibrate,
    selection_score,
    task_metrics,
)
from shoplm.heads.spec import TaskKind, TaskSpec

Say = Callable[[str], None]
PROBE_PATIENCE_EPOCHS = 10
SQUARED_ERROR = (TaskKind.REGRESSION, TaskKind.ORDINAL)  # one standardised output, MSE
MAX_GRAD_NORM = 1.0
BLOCK_INDEX = re.compile(r"\.layer\.(\d+)\.")  # a parameter inside transformer block N


@dataclass
class Trained:
    """What a training run found: the best validation point and how it got there."""

    score: float
    metrics: dict[str, float]
    step: int
    steps: int
    calibration: np.ndarray | None  # class offsets or cutpoints chosen on validation
    stopped_early: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    outputs: np.ndarray | None = None  # the kept weights' raw outputs on the validation rows


def class_weights(spec: TaskSpec, y: np.ndarray, kind: str) -> torch.Tensor | None:
    """Inverse-frequency weights (classification) or the positive weight (binary); the
    squared-error kinds (regression, ordinal) take none."""
    if kind == "none" or spec.kind in SQUARED_ERROR:
        return None
    if spec.kind is TaskKind.BINARY:
        positives = float(y.sum())
        negatives = float(len(y) - positives)
        return torch.tensor(negatives / positives if positives else 1.0, dtype=torch.float32)
    counts = np.bincount(y, minlength=spec.n_outputs).astype(np.float64)
    weights = np.where(counts > 0, len(y) / (spec.n_outputs * np.maximum(counts, 1)), 1.0)
    return torch.tensor(weights, dtype=torch.float32)


def loss_function(
    spec: TaskSpec,
    weights: torch.Tensor | None,
    label_smoothing: float = 0.0,
    device: torch.device | str | None = None,
) -> nn.Module:
    """The task's loss, with its class weights on ``device``."""
    if weights is not None and device is not None:
        weights = weights.to(device)
    if spec.kind is TaskKind.CLASSIFICATION:
        return nn.CrossEntropyLoss(weight=weights, label_smoothing=label_smoothing)
    if spec.kind is TaskKind.BINARY:
        return nn.BCEWithLogitsLoss(pos_weight=weights)
    return nn.MSELoss()


def dropout_disagreement(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Mean over rows of the symmetric KL divergence between two passes' class distributions
    (R-Drop's regulariser): zero when dropout did not change the prediction."""
    log_first = torch.log_softmax(first, dim=-1)
    log_second = torch.log_softmax(second, dim=-1)
    forward = nn.functional.kl_div(log_second, log_first, log_target=True, reduction="batchmean")
    backward = nn.functional.kl_div(log_first, log_second, log_target=True, reduction="batchmean")
    return (forward + backward) / 2


def encoder_lr_groups(
    named: Sequence[tuple[str, nn.Parameter]], lr: float, decay: float
) -> list[dict[str, Any]]:
    """Optimiser groups of the encoder's trainable parameters: one group at ``lr`` when
    ``decay`` is 1, else one per block with block ``i`` of ``top`` at ``lr * decay ** (top - i)``
    (anything outside the blocks, e.g. the embeddings, one step below the lowest block)."""
    if decay == 1.0 or not named:
        return [{"params": [p for _, p in named], "lr": lr}]
    depth = {name: _block_of(name) for name, _ in named}
    top = max((d for d in depth.values() if d is not None), default=0)
    by_rate: dict[float, list[nn.Parameter]] = {}
    for name, param in named:
        below_top = top - depth[name] if depth[name] is not None else top + 1
        by_rate.setdefault(lr * decay**below_top, []).append(param)
    return [{"params": params, "lr": rate} for rate, params in sorted(by_rate.items())]


def _block_of(name: str) -> int | None:
    found = BLOCK_INDEX.search(name)
    return int(found.group(1)) if found else None


def targets_tensor(spec: TaskSpec, y: np.ndarray, scale: TargetScale | None) -> torch.Tensor:
    if spec.kind is TaskKind.CLASSIFICATION:
        return torch.as_tensor(y, dtype=torch.long)
    if spec.kind in SQUARED_ERROR and scale is not None:
        y = scale.to_outputs(y.astype(np.float32))
    return torch.as_tensor(y, dtype=torch.float32)


def score_outputs(
    spec: TaskSpec,
    outputs: np.ndarray,
    y: np.ndarray,
    scale: TargetScale | None,
    calibrated: bool,
) -> tuple[float, dict[str, float], np.ndarray | None]:
    """(selection score, metrics, calibration) of validation outputs."""
    calibration = calibrate(spec, outputs, y, scale) if calibrated else None
    scores = task_metrics(spec, outputs, y, calibration, scale)
    return selection_score(spec, scores), scores, calibration


class _Best:
    """The best trainable weights so far, copied off the model."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.score = -math.inf
        self.state: dict[str, torch.Tensor] = {}
        self.found: Trained | None = None
        self.since = 0

    def offer(self, score: float, trained: Trained) -> bool:
        if score > self.score + 1e-9:
            self.score, self.found, self.since = score, trained, 0
            self.state = {
                name: p.detach().clone()
                for name, p in self.module.named_parameters()
                if p.requires_grad
            }
            return True
        self.since += 1
        return False

    def restore(self) -> None:
        params = dict(self.module.named_parameters())
        with torch.no_grad():
            for name, value in self.state.items():
                params[name].copy_(value)


def train_network(
    net: HeadNet,
    tokenizer: Any,
    spec: TaskSpec,
    train_ids: Sequence[list[int]],
    y_train: np.ndarray,
    valid_texts: Sequence[str],
    y_valid: np.ndarray,
    config: HeadConfig,
    weights: torch.Tensor | None,
    scale: TargetScale | None,
    device: torch.device,
    show_progress: bool = False,
    say: Say | None = None,
    stop_if_collapsed: bool = False,
) -> Trained:
    """LoRA mode: adapter and head learn together on token batches.

    ``stop_if_collapsed``: a classification head whose validation macro-F1 (after its class
    offsets) is no better than a constant prediction's gives every text about the same output
    (it collapsed); training stops there instead of running on, so the caller's next attempt
    starts sooner.  Other kinds are judged only at the end: an uncalibrated log loss or RMSE
    may trail the constant's early in a run that goes on to learn.
    """
    say = say or (lambda _message: None)
    rng = np.random.default_rng(config.seed)
    per_epoch = batches_per_epoch(len(train_ids), config.batch_size)
    total = per_epoch * config.epochs
    checkpoints = _eval_points(per_epoch, config.epochs, config.evals_per_epoch)
    forward_rows, lengths = _training_inputs(
        net, tokenizer, train_ids, config, device, show_progress, say
    )
    valid_outputs = _validation_inputs(net, tokenizer, valid_texts, config, device, show_progress)
    stepper = _Stepper(net, spec, y_train, config, weights, scale, device, total)
    average = stepper.average
    best = _Best(net)
    history: list[dict[str, Any]] = []
    bar = tqdm(
        total=total,
        desc=f"lora {spec.name}",
        unit="step",
        file=sys.stderr,
        disable=not show_progress,
    )
    step, stopped, running = 0, False, 0.0
    for epoch in range(config.epochs):
        for rows in training_batches(lengths, config.batch_size, rng):
            value = stepper.step(forward_rows, rows)
            step += 1
            running = 0.9 * running + 0.1 * value if step > 1 else value
            bar.update(1)
            bar.set_postfix(loss=f"{running:.4f}")
            if step not in checkpoints:
                continue
            net.eval()
            with average.applied() if average is not None else nullcontext():
                outputs = _squeeze(spec, valid_outputs())
                score, scores, found_calibration = score_outputs(
                    spec, outputs, y_valid, scale, config.calibrate
                )
                found = Trained(
                    score, scores, step, step, found_calibration, False, outputs=outputs
                )
                improved = best.offer(score, found)  # keeps the weights scored: the average
            history.append(
                {
                    "step": step,
                    "epoch": epoch + 1,
                    "loss": round(running, 5),
                    **{k: round(v, 5) for k, v in scores.items()},
                }
            )
            say(
                f"lora step {step}/{total}: validation {brief_scores(scores)}"
                f"{' (best)' if improved else ''}"
            )
            if best.since >= config.patience:
                stopped = True
                break
            if stop_if_collapsed and _collapsed_classifier(spec, score, y_valid):
                say(f"lora step {step}: no better than a constant prediction; stopping here")
                stopped = True
                break
        if stopped:
            break
    bar.close()
    return _finish(best, step, stopped, history)


def _collapsed_classifier(spec: TaskSpec, score: float, y_valid: np.ndarray) -> bool:
    """A classification head scoring no better than a constant on validation (see
    ``train_network``'s ``stop_if_collapsed``)."""
    kinds = (TaskKind.CLASSIFICATION, TaskKind.ORDINAL)
    return spec.kind in kinds and not beats_constant(spec, score, y_valid)


class _Stepper:
    """Optimiser, schedule, loss and clipping of one LoRA run over ``total`` steps: every step
    of a validated run and of its refit goes through :meth:`step`."""

    def __init__(
        self,
        net: HeadNet,
        spec: TaskSpec,
        y_train: np.ndarray,
        config: HeadConfig,
        weights: torch.Tensor | None,
        scale: TargetScale | None,
        device: torch.device,
        total: int,
    ) -> None:
        head_params = list(net.head.parameters())
        head_ids = {id(p) for p in head_params}
        named = [
            (name, p)
            for name, p in net.named_parameters()
            if p.requires_grad and id(p) not in head_ids
        ]
        encoder_params = [p for _, p in named]
        groups = encoder_lr_groups(named, config.encoder_lr, config.layer_lr_decay)
        self.optimizer = torch.optim.AdamW(
            [*groups, {"params": head_params, "lr": config.head_lr}],
            weight_decay=config.weight_decay,
        )
        warmup = round(total * config.warmup_ratio)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: schedule(step, warmup, total)
        )
        self.loss_fn = loss_function(spec, weights, config.label_smoothing, device)
        self.target = targets_tensor(spec, y_train, scale)
        self.params = encoder_params + head_params
        self.average = WeightAverage(self.params, config.ema_decay) if config.ema_decay else None
        self.rdrop = config.rdrop if spec.kind is TaskKind.CLASSIFICATION else 0.0
        self.micro_batch_size = config.micro_batch_size
        # a class-weighted loss is a mean weighted by each row's class: parts weigh by that
        classification = spec.kind is TaskKind.CLASSIFICATION
        self.row_weights = (
            weights.cpu()[self.target] if classification and weights is not None else None
        )
        self.net, self.spec, self.device = net, spec, device

    def step(self, forward_rows: Callable[[np.ndarray], torch.Tensor], rows: np.ndarray) -> float:
        """One update on the training ``rows``; their loss.

        With ``micro_batch_size`` below the batch, the rows run forward and backward in
        parts and their gradients add up before the one update: each part's loss is weighed
        by its share of the batch's, so the update is the whole batch's in a fraction of
        the activation memory (only the dropout draws differ)."""
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        size = self.micro_batch_size or len(rows)
        parts = [rows[start : start + size] for start in range(0, len(rows), size)]
        total = 0.0
        for part in parts:
            fitted, disagreement = self._losses(forward_rows, part)
            loss = fitted * self._task_share(part, rows)
            if disagreement is not None:  # a plain mean over rows
                loss = loss + self.rdrop / 2 * disagreement * (len(part) / len(rows))
            loss.backward()
            total += loss.item()
        nn.utils.clip_grad_norm_(self.params, MAX_GRAD_NORM)
        self.optimizer.step()
        self.scheduler.step()
        if self.average is not None:
            self.average.update()
        return total

    def _losses(
        self, forward_rows: Callable[[np.ndarray], torch.Tensor], rows: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The task's mean loss on ``rows`` and, with R-Drop, the mean disagreement of the
        two passes (whose mean loss is then the task's)."""
        target = self.target[rows].to(self.device)
        if self.rdrop:
            first, second = forward_rows(np.concatenate([rows, rows])).chunk(2)
            mean_loss = (self.loss_fn(first, target) + self.loss_fn(second, target)) / 2
            return mean_loss, dropout_disagreement(first, second)
        out = forward_rows(rows)
        out = out if self.spec.kind is TaskKind.CLASSIFICATION else out.squeeze(-1)
        return self.loss_fn(out, target), None

    def _task_share(self, part: np.ndarray, rows: np.ndarray) -> float:
        """The weight of ``part``'s task loss in that of ``rows``: its share of the rows, or
        of their class weights where the loss is a class-weighted mean."""
        if self.row_weights is None:
            return len(part) / len(rows)
        return float(self.row_weights[part].sum() / self.row_weights[rows].sum())


def batches_per_epoch(rows: int, batch_size: int) -> int:
    """Batches of one epoch over ``rows``: a head keeps the last, short one (the encoder's
    runs drop it, :func:`shoplm.finetune.steps.steps_per_epoch`)."""
    return math.ceil(rows / batch_size)


def refit_network(
    net: HeadNet,
    tokenizer: Any,
    spec: TaskSpec,
    train_ids: Sequence[list[int]],
    y_train: np.ndarray,
    config: HeadConfig,
    weights: torch.Tensor | None,
    scale: TargetScale | None,
    device: torch.device,
    steps: int,
    show_progress: bool = False,
    say: Say | None = None,
) -> int:
    """LoRA mode with nothing left to validate on: train ``steps`` steps of the schedule an
    ``config.epochs`` run over these rows would follow, batches drawn as
    :func:`train_network` draws them.  Returns the steps taken."""
    say = say or (lambda _message: None)
    rng = np.random.default_rng(config.seed)
    total = batches_per_epoch(len(train_ids), config.batch_size) * config.epochs
    steps = min(steps, total)
    forward_rows, lengths = _training_inputs(
        net, tokenizer, train_ids, config, device, show_progress, say
    )
    stepper = _Stepper(net, spec, y_train, config, weights, scale, device, total)
    bar = tqdm(
        total=steps, desc=f"refit {spec.name}", unit="step", file=sys.stderr,
        disable=not show_progress,
    )  # fmt: skip
    step = 0
    while step < steps:
        for rows in training_batches(lengths, config.batch_size, rng):
            stepper.step(forward_rows, rows)
            step += 1
            bar.update(1)
            if step == steps:
                break
    bar.close()
    if stepper.average is not None:
        stepper.average.keep()
    net.eval()
    return step


def _training_inputs(
    net: HeadNet,
    tokenizer: Any,
    train_ids: Sequence[list[int]],
    config: HeadConfig,
    device: torch.device,
    show_progress: bool,
    say: Say,
) -> tuple[Callable[[np.ndarray], torch.Tensor], list[int]]:
    """(outputs of training rows, training lengths).

    With frozen bottom blocks their states are computed once here and reused every step.
    """
    if not net.frozen_blocks:

        def forward_rows(rows: np.ndarray) -> torch.Tensor:
            return net(**collate(tokenizer, [train_ids[i] for i in rows], device))

        return forward_rows, [len(ids) for ids in train_ids]

    say(f"lora: running the {net.frozen_blocks} frozen blocks once over the training rows")
    states = PrefixStates.compute(
        net, tokenizer, train_ids, config.batch_size * 2, device, show_progress
    )

    def forward_cached(rows: np.ndarray) -> torch.Tensor:
        return net.forward_from_prefix(*states.batch(rows, device))

    return forward_cached, states.lengths


def _validation_inputs(
    net: HeadNet,
    tokenizer: Any,
    valid_texts: Sequence[str],
    config: HeadConfig,
    device: torch.device,
    show_progress: bool,
) -> Callable[[], np.ndarray]:
    """Outputs of all validation rows (from cached frozen-block states where there are any)."""
    batch = config.batch_size * 2
    if not net.frozen_blocks:
        return lambda: run_batches(
            net, tokenizer, valid_texts, config.max_seq_length, batch, device
        )
    valid_ids = tokenize(tokenizer, valid_texts, config.max_seq_length)
    states = PrefixStates.compute(net, tokenizer, valid_ids, batch, device, show_progress)
    return lambda: states.outputs(net, batch, device)


def train_probe(
    net: nn.Module,
    spec: TaskSpec,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    config: HeadConfig,
    weights: torch.Tensor | None,
    scale: TargetScale | None,
    device: torch.device,
    show_progress: bool = False,
    say: Say | None = None,
) -> Trained:
    """Probe mode: only ``net.head`` learns, on precomputed frozen-encoder vectors."""
    say = say or (lambda _message: None)
    head = net.head
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.head_lr * 2, weight_decay=0.0)
    loss_fn = loss_function(spec, weights, config.label_smoothing, device)
    xs = torch.as_tensor(x_train, device=device)
    ys = targets_tensor(spec, y_train, scale).to(device)
    xv = torch.as_tensor(x_valid, device=device)
    best = _Best(head)
    history: list[dict[str, Any]] = []
    stopped, epoch = False, 0
    bar = tqdm(
        total=config.probe_epochs,
        desc=f"probe {spec.name}",
        unit="epoch",
        file=sys.stderr,
        disable=not show_progress,
    )
    for epoch in range(1, config.probe_epochs + 1):
        head.train()
        order = torch.randperm(len(xs), generator=generator).to(device)
        for start in range(0, len(xs), config.probe_batch_size):
            rows = order[start : start + config.probe_batch_size]
            out = head(xs[rows])
            out = out if spec.kind is TaskKind.CLASSIFICATION else out.squeeze(-1)
            loss = loss_fn(out, ys[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        head.eval()
        with torch.no_grad():
            outputs = _squeeze(spec, head(xv).cpu().numpy())
        score, scores, found_calibration = score_outputs(
            spec, outputs, y_valid, scale, config.calibrate
        )
        found = Trained(score, scores, epoch, epoch, found_calibration, False, outputs=outputs)
        improved = best.offer(score, found)
        if improved:
            history.append({"epoch": epoch, **{k: round(v, 5) for k, v in scores.items()}})
        bar.update(1)
        if best.since >= PROBE_PATIENCE_EPOCHS:
            stopped = True
            break
    bar.close()
    found = best.found
    if found is not None:
        say(f"probe: best validation at epoch {found.step}: {brief_scores(found.metrics)}")
    return _finish(best, epoch, stopped, history)


def _finish(best: _Best, steps: int, stopped: bool, history: list[dict[str, Any]]) -> Trained:
    if best.found is None:
        raise RuntimeError("training ran no validation step (no training rows?)")
    best.restore()
    found = best.found
    return replace(found, steps=steps, stopped_early=stopped, history=history)


def _eval_points(per_epoch: int, epochs: int, evals_per_epoch: int) -> set[int]:
    """Steps after which validation runs: evenly within each epoch, always at its end."""
    points = set()
    for epoch in range(epochs):
        for k in range(1, evals_per_epoch + 1):
            points.add(epoch * per_epoch + max(1, round(k * per_epoch / evals_per_epoch)))
    return points


def _squeeze(spec: TaskSpec, outputs: np.ndarray) -> np.ndarray:
    return outputs if spec.kind is TaskKind.CLASSIFICATION else outputs.reshape(-1)
