"""Fine-tuning the text encoder on a shop's own behaviour (contrastive, LoRA or full).

pairs -> (filter) -> negatives -> train (loss, validation, checkpoint) -> adapter + merged folder +
manifest; :func:`finetune_home` does it all for an engine home and switches its encoder.
"""

from shoplm.finetune.data import Anchor, TrainingData, TrainingPair, ValidationCase
from shoplm.finetune.filtering import keep_within_rank
from shoplm.finetune.model import LoraSettings, load_adapter, merge_into_folder, switch_adapter
from shoplm.finetune.negatives import add_hard_negatives
from shoplm.finetune.pairs import recommendation_data, search_data, store_sequences
from shoplm.finetune.train import FinetuneConfig, train_encoder

__all__ = [
    "Anchor",
    "FinetuneConfig",
    "LoraSettings",
    "TrainingData",
    "TrainingPair",
    "ValidationCase",
    "add_hard_negatives",
    "keep_within_rank",
    "load_adapter",
    "merge_into_folder",
    "recommendation_data",
    "search_data",
    "store_sequences",
    "switch_adapter",
    "train_encoder",
]
