"""SASRec's epoch loop, data-parallel on Ray Train workers (PyTorch DDP).

``RaySequenceTrainer`` is the ``FitContext.options["sequence_trainer"]`` hook of
``SASRec.fit``: the model builds its item tower and sequence encoder as usual, then hands
the loop to Ray.  Every worker gets the same initial weights and draws the same shuffled
batch list each epoch (same seed) and trains on its share of it (batch ``rank``,
``rank + world``, ...); DDP averages the gradients, so one step learns from ``world``
batches.  The validation users are split the same way and their NDCG sums all-reduced, so
all workers take the same early-stopping decision.  Rank 0 returns the best epoch's weights
as a Ray Train checkpoint (safetensors files), which are loaded back into the driver's
modules; the rest of ``fit`` (frozen item table, content weights) runs unchanged.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from shoplm.config import ComputeSettings
from shoplm.distributed.session import ensure_ray
from shoplm.recommend.sequential import (
    SEQUENCE_TRAINER_OPTION,
    SASRec,
    _length_batches,
    torch_threads,
)

TOWER_FILE = "tower.safetensors"
ENCODER_FILE = "encoder.safetensors"
HISTORY_FILE = "history.json"
__all__ = ["SEQUENCE_TRAINER_OPTION", "RaySequenceTrainer"]


class _Network(nn.Module):
    """Tower + sequence encoder as one module whose forward is SASRec's training loss.

    DDP needs the loss computed inside one wrapped module's forward to synchronise the
    gradients of every parameter used.
    """

    def __init__(self, model: SASRec, tower: nn.Module) -> None:
        super().__init__()
        self.tower = tower
        self.encoder = model.encoder
        self._model = [model]  # in a list: not a submodule, not part of the state

    def forward(self, sequences: list[np.ndarray]) -> tuple[torch.Tensor, int]:
        device = next(self.tower.parameters()).device
        return self._model[0]._step(sequences, self.tower, device)


class RaySequenceTrainer:
    """Trains a SASRec model's epochs on ``settings.num_workers`` Ray Train workers."""

    def __init__(self, settings: ComputeSettings) -> None:
        self.settings = settings

    def __call__(
        self,
        model: SASRec,
        tower: nn.Module,
        train: list[np.ndarray],
        valid: list[np.ndarray],
        rng: np.random.Generator,
    ) -> None:
        """Same contract as ``SASRec._train_epochs``: best weights in the modules, history set."""
        ensure_ray(self.settings)
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchConfig, TorchTrainer

        settings = self.settings
        tower.cpu()
        model.encoder.cpu()
        storage = settings.storage_path or tempfile.mkdtemp(prefix="shoplm-ray-train-")
        config = {
            "model": model,
            "tower": tower,
            "train": train,
            "valid": valid,
            "seed": int(rng.integers(2**31 - 1)),
        }
        trainer = TorchTrainer(
            _train_worker,
            train_loop_config=config,
            scaling_config=ScalingConfig(
                num_workers=settings.num_workers,
                use_gpu=settings.use_gpu,
                resources_per_worker={"CPU": settings.cpus_per_worker},
            ),
            torch_config=TorchConfig(backend="nccl" if settings.use_gpu else "gloo"),
            run_config=RunConfig(storage_path=storage, name=f"{model.name}-{time.time_ns()}"),
        )
        try:
            result = trainer.fit()
            if result.checkpoint is None:
                raise RuntimeError(f"Ray Train returned no checkpoint for {model.name}")
            with result.checkpoint.as_directory() as folder:
                tower.load_state_dict(load_file(str(Path(folder) / TOWER_FILE)))
                model.encoder.load_state_dict(load_file(str(Path(folder) / ENCODER_FILE)))
                model.history = json.loads((Path(folder) / HISTORY_FILE).read_text())
        finally:
            if settings.storage_path is None:
                shutil.rmtree(storage, ignore_errors=True)


def _train_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: its share of every epoch's batches, DDP-synchronised."""
    import ray.train
    import ray.train.torch

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    model: SASRec = config["model"]
    tower: nn.Module = config["tower"]
    train, valid = config["train"], config["valid"]
    p = model.params
    device = ray.train.torch.get_device()
    rng = np.random.default_rng(config["seed"])  # same on every worker: same batch lists
    torch.manual_seed(config["seed"] + rank)  # own dropout and sampled negatives
    my_valid = valid[rank::world]
    with torch_threads(p["threads"]):
        network = ray.train.torch.prepare_model(_Network(model, tower))
        inner: _Network = getattr(network, "module", network)
        optimiser = torch.optim.AdamW(
            network.parameters(), lr=p["lr"], weight_decay=p["weight_decay"]
        )
        lengths = np.array([len(s) for s in train])
        best, best_state, stale = -1.0, None, 0
        history: list[dict[str, float]] = []
        started = time.perf_counter()
        for epoch in range(p["max_epochs"]):
            inner.train()
            batches = _length_batches(lengths, p["batch_size"], rng)
            steps = math.ceil(len(batches) / world)
            total, count = 0.0, 0
            for step in range(steps):
                batch = batches[(step * world + rank) % len(batches)]
                loss, n = network([train[i] for i in batch])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * n
                count += n
            gains = (
                model._validate(my_valid, inner.tower, device) * len(my_valid) if my_valid else 0.0
            )
            budget = p["time_budget_s"]
            late = budget is not None and time.perf_counter() - started > budget
            total, count, gains, late = _all_sum([total, count, gains, float(late)])
            score = gains / len(valid) if valid else 0.0
            epoch_loss = total / max(count, 1)
            history.append(
                {"epoch": epoch + 1, "loss": epoch_loss, "valid_ndcg@10": score, "workers": world}
            )
            if score > best:
                best, stale = score, 0
                best_state = (
                    copy.deepcopy(inner.tower.state_dict()),
                    copy.deepcopy(inner.encoder.state_dict()),
                )
            else:
                stale += 1
            if stale >= p["patience"] or late > 0:
                break
    if best_state is None:
        best_state = (inner.tower.state_dict(), inner.encoder.state_dict())
    _report(rank, best_state, history)


def _all_sum(values: list[float]) -> list[float]:
    """Element-wise sums over all workers (the values themselves with one worker)."""
    if not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    torch.distributed.all_reduce(tensor)
    return tensor.tolist()


def _report(
    rank: int,
    state: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]],
    history: list[dict[str, float]],
) -> None:
    """Every worker reports (Ray Train waits for all); rank 0 attaches the weights."""
    import ray.train

    metrics = {"epochs": len(history)}
    if rank != 0:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory(prefix="shoplm-sasrec-") as folder:
        save_file(_plain(state[0]), str(Path(folder) / TOWER_FILE))
        save_file(_plain(state[1]), str(Path(folder) / ENCODER_FILE))
        (Path(folder) / HISTORY_FILE).write_text(json.dumps(history))
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))


def _plain(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous, unshared tensors: what safetensors can write."""
    return {key: value.detach().cpu().contiguous().clone() for key, value in state.items()}
