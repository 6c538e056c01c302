"""The ``shoplm`` command: a thin shell over ``Engine`` and the evaluation runner.

Every command takes ``--home`` (default ``./shoplm-home`` or ``$SHOPLM_HOME``) and
``--json`` for machine-readable output; errors print one line naming what is wrong and
exit with status 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from shoplm.cli_common import (
    CliError,
    HomeOption,
    JsonOption,
    KOption,
    PlatformOption,
    ReportOption,
    friendly_errors,
    open_engine,
    print_json,
    progress_printer,
)
from shoplm.cli_heads import heads_app
from shoplm.cli_pretrain import pretrain
from shoplm.config import progress_wanted
from shoplm.evaluation.options import comma_list, float_list
from shoplm.schema import Hit

app = typer.Typer(
    help="shoplm: search and recommendation for online shops, on a fine-tunable language model.",
    no_args_is_help=True,
    add_completion=False,
    # Help texts are plain: "[default: ...]" and "[each epoch]" are words, not rich markup tags.
    # The sub-apps (evaluate, heads, keys) inherit this.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
evaluate_app = typer.Typer(help="Offline evaluation on a dataset folder.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(heads_app, name="heads")
app.command("pretrain")(pretrain)

DEMO_QUERIES = ("phone", "wireless headphones", "coffee")


def _hits_payload(hits: list[Hit]) -> list[dict]:
    return [hit.model_dump(mode="json", exclude_none=True) for hit in hits]


def _print_hits(title: str, hits: list[Hit]) -> None:
    typer.echo(title)
    if not hits:
        typer.echo("  (no results)")
    for rank, hit in enumerate(hits, start=1):
        item = hit.item
        price = f"  ${item.price:,.2f}" if item and item.price is not None else ""
        name = item.title if item else hit.item_id
        typer.echo(f"  {rank:2d}. {name}{price}  [{hit.item_id}]  score {hit.score:.3f}")
        typer.echo(f"      {hit.reason}")


def _split_csv(value: str | None) -> list[str] | None:
    """Names from a comma-separated option; None when it names none (the default applies)."""
    return (comma_list(value) or None) if value else None


def _parse_mapping(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    mapping = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise CliError(f"--map expects SOURCE=FIELD, got {pair!r}")
        mapping[source.strip()] = target.strip()
    return mapping


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log steps.")] = False):
    """Configure logging once for every command."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@app.command()
def init(
    home: HomeOption = None,
    encoder: Annotated[
        str | None,
        typer.Option(help="'all-MiniLM-L6-v2' or a local sentence-transformers folder."),
    ] = None,
    recommenders: Annotated[
        str | None,
        typer.Option(
            help="fast (default: popularity, item-kNN and content, blended; fits in seconds) "
            "or best (adds ALS, sasrec-text and the hybrid, and serves the hybrid)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an engine home with a config.json holding the default settings."""
    from shoplm.config import RecommendSettings

    with friendly_errors():
        if recommenders:
            RecommendSettings.preset(recommenders)  # an unknown name fails before any home
    with friendly_errors(), open_engine(home) as engine:
        if encoder:
            from shoplm.text.encoder import DEFAULT_ENCODER, resolve_model

            # a folder by its absolute path: the home works from any directory
            found = encoder if encoder == DEFAULT_ENCODER else str(resolve_model(encoder))
            engine.settings.encoder.model = found
        if recommenders:  # the models' params of an existing home are kept
            engine.settings.recommend = engine.settings.recommend.with_preset(recommenders)
        if encoder or recommenders:
            engine.settings.save(engine.home)
        payload = {"home": str(engine.home.resolve()), "settings": engine.settings.model_dump()}
        if as_json:
            print_json(payload)
        else:
            typer.echo(f"shoplm home ready at {payload['home']}")


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="CSV, JSONL or Parquet file (optionally .gz).")],
    kind: Annotated[str, typer.Option(help="items, events or auto.")] = "auto",
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="Column mapping SOURCE=FIELD, repeatable."),
    ] = None,
    rejects: Annotated[Path | None, typer.Option(help="Where bad rows are written.")] = None,
    platform: PlatformOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load items or events; bad rows go to a rejects file while good rows load."""
    with friendly_errors(), open_engine(home) as engine:
        report = engine.ingest(
            path,
            kind=kind,
            mapping=_parse_mapping(mapping),
            platform=platform,
            rejects_path=rejects,
        )
        if as_json:
            print_json(report.to_dict())
        else:
            typer.echo(report.summary())


@app.command()
def fit(
    platform: PlatformOption = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated recommenders.")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Encode the catalog, build the indexes and train the recommenders."""
    with friendly_errors(), open_engine(home) as engine:
        report = engine.fit(platform, models=_split_csv(models))
        if as_json:
            print_json(report)
        else:
            typer.echo(
                f"fitted {report['platform']}: {report['items']} items, {report['users']} users, "
                f"models {', '.join(report['models'])} in {report['seconds']} s"
            )
            search = report["search"]
            if search.get("click_queries"):
                decision = _search_decision(search)
                typer.echo(f"search, {search['click_queries']} queries with clicks: {decision}")


