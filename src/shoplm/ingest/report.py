"""What one ingest run did, and the error it raises when it cannot go on.

The report is returned to the CLI, the HTTP API and the engine alike, so it is a plain
dataclass that turns into JSON without help.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MAX_REPORTED_ERRORS = 20


@dataclass
class IngestReport:
    """Counts for one file (or one list of records); ``errors`` holds the first reject reasons."""

    kind: str
    file: str
    rows_read: int = 0
    stored: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0
    batches: int = 0
    errors: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for a terminal or a log."""
        text = f"{self.kind} from {self.file}: {self.rows_read} rows read, {self.stored} stored"
        if self.kind == "items":
            text += f" ({self.inserted} new, {self.updated} updated), {self.unchanged} unchanged"
        else:
            text += f", {self.duplicates} already stored"
        text += f", {self.rejected} rejected"
        if self.rejects_path:
            text += f" (see {self.rejects_path})"
        if self.ignored_columns:
            text += f"; ignored columns: {', '.join(self.ignored_columns)}"
        text += f"; {self.seconds:.1f}s"
        if self.error:
            text += f"; FAILED: {self.error}"
        return text


class IngestError(Exception):
    """Input that cannot be loaded at all; ``report`` holds what was done before the failure."""

    def __init__(self, message: str, report: IngestReport | None = None) -> None:
        super().__init__(message)
        self.report = report
