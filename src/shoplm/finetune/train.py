"""The fine-tuning loop: contrastive training of the encoder, LoRA or full, resumable.

One call takes training data (pairs + validation cases) and writes, under ``out``:

- ``checkpoint/``: resumable state, updated every ``checkpoint_every`` steps and at every
  validation; a second call with the same data and settings continues from it;
- ``adapter/`` (LoRA only): the best adapter, peft layout, safetensors;
- ``<model name>/``: the base with the best weights merged in, a plain sentence-transformers
  folder to set as ``encoder.model``;
- ``manifest.json``: base model, platform, data hash, settings, metrics, cost.

Validation runs before training (the base's score) and then every ``validate_every`` steps
or once per epoch; training stops after ``patience`` validations without a gain, and the
best weights are kept, so the result never scores below the base on validation.
With ``refit``, training then starts once more on the pairs and the held-out ones together for
as many epochs as the best step had seen, and those weights are exported instead
(:mod:`shoplm.finetune.refit`).

On a CPU the cost is the transformer itself: ``lora_layers`` puts the adapter on the top
blocks only, and the frozen blocks below then run once per text for the whole run
(:mod:`shoplm.finetune.prefix`).  ``bank_every`` adds the whole catalog as negatives.
"""

from __future__ import annotations

import logging
import resource
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from tqdm.auto import tqdm

from shoplm.config import DEFAULT_ENCODER, progress_wanted
from shoplm.finetune import checkpoint as ckpt
from shoplm.finetune.data import TrainingData
from shoplm.finetune.interpolation import choose_strength, interpolated_state
from shoplm.finetune.manifest import (
    FOLDER_MARKER,
    FORMAT,
    MANIFEST_FILE,
    folder_marker,
    machine,
    write_json,
)
from shoplm.finetune.model import (
    LoraSettings,
    add_lora,
    load_sentence_model,
    load_trainable_state,
    merge_into_folder,
    parameter_counts,
    pick_device,
    save_adapter,
    save_model_folder,
    trainable_state,
)
from shoplm.finetune.prefix import CachedPrefix, item_ids_used, needed_texts, why_not_split
from shoplm.finetune.refit import refit
from shoplm.finetune.steps import (
    Stepper,
    epoch_batch,
    schedule,
    seed_all,
    steps_per_epoch,
)
from shoplm.finetune.validation import validation_ndcg
from shoplm.text.encoder import folder_model_id

log = logging.getLogger("shoplm.finetune")
Progress = Callable[[str], None]
MODES = ("lora", "full")
DEFAULT_LR = {"lora": 1e-3, "full": 5e-5}
MAX_STRENGTH = 2.0
# Cosine -> logit multiplier per task.  Behaviour pairs are noisy: at 20 the item vectors
# crowd together within a few dozen steps (the loss settles at log(batch)); at 5 they learn.
TASK_SCALE = {"recommend": 5.0, "search": 20.0}
# Settings used only once training is over: a finished run resumes to export with new ones.
AFTER_TRAINING = frozenset({"keep_best", "strengths", "refit"})


