"""``shoplm heads``: train a task head on the home's labelled texts, predict, list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shoplm.cli_common import (
    CliError,
    HomeOption,
    JsonOption,
    friendly_errors,
    open_engine,
    print_json,
    progress_printer,
)
from shoplm.evaluation.options import comma_list
from shoplm.heads.scoring import brief_scores

heads_app = typer.Typer(
    help="Task heads (sentiment, categories, ...) trained on your labelled texts.",
    no_args_is_help=True,
)
HeadName = Annotated[str, typer.Argument(help="The head's name (letters, digits, - and _).")]


@heads_app.command("train")
def heads_train(
    name: HeadName,
    data: Annotated[Path, typer.Option("--data", help="Labelled rows: CSV, TSV, JSONL, Parquet.")],
    text_column: Annotated[
        list[str] | None,
        typer.Option(help="Column holding the text; repeat to join several (title, body)."),
    ] = None,
    label_column: Annotated[str, typer.Option(help="Column holding the label.")] = "label",
    kind: Annotated[
        str, typer.Option(help="classification, binary, ordinal or regression.")
    ] = "classification",
    labels: Annotated[
        str, typer.Option(help="The labels in order, comma-separated [the file's, sorted].")
    ] = "",
    groups: Annotated[
        str,
        typer.Option(
            help="One group per label, comma-separated: learn the labels, report the groups "
            "(1,2,3,4,5 stars as negative,negative,neutral,positive,positive)."
        ),
    ] = "",
    mode: Annotated[str, typer.Option(help="lora (adapter + head) or probe (head only).")] = "lora",
    compare_probe: Annotated[
        bool, typer.Option(help="Also train a frozen-encoder probe and score both on test.")
    ] = True,
    keep: Annotated[
        str,
        typer.Option(
            help="better: save whichever head (the --mode head or the probe) validates higher, "
            "the --mode head on ties; mode: always the --mode head."
        ),
    ] = "better",
    class_weights: Annotated[
        str,
        typer.Option(
            help="none, balanced (inverse class frequency) or auto (train both, keep the "
            "better on validation: twice the time)."
        ),
    ] = "auto",
    lora_layers: Annotated[
        int, typer.Option(min=0, help="LoRA on the top N blocks (0: every block).")
    ] = 2,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training rows.")] = 2,
    max_seq_length: Annotated[int, typer.Option(min=8, max=512, help="Tokens per text.")] = 128,
    encoder_lr: Annotated[float, typer.Option(min=0.0, help="The adapter's learning rate.")] = 1e-3,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per update.")] = 32,
    micro_batch_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="LoRA: run each batch in parts of this many rows, gradients added before the "
            "update: the same training in less memory [the whole batch].",
        ),
    ] = None,
    rdrop: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="LoRA, classification: run each batch twice and add this weight times the "
            "KL divergence between the two passes' predictions to the loss (R-Drop; 0: off; "
            "about twice the time per step).",
        ),
    ] = 0.0,
    layer_lr_decay: Annotated[
        float,
        typer.Option(
            help="LoRA: each block's adapter learns at this factor times the rate of the "
            "block above it (1: every block alike).",
        ),
    ] = 1.0,
    dora: Annotated[
        bool,
        typer.Option(
            help="LoRA: weight-decomposed LoRA (DoRA), a learnt length per adapted weight.",
        ),
    ] = False,
    refit: Annotated[
        bool,
        typer.Option(
            help="LoRA: after validation has chosen the step and class offsets, train again on "
            "the training and validation rows together for as long and save that head."
        ),
    ] = False,
    lexical: Annotated[
        bool,
        typer.Option(
            help="Classification: blend the head with a word-level classifier (TF-IDF of "
            "words and word pairs, logistic regression) fitted on the training rows, its "
            "weight chosen on validation (0 keeps the head alone).",
        ),
    ] = False,
    max_rows: Annotated[
        int | None,
        typer.Option(min=10, help="Train and score on a seeded sample of this many rows [all]."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads torch may use [all cores].")
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a head on the home's encoder, score it on held-out rows, and save it.

    The rows are split 70/10/20 (train / validation, which picks the step and class offsets /
    test); the head that validates higher (the --mode head or the probe, see --keep) is saved
    under <home>/heads/NAME and served by `shoplm heads predict` and
    POST /v1/heads/NAME/predict.
    """
    from shoplm.evaluation.threads import limit_threads
    from shoplm.heads import HeadConfig, LoraSettings
    from shoplm.heads.home import KEEP, train_home_head

    with friendly_errors(), open_engine(home) as engine:
        limit_threads(threads)
        if mode not in ("lora", "probe"):
            raise CliError(f"--mode must be lora or probe, got {mode!r}")
        if keep not in KEEP:
            raise CliError(f"--keep must be {' or '.join(KEEP)}, got {keep!r}")
        config = HeadConfig(
            mode=mode,  # type: ignore[arg-type]
            base_model=engine.settings.encoder.model,
            max_seq_length=max_seq_length,
            epochs=epochs,
            encoder_lr=encoder_lr,
            batch_size=batch_size,
            micro_batch_size=micro_batch_size,
            class_weights=class_weights,  # type: ignore[arg-type]
            rdrop=rdrop,
            layer_lr_decay=layer_lr_decay,
            refit=refit,
            lexical=lexical,
            seed=engine.settings.seed,
            lora=LoraSettings(r=16, alpha=32, layers=lora_layers or None, dora=dora),
        )
        result = train_home_head(
            engine.home,
            name,
            data,
            config,
            text_columns=text_column or ["text"],
            label_column=label_column,
            kind=kind,
            labels=comma_list(labels),
            groups=comma_list(groups),
            compare_probe=compare_probe,
            keep=keep,
            max_rows=max_rows,
            say=progress_printer(quiet=not engine.settings.show_progress),
            show_progress=engine.settings.show_progress,
        )
    if as_json:
        print_json(result)
        return
    rows = result["rows"]
    typer.echo(
        f"head {name} ({result['task']['kind']}): {rows['train']} train, {rows['valid']} "
        f"validation, {rows['test']} test rows"
    )
    for trained_mode, score in result["scores"].items():
        typer.echo(f"{trained_mode}: test {brief_scores(score['test'])}")
    why = ", it validates higher" if result["mode"] != result["asked_mode"] else ""
    typer.echo(f"saved ({result['mode']}{why}) at {result['folder']}")


