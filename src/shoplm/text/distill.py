"""Teach a smaller copy of the encoder to give the sentence vectors its source gives.

Why: pruning (``shoplm.text.compact``) refits each block on its own, so small errors add up
through the stack and the final vectors drift.  Training the whole pruned model to match
its source on the shop's own texts (knowledge distillation: Sanh et al., "DistilBERT",
2019; matching every block's token states as well, as in Jiao et al., "TinyBERT", 2020)
pulls them back.  No labels are needed, the source is the teacher, so any catalog can.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from shoplm.text.onnx_backend import pool_tokens

LEARNING_RATE = 2e-4
BATCH_SIZE = 32
WARMUP_SHARE = 0.1


def distill_sentence_vectors(
    student: Any,
    teacher: Any,
    tokenizer: Any,
    texts: Sequence[str],
    pooling: str = "mean",
    epochs: int = 2,
    max_seq_length: int = 128,
    seed: int = 42,
    learning_rate: float = LEARNING_RATE,
    batch_size: int = BATCH_SIZE,
    validation: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train ``student`` (a transformers model with ``teacher``'s shape but thinner blocks).

    The loss is one minus the cosine of the two models' sentence vectors (what search and
    recommendation rank by) plus, per block, the relative squared error of its token states.
    The token embedding table (most parameters, not pruned) is left as it is.  With
    ``validation`` texts (not trained on), the models' mean cosine on them is measured
    before and after every epoch and the student keeps its best state, its starting one
    included: distillation never leaves it worse there.  Returns what was done, the last
    epoch's mean loss terms and the validation cosines.
    """
    import torch

    if not texts:
        raise ValueError("distillation needs at least one text")
    if epochs < 1:
        raise ValueError(f"distillation epochs must be at least 1, got {epochs}")
    say = progress or (lambda _msg: None)
    torch.manual_seed(seed)
    order = random.Random(seed)
    started = time.perf_counter()
    lengths = [
        len(ids)
        for ids in tokenizer(list(texts), truncation=True, max_length=max_seq_length)["input_ids"]
    ]
    teacher.eval()
    student.eval()  # no dropout: the target is the teacher's deterministic output
    for parameter in student.embeddings.parameters():
        parameter.requires_grad_(False)
    trainable = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.0)
    total = len(_length_batches(lengths, batch_size, random.Random(0))) * epochs
    warmup = max(1, int(total * WARMUP_SHARE))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda at: _warm_then_decay(at, warmup, total)
    )
    step = 0
    checked = _Checkpoints(student, teacher, tokenizer, validation, pooling, max_seq_length)
    try:
        for epoch in range(epochs):
            terms = {"sentence": 0.0, "tokens": 0.0}
            batches = _length_batches(lengths, batch_size, order)
            for done, chosen in enumerate(batches, start=1):
                batch = _tokenized(tokenizer, [texts[i] for i in chosen], max_seq_length)
                sentence, tokens = _losses(student, teacher, batch, pooling)
                optimizer.zero_grad()
                (sentence + tokens).backward()
                optimizer.step()
                schedule.step()
                terms["sentence"] += sentence.item()
                terms["tokens"] += tokens.item()
                step += 1
                if step % 50 == 0 or step == total:
                    say(
                        f"distillation: epoch {epoch + 1}/{epochs}, step {step}/{total}, loss "
                        f"{terms['sentence'] / done:.5f} (sentence) "
                        f"{terms['tokens'] / done:.5f} (token states)"
                    )
            terms = {name: value / len(batches) for name, value in terms.items()}
            checked.after_epoch(epoch + 1, say)
        checked.restore_best()
    finally:
        for parameter in student.parameters():
            parameter.requires_grad_(True)
    return {
        "texts": len(texts),
        "epochs": epochs,
        "steps": total,
        "learning_rate": learning_rate,
        "last_epoch_loss": {name: round(value, 6) for name, value in terms.items()},
        **checked.record(),
        "seconds": round(time.perf_counter() - started, 1),
    }


