"""``TaskHead``: train a head on the shared encoder, predict with it, save and load it.

    head = TaskHead.train(TaskSpec("sentiment", "classification", labels), train, valid,
                          HeadConfig(mode="lora"))
    head.predict(["Runs small, returned it."])   # -> ["negative"]
    head.save("heads/sentiment"); TaskHead.load("heads/sentiment")

Every choice (class weights, logit offsets or ordinal cutpoints, the stopping point) is made
on ``valid``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shoplm.finetune.steps import matching_step
from shoplm.heads import storage
from shoplm.heads.bases import SharedBases
from shoplm.heads.batches import tokenize
from shoplm.heads.blend import blend_entry, check_blendable, fit_blend, load_blend, save_blend
from shoplm.heads.config import HeadConfig, LoraSettings
from shoplm.heads.features import cache_model_id, embed, run_batches
from shoplm.heads.model import (
    Base,
    HeadNet,
    add_lora,
    count_trainable,
    freeze,
    load_base,
    lora_target_pattern,
    pick_device,
)
from shoplm.heads.predicting import Predicting
from shoplm.heads.scoring import TargetScale, beats_constant
from shoplm.heads.spec import Examples, TaskKind, TaskSpec, check_texts, encode_targets
from shoplm.heads.train import (
    SQUARED_ERROR,
    Trained,
    batches_per_epoch,
    class_weights,
    refit_network,
    train_network,
    train_probe,
)
from shoplm.text.blocks import n_blocks
from shoplm.text.cache import EmbeddingCache

Say = Callable[[str], None]
# a collapsed LoRA head is trained again at this share of its encoder learning rate
COLLAPSE_LR_FACTOR = 0.5


class TaskHead(Predicting):
    """A trained head on the encoder (LoRA-adapted or frozen), ready to predict."""

    def __init__(
        self,
        spec: TaskSpec,
        config: HeadConfig,
        base: Base,
        net: HeadNet,
        scale: TargetScale | None = None,
        calibration: np.ndarray | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.spec = spec
        self.config = config
        self.base = base
        self.net = net
        self.scale = scale
        self.calibration = calibration  # class offsets or ordinal cutpoints, from validation
        self.info = info or {}
        self.device = next(net.parameters()).device
        # raw outputs on the validation rows, kept by training (None for a loaded head)
        self.validation_outputs: np.ndarray | None = None

    # ----------------------------------------------------------------- training
    @classmethod
    def train(
        cls,
        spec: TaskSpec,
        train: Examples,
        valid: Examples,
        config: HeadConfig | None = None,
        show_progress: bool = False,
        say: Say | None = None,
        cache: EmbeddingCache | None = None,
    ) -> TaskHead:
        """Train on ``train``, choose everything on ``valid``; ``cache`` serves probe vectors."""
        config = config or HeadConfig()
        if len(train) == 0 or len(valid) == 0:
            raise ValueError("training needs at least one training and one validation example")
        if config.lexical:
            check_blendable(spec)
        y_train = encode_targets(spec, train.targets)
        y_valid = encode_targets(spec, valid.targets)
        squared_error = spec.kind in SQUARED_ERROR
        scale = TargetScale.fit(y_train.astype(np.float64)) if squared_error else None
        variants = ["none"] if squared_error else [config.class_weights]
        if variants == ["auto"]:
            variants = ["none", "balanced"]
        started = time.perf_counter()
        device = pick_device(config.device)
        run = _Run(spec, train, valid, y_train, y_valid, scale, device, show_progress, say, cache)
        best: tuple[Trained, TaskHead, str] | None = None
        tried: dict[str, dict[str, float]] = {}
        probe_starts: dict[str, dict[str, float]] = {}  # validation of each LP-FT start
        retries: list[dict[str, Any]] = []
        for weighting in variants:
            trained, head, probe = cls._train_with_retries(run, config, weighting, retries)
            if probe is not None and config.mode == "lora":  # LP-FT: where LoRA started
                probe_starts[weighting] = probe.metrics
            tried[weighting] = trained.metrics
            if say and len(variants) > 1:
                say(
                    f"{config.mode} with class weights {weighting}: validation score "
                    f"{trained.score:.4f}"
                )
            if best is None or trained.score > best[0].score:
                best = (trained, head, weighting)
        assert best is not None
        trained, head, weighting = best
        refit: dict[str, Any] = {}
        if config.refit and config.mode == "lora":
            head, refit = cls._refit(run, head.config, weighting, trained)
        else:
            head.validation_outputs = trained.outputs
        head.calibration = trained.calibration
        learnt = beats_constant(spec, trained.score, y_valid)
        if not learnt and say:
            say(
                f"warning: the {spec.name} head validates no better than a constant prediction "
                f"(score {trained.score:.4f}): it has learnt nothing from the text; try a lower "
                "learning rate or another seed"
            )
        head.info = {
            "beats_constant": learnt,
            "trainable_parameters": count_trainable(head.net),
            "class_weights": weighting,
            "class_weights_tried": tried if len(tried) > 1 else {},
            "probe_start": probe_starts.get(weighting, {}),
            "collapse_retries": retries,
            "validation": trained.metrics,
            "best_step": trained.step,
            "steps": trained.steps,
            "stopped_early": trained.stopped_early,
            "history": trained.history,
            "n_train": len(train),
            "n_valid": len(valid),
            "train_seconds": round(time.perf_counter() - started, 2),
        }
        if refit:
            head.info["refit"] = refit
        if config.lexical:
            head.info["lexical"] = head._blend_words(run, config.calibrate)
        return head

    def _blend_words(self, run: _Run, calibrated: bool) -> dict[str, Any]:
        """Fit the word classifier and its blend weight (:func:`fit_blend`); the head's
        calibration and validation outputs become the blend's."""
        assert self.validation_outputs is not None  # kept by training (no refit)
        fitted = fit_blend(
            self.spec,
            run.train.texts,
            run.y_train,
            run.valid.texts,
            run.y_valid,
            self.validation_outputs,
            self.calibration,
            calibrated,
            run.say,
        )
        self.lexical, self.calibration = fitted.blend, fitted.calibration
        self.validation_outputs = fitted.validation_outputs
        return fitted.report

    @classmethod
    def _refit(
        cls, run: _Run, config: HeadConfig, weighting: str, trained: Trained
    ) -> tuple[TaskHead, dict[str, Any]]:
        """A fresh head trained on the training and validation rows together, as many epochs
        as validation chose (``config`` is the attempt kept: a collapse retry's lower rate).

        Nothing is left to choose on, so the class offsets (cutpoints) stay validation's and
        the head keeps no validation outputs (an ensemble cannot choose among refitted heads).
        """
        started = time.perf_counter()
        texts = [*run.train.texts, *run.valid.texts]
        y_all = np.concatenate([run.y_train, run.y_valid])
        steps = matching_step(
            trained.step,
            batches_per_epoch(len(run.train), config.batch_size),
            batches_per_epoch(len(texts), config.batch_size),
        )
        if run.say:
            run.say(
                f"refit: {steps} steps on {len(texts)} rows (training and validation), "
                f"matching step {trained.step}"
            )
        _seed(config.seed)
        head = cls._fresh(run.spec, config, run.device, run.scale)
        ids = tokenize(head.base.tokenizer, texts, config.max_seq_length)
        taken = refit_network(
            head.net, head.base.tokenizer, run.spec, ids, y_all, config,
            class_weights(run.spec, y_all, weighting), run.scale, run.device, steps,
            run.show_progress, run.say,
        )  # fmt: skip
        report = {
            "steps": taken,
            "matching_step": trained.step,
            "rows": len(texts),
            "seconds": round(time.perf_counter() - started, 2),
        }
        return head, report

    @classmethod
    def _train_with_retries(
        cls, run: _Run, config: HeadConfig, weighting: str, retries: list[dict[str, Any]]
    ) -> tuple[Trained, TaskHead, Trained | None]:
        """:meth:`_train_once`, again at half the encoder learning rate after each collapse
        while ``config.collapse_retries`` allows; each retry is appended to ``retries``."""
        attempt, retries_left = config, config.collapse_retries
        while True:
            trained, head, probe = cls._train_once(run, attempt, weighting, retries_left > 0)
            if retries_left == 0 or not _collapsed(run, attempt, trained):
                return trained, head, probe
            retries_left -= 1
            lowered = replace(attempt, encoder_lr=attempt.encoder_lr * COLLAPSE_LR_FACTOR)
            retries.append(
                {
                    "class_weights": weighting,
                    "encoder_lr": attempt.encoder_lr,
                    "validation_score": round(trained.score, 5),
                    "steps": trained.steps,
                    "retried_at": lowered.encoder_lr,
                }
            )
            if run.say:
                run.say(
                    f"the {run.spec.name} head collapsed at encoder lr {attempt.encoder_lr:g} "
                    f"(validation {trained.score:.4f}, no better than a constant "
                    f"prediction): training it again at {lowered.encoder_lr:g}"
                )
            attempt = lowered

    @classmethod
    def _train_once(
        cls, run: _Run, config: HeadConfig, weighting: str, may_retry: bool = False
    ) -> tuple[Trained, TaskHead, Trained | None]:
        """One fresh head trained with these settings and class weights; the fitted probe
        too where one was trained (probe mode, or LP-FT's start).  ``may_retry``: another
        attempt follows a collapse, so a collapsed classifier stops at once."""
        _seed(config.seed)
        head = cls._fresh(run.spec, config, run.device, run.scale)
        weights = class_weights(run.spec, run.y_train, weighting)
        settings = (config, weights, run.scale, run.device, run.show_progress, run.say)
        probe: Trained | None = None
        if config.mode == "probe" or config.init_head == "probe":
            if run.vectors is None:  # a LoRA adapter starts at zero: these are frozen vectors
                run.vectors = head._embed_pair(
                    run.train.texts, run.valid.texts, run.show_progress, run.cache
                )
            x_train, x_valid = run.vectors
            probe = train_probe(
                head.net, run.spec, x_train, run.y_train, x_valid, run.y_valid, *settings
            )
            if config.mode == "probe":
                return probe, head, probe
        ids = tokenize(head.base.tokenizer, run.train.texts, config.max_seq_length)
        trained = train_network(
            head.net, head.base.tokenizer, run.spec, ids, run.y_train, run.valid.texts, run.y_valid,
            *settings, stop_if_collapsed=may_retry,
        )  # fmt: skip
        return trained, head, probe

    @classmethod
    def _fresh(
        cls, spec: TaskSpec, config: HeadConfig, device: torch.device, scale: TargetScale | None
    ) -> TaskHead:
        base = load_base(config.base_model)
        frozen = 0
        if config.mode == "lora":
            encoder, frozen = add_lora(base.encoder, config.lora)
        else:
            encoder = base.encoder
            freeze(encoder)
        net = HeadNet.for_config(encoder, base.dim, spec.n_outputs, frozen, config).to(device)
        return cls(spec, config, base, net, scale)

    def _embed_pair(
        self,
        train_texts: Sequence[str],
        valid_texts: Sequence[str],
        show_progress: bool,
        cache: EmbeddingCache | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        both = self.embed([*train_texts, *valid_texts], show_progress, cache)
        return both[: len(train_texts)], both[len(train_texts) :]

    # --------------------------------------------------------------- predicting
    def embed(
        self,
        texts: Sequence[str],
        show_progress: bool = False,
        cache: EmbeddingCache | None = None,
    ) -> np.ndarray:
        """Pooled vectors of the (adapted) encoder; the cache is used for frozen ones only."""
        self.net.eval()
        frozen = self.config.mode == "probe"
        return embed(
            self.net,
            self.base.tokenizer,
            check_texts(texts),
            self.config.max_seq_length,
            self.config.batch_size * 2,
            self.device,
            show_progress,
            cache if frozen else None,
            cache_model_id(self.base.model_id, self.config.max_seq_length, self.config.pooling)
            if frozen
            else None,
        )

    def network_outputs(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """The head's own raw outputs, before any lexical blend."""
        texts = check_texts(texts)
        self.net.eval()
        if not texts:
            raw = np.zeros((0, self.spec.n_outputs), dtype=np.float32)
        else:
            raw = run_batches(
                self.net,
                self.base.tokenizer,
                texts,
                self.config.max_seq_length,
                self.config.batch_size * 2,
                self.device,
                show_progress,
                desc="predicting",
            )
        return raw if self.spec.kind is TaskKind.CLASSIFICATION else raw.reshape(-1)

    @property
    def trainable_parameters(self) -> int:
        return int(self.info.get("trainable_parameters", count_trainable(self.net)))

    # ------------------------------------------------------------ save / load
    def save(self, folder: str | Path, metrics: dict[str, Any] | None = None) -> Path:
        """Write weights (safetensors) and the manifest; ``metrics`` are stored with them."""
        adapter = None
        if self.config.mode == "lora":
            from peft import get_peft_model_state_dict

            adapter = get_peft_model_state_dict(self.net.encoder)
        manifest = {
            "task": self.spec.to_dict(),
            "labels": list(self.spec.reported_labels),
            "mode": self.config.mode,
            "base_model": self.config.base_model,
            "base_model_id": self.base.model_id,
            "max_seq_length": self.config.max_seq_length,
            "lora": self.config.to_dict()["lora"] if self.config.mode == "lora" else None,
            "lora_target_modules": (
                lora_target_pattern(n_blocks(self.net.encoder), self.config.lora.layers)
                if self.config.mode == "lora"
                else None
            ),
            "config": self.config.to_dict(),
            "target_scale": (
                {"mean": self.scale.mean, "std": self.scale.std} if self.scale else None
            ),
            "calibration": storage.listed(self.calibration),
            "lexical": blend_entry(self.lexical),
            "metrics": metrics or {},
            "training": self.info,
            "versions": _versions(),
        }
        return storage.write_head(
            Path(folder),
            manifest,
            self.net.head.state_dict(),
            adapter,
            lambda into: save_blend(self.lexical, into),
        )

    def export_encoder(self, folder: str | Path) -> Path:
        """The adapted encoder merged into plain weights, saved as a sentence-transformers
        folder: the base of another platform's head (cross-platform transfer), or an
        ``encoder.model``.  Only a LoRA head has an adapted encoder to export.
        """
        if self.config.mode != "lora":
            raise ValueError("only a LoRA head adapts the encoder; a probe's is the base model")
        from peft import get_peft_model_state_dict

        from shoplm.finetune.model import load_sentence_model, save_model_folder

        st_model = load_sentence_model(self.config.base_model, "cpu")
        module = st_model[0]
        wrapped, _ = add_lora(module.auto_model, self.config.lora)
        _load_adapter(wrapped, get_peft_model_state_dict(self.net.encoder), Path(folder))
        module.model = wrapped.merge_and_unload()
        return save_model_folder(st_model, Path(folder))

    @classmethod
    def load(
        cls, folder: str | Path, device: str | None = None, bases: SharedBases | None = None
    ) -> TaskHead:
        """A saved head on its base model; refuses a base whose weights differ.

        ``bases``: take the base from there, sharing its weights with the other heads loaded
        through it (a serving home's heads), instead of loading a private copy."""
        folder = Path(folder).expanduser()
        manifest = storage.read_manifest(folder)
        spec = TaskSpec.from_dict(manifest["task"])
        config = HeadConfig.from_dict({**manifest["config"], "device": device})
        model = manifest["base_model"]
        base = bases.get(model) if bases is not None else load_base(model)
        if base.model_id != manifest["base_model_id"]:
            raise storage.HeadFormatError(
                f"{folder}: the head was trained on base model {manifest['base_model_id']!r} "
                f"but {manifest['base_model']!r} is now {base.model_id!r}"
            )
        frozen = 0
        if config.mode == "lora":
            encoder, frozen = add_lora(base.encoder, LoraSettings(**manifest["lora"]))
            _load_adapter(encoder, storage.read_tensors(folder, storage.ADAPTER_FILE), folder)
        else:
            encoder = base.encoder
        freeze(encoder)
        net = HeadNet.for_config(encoder, base.dim, spec.n_outputs, frozen, config)
        net.head.load_state_dict(storage.read_tensors(folder, storage.HEAD_FILE))
        net.to(pick_device(device))
        net.eval()
        scale = manifest.get("target_scale")
        calibration = manifest.get("calibration", manifest.get("offsets"))  # "offsets": older heads
        head = cls(
            spec,
            config,
            base,
            net,
            TargetScale(**scale) if scale else None,
            storage.array_of(calibration),
            {**manifest.get("training", {}), "metrics": manifest.get("metrics", {})},
        )
        head.lexical = load_blend(manifest.get("lexical"), folder)
        return head


@dataclass
class _Run:
    """What every training attempt of one ``TaskHead.train`` call shares."""

    spec: TaskSpec
    train: Examples
    valid: Examples
    y_train: np.ndarray
    y_valid: np.ndarray
    scale: TargetScale | None
    device: torch.device
    show_progress: bool
    say: Say | None
    cache: EmbeddingCache | None
    vectors: tuple[np.ndarray, np.ndarray] | None = None  # frozen train/valid vectors, once


def _collapsed(run: _Run, attempt: HeadConfig, trained: Trained) -> bool:
    """Whether a LoRA attempt learnt nothing from the text (worth another at a lower rate)."""
    return attempt.mode == "lora" and not beats_constant(run.spec, trained.score, run.y_valid)


def _load_adapter(encoder: torch.nn.Module, state: dict[str, torch.Tensor], folder: Path) -> None:
    from peft import set_peft_model_state_dict

    result = set_peft_model_state_dict(encoder, state)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    missing = [k for k in getattr(result, "missing_keys", []) or [] if "lora_" in k]
    if unexpected or missing:
        raise storage.HeadFormatError(
            f"{folder}: adapter does not fit the base model "
            f"(unexpected {unexpected[:3]}, missing {missing[:3]})"
        )


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _versions() -> dict[str, str]:
    import transformers

    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import peft
    except ImportError:  # a probe head needs no peft
        return versions
    return {**versions, "peft": peft.__version__}
