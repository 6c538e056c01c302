"""``shoplm pretrain``: keep pretraining the base encoder on the shop's own unlabelled text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shoplm.cli_common import JsonOption, friendly_errors, print_json, progress_printer


def pretrain(
    data: Annotated[
        Path, typer.Option("--data", help="Texts: CSV, TSV, JSONL or Parquet, gzip'd or not.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the pretrained encoder.")],
    text_column: Annotated[
        list[str] | None,
        typer.Option(help="Column holding the text; repeat to join several (title, body)."),
    ] = None,
    base_model: Annotated[
        str, typer.Option(help="'all-MiniLM-L6-v2' or a local sentence-transformers folder.")
    ] = "all-MiniLM-L6-v2",
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the texts.")] = 1,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    max_seq_length: Annotated[int, typer.Option(min=8, max=512, help="Tokens per text.")] = 160,
    lr: Annotated[float, typer.Option(min=0.0, help="The encoder's learning rate.")] = 5e-5,
    max_rows: Annotated[
        int | None, typer.Option(min=2, help="Pretrain on a seeded sample of this many texts.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seeds the sample, the masks and the order.")] = 42,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads torch may use [all cores].")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Masked-token pretraining on your texts (reviews, titles, descriptions), written as a
    sentence-transformers folder.

    Use the folder as a home's encoder (`shoplm init --encoder OUT`) or as the base of
    `shoplm evaluate heads --base-model OUT`.  A twentieth of the texts (at most 1,000) is held
    out: the epoch with the lowest masked-token loss on them is kept.
    """
    from shoplm.config import progress_wanted
    from shoplm.evaluation.threads import limit_threads
    from shoplm.heads.split import cap_rows
    from shoplm.ingest.text_rows import read_texts
    from shoplm.pretrain import MaskedLmConfig, pretrain_masked_lm

    quiet = quiet or not progress_wanted()  # $SHOPLM_NO_PROGRESS, as every command
    with friendly_errors():
        limit_threads(threads)
        found = read_texts(data, text_column or ["text"])
        texts = found.texts
        if max_rows is not None:
            texts = [texts[row] for row in cap_rows(range(len(texts)), max_rows, seed)]
        say = progress_printer(quiet=quiet)
        say(f"{len(found.texts)} texts read from {data} ({len(found.skipped)} rows without text)")
        config = MaskedLmConfig(
            epochs=epochs,
            batch_size=batch_size,
            max_seq_length=max_seq_length,
            encoder_lr=lr,
            seed=seed,
        )
        report = pretrain_masked_lm(texts, base_model, out, config, not quiet, say)
    if as_json:
        print_json({**report, "folder": str(out)})
        return
    kept = report["history"][report["kept_epoch"] - 1]
    typer.echo(
        f"pretrained on {report['train_texts']} texts in {report['seconds']:.0f} s; kept epoch "
        f"{report['kept_epoch']} (validation loss {kept['valid_loss']}); saved at {out}"
    )