class _Checkpoints:
    """The student's best state by mean cosine to the teacher on validation texts."""

    def __init__(
        self, student: Any, teacher: Any, tokenizer: Any, texts: Sequence[str], pooling: str,
        max_seq_length: int,
    ) -> None:  # fmt: skip
        self.student, self.pooling = student, pooling
        self.batches = [
            _tokenized(tokenizer, texts[i : i + 128], max_seq_length)
            for i in range(0, len(texts), 128)
        ]
        self.targets = [self._vectors(teacher, batch) for batch in self.batches]
        self.cosines: list[float] = []
        self.best_epoch = 0
        self.best_state: dict | None = None
        if self.batches:  # the starting state, kept until an epoch beats it
            self.cosines.append(self._cosine())
            self.best_state = self._snapshot()

    def _snapshot(self) -> dict:
        return {name: value.clone() for name, value in self.student.state_dict().items()}

    def _vectors(self, model: Any, batch: dict) -> Any:
        import torch

        with torch.no_grad():
            tokens = model(**batch).last_hidden_state
        return pool_tokens(tokens, batch["attention_mask"], self.pooling)

    def _cosine(self) -> float:
        """Mean cosine of the student's vectors to the teacher's over the validation texts."""
        sums = [
            float((self._vectors(self.student, batch) * wanted).sum())
            for batch, wanted in zip(self.batches, self.targets, strict=True)
        ]
        return sum(sums) / sum(len(batch["input_ids"]) for batch in self.batches)

    def after_epoch(self, epoch: int, say: Callable[[str], None]) -> None:
        if not self.batches:
            return
        self.cosines.append(self._cosine())
        say(f"distillation: epoch {epoch}, validation cosine {self.cosines[-1]:.5f}")
        if self.cosines[-1] > self.cosines[self.best_epoch]:
            self.best_epoch = epoch
            self.best_state = self._snapshot()

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.student.load_state_dict(self.best_state)

    def record(self) -> dict[str, Any]:
        if not self.batches:
            return {}
        return {
            "validation_texts": sum(len(b["input_ids"]) for b in self.batches),
            "validation_cosine": [round(c, 5) for c in self.cosines],
            "kept_epoch": self.best_epoch,
        }


def _tokenized(tokenizer: Any, texts: Sequence[str], max_seq_length: int) -> dict[str, Any]:
    return dict(
        tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_seq_length,
            return_tensors="pt",
        )
    )  # fmt: skip


def _losses(student: Any, teacher: Any, batch: dict, pooling: str) -> tuple[Any, Any]:
    """(1 - sentence cosine, mean over blocks of relative token-state error) for one batch."""
    import torch

    mask = batch["attention_mask"]
    with torch.no_grad():
        wanted = teacher(**batch, output_hidden_states=True)
    got = student(**batch, output_hidden_states=True)
    cosine = (
        pool_tokens(got.last_hidden_state, mask, pooling)
        * pool_tokens(wanted.last_hidden_state, mask, pooling)
    ).sum(dim=1)
    real = mask.bool()
    errors = [
        ((mine[real] - theirs[real]) ** 2).sum() / (theirs[real] ** 2).sum()
        for mine, theirs in zip(got.hidden_states[1:], wanted.hidden_states[1:], strict=True)
    ]
    return (1.0 - cosine).mean(), torch.stack(errors).mean()


def _length_batches(lengths: Sequence[int], size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar-length texts (little padding) in a random order, new each call."""
    indices = list(range(len(lengths)))
    rng.shuffle(indices)
    pool = size * 50
    batches = []
    for start in range(0, len(indices), pool):
        chunk = sorted(indices[start : start + pool], key=lengths.__getitem__)
        batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(batches)
    return batches


def _warm_then_decay(step: int, warmup: int, total: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then linear decay to 0."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))
