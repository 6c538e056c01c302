"""What a task head predicts, and its training examples checked row by row.

A head is one of four kinds: ``classification`` (one of several named labels, softmax),
``binary`` (a yes/no event such as a click, one logistic output), ``regression`` (a number
such as a star rating) or ``ordinal`` (one of several labels in a fixed order, such as 1-5
stars: learnt as one number, the label's position, and cut into classes at cutpoints chosen
on validation).  Targets are validated here, once, so a typo in row 5312 of a label
file fails with the row and the allowed labels instead of as a shape error mid-training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

BINARY_LABELS = ("negative", "positive")


class HeadDataError(ValueError):
    """Training or prediction input that a head cannot use; the message names the row."""


class TaskKind(StrEnum):
    CLASSIFICATION = "classification"
    BINARY = "binary"
    REGRESSION = "regression"
    ORDINAL = "ordinal"


@dataclass(frozen=True)
class TaskSpec:
    """A task's name, kind and (for all but regression) its label names in order.

    For ``binary`` the second label is the positive event (default negative/positive).  For
    ``ordinal`` the labels run from lowest to highest.

    ``groups`` (classification and ordinal) lets a head learn finer labels than it reports:
    the head trains on ``labels`` (say the five star ratings) and reports ``groups[i]`` for
    label ``i`` (negative, negative, neutral, positive, positive); a classification group's
    probability is the sum of its labels'.  The finer targets keep what separates a 4-star
    review from a 5-star one, which a 3-way target throws away.  An ordinal task's groups
    must each be one run of neighbouring labels, so that cutting the scale separates them.
    """

    name: str
    kind: TaskKind
    labels: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", TaskKind(self.kind))
        labels = tuple(str(label) for label in self.labels)
        if self.kind is TaskKind.BINARY and not labels:
            labels = BINARY_LABELS
        object.__setattr__(self, "labels", labels)
        groups = tuple(str(group) for group in self.groups)
        object.__setattr__(self, "groups", groups)
        if groups and self.kind not in (TaskKind.CLASSIFICATION, TaskKind.ORDINAL):
            raise ValueError(
                f"task {self.name!r}: only classification and ordinal labels can be grouped"
            )
        if groups and len(groups) != len(labels):
            raise ValueError(
                f"task {self.name!r}: {len(groups)} groups for {len(labels)} labels; "
                "give one group per label"
            )
        if groups and len(set(groups)) < 2:
            raise ValueError(f"task {self.name!r}: groups must name at least two classes")
        if not self.name:
            raise ValueError("a task needs a name")
        if len(set(labels)) != len(labels):
            raise ValueError(f"task {self.name!r}: labels repeat: {list(labels)}")
        if self.kind in (TaskKind.CLASSIFICATION, TaskKind.ORDINAL) and len(labels) < 2:
            raise ValueError(f"{self.kind.value} task {self.name!r} needs at least two labels")
        if self.kind is TaskKind.ORDINAL and groups:
            runs = [g for i, g in enumerate(groups) if i == 0 or groups[i - 1] != g]
            if len(runs) != len(set(runs)):
                raise ValueError(
                    f"ordinal task {self.name!r}: each group must be one run of neighbouring "
                    f"labels, got {list(groups)}"
                )
        if self.kind is TaskKind.BINARY and len(labels) != 2:
            raise ValueError(f"binary task {self.name!r} needs exactly two labels")
        if self.kind is TaskKind.REGRESSION and labels:
            raise ValueError(f"regression task {self.name!r} takes no labels")

    @property
    def has_classes(self) -> bool:
        """Whether the head predicts named classes (all kinds but regression)."""
        return self.kind is not TaskKind.REGRESSION

    @property
    def n_outputs(self) -> int:
        """Width of the head's output layer."""
        return len(self.labels) if self.kind is TaskKind.CLASSIFICATION else 1

    @property
    def reported_labels(self) -> tuple[str, ...]:
        """What predictions and metrics name: the groups in first-seen order, else the labels."""
        return tuple(dict.fromkeys(self.groups)) if self.groups else self.labels

    def group_rows(self) -> np.ndarray:
        """Index into ``reported_labels`` of each label (the identity without groups)."""
        reported = {name: i for i, name in enumerate(self.reported_labels)}
        return np.array([reported[g] for g in self.groups or self.labels], dtype=np.int64)

    def reported_targets(self, targets: Sequence[Any]) -> list[Any]:
        """Each target as the class it is reported as (its group, where labels are grouped):
        what a split stratifies and a training cap balances."""
        if not self.groups:
            return list(targets)
        group_of = dict(zip(self.labels, self.groups, strict=True))
        return [group_of.get(target, target) for target in targets]

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "kind": self.kind.value, "labels": list(self.labels)}
        return {**data, "groups": list(self.groups)} if self.groups else data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        return cls(
            name=data["name"],
            kind=TaskKind(data["kind"]),
            labels=tuple(data["labels"]),
            groups=tuple(data.get("groups", ())),
        )