class FinetuneConfig(BaseModel):
    """Settings of one fine-tuning run (part of the manifest and of the resume check)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["lora", "full"] = "lora"
    epochs: int = Field(default=1, ge=1)
    batch_size: int = Field(default=32, ge=2)
    learning_rate: float | None = Field(default=None, gt=0, description="None: per mode.")
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.1, ge=0, le=1)
    scale: float = Field(default=20.0, gt=0, description="Cosine -> logit multiplier.")
    max_seq_length: int = Field(default=128, ge=8, le=512)
    lora_r: int = Field(default=8, ge=1)
    lora_alpha: int | None = Field(default=None, ge=1, description="None: 2 x lora_r.")
    lora_dropout: float = Field(default=0.1, ge=0, lt=1)
    lora_targets: list[str] = Field(default_factory=lambda: ["query", "key", "value"])
    lora_layers: int | None = Field(
        default=None,
        ge=1,
        description="LoRA on the top N blocks only (their inputs computed once); None: all.",
    )
    validate_every: int | None = Field(default=None, ge=1, description="Steps; None: epochs.")
    bank_every: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Rank each positive against every item's vector too, refreshed every N steps "
            "(and on resume); None: in-batch negatives only."
        ),
    )
    symmetric: bool = Field(
        default=False,
        description="Also rank each positive's anchor among the batch's anchors (both ways).",
    )
    popularity_correction: bool = Field(
        default=False,
        description=(
            "Subtract log(how often an item is a positive) from its in-batch logits (logQ), "
            "so popular items are not pushed away just for being frequent negatives."
        ),
    )
    patience: int = Field(default=2, ge=1)
    keep_best: bool = Field(
        default=True, description="Export the best-validating weights (else the last ones)."
    )
    strengths: list[float] = Field(
        default_factory=list,
        description=(
            "Also validate base + s x (tuned - base) for each s and export the best "
            "(1.0, the tuned weights, always competes); empty: export the tuned weights."
        ),
    )
    refit: bool = Field(
        default=False,
        description=(
            "Once validation has chosen the step, train again from the start on the pairs "
            "and the held-out ones for as many epochs, and export that (shoplm.finetune.refit)."
        ),
    )
    checkpoint_every: int = Field(default=100, ge=1)
    max_grad_norm: float = Field(default=1.0, gt=0)
    seed: int = 42
    device: str | None = None

    @model_validator(mode="after")
    def _default_alpha(self) -> FinetuneConfig:
        # Filled in (not computed on use) so the manifest and resume check see the number.
        if self.lora_alpha is None:
            self.lora_alpha = 2 * self.lora_r
        if self.mode == "full" and self.lora_layers is not None:
            raise ValueError("lora_layers is a LoRA setting: leave it unset with mode 'full'")
        if self.refit and self.strengths:
            raise ValueError(
                "strengths are chosen on validation, which a refit trains on: use one of them"
            )
        bad = [s for s in self.strengths if not 0 < s <= MAX_STRENGTH]
        if bad:
            raise ValueError(f"strengths must lie in (0, {MAX_STRENGTH}], got {bad[0]}")
        return self

    @property
    def lr(self) -> float:
        return self.learning_rate or DEFAULT_LR[self.mode]

    def lora(self) -> LoraSettings:
        return LoraSettings(
            r=self.lora_r,
            alpha=self.lora_alpha,
            dropout=self.lora_dropout,
            target_modules=tuple(self.lora_targets),
            layers=self.lora_layers,
        )


def model_folder_name(platform: str, mode: str) -> str:
    """The merged folder's name, which starts its model id (``<name>@<hash>``)."""
    return f"shoplm-{platform}-{mode}"


