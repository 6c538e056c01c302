"""Text: tokens for lexical search, vectors for semantic search, and their shared cache."""

from shoplm.text.cache import EmbeddingCache, text_hash
from shoplm.text.encoder import EncoderNotFoundError, TextEncoder, resolve_model
from shoplm.text.tokenize import tokenize

__all__ = [
    "EmbeddingCache",
    "EncoderNotFoundError",
    "TextEncoder",
    "resolve_model",
    "text_hash",
    "tokenize",
]
