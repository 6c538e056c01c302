"""Task heads trained on a home's own labelled texts, stored in the home and served by name.

A shop trains a head from a labelled file (CSV, TSV, JSON lines or Parquet: one or more text
columns, joined as sentences, and a label column).  The rows are split 70/10/20 with the
home's seed (by class, so each share holds every label); a LoRA head and a frozen-encoder
linear probe train on the same rows, both are scored on the held-out test rows, and the one
that validates higher is saved under ``<home>/heads/<name>/`` (the asked mode on ties, or
always with ``keep="mode"``): on a shop's own labels either can win, as on product categories,
where the probe beat the LoRA head of the default settings.  The head sits on the home's
encoder (a fine-tuned folder included), so it reads the same vectors search does.  A head
that fails to train leaves the one of the same name already saved in place.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shoplm.folders import replaced_whole
from shoplm.heads.bases import SharedBases
from shoplm.heads.config import HeadConfig
from shoplm.heads.head import TaskHead
from shoplm.heads.scoring import selection_score
from shoplm.heads.spec import Examples, HeadDataError, TaskKind, TaskSpec
from shoplm.heads.split import FRACTIONS, cap_rows, split_rows
from shoplm.heads.storage import MANIFEST, read_manifest
from shoplm.ingest.readers import open_rows
from shoplm.ingest.text_rows import row_text
from shoplm.ingest.validate import present

HEADS_DIR = "heads"
KEEP = ("better", "mode")  # save the head that validates higher, or always the asked mode
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
Say = Callable[[str], None]


class UnknownHeadError(KeyError):
    """No head of that name is saved in the home."""


def check_name(name: str) -> str:
    """A head name is a folder name: letters, digits, '-' and '_', at most 64."""
    if not NAME.match(name):
        raise ValueError(
            f"head name {name!r}: use letters, digits, '-' and '_' (at most 64, "
            "starting with a letter or digit)"
        )
    return name


@dataclass
class LabelledFile:
    """A file's usable rows, the file row number of each, and the rows skipped as empty."""

    examples: Examples
    row_numbers: list[int]
    skipped: list[int]


def read_labelled(path: Path, text_columns: Sequence[str], label_column: str) -> LabelledFile:
    """The (text, label) rows of a file, the text columns joined as sentences (a review's
    title and body); a row with no text or an empty label is skipped (reviews without a body
    are common) and a missing column is an error naming the row."""
    if isinstance(text_columns, str):
        text_columns = [text_columns]
    texts: list[str] = []
    labels: list[str] = []
    numbers: list[int] = []
    skipped: list[int] = []
    with open_rows(Path(path)) as rows:
        for raw in rows:
            if raw.error:
                raise HeadDataError(f"{path}: row {raw.number}: {raw.error}")
            where = f"{path}: row {raw.number}"
            text = row_text(raw.record, text_columns, where, [label_column], HeadDataError)
            label = raw.record[label_column]
            if not text or present(label) is None:
                skipped.append(raw.number)
                continue
            texts.append(text)
            labels.append(_label_text(label))
            numbers.append(raw.number)
    if not texts:
        raise HeadDataError(f"{path}: no row has both a text and a {label_column!r}")
    return LabelledFile(Examples(texts, labels), numbers, skipped)


def _label_text(value: Any) -> str:
    """A label as text: 4.0 read from a number column is the label "4"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def task_for(
    name: str,
    kind: str,
    labels: Sequence[str],
    targets: Sequence[str],
    groups: Sequence[str] = (),
) -> TaskSpec:
    """The task of a labelled file: ``labels`` in order, else the file's labels sorted.

    An ordinal task needs its labels in order (lowest first); regression takes none and reads
    every label as a number.  ``groups`` (one per label) makes the head learn the labels and
    report their groups, e.g. five star ratings reported as negative / neutral / positive.
    """
    kinds = [k.value for k in TaskKind]
    if kind not in kinds:
        raise ValueError(f"head kind {kind!r}: use one of {kinds}")
    task_kind = TaskKind(kind)
    if task_kind is TaskKind.REGRESSION:
        if labels:
            raise ValueError("a regression head takes no labels: its targets are numbers")
        return TaskSpec(name, task_kind)
    if task_kind is TaskKind.ORDINAL and not labels:
        raise ValueError("an ordinal head needs its labels in order, lowest first")
    if groups and not labels:
        raise ValueError("groups name one group per label: give the labels too, in order")
    found = sorted(set(targets), key=_natural)
    return TaskSpec(name, task_kind, tuple(labels) or tuple(found), tuple(groups))


def _natural(label: str) -> tuple[int, float, str]:
    """Numbers in numeric order ("2" before "10"), then words alphabetically."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def split_examples(examples: Examples, spec: TaskSpec, seed: int) -> dict[str, Examples]:
    """The seeded train/valid/test shares (by reported class for labelled tasks)."""
    strata = spec.reported_targets(examples.targets) if spec.has_classes else None
    rows = split_rows(len(examples), seed, FRACTIONS, strata=strata)
    shares = {name: examples.subset(picked) for name, picked in rows.items()}
    for name, share in shares.items():
        if len(share) == 0:
            raise HeadDataError(
                f"{len(examples)} rows leave the {name} share empty: give at least 10"
            )
    return shares


