"""External knowledge a platform was given: triples plus item -> entity links, on disk.

The store holds items and events; triples from an external knowledge graph (Freebase
links of films or artists, a supplier's product ontology) are kept next to the platform's
fits as a gzip CSV and a JSON map, appended to as more arrive, and read by every fit.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from shoplm.folders import replaced_file, write_text_whole

TRIPLES_FILE = "triples.csv.gz"
LINKS_FILE = "item_entity.json"
_HEADER = ["head", "relation", "tail"]


def _clean_triples(triples: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    out = []
    for position, triple in enumerate(triples):
        parts = tuple(str(p).strip() for p in triple) if isinstance(triple, tuple | list) else ()
        if len(parts) != 3 or not all(parts):
            raise ValueError(
                f"triple {position}: expected (head, relation, tail) with no empty part, "
                f"got {triple!r}"
            )
        out.append(parts)
    return out


def load_knowledge(folder: Path) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """The stored triples and links ([] and {} when the platform has none)."""
    folder = Path(folder)
    triples: list[tuple[str, str, str]] = []
    path = folder / TRIPLES_FILE
    if path.exists():
        with gzip.open(path, "rt", newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header != _HEADER:
                raise ValueError(f"{path}: header {header} is not {_HEADER}")
            for line, row in enumerate(reader, start=2):
                if len(row) != 3:
                    raise ValueError(f"{path}: line {line} has {len(row)} fields, not 3")
                triples.append((row[0], row[1], row[2]))
    links_path = folder / LINKS_FILE
    links = json.loads(links_path.read_text()) if links_path.exists() else {}
    return triples, {str(k): str(v) for k, v in links.items()}


def save_knowledge(
    folder: Path,
    triples: Iterable[tuple[str, str, str]],
    item_entity: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Add triples (duplicates dropped) and links (a new link replaces an item's old one).

    Everything is validated before anything is written; files are replaced atomically.
    """
    folder = Path(folder)
    new_triples = _clean_triples(triples)
    new_links = {}
    for item_id, entity in (item_entity or {}).items():
        item, ent = str(item_id).strip(), str(entity).strip()
        if not item or not ent:
            raise ValueError(f"item_entity link {item_id!r} -> {entity!r} has an empty side")
        new_links[item] = ent
    old_triples, links = load_knowledge(folder)
    seen = set(old_triples)
    added = [t for t in dict.fromkeys(new_triples) if t not in seen]
    links.update(new_links)
    with (
        replaced_file(folder / TRIPLES_FILE) as fresh,
        gzip.open(fresh, "wt", newline="", encoding="utf-8") as handle,
    ):
        writer = csv.writer(handle)
        writer.writerow(_HEADER)
        writer.writerows(old_triples + added)
    write_text_whole(folder / LINKS_FILE, json.dumps(links))
    return {
        "triples_added": len(added),
        "triples": len(old_triples) + len(added),
        "links": len(links),
    }
