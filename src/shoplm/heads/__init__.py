"""Task heads on the shared encoder: sentiment, categorisation, rating, click prediction.

A head is a small output layer (softmax, logistic or linear) on the pooled vector of the
same transformer that search and recommendation use.  It is trained either with a LoRA
adapter on the encoder (``mode="lora"``) or on the frozen encoder's vectors alone
(``mode="probe"``, the linear-probe baseline), and saved as safetensors plus a manifest.
"""

from shoplm.heads.config import HeadConfig, LoraSettings
from shoplm.heads.ensemble import HeadEnsemble
from shoplm.heads.head import TaskHead
from shoplm.heads.spec import Examples, HeadDataError, TaskKind, TaskSpec
from shoplm.heads.storage import HeadFormatError

__all__ = [
    "Examples",
    "HeadConfig",
    "HeadDataError",
    "HeadEnsemble",
    "HeadFormatError",
    "LoraSettings",
    "TaskHead",
    "TaskKind",
    "TaskSpec",
]
