"""Run one fine-tuning job in a fresh process, so its peak memory is its own.

``resource.getrusage`` only knows a process's lifetime peak; comparing frozen, LoRA and full
fine-tuning honestly needs each in its own process.  The parent writes the training data
and settings to files, this module trains and writes the result as JSON.

    python -m shoplm.finetune.job --data DATA.json.gz --config CONFIG.json --out DIR \
        --report REPORT.json [--base MODEL] [--platform NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from shoplm.config import DEFAULT_ENCODER
from shoplm.finetune.data import TrainingData
from shoplm.finetune.manifest import write_json
from shoplm.finetune.train import FinetuneConfig, Progress, train_encoder

DATA_FILE = "training-data.json.gz"


def run_in_child(
    data: TrainingData,
    config: FinetuneConfig,
    out: Path,
    base: str = DEFAULT_ENCODER,
    platform: str = "default",
) -> dict[str, Any]:
    """Train in a child Python process (progress still shows on this stderr); its result."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_path = out / DATA_FILE
    data.save(data_path)
    config_path = write_json(out / "config.json", config.model_dump())
    report = out / "report.json"
    report.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "shoplm.finetune.job",
        "--data", str(data_path), "--config", str(config_path), "--out", str(out),
        "--report", str(report), "--base", base, "--platform", platform,
    ]  # fmt: skip
    finished = subprocess.run(command, check=False, env=child_environment())
    if finished.returncode != 0 or not report.is_file():
        raise RuntimeError(f"fine-tuning job failed (exit {finished.returncode}); see its output")
    return json.loads(report.read_text())


def child_environment() -> dict[str, str]:
    """This process's environment, with torch's thread count as the child's thread cap.

    A fresh torch takes every core; a caller that capped its own threads (an evaluation's
    ``--threads``, ``OMP_NUM_THREADS``) means the cap for the training it starts as well.
    """
    import torch

    threads = str(torch.get_num_threads())
    return {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def train(
    data: TrainingData,
    config: FinetuneConfig,
    out: Path,
    base: str = DEFAULT_ENCODER,
    platform: str = "default",
    in_child: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """:func:`train_encoder` here, or in a child process when ``in_child`` (own peak memory)."""
    if in_child:
        return run_in_child(data, config, out, base=base, platform=platform)
    return train_encoder(data, config, out, base=base, platform=platform, progress=progress)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--base", default=DEFAULT_ENCODER)
    parser.add_argument("--platform", default="default")
    args = parser.parse_args(argv)
    config = FinetuneConfig.model_validate(json.loads(args.config.read_text()))

    def say(message: str) -> None:
        print(f"[shoplm finetune] {message}", file=sys.stderr, flush=True)

    result = train_encoder(
        TrainingData.load(args.data), config, args.out, base=args.base,
        platform=args.platform, progress=say,
    )  # fmt: skip
    write_json(args.report, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
