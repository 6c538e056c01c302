"""Indexes over item rows: vectors (faiss) for meaning, BM25 (bm25s) for words."""

from shoplm.index.lexical import LexicalIndex
from shoplm.index.vector import VectorIndex

__all__ = ["LexicalIndex", "VectorIndex"]
