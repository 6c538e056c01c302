"""Word tokens for lexical search, shared by documents and queries so both match alike.

Rules, chosen for product titles rather than prose:

- Unicode NFKC then lowercase, so full-width "ＩＰＨＯＮＥ" equals "iphone".
- Numbers keep their inner separators: "3/4", "1.5" and "2,000" (read as "2000") are one token
  each, because sizes and prices mean something only whole.
- Other tokens are runs of letters and digits; dashes, quotes and other punctuation split
  ("wi-fi" -> "wi", "fi").  A token mixing letters and digits is kept whole and followed by its
  number and word parts ("2x4" -> "2x4", "2", "4"; "5mm" -> "5mm", "5", "mm"), so a query written
  "5 mm" or "iphone 15" still meets a title written "5mm" or "iPhone15".  One-letter parts
  ("x" in "2x4") are left out as noise.
- Chinese (Han) runs are cut into words with jieba ("苹果手机壳" -> "苹果", "手机", "壳"); jieba
  is loaded on the first Han text only, quietly.
- English plurals are folded by a few suffix rules ("phones" -> "phone", "batteries" ->
  "battery", "boxes" -> "box", "glasses" -> "glass") so a query in the singular finds
  plural titles and back.  No other stemming: product words are kept as written.
- A short list of English function words is dropped (a, an, the, for, with, and, of, in, on, to);
  no product word ever is.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from functools import lru_cache
from typing import Any

STOPWORDS = frozenset({"a", "an", "the", "for", "with", "and", "of", "in", "on", "to"})

# Han ideographs: CJK Unified Ideographs, Extension A, Compatibility Ideographs.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(
    rf"(?P<han>[{_HAN}]+)"
    rf"|(?P<word>\d+(?:[.,/]\d+)+[^\W_{_HAN}]*|[^\W_{_HAN}]+)"  # 3/4, 1.5mm, 2x4, usb3
)
# Parts of a mixed token: numbers (with their separators) and letter runs.
_PARTS = re.compile(r"\d+(?:[.,/]\d+)*|[^\W\d_]+")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")

# Words whose final "s" is no plural, and plurals the suffix rules would get wrong.
_NOT_PLURAL = frozenset(
    {
        "series",
        "species",
        "news",
        "lens",
        "gas",
        "bus",
        "plus",
        "yes",
        "this",
        "its",
        "has",
        "was",
        "ios",
        "macos",
    }
)
_IRREGULAR = {
    "lenses": "lens",
    "gases": "gas",
    "buses": "bus",
    "knives": "knife",
    "shelves": "shelf",
    "leaves": "leaf",
    "halves": "half",
    "wolves": "wolf",
    "children": "child",
    "feet": "foot",
    "teeth": "tooth",
    "mice": "mouse",
    "men": "man",
    "women": "woman",
}

_jieba: Any = None
_jieba_lock = threading.Lock()


def tokenize(text: str) -> list[str]:
    """Split ``text`` into normalised search tokens, in order, duplicates kept."""
    if not text:
        return []
    normalised = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    for match in _TOKEN.finditer(normalised):
        piece = match.group()
        if match.lastgroup == "han":
            tokens.extend(w for w in _segment_han(piece) if w.strip())
        else:
            tokens.extend(_word_tokens(piece))
    return tokens


@lru_cache(maxsize=200_000)
def _word_tokens(piece: str) -> tuple[str, ...]:
    """The tokens of one letter-and-digit run (cached: catalogs repeat their words a lot)."""
    if piece.isdigit():
        return (piece,)
    if piece.isalpha():
        return () if piece in STOPWORDS else (singular(piece),)
    parts = _PARTS.findall(piece)
    if len(parts) == 1:  # a plain number such as 3/4 or 2,000
        return (_number(piece),)
    whole = "".join(_number(p) if p[0].isdigit() else p for p in parts)
    out = [whole]
    for part in parts:
        if part[0].isdigit():
            out.append(_number(part))
        elif len(part) > 1 and part not in STOPWORDS:
            out.append(singular(part))
    return tuple(out)


def _number(text: str) -> str:
    return text.replace(",", "") if _THOUSANDS.fullmatch(text) else text


@lru_cache(maxsize=200_000)
def singular(word: str) -> str:
    """Fold an English plural to its singular with a few suffix rules; other words unchanged.

    Only ASCII letter words longer than three letters are touched, so model numbers, units
    such as "lbs" and short words stay as written.
    """
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or not (word.isascii() and word.isalpha()) or word in _NOT_PLURAL:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"  # batteries -> battery
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]  # classes -> class, boxes -> box, watches -> watch, brushes -> brush
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]  # phones -> phone, shoes -> shoe
    return word


def _segment_han(run: str) -> list[str]:
    return _load_jieba().lcut(run)


def _load_jieba() -> Any:
    """Import jieba on first use: its dictionary costs a second and most shops never need it."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba = jieba
    return _jieba
