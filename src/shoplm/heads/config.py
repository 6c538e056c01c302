"""How a task head is trained: the mode (LoRA or linear probe) and its few knobs.

Defaults are sized for a laptop CPU: 128-token inputs, a rank-8 adapter on every linear
layer of the encoder blocks, a couple of epochs with early stopping on validation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from shoplm.config import DEFAULT_ENCODER

MODES = ("lora", "probe")
POOLINGS = ("normalised", "mean")
CLASS_WEIGHTS = ("none", "balanced", "auto")
HEAD_INITS = ("random", "probe")


@dataclass
class LoraSettings:
    """The adapter: rank, scale and dropout of ``peft.LoraConfig`` and where it goes.

    The adapter goes on every linear layer of the transformer blocks (query, key, value,
    attention output, intermediate, output).  ``layers`` limits it to the top N blocks:
    the blocks below are then frozen, so their outputs are computed once per text and
    training runs (and back-propagates through) only the top N, which on a CPU is several
    times faster.  None adapts every block.
    ``dora``: weight-decomposed LoRA (DoRA, Liu et al. 2024, ``peft``'s ``use_dora``): each
    adapted weight is split into a direction, which the low-rank update turns, and a length
    per output, trained on its own; the paper finds it closer to full fine-tuning than LoRA
    at the same rank, for one extra vector per layer and some compute per step.
    """

    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    layers: int | None = None
    dora: bool = False

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha < 1:
            raise ValueError(f"LoRA rank and alpha must be positive, got r={self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")
        if self.layers is not None and self.layers < 1:
            raise ValueError(f"LoRA layers must be at least 1 (or None for all), got {self.layers}")


@dataclass
class HeadConfig:
    """Training settings of one head.

    ``mode``: ``lora`` trains an adapter on the encoder together with the head;
    ``probe`` freezes the encoder, embeds every text once and trains only the head.
    ``class_weights``: ``balanced`` weighs the loss by inverse class frequency; ``auto``
    trains with and without and keeps whichever scores better on validation.
    ``init_head``: where a LoRA head's output layer starts.  ``random``, or ``probe``: the
    layer is first fitted alone on the frozen encoder's vectors (a linear probe), then the
    adapter and the layer train together from there (linear probing then fine-tuning,
    "LP-FT"), so the adapter's first steps follow a head that already points the right way
    instead of a random one.  Probe mode ignores it.
    ``calibrate``: classification: per-class logit offsets chosen on validation to maximise
    macro-F1 (they correct for class priors, e.g. after a balanced sample); ordinal: the
    cutpoints between classes, chosen the same way.
    ``pooling``: what the output layer reads: ``normalised``, the L2-normalised mean of the
    token vectors (the vector shoplm searches with), or ``mean``, the same mean unscaled (what
    a classifier fine-tuned end to end usually reads: its length may carry confidence).
    ``head_dropout``: LoRA: dropout on that vector while training (0: none); the probe trains
    its layer on stored vectors without it.
    ``collapse_retries``: LoRA: a head that validates no better than a constant prediction
    (training collapsed, e.g. to the majority class, as a learning rate near the edge of
    stability does for some seeds) is trained again from the start at half the encoder
    learning rate, up to this many times; 0 keeps the collapsed head.  While a retry is left,
    a classification head stops at the first validation that shows the collapse.
    ``label_smoothing``: classification: the share of each training target spread evenly
    over every label (``torch.nn.CrossEntropyLoss(label_smoothing=...)``), so the head is not
    pushed towards ever larger logits on rows it already gets right; 0 trains on the labels
    as they are.  Other kinds ignore it.
    ``ema_decay``: LoRA: validate and keep an exponential moving average of the trainable
    weights (this decay per step, e.g. 0.99) instead of the last step's weights; None keeps
    the last step's.  Training itself is unchanged.  Probe mode ignores it.
    ``rdrop``: LoRA, classification: each training batch runs through the network twice
    (two independent dropout draws) and the loss adds this weight times the symmetric KL
    divergence between the two predicted distributions to their mean cross-entropy (R-Drop,
    Liang et al. 2021, whose alpha this is): the head is taught to give one answer whatever
    dropout removed, a regulariser for small labelled sets.  0 trains as usual; a step then
    costs about twice as much.  Other kinds ignore it.
    ``layer_lr_decay``: LoRA: layer-wise learning-rate decay (Howard and Ruder 2018; Clark et
    al. 2020): the top block's adapter learns at ``encoder_lr``, each block below at this
    factor times the rate of the block above it, so the general features of the lower blocks
    move less than the task-specific top; 1 gives every block the same rate.
    ``micro_batch_size``: LoRA: rows per forward and backward pass; a batch of
    ``batch_size`` rows runs as several such parts whose gradients add up before its one
    update (gradient accumulation), so the update is the batch's while the activations kept
    for the backward pass, most of training's memory, are a part's.  None runs the whole
    batch at once.
    ``refit``: LoRA: once validation has chosen the stopping step and the class offsets, train
    a fresh head on the training and validation rows together for as many epochs and keep
    that one (with validation's offsets): the rows held out for choosing then also teach.
    Probe mode ignores it; an LP-FT start (``init_head="probe"``) cannot be refitted.
    ``lexical``: classification: also fit a word-level classifier (TF-IDF of words and word
    pairs, logistic regression; :mod:`shoplm.heads.lexical`) on the training rows and blend
    its log-probabilities with the head's, the weight chosen on validation (0 keeps the head
    alone); see :mod:`shoplm.heads.blend`.  It needs validation rows the head has not
    trained on, so it cannot follow a refit.
    """

    mode: Literal["lora", "probe"] = "lora"
    base_model: str = DEFAULT_ENCODER
    max_seq_length: int = 128
    batch_size: int = 32
    epochs: int = 2
    head_lr: float = 5e-3
    encoder_lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    evals_per_epoch: int = 2
    patience: int = 3
    class_weights: Literal["none", "balanced", "auto"] = "auto"
    init_head: Literal["random", "probe"] = "random"
    calibrate: bool = True
    pooling: Literal["normalised", "mean"] = "normalised"
    head_dropout: float = 0.0
    label_smoothing: float = 0.0
    collapse_retries: int = 1
    ema_decay: float | None = None
    rdrop: float = 0.0
    layer_lr_decay: float = 1.0
    micro_batch_size: int | None = None
    refit: bool = False
    lexical: bool = False
    seed: int = 42
    device: str | None = None
    lora: LoraSettings = field(default_factory=LoraSettings)
    # Probe training runs on cached vectors, so it affords many more (cheap) epochs.
    probe_epochs: int = 200
    probe_batch_size: int = 256

    def __post_init__(self) -> None:
        if isinstance(self.lora, dict):
            self.lora = LoraSettings(**self.lora)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.class_weights not in CLASS_WEIGHTS:
            raise ValueError(
                f"class_weights must be one of {CLASS_WEIGHTS}, got {self.class_weights!r}"
            )
        if self.init_head not in HEAD_INITS:
            raise ValueError(f"init_head must be one of {HEAD_INITS}, got {self.init_head!r}")
        for name in ("max_seq_length", "batch_size", "epochs", "evals_per_epoch", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.head_lr <= 0 or self.encoder_lr <= 0:
            raise ValueError("learning rates must be positive")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if not 0.0 <= self.head_dropout < 1.0:
            raise ValueError(f"head_dropout must be in [0, 1), got {self.head_dropout}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.collapse_retries < 0:
            raise ValueError(f"collapse_retries must be >= 0, got {self.collapse_retries}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {self.ema_decay}")
        if not 0.0 < self.layer_lr_decay <= 1.0:
            raise ValueError(f"layer_lr_decay must be in (0, 1], got {self.layer_lr_decay}")
        if self.micro_batch_size is not None and self.micro_batch_size < 1:
            raise ValueError(
                f"micro_batch_size must be at least 1 (or None), got {self.micro_batch_size}"
            )
        if self.rdrop < 0.0:
            raise ValueError(f"rdrop must be 0 or more, got {self.rdrop}")
        if self.refit and self.mode == "lora" and self.init_head == "probe":
            raise ValueError(
                "refit cannot follow an LP-FT start (init_head='probe'): that start is a probe "
                "stopped on validation; use init_head='random' to refit"
            )
        if self.refit and self.lexical and self.mode == "lora":
            raise ValueError(
                "a lexical blend chooses its weight on validation rows, which a refitted head "
                "has trained on: use one or the other"
            )
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
