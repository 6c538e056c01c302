"""Several text fields (a review's title and body, say) as one text an encoder reads."""

from __future__ import annotations

from collections.abc import Iterable

END_MARKS = ".!?"


def join_sentences(parts: Iterable[str]) -> str:
    """Whitespace-normalised non-empty parts, each ended as a sentence before the next:
    ("Love it", "Fits well.") -> "Love it. Fits well."; "" when every part is empty."""
    kept = [" ".join(str(part).split()) for part in parts]
    kept = [part for part in kept if part]
    out = ""
    for part in kept:
        if out:
            out += " " if out[-1] in END_MARKS else ". "
        out += part
    return out