def _search_decision(search: dict) -> str:
    """The fit's search decision, with the validation scores it was made on."""
    scores = search.get("validation", {}).get("ndcg@10")
    if not scores:
        return search["reason"]
    return (
        f"{search['reason']} (nDCG@10 on {search['validation']['queries']} held-out queries: "
        f"default {scores['default']:.4f}, learned {scores['learned']:.4f})"
    )


@app.command()
def finetune(
    platform: PlatformOption = None,
    task: Annotated[
        str,
        typer.Option(
            help="recommend: (recent items -> next item) pairs from the events; search: "
            "(query -> item clicked, carted or bought from its results) pairs from the "
            "events that carry a query."
        ),
    ] = "recommend",
    mode: Annotated[str, typer.Option(help="lora (adapter only) or full (all weights).")] = "lora",
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training pairs.")] = 1,
    max_pairs: Annotated[
        int | None, typer.Option(min=1, help="Train on a seeded sample of this many pairs.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=2, help="Pairs per step.")] = 32,
    lr: Annotated[float | None, typer.Option(help="Learning rate [1e-3 lora, 5e-5 full].")] = None,
    rank: Annotated[int, typer.Option(min=1, help="LoRA rank (alpha = 2 x rank).")] = 8,
    lora_layers: Annotated[
        int | None,
        typer.Option(min=1, help="LoRA on the top N blocks only (faster on a CPU); unset: all."),
    ] = None,
    lora_targets: Annotated[
        str,
        typer.Option(
            help="Comma-separated module names the adapter goes on (query,key,value,dense: "
            "also the attention output and feed-forward layers)."
        ),
    ] = "query,key,value",
    bank_every: Annotated[
        int | None,
        typer.Option(min=1, help="Rank against every item's vector too, refreshed every N steps."),
    ] = None,
    scale: Annotated[
        float | None,
        typer.Option(
            min=0.1, help="Cosine -> logit multiplier (1 / temperature) [5 recommend, 20 search]."
        ),
    ] = None,
    symmetric: Annotated[
        bool, typer.Option(help="Each next item also ranks its anchor among the batch's.")
    ] = False,
    popularity_correction: Annotated[
        bool,
        typer.Option(help="Lower in-batch logits by log(how often the item is a positive)."),
    ] = False,
    window: Annotated[int, typer.Option(min=1, help="History items per anchor.")] = 1,
    strengths: Annotated[
        str,
        typer.Option(
            help="Also validate base + s x (tuned - base) for these s (e.g. 0.5,0.75) and "
            "keep the best; rerunning a finished run with new ones only re-exports."
        ),
    ] = "",
    refit: Annotated[
        bool,
        typer.Option(
            help="Once validation has chosen the step, train again on every pair (each "
            "user's newest too) for as many epochs, and export that."
        ),
    ] = False,
    negatives: Annotated[str, typer.Option(help="Hard negatives: bm25, vector or none.")] = "bm25",
    max_positive_rank: Annotated[
        int | None,
        typer.Option(
            min=1, help="Train only on pairs whose next item the encoder ranks within N already."
        ),
    ] = None,
    max_seq_length: Annotated[int, typer.Option(min=8, max=512, help="Tokens per text.")] = 128,
    validate_every: Annotated[
        int | None, typer.Option(min=1, help="Validate every N steps [each epoch].")
    ] = None,
    patience: Annotated[
        int, typer.Option(min=1, help="Stop after this many validations without a new best.")
    ] = 2,
    max_valid: Annotated[
        int, typer.Option(min=1, help="Validate on a seeded sample of this many users.")
    ] = 1000,
    use: Annotated[
        bool,
        typer.Option(
            help="Set the home's encoder to the tuned model afterwards (only when it "
            "validates above the base encoder)."
        ),
    ] = True,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune the text encoder on the home's own items and events (contrastive, LoRA).

    --task search tunes it for search on the click log instead, a tenth of the queries held
    out for validation.  With --task recommend each user's newest item is held out for
    validation (early stopping; --refit then trains
    again with it); the best model is merged into a folder that becomes encoder.model, so the
    next `shoplm fit` re-encodes the catalog with it (a run whose every step validates below
    the base leaves encoder.model as it was).  Rerunning with the same data and settings
    resumes.
    """
    from shoplm.finetune.home import finetune_home
    from shoplm.finetune.train import FinetuneConfig

    with friendly_errors(), open_engine(home) as engine:
        if mode not in ("lora", "full"):
            raise CliError(f"--mode must be lora or full, got {mode!r}")
        try:
            strength_list = float_list(strengths)
        except argparse.ArgumentTypeError as error:
            raise CliError(f"--strengths: {error}") from None
        targets = comma_list(lora_targets)
        if not targets:
            raise CliError("--lora-targets names no module: give e.g. query,key,value")
        config = FinetuneConfig(
            mode=mode,  # type: ignore[arg-type]
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=lr,
            lora_r=rank,
            lora_layers=lora_layers if mode == "lora" else None,
            lora_targets=targets,
            max_seq_length=max_seq_length,
            validate_every=validate_every,
            patience=patience,
            bank_every=bank_every,
            symmetric=symmetric,
            popularity_correction=popularity_correction,
            strengths=strength_list,
            refit=refit,
            seed=engine.settings.seed,
            **({} if scale is None else {"scale": scale}),
        )
        result = finetune_home(
            engine,
            config,
            platform=platform,
            window=window,
            max_pairs=max_pairs,
            max_valid=max_valid,
            negatives=negatives,
            max_positive_rank=max_positive_rank,
            task=task,
            use_it=use,
            progress=progress_printer(quiet=not engine.settings.show_progress),
        )
        if as_json:
            print_json(result)
        else:
            metrics = result["metrics"]
            typer.echo(
                f"fine-tuned ({mode}, {task}) {result['platform']}: validation NDCG@10 "
                f"{metrics['valid_ndcg@10_base']:.4f} -> {metrics['valid_ndcg@10_best']:.4f}; "
                f"{result['trainable_params']:,} trainable parameters, "
                f"{result['wall_seconds']} s, peak {result['peak_rss_mb']} MB"
            )
            if metrics["strength_trials"]:
                tried = ", ".join(
                    f"{t['strength']:g}: {t['valid_ndcg@10']:.4f}"
                    for t in metrics["strength_trials"]
                )
                typer.echo(f"exported strength {metrics['strength']:g} (validation {tried})")
            if metrics.get("refit"):
                from shoplm.finetune.refit import describe_refit

                typer.echo(describe_refit(metrics["refit"]))
            typer.echo(f"model {result['model_id']} at {result['model_folder']}")
            if result["encoder_set"]:
                typer.echo("the home's encoder is now this model: run `shoplm fit` to re-encode")
            elif "encoder_kept" in result:
                typer.echo(
                    "no trained step validated above the base encoder, so the home's encoder "
                    f"is {result['encoder_kept']} (to serve this model anyway, set "
                    "encoder.model in config.json to its folder)"
                )


@app.command()
def compact(
    keep: Annotated[
        float, typer.Option(min=0.05, max=0.95, help="Share of feed-forward neurons kept.")
    ] = 0.75,
    distill_epochs: Annotated[
        int,
        typer.Option(
            min=0,
            help="Epochs training the pruned model towards the source's vectors afterwards "
            "(0: prune and refit only). Closes much of the gap at small --keep; minutes on "
            "a large catalog (8,000 of its texts and 4,000 short spans per epoch).",
        ),
    ] = 0,
    use: Annotated[
        bool, typer.Option(help="Set the home's encoder to the compacted model afterwards.")
    ] = True,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a smaller, faster copy of the encoder, calibrated on the home's own item texts.

    Prunes each block's feed-forward neurons to --keep and refits the block so its output
    stays as before (then, with --distill-epochs, trains the whole pruned model to give the
    source's vectors); pair it with encoder.backend onnx-int8 for the fastest CPU encoding.
    Check the quality on your data before serving with it (bench/quality_onnx.py).
    """
    from shoplm.text.compact import compact_home

    with friendly_errors(), open_engine(home) as engine:
        result = compact_home(
            engine, keep=keep, distill_epochs=distill_epochs, use_it=use,
            progress=progress_printer(quiet=not engine.settings.show_progress),
        )  # fmt: skip
        if as_json:
            print_json(result)
            return
        agreement = result["agreement"]
        typer.echo(
            f"compacted {result['source_model']}: {result['intermediate_size'][1]} of "
            f"{result['intermediate_size'][0]} neurons kept per block, calibrated on "
            f"{result['items']} item texts; cosine to the source "
            f"{agreement['texts_cosine_mean']:.4f} (texts), "
            f"{agreement['spans_cosine_mean']:.4f} (short spans)"
        )
        if "distillation" in result:
            taught = result["distillation"]
            cosines = taught["validation_cosine"]
            typer.echo(
                f"distillation, {taught['epochs']} epoch(s) on {taught['texts']} texts: validation "
                f"cosine {cosines[0]:.4f} -> {cosines[taught['kept_epoch']]:.4f}"
            )
        typer.echo(f"model at {result['model_folder']}")
        if use:
            typer.echo("the home's encoder is now this model: run `shoplm fit` to re-encode")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What the shopper typed.")],
    user: Annotated[str | None, typer.Option(help="Personalise for this user id.")] = None,
    k: KOption = 10,
    brand: Annotated[list[str] | None, typer.Option(help="Keep these brands.")] = None,
    category: Annotated[str | None, typer.Option(help="Category path prefix.")] = None,
    min_price: Annotated[float | None, typer.Option(min=0)] = None,
    max_price: Annotated[float | None, typer.Option(min=0)] = None,
    method: Annotated[
        str,
        typer.Option(
            help="hybrid-rerank (full pipeline), hybrid-learned, hybrid (RRF), bm25 or dense."
        ),
    ] = "hybrid-rerank",
    platform: PlatformOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search the catalog: typo-tolerant, by words and meaning, re-ranked, explained."""
    filters = {
        "brands": brand or [],
        "category": category,
        "min_price": min_price,
        "max_price": max_price,
    }
    with friendly_errors(), open_engine(home) as engine:
        hits = engine.search(
            query, user_id=user, k=k, filters=filters, platform=platform, method=method
        )
        if as_json:
            print_json({"query": query, "user_id": user, "hits": _hits_payload(hits)})
        else:
            _print_hits(f"search {query!r}" + (f" for user {user}" if user else ""), hits)


@app.command()
def recommend(
    user: Annotated[str, typer.Argument(help="User id.")],
    k: KOption = 10,
    model: Annotated[str, typer.Option(help="'blend' or one fitted model.")] = "blend",
    platform: PlatformOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recommend items for a user (new users get popular items)."""
    with friendly_errors(), open_engine(home) as engine:
        hits = engine.recommend(user, k=k, model=model, platform=platform)
        if as_json:
            print_json({"user_id": user, "model": model, "hits": _hits_payload(hits)})
        else:
            _print_hits(f"recommendations for user {user} ({model})", hits)


@app.command()
def similar(
    item: Annotated[str, typer.Argument(help="Item id.")],
    k: KOption = 10,
    model: Annotated[str, typer.Option(help="Model giving the item-item view.")] = "content",
    platform: PlatformOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Items similar to one item."""
    with friendly_errors(), open_engine(home) as engine:
        hits = engine.similar(item, k=k, model=model, platform=platform)
        if as_json:
            print_json({"item_id": item, "model": model, "hits": _hits_payload(hits)})
        else:
            _print_hits(f"similar to {item} ({model})", hits)


@app.command()
def stats(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """What the home holds: items, events and fit state per platform."""
    with friendly_errors(), open_engine(home) as engine:
        payload = engine.stats()
        if as_json:
            print_json(payload)
        else:
            for platform, row in payload.items() or {"(empty)": {}}.items():
                typer.echo(f"{platform}: {row}")


@app.command()
def demo(
    home: HomeOption = None,
    user: Annotated[str | None, typer.Option(help="Sample user to recommend for.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest the bundled sample shop, fit, and show search, recommendations, similar items."""
    from shoplm.datasets import sample_paths

    items_path, events_path = sample_paths()
    with friendly_errors(), open_engine(home) as engine:
        reports = [
            engine.ingest(items_path, kind="items"),
            engine.ingest(events_path, kind="events"),
        ]
        fit_report = engine.fit()
        fitted = engine.fitted()
        user = user or _busiest_user(engine)
        searches = {q: engine.search(q, k=5) for q in DEMO_QUERIES}
        personal = engine.search(DEMO_QUERIES[0], user_id=user, k=5)
        recs = engine.recommend(user, k=5)
        seed_item = fitted.catalog.item_ids[0]
        similar_hits = engine.similar(seed_item, k=5)
        if as_json:
            print_json(
                {
                    "home": str(engine.home.resolve()),
                    "ingest": [r.to_dict() for r in reports],
                    "fit": fit_report,
                    "search": {q: _hits_payload(h) for q, h in searches.items()},
                    "personalised_search": {
                        "query": DEMO_QUERIES[0],
                        "user_id": user,
                        "hits": _hits_payload(personal),
                    },
                    "recommend": {"user_id": user, "hits": _hits_payload(recs)},
                    "similar": {"item_id": seed_item, "hits": _hits_payload(similar_hits)},
                }
            )
            return
        for report in reports:
            typer.echo(report.summary())
        typer.echo(f"fitted: {', '.join(fit_report['models'])} in {fit_report['seconds']} s\n")
        for query, hits in searches.items():
            _print_hits(f"search {query!r}", hits)
        _print_hits(f"search {DEMO_QUERIES[0]!r} personalised for user {user}", personal)
        _print_hits(f"recommendations for user {user}", recs)
        _print_hits(f"similar to {seed_item}", similar_hits)
        typer.echo(
            f"\nhome: {engine.home.resolve()}  (try: shoplm search 'laptop' --home {engine.home})"
        )


def _busiest_user(engine: Any) -> str:
    """The sample user with the most events (ties: smallest id), for a telling demo."""
    counts = Counter(engine.store.event_columns(engine.fitted().platform).user_ids)
    if not counts:
        raise CliError("the sample holds no events")
    return min(counts, key=lambda user: (-counts[user], user))


@evaluate_app.command("recommend")
def evaluate_recommend_command(
    data: Annotated[Path, typer.Option("--data", help="Dataset folder (layout of shared/data).")],
    subset: Annotated[
        str | None, typer.Option(help="Category, e.g. Beauty (amazon_s3rec).")
    ] = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated models.")] = None,
    protocol: Annotated[str | None, typer.Option(help="leave_one_out or temporal.")] = None,
    max_users: Annotated[int | None, typer.Option(help="Evaluate a seeded sample.")] = None,
    tune: Annotated[
        bool, typer.Option(help="Choose ALS/item-kNN/BPR/content parameters on validation.")
    ] = True,
    params: Annotated[
        str | None,
        typer.Option(
            help="The models' parameters as JSON, as a home's recommend.params, e.g. "
            '\'{"sasrec-text": {"text_vectors": "home"}}\'.'
        ),
    ] = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Full-ranking HR/NDCG/Recall/MRR@K of each recommender on a held-out split.

    Every hyperparameter is chosen on the validation item (second-to-last), never on test.
    A second table gives NDCG@10 on the cold-item and seen-transition slices of the test
    users; the JSON also holds their other metrics and the parameters each model used.
    """
    from shoplm.evaluation.options import parse_model_params
    from shoplm.evaluation.recommend_eval import evaluate_recommend

    with friendly_errors():
        try:
            chosen = parse_model_params(params) if params is not None else None
        except argparse.ArgumentTypeError as error:
            raise CliError(str(error)) from None
        result = evaluate_recommend(
            data,
            subset=subset,
            models=_split_csv(models),
            protocol=protocol,
            max_users=max_users,
            tune=tune,
            model_params=chosen,
            show_progress=progress_wanted(),  # bars go to stderr
            progress=progress_printer(quiet=False),
        )
        _emit_evaluation(result, as_json, report)


@evaluate_app.command("search")
def evaluate_search_command(
    data: Annotated[Path, typer.Option("--data", help="Dataset folder (layout of shared/data).")],
    models: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: bm25,dense,hybrid,hybrid-learned,hybrid-rerank,"
            "hybrid-rerank-no-kg "
            "(and random with --mode rerank). Default: all."
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            help="full: retrieve from the whole catalog, unjudged = irrelevant. "
            "rerank: order only each query's judged items."
        ),
    ] = "full",
    min_judged: Annotated[int, typer.Option(help="Keep queries with this many judgments.")] = 5,
    max_queries: Annotated[
        int | None, typer.Option(help="Score a seeded sample of the held-out queries.")
    ] = None,
    max_train_queries: Annotated[
        int | None, typer.Option(help="Learn from a seeded sample of the training queries.")
    ] = None,
    train_fraction: Annotated[
        float, typer.Option(help="Share of queries (by id) the learned methods train on.")
    ] = 0.5,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Graded nDCG@10, Recall@100, MRR@10 and latency of each search method.

    Learned methods train on one half of the queries; all methods are scored on the other.
    A query-classification dataset (wands_queries) reports query -> class accuracy.
    """
    from shoplm.evaluation.search_eval import evaluate_search

    with friendly_errors():
        result = evaluate_search(
            data,
            models=_split_csv(models),
            mode=mode,
            min_judged=min_judged,
            max_queries=max_queries,
            max_train_queries=max_train_queries,
            train_fraction=train_fraction,
            show_progress=progress_wanted(),  # bars go to stderr
            progress=progress_printer(quiet=False),
        )
        _emit_evaluation(result, as_json, report)


@evaluate_app.command("rating")
def evaluate_rating_command(
    data: Annotated[Path, typer.Option("--data", help="Dataset with explicit ratings.")],
    models: Annotated[
        str | None, typer.Option(help="Comma-separated: global-mean,bias,mf,mf-text.")
    ] = None,
    protocol: Annotated[
        str, typer.Option(help="random (80/20 of all ratings) or temporal (per user).")
    ] = "random",
    seed: Annotated[int, typer.Option(help="Seed of the split and the models.")] = 42,
    tune: Annotated[bool, typer.Option(help="Choose parameters on validation.")] = True,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """RMSE/MAE of rating prediction (explicit feedback), with a few-ratings item slice.

    Parameters and epochs are chosen on a validation split carved from training.
    """
    from shoplm.evaluation.rating_eval import evaluate_rating

    with friendly_errors():
        result = evaluate_rating(
            data,
            models=_split_csv(models),
            seed=seed,
            protocol=protocol,
            tune=tune,
            progress=progress_printer(quiet=False),
        )
        _emit_evaluation(result, as_json, report)


def _pass_through(name: str, module: str, help_text: str) -> None:
    """Register ``shoplm evaluate <name>``: every argument, --help too, goes to module.main."""

    def command(ctx: typer.Context) -> None:
        from importlib import import_module

        with friendly_errors():
            raise typer.Exit(import_module(module).main(list(ctx.args)))

    evaluate_app.command(
        name,
        help=help_text,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )(command)


_pass_through(
    "finetune",
    "shoplm.evaluation.finetune_eval",
    "Frozen vs fine-tuned encoder in one run (content-lora, dense-lora...); see --help.",
)
_pass_through(
    "heads",
    "shoplm.evaluation.heads_eval",
    "Task heads (sentiment, category, click, rating): LoRA vs linear probe; see --help.",
)
_pass_through(
    "heads-transfer",
    "shoplm.evaluation.heads_transfer_eval",
    "A task head's adapter from one platform's reviews vs the target alone; see --help.",
)
_pass_through(
    "transfer",
    "shoplm.evaluation.transfer_eval",
    "Shared adapter from a source platform vs the target alone, 10% / 100%; see --help.",
)


def _emit_evaluation(result: dict, as_json: bool, report: Path | None) -> None:
    from shoplm.evaluation.report import format_table, slice_table, write_report

    if report is not None:
        write_report(result, report)
    if as_json:
        print_json(result)
        return
    count = result.get("n_users", result.get("n_queries"))
    typer.echo(
        f"{result['task']} on {result['dataset']} ({count} "
        f"{'users' if 'n_users' in result else 'queries'}, {result['seconds']} s)"
    )
    typer.echo(f"protocol: {result['protocol']}")
    typer.echo(format_table(result["metrics"]))
    slices = slice_table(result)
    if slices:
        typer.echo("NDCG@10 on slices of the test users (users in brackets):")
        typer.echo(format_table(slices))
    for model, row in result.get("latency_ms", {}).items():
        typer.echo(f"latency {model}: median {row['median']} ms, p99 {row['p99']} ms")
    if report is not None:
        typer.echo(f"report written to {report}")


keys_app = typer.Typer(help="API keys for the HTTP server (stored hashed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command()
def serve(
    home: HomeOption = None,
    host: Annotated[str | None, typer.Option(help="Interface [127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [8000].", min=0, max=65535)] = None,
    cors: Annotated[
        list[str] | None, typer.Option("--cors", help="Allowed browser origin, repeatable.")
    ] = None,
    read_requires_key: Annotated[
        bool | None, typer.Option(help="Require an API key for reads too.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the HTTP API and the web console (http://HOST:PORT/console/)."""
    import uvicorn

    from shoplm.engine import Engine
    from shoplm.server import ServerSettings, create_app

    with friendly_errors():
        engine = Engine.open(home)
        settings = ServerSettings.load(
            engine.home,
            host=host,
            port=port,
            cors_origins=cors or None,
            read_requires_key=read_requires_key,
        )
        server_app = create_app(engine, settings)
    typer.echo(
        f"shoplm serving {engine.home.resolve()} on http://{settings.host}:{settings.port} "
        "(console: /console/, API docs: /docs)",
        err=True,
    )
    try:
        uvicorn.run(server_app, host=settings.host, port=settings.port, log_level=log_level)
    finally:
        engine.close()


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key.")] = "default",
    scope: Annotated[str, typer.Option(help="read, write or admin.")] = "write",
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Mint a key and print it once: only its hash is stored."""
    from shoplm.config import resolve_home
    from shoplm.server.auth import KeyStore

    with friendly_errors():
        key, record = KeyStore(resolve_home(home)).create(name, scope)
        if as_json:
            print_json({"key": key, **record.public()})
        else:
            typer.echo(key)
            typer.echo(f"(id {record.id}, scope {record.scope}: shown once, keep it)", err=True)


@keys_app.command("list")
def keys_list(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Keys by id, name and scope (never the secrets)."""
    from shoplm.config import resolve_home
    from shoplm.server.auth import KeyStore

    with friendly_errors():
        rows = [k.public() for k in KeyStore(resolve_home(home)).list()]
        if as_json:
            print_json({"keys": rows})
        else:
            for row in rows or [{"id": "(none)", "name": "", "scope": ""}]:
                typer.echo(f"{row['id']}  {row['scope']:5}  {row['name']}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The id shown by `keys list`.")],
    home: HomeOption = None,
) -> None:
    """Delete a key; requests using it fail from the next second on."""
    from shoplm.config import resolve_home
    from shoplm.server.auth import KeyStore

    with friendly_errors():
        if not KeyStore(resolve_home(home)).revoke(key_id):
            raise CliError(f"no key with id {key_id!r}")
        typer.echo(f"revoked {key_id}")


if __name__ == "__main__":
    app()