def sample_rows(examples: Examples, max_rows: int | None, seed: int) -> Examples:
    """A seeded ``max_rows`` of the rows, in file order (all of them when None or fewer):
    a quick first head on a large file, or one that fits the machine's time."""
    if max_rows is not None and max_rows < 10:
        raise ValueError(f"max_rows must be at least 10 (a test share needs rows), got {max_rows}")
    if max_rows is None or len(examples) <= max_rows:
        return examples
    return examples.subset(cap_rows(range(len(examples)), max_rows, seed))


def checked_targets(spec: TaskSpec, labelled: LabelledFile, path: Path) -> Examples:
    """The rows with targets the task can learn: a label outside it, or a regression target
    that is no number, is an error naming the file row."""
    examples = labelled.examples
    values: list[Any] = []
    for number, target in zip(labelled.row_numbers, examples.targets, strict=True):
        if spec.kind is TaskKind.REGRESSION:
            try:
                values.append(float(target))
            except ValueError:
                raise HeadDataError(f"{path}: row {number}: {target!r} is not a number") from None
        elif target not in spec.labels:
            raise HeadDataError(
                f"{path}: row {number}: label {target!r} is not one of {list(spec.labels)}"
            )
        else:
            values.append(target)
    return Examples(examples.texts, values)


def train_home_head(
    home: Path,
    name: str,
    data: Path,
    config: HeadConfig,
    text_columns: Sequence[str] = ("text",),
    label_column: str = "label",
    kind: str = "classification",
    labels: Sequence[str] = (),
    groups: Sequence[str] = (),
    compare_probe: bool = True,
    keep: str = "better",
    max_rows: int | None = None,
    say: Say | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Train, score and save the head ``name`` of ``home`` (see the module docstring).

    ``keep``: ``"better"`` saves whichever trained head validates higher (the asked mode on
    ties), ``"mode"`` always the head of ``config.mode``.  ``max_rows``: train and score on a
    seeded sample of that many usable rows (every row is still read and checked first)."""
    say = say or (lambda _message: None)
    if keep not in KEEP:
        raise ValueError(f"keep must be one of {KEEP}, got {keep!r}")
    check_name(name)
    labelled = read_labelled(data, text_columns, label_column)
    skipped = labelled.skipped
    if skipped:
        say(f"skipped {len(skipped)} rows with an empty text or label (rows {_some(skipped)})")
    spec = task_for(name, kind, labels, labelled.examples.targets, groups)
    examples = checked_targets(spec, labelled, data)
    usable = len(examples)
    examples = sample_rows(examples, max_rows, config.seed)
    if len(examples) < usable:
        say(f"using a seeded {len(examples)} of the {usable} usable rows (max_rows)")
    shares = split_examples(examples, spec, config.seed)
    say(
        f"{len(examples)} rows: {len(shares['train'])} train, {len(shares['valid'])} "
        f"validation, {len(shares['test'])} test"
    )
    modes = [config.mode]
    if compare_probe and config.mode != "probe":
        modes.append("probe")
    report: dict[str, Any] = {"name": name, "task": spec.to_dict(), "rows": _sizes(shares)}
    report["skipped_rows"] = {"count": len(skipped), "first": skipped[:10]}
    report["usable_rows"] = usable
    scores: dict[str, Any] = {}
    heads: dict[str, TaskHead] = {}
    for mode in modes:
        say(f"training the {mode} head")
        head = TaskHead.train(
            spec,
            shares["train"],
            shares["valid"],
            replace(config, mode=mode),
            show_progress=show_progress,
            say=say,
        )
        heads[mode] = head
        scores[mode] = {
            "validation": head.info["validation"],
            "validation_score": round(validated_score(head), 6),
            "test": head.evaluate(shares["test"]),
            "trainable_parameters": head.trainable_parameters,
        }
    validated = {mode: score["validation_score"] for mode, score in scores.items()}
    kept = kept_mode(validated, config.mode) if keep == "better" else config.mode
    if kept != config.mode:
        say(
            f"keeping the {kept} head: it validates higher than the {config.mode} head "
            f"({validated[kept]:.4f} against {validated[config.mode]:.4f})"
        )
    saved = {**scores[kept], "rows": report["rows"], "data": str(data)}
    saved["usable_rows"] = usable  # more than the rows' sum when --max-rows sampled them
    saved.pop("trainable_parameters")  # the manifest's training notes hold it
    if len(scores) > 1:
        saved["compared"] = {mode: score["test"] for mode, score in scores.items()}
        saved["kept"] = {"mode": kept, "asked": config.mode, "rule": keep}
    folder = _save_whole(heads[kept], heads_dir(home) / name, saved)
    report.update(mode=kept, asked_mode=config.mode, keep=keep)
    report.update(base_model=config.base_model, folder=str(folder))
    report["scores"] = scores
    return report


def validated_score(head: TaskHead) -> float:
    """The head's validation score as it predicts (the word blend's, where one was fitted);
    higher is better (:func:`~shoplm.heads.scoring.selection_score`)."""
    blended = head.info.get("lexical", {}).get("validation")
    return selection_score(head.spec, blended or head.info["validation"])


def kept_mode(validated: dict[str, float], asked: str) -> str:
    """The mode whose head validates highest; the asked mode keeps ties."""
    best = asked
    for mode, score in validated.items():
        if score > validated[best] + 1e-9:
            best = mode
    return best


def _some(numbers: list[int], shown: int = 5) -> str:
    head = ", ".join(map(str, numbers[:shown]))
    return head + (", ..." if len(numbers) > shown else "")


def _sizes(shares: dict[str, Examples]) -> dict[str, int]:
    return {name: len(share) for name, share in shares.items()}


def _save_whole(head: TaskHead, folder: Path, metrics: dict[str, Any]) -> Path:
    """Save beside ``folder`` and swap it in, so an interrupted save keeps the old head."""
    with replaced_whole(folder) as fresh:
        head.save(fresh, metrics)
    return folder


def heads_dir(home: Path) -> Path:
    return Path(home) / HEADS_DIR


def list_heads(home: Path) -> list[dict[str, Any]]:
    """Each saved head's name, task, mode, base model and test metrics."""
    found = []
    root = heads_dir(home)
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
            continue
        manifest = read_manifest(folder)
        found.append(
            {
                "name": folder.name,
                "task": manifest["task"],
                "mode": manifest["mode"],
                "base_model": manifest["base_model"],
                "metrics": manifest.get("metrics", {}),
            }
        )
    return found


