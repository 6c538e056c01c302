"""Several heads of one task, trained alike but for their seeds, with their outputs averaged.

Why: on a few thousand labelled rows one head's score moves by about a point with the seed
alone (the output layer's start, the batch order, dropout), and which validation step wins
moves with it.  The mean of k such heads' raw outputs cancels part of that noise, at k times
the training and prediction cost.  Member 0 is trained with the config's own seed, so it is
the head a single run would give; the others take ``seed + 1``, ``seed + 2``, ...

Which members are averaged is chosen on validation: the best member alone, then each next
one only if it raises the mean's score (so a member that collapsed to the majority class is
left out).  The ensemble is calibrated once more on validation (class offsets, ordinal
cutpoints) for the averaged outputs; each member keeps its own calibration for when it is
used alone.

With ``HeadConfig.lexical`` the word classifier is fitted once, for the ensemble: it is
blended into the members' averaged outputs (:mod:`shoplm.heads.blend`), its weight chosen for
that average on validation.  The members themselves train without it (every member would fit
the same classifier on the same rows).

On disk::

    ensemble.json     format, member folders, calibration, the blend's weight, metrics
    lexical.*         the word classifier blended in (``HeadConfig.lexical`` only)
    member-0/ ...     each a saved TaskHead folder
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from shoplm.heads import storage
from shoplm.heads.blend import blend_entry, check_blendable, fit_blend, load_blend, save_blend
from shoplm.heads.config import HeadConfig
from shoplm.heads.head import TaskHead
from shoplm.heads.predicting import Predicting
from shoplm.heads.scoring import TargetScale
from shoplm.heads.spec import Examples, TaskSpec, encode_targets
from shoplm.heads.train import score_outputs
from shoplm.text.cache import EmbeddingCache

FORMAT = "shoplm-head-ensemble/1"
MANIFEST = "ensemble.json"
Say = Callable[[str], None]


class HeadEnsemble(Predicting):
    """Heads of one task whose raw outputs are averaged before they are read."""

    def __init__(
        self,
        members: Sequence[TaskHead],
        calibration: np.ndarray | None,
        info: dict[str, Any] | None = None,
    ) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member head")
        task = members[0].spec.to_dict()
        if any(head.spec.to_dict() != task for head in members):
            raise ValueError("ensemble members must share one task (name, kind and labels)")
        self.members = list(members)
        self.spec: TaskSpec = members[0].spec
        self.config: HeadConfig = members[0].config
        self.scale = members[0].scale  # fitted on the same training rows by every member
        self.calibration = calibration
        self.info = info or {}

    @classmethod
    def train(
        cls,
        spec: TaskSpec,
        train: Examples,
        valid: Examples,
        config: HeadConfig,
        members: int,
        show_progress: bool = False,
        say: Say | None = None,
        cache: EmbeddingCache | None = None,
    ) -> HeadEnsemble:
        """Train ``members`` heads on the same rows, seeds ``config.seed + k``, and keep
        those whose mean validates best (see :func:`_choose_members`)."""
        if members < 1:
            raise ValueError(f"members must be at least 1, got {members}")
        if config.refit and config.mode == "lora" and members > 1:
            raise ValueError(
                "an ensemble chooses its members on validation, which refitted heads have "
                "trained on: leave refit off, or train one member"
            )
        if config.lexical:
            check_blendable(spec)
        say = say or (lambda _message: None)
        heads = []
        for k in range(members):
            say(f"ensemble member {k + 1}/{members} (seed {config.seed + k}) ...")
            member_config = replace(config, seed=config.seed + k, lexical=False)
            heads.append(
                TaskHead.train(spec, train, valid, member_config, show_progress, say, cache)
            )
        y_valid = encode_targets(spec, valid.targets)
        # training already ran each member over the validation rows
        outputs = [_validation_outputs(head) for head in heads]
        chosen, calibration, validation = _choose_members(
            spec, outputs, y_valid, heads[0].scale, config.calibrate
        )
        kept = [heads[i] for i in chosen]
        left_out = [head.config.seed for head in heads if head not in kept]
        if left_out:
            say(f"ensemble: the members of seeds {left_out} did not raise validation; left out")
        info = {
            "members": members,
            "seeds": [head.config.seed for head in kept],
            "left_out_seeds": left_out,
            "validation": validation,
            "member_training": [head.info for head in heads],
        }
        if not config.lexical:
            return cls(kept, calibration, info)
        mean = np.mean([outputs[i] for i in chosen], axis=0)
        fitted = fit_blend(
            spec,
            train.texts,
            encode_targets(spec, train.targets),
            valid.texts,
            y_valid,
            mean,
            calibration,
            config.calibrate,
            say,
        )
        ensemble = cls(kept, fitted.calibration, {**info, "lexical": fitted.report})
        ensemble.lexical = fitted.blend
        return ensemble

    def member_outputs(self, texts: Sequence[str], show_progress: bool = False) -> list[np.ndarray]:
        """Each member's raw outputs, in member order."""
        return [head.outputs(texts, show_progress) for head in self.members]

    def network_outputs(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """The members' raw outputs averaged, before any lexical blend."""
        return np.mean(self.member_outputs(texts, show_progress), axis=0)

    def evaluate_members(
        self, examples: Examples, show_progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray, list[dict[str, float]]]:
        """(the members' averaged raw outputs, the truth, each member's metrics alone) from
        one pass of each member; the ensemble's score is ``scored`` of the blend of the
        average, or of the average where there is no blend."""
        truth = encode_targets(self.spec, examples.targets)
        each = self.member_outputs(examples.texts, show_progress)
        alone = [
            head.scored(out, truth).metrics for out, head in zip(each, self.members, strict=True)
        ]
        return np.mean(each, axis=0), truth, alone

    @property
    def trainable_parameters(self) -> int:
        return sum(head.trainable_parameters for head in self.members)

    # ------------------------------------------------------------ save / load
    def save(self, folder: str | Path, metrics: dict[str, Any] | None = None) -> Path:
        """Each member in its own folder, then the ensemble's manifest (written last)."""
        folder = Path(folder).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MANIFEST).unlink(missing_ok=True)
        names = [f"member-{k}" for k in range(len(self.members))]
        for name, head in zip(names, self.members, strict=True):
            head.save(folder / name)
        save_blend(self.lexical, folder)
        manifest = {
            "members": names,
            "calibration": storage.listed(self.calibration),
            "lexical": blend_entry(self.lexical),
            "metrics": metrics or {},
            "training": self.info,
        }
        return storage.write_manifest(folder, manifest, MANIFEST, FORMAT)

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> HeadEnsemble:
        folder = Path(folder).expanduser()
        manifest = storage.read_manifest(folder, MANIFEST, FORMAT, "saved head ensemble")
        members = [TaskHead.load(folder / name, device) for name in manifest["members"]]
        calibration = manifest.get("calibration")
        ensemble = cls(
            members,
            storage.array_of(calibration),
            {**manifest.get("training", {}), "metrics": manifest.get("metrics", {})},
        )
        ensemble.lexical = load_blend(manifest.get("lexical"), folder)
        return ensemble


