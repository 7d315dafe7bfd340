"""Embed: sentence-transformers vectors for notices and profiles, cached in the store by text hash and model."""
from matcher.embed.encoder import PACKAGED_MODEL, Embedder, EmbeddingError, cached_embed, matching_vectors, text_hash

__all__ = ["PACKAGED_MODEL", "Embedder", "EmbeddingError", "cached_embed", "matching_vectors", "text_hash"]