class HomeHeads:
    """The home's saved heads, each loaded on first use and kept until its folder changes.

    Heads on the same base model share one copy of its weights (``SharedBases``): a home
    serving five heads holds the base once, not five times, and lets a base go once no loaded
    head is on it (a head retrained on another base, or removed)."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self._loaded: dict[str, tuple[int, TaskHead]] = {}
        self.bases = SharedBases()
        self._lock = threading.Lock()

    def get(self, name: str) -> TaskHead:
        check_name(name)
        manifest = heads_dir(self.home) / name / MANIFEST
        if not manifest.is_file():
            self._forget(name)
            known = [head["name"] for head in list_heads(self.home)]
            raise UnknownHeadError(f"no head {name!r} in this home (heads: {known or 'none'})")
        stamp = manifest.stat().st_mtime_ns
        cached = self._loaded.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]  # a loaded head answers without waiting on another's load
        with self._lock:  # requests arriving together for a head not yet loaded load it once
            cached = self._loaded.get(name)
            if cached is None or cached[0] != stamp:
                cached = (stamp, TaskHead.load(manifest.parent, bases=self.bases))
                self._loaded[name] = cached
                self._retain_bases()
        return cached[1]

    def _forget(self, name: str) -> None:
        """A head whose folder is gone stops holding memory, and so may its base."""
        with self._lock:
            if self._loaded.pop(name, None) is not None:
                self._retain_bases()

    def _retain_bases(self) -> None:
        """Keep only the bases a loaded head is on (a retrained head may have moved base)."""
        self.bases.retain(head.config.base_model for _, head in self._loaded.values())

    def predict(self, name: str, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One answer per text: the label with its probabilities, or the predicted value."""
        head = self.get(name)
        texts = list(texts)
        if not texts:
            return []
        raw = head.outputs(texts)
        kind = head.spec.kind
        if kind is TaskKind.REGRESSION:
            return [{"value": float(v)} for v in head.values_of(raw)]
        labels = head.labels_of(raw)
        if kind is TaskKind.ORDINAL:
            values = head.values_of(raw)
            return [{"label": x, "value": float(v)} for x, v in zip(labels, values, strict=True)]
        names = head.spec.reported_labels
        return [
            {"label": label, "probabilities": dict(zip(names, map(float, row), strict=True))}
            for label, row in zip(labels, head.probabilities_of(raw), strict=True)
        ]


__all__ = [
    "HomeHeads",
    "UnknownHeadError",
    "list_heads",
    "read_labelled",
    "sample_rows",
    "task_for",
    "train_home_head",
]