def _choose_members(
    spec: TaskSpec,
    outputs: list[np.ndarray],
    y_valid: np.ndarray,
    scale: TargetScale | None,
    calibrated: bool,
) -> tuple[list[int], np.ndarray | None, dict[str, float]]:
    """Greedy forward selection on validation: start from the best member alone, then add
    each next-best member only if the mean with it scores higher.  A member that collapsed
    (say, to the majority class) would only drag the mean down, so it is left out.

    Returns (chosen member indices, calibration of their mean, its validation metrics).
    """

    def score(chosen: list[int]) -> tuple[float, dict[str, float], np.ndarray | None]:
        mean = np.mean([outputs[i] for i in chosen], axis=0)
        return score_outputs(spec, mean, y_valid, scale, calibrated)

    alone = [score([i]) for i in range(len(outputs))]
    order = sorted(range(len(outputs)), key=lambda i: -alone[i][0])
    chosen, best = [order[0]], alone[order[0]]
    for i in order[1:]:
        tried = score([*chosen, i])
        if tried[0] > best[0] + 1e-9:
            chosen, best = [*chosen, i], tried
    return sorted(chosen), best[2], best[1]


def _validation_outputs(head: TaskHead) -> np.ndarray:
    """A freshly trained member's raw outputs on the validation rows, kept by its training."""
    if head.validation_outputs is None:
        raise RuntimeError("an ensemble member must come from TaskHead.train in this process")
    return head.validation_outputs