@heads_app.command("predict")
def heads_predict(
    name: HeadName,
    texts: Annotated[list[str], typer.Argument(help="Texts to predict for.")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Predict with a saved head: each text's label and probabilities, or its value."""
    with friendly_errors(), open_engine(home) as engine:
        answers = engine.heads.predict(name, texts)
    if as_json:
        print_json({"head": name, "predictions": answers})
        return
    for text, answer in zip(texts, answers, strict=True):
        shown = answer.get("label", answer.get("value"))
        extra = answer.get("probabilities", {}).get(answer.get("label"))
        typer.echo(f"{shown}" + (f" ({extra:.2f})" if extra is not None else "") + f"  {text}")


@heads_app.command("list")
def heads_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """The home's saved heads with their task and test scores."""
    from shoplm.heads.home import list_heads

    with friendly_errors(), open_engine(home) as engine:
        found = list_heads(engine.home)
    if as_json:
        print_json(found)
        return
    if not found:
        typer.echo("no heads yet: train one with `shoplm heads train NAME --data FILE`")
    for head in found:
        shown = brief_scores(head["metrics"].get("test", {}))
        asked = head["metrics"].get("kept", {}).get("asked", head["mode"])
        mode = head["mode"] + (f", validated above {asked}" if asked != head["mode"] else "")
        typer.echo(f"{head['name']}: {head['task']['kind']} ({mode}); test {shown}")