@dataclass
class Examples:
    """Texts with their targets: label names (classification), 0/1 or label names (binary),
    numbers (regression)."""

    texts: list[str]
    targets: list[Any]

    def __post_init__(self) -> None:
        self.texts = check_texts(self.texts)
        self.targets = list(self.targets)
        if len(self.texts) != len(self.targets):
            raise HeadDataError(
                f"{len(self.texts)} texts but {len(self.targets)} targets: they must pair up"
            )

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, rows: Sequence[int]) -> Examples:
        return Examples([self.texts[i] for i in rows], [self.targets[i] for i in rows])


def check_texts(texts: Sequence[str]) -> list[str]:
    """The texts as a list; a lone string or a non-string row is an error naming the row."""
    if isinstance(texts, str):
        raise HeadDataError("expected a sequence of texts, got one string")
    out = list(texts)
    for row, text in enumerate(out):
        if not isinstance(text, str):
            raise HeadDataError(f"row {row}: text must be a string, got {type(text).__name__}")
    return out


def encode_targets(spec: TaskSpec, targets: Sequence[Any]) -> np.ndarray:
    """Targets as the numbers a head trains on: label index (int64; classification and
    ordinal, where the index is the position on the scale) or float32 value."""
    if spec.kind in (TaskKind.CLASSIFICATION, TaskKind.ORDINAL):
        index = {label: i for i, label in enumerate(spec.labels)}
        out = np.empty(len(targets), dtype=np.int64)
        for row, target in enumerate(targets):
            if not isinstance(target, str) or target not in index:
                raise HeadDataError(
                    f"row {row}: label {target!r} is not one of the labels of task "
                    f"{spec.name!r}: {list(spec.labels)}"
                )
            out[row] = index[target]
        return out
    values = np.empty(len(targets), dtype=np.float32)
    for row, target in enumerate(targets):
        values[row] = (
            _binary_target(spec, row, target)
            if spec.kind is TaskKind.BINARY
            else _number(spec, row, target)
        )
    return values


def _binary_target(spec: TaskSpec, row: int, target: Any) -> float:
    if isinstance(target, str) and target in spec.labels:
        return float(spec.labels.index(target))
    if isinstance(target, bool | int | float | np.integer | np.floating) and target in (0, 1):
        return float(target)
    raise HeadDataError(
        f"row {row}: target {target!r} of binary task {spec.name!r} must be 0, 1 or one of "
        f"{list(spec.labels)}"
    )


def _number(spec: TaskSpec, row: int, target: Any) -> float:
    if isinstance(target, bool) or not isinstance(target, int | float | np.integer | np.floating):
        raise HeadDataError(
            f"row {row}: target {target!r} of regression task {spec.name!r} must be a number"
        )
    value = float(target)
    if not math.isfinite(value):
        raise HeadDataError(f"row {row}: target of regression task {spec.name!r} is {value}")
    return value
