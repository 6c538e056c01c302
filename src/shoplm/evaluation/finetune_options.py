"""The encoder-training options `evaluate finetune` and `evaluate transfer` share.

Both read them into one :class:`FinetuneConfig`, so a new training setting is a config field,
one ``add_argument`` here and one line in :func:`finetune_config`, and both commands have it.
"""

from __future__ import annotations

import argparse

from shoplm.evaluation.options import comma_list, float_list
from shoplm.finetune.train import FinetuneConfig


def add_finetune_options(parser: argparse.ArgumentParser) -> None:
    """The training options (see :func:`finetune_config`)."""
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=None, help="[1e-3 lora, 5e-5 full]")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank (alpha = 2 x rank)")
    parser.add_argument(
        "--lora-layers", type=int, default=None, help="LoRA on the top N blocks only [all]"
    )
    parser.add_argument(
        "--lora-targets", default="query,key,value", help="comma-separated module names"
    )
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--validate-every", type=int, default=None, help="steps [each epoch]")
    parser.add_argument(
        "--bank-every", type=int, default=None, help="catalog negatives, refreshed every N steps"
    )
    parser.add_argument(
        "--symmetric", action="store_true", help="each positive also ranks its anchor"
    )
    parser.add_argument(
        "--popularity-correction",
        action="store_true",
        help="lower each in-batch logit by log(how often the item is a positive) (logQ)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help="cosine -> logit multiplier [5 recommend, 20 search]",
    )
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument(
        "--strengths",
        type=float_list,
        default=[],
        help="also validate base + s x (tuned - base) for these s (e.g. 0.5,0.75) and keep "
        "the best",
    )
    parser.add_argument(
        "--refit",
        action="store_true",
        help="once validation has chosen the step, train again on every pair, the held-out "
        "ones too, for as many epochs, and score that",
    )
    parser.add_argument("--seed", type=int, default=42)


def finetune_config(args: argparse.Namespace) -> FinetuneConfig:
    """A LoRA run's settings from :func:`add_finetune_options`.

    ``--scale`` left out stays unset in the config, so
    :func:`shoplm.finetune.train.with_task_scale` gives it the task's default.
    """
    fields = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "lora_r": args.rank,
        "lora_layers": args.lora_layers,
        "lora_targets": comma_list(args.lora_targets),
        "max_seq_length": args.max_seq_length,
        "validate_every": args.validate_every,
        "bank_every": args.bank_every,
        "symmetric": args.symmetric,
        "popularity_correction": args.popularity_correction,
        "patience": args.patience,
        "strengths": args.strengths,
        "refit": args.refit,
        "seed": args.seed,
    }
    if args.scale is not None:
        fields["scale"] = args.scale
    return FinetuneConfig(mode="lora", **fields)
