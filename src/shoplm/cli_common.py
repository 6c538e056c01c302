"""What every ``shoplm`` sub-command shares: the common options, one-line errors, JSON output
and the progress printer."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from shoplm.engine import Engine

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Engine home folder [default: $SHOPLM_HOME or ./shoplm-home]."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
ReportOption = Annotated[Path | None, typer.Option(help="Write an HTML report here.")]
PlatformOption = Annotated[
    str | None, typer.Option("--platform", help="Shop/scenario; needed only with several.")
]
KOption = Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="Number of results.")]


class CliError(Exception):
    """An error the user can fix; printed without a traceback."""


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Errors a user can fix print one line and exit with status 2, not a traceback."""
    from shoplm.engine import NotFittedError, UnknownPlatformError
    from shoplm.ingest import IngestError

    try:
        yield
    except (
        CliError,
        NotFittedError,
        UnknownPlatformError,
        IngestError,
        FileNotFoundError,
        KeyError,
        ValueError,
    ) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2) from None


def open_engine(home: Path | None) -> Engine:
    """The engine of ``--home``; imported here so ``--help`` does not load it."""
    from shoplm.engine import Engine

    return Engine.open(home)


def print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


def progress_printer(quiet: bool) -> Callable[[str], None]:
    """A ``say`` that writes ``[shoplm] message`` lines to stderr unless ``quiet``."""

    def say(message: str) -> None:
        if not quiet:
            print(f"[shoplm] {message}", file=sys.stderr, flush=True)

    return say
