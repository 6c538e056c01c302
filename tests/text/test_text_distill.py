import itertools
import random

import pytest

from shoplm.text import compact, distill

PRODUCTS = [
    f"{adjective} {thing} {size}"
    for adjective in ("red", "stainless steel", "wireless", "cotton", "wooden")
    for thing in ("phone case", "coffee machine", "garden hose", "desk lamp", "drill kit")
    for size in ("small", "50 ft")
]


def _bundled_model():
    from transformers import AutoModel, AutoTokenizer

    from shoplm.text.encoder import resolve_model

    folder = str(resolve_model("all-MiniLM-L6-v2"))
    return AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def test_distillation_pulls_a_damaged_copy_back_towards_its_teacher():
    import torch

    teacher, tokenizer = _bundled_model()
    student, _ = _bundled_model()
    torch.manual_seed(0)
    with torch.no_grad():
        for block in student.encoder.layer:
            weight = block.output.dense.weight
            weight.add_(torch.randn_like(weight) * weight.std() * 0.5)
    record = distill.distill_sentence_vectors(
        student, teacher, tokenizer, PRODUCTS, epochs=3, validation=PRODUCTS[::5], seed=1
    )
    assert record["steps"] == 3 * 2  # 50 texts in batches of 32
    before, *epochs = record["validation_cosine"]
    assert len(epochs) == 3 and record["kept_epoch"] == 3
    assert epochs[-1] > before + 0.01, record["validation_cosine"]
    assert all(p.requires_grad for p in student.parameters())  # unfrozen again


def test_compaction_with_distillation_records_it_and_never_ends_worse(tmp_path):
    marker = compact.compact_encoder(
        "all-MiniLM-L6-v2", PRODUCTS, tmp_path / "taught", keep=0.1, seed=5, distill_epochs=2
    )
    record = marker["distillation"]
    assert record["epochs"] == 2 and record["texts"] == len(PRODUCTS) + len(PRODUCTS) // 2
    cosines = record["validation_cosine"]
    assert len(cosines) == 3 and cosines[record["kept_epoch"]] == max(cosines)
    assert compact.read_marker(tmp_path / "taught")["distillation"] == record
    assert marker["agreement"]["texts_cosine_mean"] > 0.95


def test_length_batches_cover_every_text_once_in_a_new_order_each_call():
    lengths = [random.Random(1).randint(3, 40) for _ in range(1000)]
    rng = random.Random(7)
    first = distill._length_batches(lengths, 32, rng)
    second = distill._length_batches(lengths, 32, rng)
    for batches in (first, second):
        assert sorted(i for batch in batches for i in batch) == list(range(1000))
        assert all(len(batch) <= 32 for batch in batches)
    assert first != second
    # Sorted within each pool of 50 batches: a batch spans few lengths.
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in first]
    assert sorted(spread)[len(spread) // 2] <= 2


def test_learning_rate_warms_up_then_decays_to_zero():
    factors = [distill._warm_then_decay(step, warmup=10, total=100) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))
    assert factors[-1] < 0.02


def test_bad_distillation_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="at least one text"):
        distill.distill_sentence_vectors(None, None, None, [])
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        distill.distill_sentence_vectors(None, None, None, ["a"], epochs=0)
    with pytest.raises(ValueError, match="distill_epochs must be 0"):
        compact.compact_encoder(
            "all-MiniLM-L6-v2", PRODUCTS, tmp_path / "x", keep=0.5, distill_epochs=-1
        )
    assert not (tmp_path / "x").exists()
