"""Heads served from one home share their base model's weights, and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertModel

from shoplm.heads import HeadConfig, TaskHead, TaskKind, TaskSpec
from shoplm.heads.bases import SharedBases, share_weights
from shoplm.heads.model import add_lora, load_base
from shoplm.text import encoder as encoder_module

SPEC = TaskSpec("sentiment", TaskKind.CLASSIFICATION, ("negative", "neutral", "positive"))
TEXTS = ["good dress", "the fabric is awful", "okay fit"]


def _storages(module: torch.nn.Module) -> set[int]:
    return {p.data_ptr() for p in module.parameters()}


def test_share_weights_gives_a_new_tree_on_the_same_tensors(tiny_base: str, tiny_lora) -> None:
    base = load_base(tiny_base)
    twin = share_weights(base.encoder)
    assert twin is not base.encoder and _storages(twin) == _storages(base.encoder)
    ids = torch.tensor([[2, 5, 6, 3]])
    with torch.no_grad():
        same = twin(input_ids=ids).last_hidden_state
        assert torch.equal(same, base.encoder(input_ids=ids).last_hidden_state)
    add_lora(twin, tiny_lora.lora)  # adapter layers go into the twin's tree only
    assert not any("lora_" in name for name, _ in base.encoder.named_parameters())


def test_heads_loaded_through_shared_bases_hold_one_copy_and_predict_as_alone(
    tiny_base: str, tiny_lora: HeadConfig, toy_train, toy_valid, tmp_path: Path
) -> None:
    folders = {}
    for mode in ("lora", "probe"):
        config = HeadConfig.from_dict({**tiny_lora.to_dict(), "mode": mode})
        head = TaskHead.train(SPEC, toy_train, toy_valid, config)
        folders[mode] = head.save(tmp_path / mode)
    bases = SharedBases()
    shared = {mode: TaskHead.load(folder, bases=bases) for mode, folder in folders.items()}
    alone = {mode: TaskHead.load(folder) for mode, folder in folders.items()}
    word_embeddings = {
        mode: head.base.encoder.embeddings.word_embeddings.weight.data_ptr()
        for mode, head in {**shared, "alone": alone["lora"]}.items()
    }
    assert word_embeddings["lora"] == word_embeddings["probe"] != word_embeddings["alone"]
    assert shared["lora"].base.tokenizer is not shared["probe"].base.tokenizer
    for mode in folders:
        np.testing.assert_allclose(
            shared[mode].outputs(TEXTS), alone[mode].outputs(TEXTS), rtol=1e-5, atol=1e-6
        )
    # the LoRA head's adapter did not leak into the probe's encoder
    assert not any("lora_" in n for n, _ in shared["probe"].net.encoder.named_parameters())


def test_a_base_folder_changed_on_disk_is_loaded_again(
    tiny_base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "base"
    shutil.copytree(tiny_base, folder)
    hashed: list[Path] = []  # the folder hash reads every weight file: once per get
    real_hash = encoder_module.folder_model_id
    monkeypatch.setattr(
        encoder_module, "folder_model_id", lambda path: hashed.append(path) or real_hash(path)
    )
    bases = SharedBases()
    first = bases.get(str(folder))
    assert len(hashed) == 1  # the load reuses the id the cache check computed
    assert bases.get(str(folder)).model_id == first.model_id
    torch.manual_seed(1)
    BertModel(first.encoder.config).save_pretrained(folder)  # other weights, same files
    again = bases.get(str(folder))
    assert again.model_id != first.model_id
    assert _storages(again.encoder).isdisjoint(_storages(first.encoder))
