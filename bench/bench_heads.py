"""What a task head's prediction costs at serve time (`POST /v1/heads/NAME/predict`).

Builds a linear-probe head (the frozen encoder) and a LoRA head (rank 16 on the top 2 blocks,
the `shoplm heads train` default) on a few seeded rows: their weights do not change what a
prediction costs.  Then times one prediction call (the path the HTTP route takes,
``HomeHeads.predict``) on batches of real review texts (``--data``: a folder with a
``reviews.csv`` in the layout of ``womens_clothing_reviews``; else made-up texts): the median
of ``--repeats`` calls per batch size, texts per second, and the LoRA head's cost over the
probe's.  The encoder's forward pass is nearly the whole cost; the adapter stays unmerged.
A third head, the LoRA head with its word classifier blended in (``HeadConfig.lexical``),
gives what the blend adds (tokenising, the TF-IDF vector, one sparse product), and
``words_alone_ms`` times that part by itself.
It also gives the megabytes of weights the two loaded heads hold (each distinct tensor counted
once): served from one home they share the base model's, loaded one by one each has its own.

    .venv/bin/python bench/bench_heads.py --data ../shared/data/womens_clothing_reviews --json
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from bench_encode import pin_two_cores, print_result
from bench_intervals import median_seconds

from shoplm.heads import Examples, HeadConfig, LoraSettings, TaskHead, TaskKind, TaskSpec
from shoplm.heads.home import HomeHeads, heads_dir

# name -> (mode, lexical blend); the weights are measured over the first two
HEADS = {"probe": ("probe", False), "lora": ("lora", False), "lora-lexical": ("lora", True)}
HEAD_NAMES = tuple(HEADS)

SPEC = TaskSpec("sentiment", TaskKind.CLASSIFICATION, ("negative", "neutral", "positive"))
WORDS = ("the", "fabric", "fits", "runs", "small", "large", "lovely", "colour", "returned", "soft")


def review_texts(data: Path | None, count: int, seed: int) -> list[str]:
    """``count`` seeded review texts from ``data``, else made-up ones of review length."""
    rng = random.Random(seed)
    if data is None:
        return [" ".join(rng.choices(WORDS, k=60)) for _ in range(count)]
    from shoplm.datasets.reviews import load_clothing_reviews

    texts = load_clothing_reviews(data).texts
    return rng.sample(texts, count)


def build_heads(home: Path, texts: list[str], max_seq_length: int) -> HomeHeads:
    """The :data:`HEADS` saved in ``home``, trained briefly on seeded labels."""
    labels = [SPEC.labels[i % 3] for i in range(len(texts))]
    train = Examples(texts[:24], labels[:24])
    valid = Examples(texts[24:36], labels[24:36])
    for name, (mode, lexical) in HEADS.items():
        config = HeadConfig(
            mode=mode,  # type: ignore[arg-type]
            lexical=lexical,
            epochs=1,
            max_seq_length=max_seq_length,
            class_weights="none",  # "auto" would train each head twice
            lora=LoraSettings(r=16, alpha=32, layers=2),
        )
        TaskHead.train(SPEC, train, valid, config).save(heads_dir(home) / name)
    return HomeHeads(home)


def weight_megabytes(heads: list[TaskHead]) -> float:
    """Megabytes of the heads' parameters and buffers, a tensor shared by several once."""
    sizes: dict[int, int] = {}
    for head in heads:
        for tensor in (*head.net.parameters(), *head.net.buffers()):
            sizes[tensor.data_ptr()] = tensor.numel() * tensor.element_size()
    return round(sum(sizes.values()) / 2**20, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--batches", default="1,8,64")
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cores = pin_two_cores()
    sizes = [int(size) for size in args.batches.split(",")]
    texts = review_texts(args.data, max(max(sizes), 36), seed=0)
    rows = []
    with tempfile.TemporaryDirectory() as home:
        heads = build_heads(Path(home), texts, args.max_seq_length)
        for name in HEAD_NAMES:
            heads.predict(name, texts[:8])  # load and warm up
        weighed = ("probe", "lora")
        memory = {
            "heads": len(weighed),
            "shared_base_mb": weight_megabytes([heads.get(name) for name in weighed]),
            "own_copies_mb": weight_megabytes(
                [TaskHead.load(heads_dir(Path(home)) / name) for name in weighed]
            ),
        }
        for size in sizes:
            batch = texts[:size]
            row: dict[str, float | int] = {"texts": size}
            for name in HEAD_NAMES:
                seconds = median_seconds(lambda n=name, b=batch: heads.predict(n, b), args.repeats)
                row[f"{name}_ms"] = round(seconds * 1000, 2)
                row[f"{name}_texts_per_s"] = round(size / seconds, 1)
            row["lora_over_probe"] = round(row["lora_ms"] / row["probe_ms"], 2)
            row["lexical_over_lora"] = round(row["lora-lexical_ms"] / row["lora_ms"], 2)
            words = heads.get("lora-lexical").lexical
            assert words is not None
            seconds = median_seconds(lambda b=batch, w=words: w.classifier.outputs(b), args.repeats)
            row["words_alone_ms"] = round(seconds * 1000, 3)  # the blend's own share
            rows.append(row)
    result = {
        "data": str(args.data) if args.data else "made-up texts",
        "max_seq_length": args.max_seq_length,
        "repeats": args.repeats,
        "cores": cores,
        "rows": rows,
        "weights": memory,
    }
    print_result(result, [*rows, memory], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