def train_encoder(
    data: TrainingData,
    config: FinetuneConfig,
    out: Path,
    base: str = DEFAULT_ENCODER,
    platform: str = "default",
    show_progress: bool | None = None,
    progress: Progress | None = None,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train, keep the best weights by validation, export adapter + merged folder + manifest.

    ``stop_after`` ends the run after that many steps (counted over the whole run, resumed
    steps included) with a checkpoint and no export, the way an interruption would; the
    result then has ``"finished": False``.
    """
    import torch

    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    data.check()
    if not data.pairs:
        raise ValueError("no training pairs: the shop needs more events (or judged queries)")
    show = progress_wanted() if show_progress is None else show_progress and progress_wanted()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(config.device)
    data_hash = data.data_hash()
    seed_all(config.seed)

    model = load_sentence_model(base, device)
    base_seq_length = model.max_seq_length
    model.max_seq_length = config.max_seq_length
    frozen = add_lora(model, config.lora()) if config.mode == "lora" else 0
    # The weights before training (LoRA: a zero update), kept when strengths or a refit need them.
    origin = trainable_state(model) if config.strengths or config.refit else {}
    prefix, embed = step_encoder(model, frozen, data, config, device, show, say)
    counts = parameter_counts(model)

    def encode(texts: Sequence[str]) -> np.ndarray:
        return _encode(model, texts, prefix)

    bank_ids = sorted(item_ids_used(data)) if config.bank_every else []
    stepper = Stepper(model, embed, encode, data, data.pairs, bank_ids, config)
    optimizer = stepper.optimizer
    batches_per_epoch = steps_per_epoch(len(data.pairs), config.batch_size)
    total_steps = batches_per_epoch * config.epochs
    warmup = int(total_steps * config.warmup_ratio)

    identity = {"data_hash": data_hash, "config": config.model_dump(), "base_model": base}
    state = _fresh_state(identity)
    best: dict[str, Any]
    saved = ckpt.load_checkpoint(out / "checkpoint")
    resumed = saved is not None and _same_run(saved["state"], identity, config)
    if saved is not None and resumed:
        state = {**saved["state"], "config": identity["config"]}
        groups = state.pop("optimizer_groups")
        load_trainable_state(model, saved["weights"])
        ckpt.restore_optimizer(optimizer, saved["optimizer"], groups)
        ckpt.restore_rng(saved["rng"])
        best = dict(saved["best"])
        say(f"resuming at step {state['global_step']} of {total_steps}")
    else:
        if saved is not None:
            say("the checkpoint was made with other data or settings: starting over")
        say(f"validating the base model on {len(data.valid)} held-out cases")
        state["base_score"] = state["best_score"] = _validate(model, data, prefix)
        state["history"].append({"step": 0, "valid_ndcg@10": state["best_score"]})
        best = trainable_state(model)
    state["resumed_at"] = state["global_step"] if resumed else 0

    trained_started = time.perf_counter()
    steps_this_run = 0
    bar = tqdm(
        total=total_steps,
        initial=state["global_step"],
        desc=f"finetune {config.mode}",
        unit="step",
        disable=not show,
        file=sys.stderr,
    )
    model.train()
    while not state["stopped"] and state["epoch"] < config.epochs:
        while state["step_in_epoch"] < batches_per_epoch:
            if stop_after is not None and state["global_step"] >= stop_after:
                break
            batch = epoch_batch(
                data.pairs, config.seed, state["epoch"], state["step_in_epoch"], config.batch_size
            )
            lr = config.lr * schedule(state["global_step"], warmup, total_steps)
            state["last_loss"] = stepper.step(batch, state["global_step"], lr)
            state["global_step"] += 1
            state["step_in_epoch"] += 1
            steps_this_run += 1
            bar.update(1)
            bar.set_postfix(loss=f"{state['last_loss']:.3f}", best=f"{state['best_score']:.4f}")
            end_of_epoch = state["step_in_epoch"] >= batches_per_epoch
            last_epoch = state["epoch"] == config.epochs - 1
            due = bool(config.validate_every) and (
                state["global_step"] % config.validate_every == 0
            )
            if due or (end_of_epoch and (not config.validate_every or last_epoch)):
                best = _after_validation(model, data, state, best, config, say, prefix)
                if state["stopped"]:
                    break
                _save(out, state, model, best, optimizer)  # a validation is worth keeping
            elif state["global_step"] % config.checkpoint_every == 0:
                _save(out, state, model, best, optimizer)
        if stop_after is not None and state["global_step"] >= stop_after:
            break
        if state["stopped"]:
            break
        state["epoch"] += 1
        state["step_in_epoch"] = 0
    bar.close()
    train_seconds = time.perf_counter() - trained_started
    finished = state["stopped"] or state["epoch"] >= config.epochs
    _save(out, {**state, "finished": finished}, model, best, optimizer)
    result: dict[str, Any] = {
        "finished": finished,
        "mode": config.mode,
        "global_step": state["global_step"],
        "resumed_at": state["resumed_at"],
        "trainable_params": counts["trainable"],
        "total_params": counts["total"],
        "trainable_share": round(counts["trainable"] / max(counts["total"], 1), 6),
    }
    if not finished:
        return result

    tuned = best if config.keep_best else trainable_state(model)
    model.eval()
    refitted = None
    if config.refit:
        chosen = state["best_step"] if config.keep_best else state["global_step"]
        refitted = refit(
            model, origin, embed, encode, data, config, chosen, out, identity, say, show
        )
        if refitted["steps"]:
            tuned = trainable_state(model)
    strength, trials = _choose_strength(model, data, origin, tuned, config.strengths, say, prefix)
    load_trainable_state(model, interpolated_state(origin, tuned, strength))
    name = model_folder_name(platform, config.mode)
    folder = out / name
    if folder.exists():
        shutil.rmtree(folder)
    lora = None
    if config.mode == "lora":
        adapter = save_adapter(model, out / "adapter")
        merge_into_folder(base, adapter, folder)
        lora = config.lora().to_dict()
    else:
        model.max_seq_length = base_seq_length  # the training length is no serving setting
        save_model_folder(model, folder)
    manifest = {
        "format": FORMAT,
        "base_model": base,
        "platform": platform,
        "mode": config.mode,
        "data_hash": data_hash,
        "data": {"kind": data.kind, "pairs": len(data.pairs), "valid_cases": len(data.valid)},
        "lora": lora,
        "config": config.model_dump(),
    }
    write_json(folder / FOLDER_MARKER, folder_marker(manifest))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    manifest.update(
        {
            "model_folder": str(folder.resolve()),
            "model_id": folder_model_id(folder.resolve()),
            "adapter_folder": str((out / "adapter").resolve()) if lora else None,
            "metrics": {
                "valid_ndcg@10_base": state["base_score"],
                "valid_ndcg@10_best": state["best_score"],
                "best_step": state["best_step"],
                "history": state["history"],
                "strength": strength,
                "strength_trials": trials,
                "refit": refitted,
                "beats_base": beats_base(state, config.keep_best, strength),
            },
            "trainable_params": counts["trainable"],
            "total_params": counts["total"],
            "steps": state["global_step"],
            "pairs_seen_this_run": steps_this_run * config.batch_size,
            "pairs_per_second": round(
                steps_this_run * config.batch_size / max(train_seconds, 1e-9), 2
            ),
            "train_seconds": round(train_seconds, 2),
            "wall_seconds": round(time.perf_counter() - started, 2),
            "peak_rss_mb": round(peak, 1),
            "peak_gpu_mb": (
                round(torch.cuda.max_memory_allocated() / 2**20, 1) if device == "cuda" else None
            ),
            "device": device,
            "torch_threads": torch.get_num_threads(),
            "machine": machine(),
        }
    )
    write_json(out / MANIFEST_FILE, manifest)
    return {**result, **manifest}


def _same_run(saved: dict[str, Any], identity: dict[str, Any], config: FinetuneConfig) -> bool:
    """Whether a checkpoint's state was made by this run: same data, base and settings.

    The saved settings are read back through the config, so a checkpoint written before a
    setting existed resumes with that setting's default instead of starting over.  Settings
    in :data:`AFTER_TRAINING` may differ: they change only what a finished run exports.
    """
    if any(saved.get(k) != identity[k] for k in ("data_hash", "base_model")):
        return False
    if not isinstance(saved.get("config"), dict):
        return False
    try:
        earlier = FinetuneConfig.model_validate(saved["config"])
    except ValidationError:
        return False
    return earlier.model_dump(exclude=AFTER_TRAINING) == config.model_dump(exclude=AFTER_TRAINING)


def _fresh_state(identity: dict[str, Any]) -> dict[str, Any]:
    return {
        **identity,
        "epoch": 0,
        "step_in_epoch": 0,
        "global_step": 0,
        "base_score": 0.0,
        "best_score": 0.0,
        "best_step": 0,
        "bad_validations": 0,
        "stopped": False,
        "finished": False,
        "history": [],
    }


def step_encoder(
    model: Any,
    frozen: int,
    data: TrainingData,
    config: FinetuneConfig,
    device: str,
    show: bool = False,
    say: Progress | None = None,
) -> tuple[CachedPrefix | None, Callable[[list[str]], Any]]:
    """How a step turns texts into vectors: from cached frozen-block states when the model
    has ``frozen`` bottom blocks and can be split, else through the whole model."""
    say = say or (lambda _msg: None)
    reason = why_not_split(model) if frozen else "every block learns"
    if reason:
        if frozen:
            say(f"training through the whole model ({reason})")
        return None, lambda texts: _embed(model, texts, device)
    texts = needed_texts(data, held_out=config.refit)
    say(f"running the {frozen} frozen blocks once over {len(texts)} texts")
    prefix = CachedPrefix(model, frozen, texts, config.max_seq_length, device, show)
    return prefix, prefix.embed


def _embed(model: Any, texts: list[str], device: str) -> Any:
    import torch
    from sentence_transformers.util import batch_to_device

    features = batch_to_device(model.preprocess(texts), torch.device(device))
    out = model(features)["sentence_embedding"]
    return torch.nn.functional.normalize(out, dim=-1)


def _encode(model: Any, texts: Sequence[str], prefix: CachedPrefix | None) -> np.ndarray:
    """Unit vectors of ``texts`` with dropout off, from cached states where they exist."""
    import torch

    was_training = model.training
    model.eval()
    try:
        if prefix is not None and prefix.covers(texts):
            return prefix.encode(texts)
        with torch.no_grad():
            return model.encode(
                list(texts),
                batch_size=128,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
    finally:
        if was_training:
            model.train()


def with_task_scale(config: FinetuneConfig, task: str) -> FinetuneConfig:
    """``config`` with the task's logit scale (:data:`TASK_SCALE`) unless it sets one itself."""
    if "scale" in config.model_fields_set:
        return config
    return config.model_copy(update={"scale": TASK_SCALE[task]})


def beats_base(state: dict[str, Any], keep_best: bool, strength: float) -> bool | None:
    """Whether the exported weights validated above the base encoder; None: not judged.

    With ``keep_best`` the export is the best validated step (or, with a refit, trained
    for that step's epochs), so it beats the base exactly when a step after the start won.
    Without it the user asked for the last weights whatever validation said, so the run
    is not judged.  Strength 0 exports the base itself.
    """
    if strength == 0:
        return False
    if not keep_best:
        return None
    return state["best_step"] > 0


def _validate(model: Any, data: TrainingData, prefix: CachedPrefix | None = None) -> float:
    return round(validation_ndcg(data, lambda texts: _encode(model, texts, prefix)), 6)


def _after_validation(
    model: Any,
    data: TrainingData,
    state: dict[str, Any],
    best: dict[str, Any],
    config: FinetuneConfig,
    say: Progress,
    prefix: CachedPrefix | None = None,
) -> dict[str, Any]:
    score = _validate(model, data, prefix)
    state["history"].append({"step": state["global_step"], "valid_ndcg@10": score})
    if score > state["best_score"]:
        state["best_score"], state["best_step"], state["bad_validations"] = (
            score,
            state["global_step"],
            0,
        )
        best = trainable_state(model)
    else:
        state["bad_validations"] += 1
        if state["bad_validations"] >= config.patience:
            state["stopped"] = True
    say(
        f"step {state['global_step']}: validation NDCG@10 {score:.4f} "
        f"(best {state['best_score']:.4f} at step {state['best_step']})"
    )
    return best


def _choose_strength(
    model: Any,
    data: TrainingData,
    origin: dict[str, Any],
    tuned: dict[str, Any],
    strengths: Sequence[float],
    say: Progress,
    prefix: CachedPrefix | None = None,
) -> tuple[float, list[dict[str, float]]]:
    """The validated strength of the update to export (1.0 when no ``strengths``)."""
    if not strengths:
        return 1.0, []

    def score(strength: float) -> float:
        load_trainable_state(model, interpolated_state(origin, tuned, strength))
        value = _validate(model, data, prefix)
        say(f"strength {strength:g}: validation NDCG@10 {value:.4f}")
        return value

    strength, trials = choose_strength(strengths, score)
    say(f"exporting strength {strength:g}")
    return strength, [{"strength": t["strength"], "valid_ndcg@10": t["score"]} for t in trials]


def _save(
    out: Path, state: dict[str, Any], model: Any, best: dict[str, Any], optimizer: Any
) -> None:
    ckpt.save_checkpoint(out / "checkpoint", state, trainable_state(model), best, optimizer)
