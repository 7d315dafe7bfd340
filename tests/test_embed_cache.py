"""The embedding cache: each text is embedded once per model; later runs read the stored vectors."""
from __future__ import annotations

import numpy as np
import pytest
from sqlmodel import select

from matcher.config import EmbeddingConfig
from matcher.embed import Embedder, EmbeddingError, cached_embed, text_hash
from matcher.store.models import Embedding
from matcher.store import session_scope

TEXTS = ["Grass cutting and hedge trimming for parish councils.", "Penetration testing of a web application.",
         "Grass cutting and hedge trimming for parish councils."]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(EmbeddingConfig())  # the model itself is loaded once per process


@pytest.fixture
def counted(embedder, monkeypatch):
    """Counts calls to the real model's encode (and the texts it was given)."""
    calls: list[list[str]] = []
    real = embedder.model.encode

    def encode(texts, *a, **kw):
        calls.append(list(texts))
        return real(texts, *a, **kw)

    monkeypatch.setattr(embedder.model, "encode", encode)
    return calls


def test_vectors_are_float32_unit_vectors(embedder):
    v = embedder.encode(TEXTS[:2])
    assert v.dtype == np.float32 and v.shape == (2, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(v[0] @ v[1]) < 0.5  # different subjects are not near-duplicates


def test_a_second_run_embeds_nothing(engine, embedder, counted):
    with session_scope(engine) as s:
        first, new = cached_embed(s, embedder, TEXTS)
    assert new == 2 and len(counted) == 1 and sorted(counted[0]) == sorted(set(TEXTS))  # the duplicate once
    with session_scope(engine) as s:
        again, new_again = cached_embed(s, embedder, TEXTS)
    assert new_again == 0 and len(counted) == 1
    assert np.array_equal(first, again) and np.array_equal(first[0], first[2])


def test_vectors_are_stored_as_bytes_keyed_by_text_hash_and_model(engine, embedder):
    with session_scope(engine) as s:
        vecs, _ = cached_embed(s, embedder, TEXTS[:1])
    with session_scope(engine) as s:
        (row,) = s.exec(select(Embedding)).all()
    assert (row.text_hash, row.model, row.dim) == (text_hash(TEXTS[0]), "all-MiniLM-L6-v2", 384)
    assert np.array_equal(np.frombuffer(row.vector, dtype=np.float32), vecs[0])


def test_only_a_changed_text_is_embedded_again(engine, embedder, counted):
    with session_scope(engine) as s:
        cached_embed(s, embedder, TEXTS[:2])
    changed = [TEXTS[0], TEXTS[1] + " Includes a retest."]
    with session_scope(engine) as s:
        _, new = cached_embed(s, embedder, changed)
    assert new == 1 and counted[-1] == [changed[1]]


def test_another_model_key_does_not_reuse_the_vectors(engine, embedder):
    with session_scope(engine) as s:
        cached_embed(s, embedder, TEXTS[:1])
    bf16 = Embedder(EmbeddingConfig(precision="bf16"))
    assert bf16.key == "all-MiniLM-L6-v2@bf16"
    with session_scope(engine) as s:
        rows = s.exec(select(Embedding).where(Embedding.model == bf16.key)).all()
    assert rows == []


def test_a_model_that_cannot_be_loaded_names_the_config_key(tmp_path):
    bad = Embedder(EmbeddingConfig(model=str(tmp_path / "no-such-model")))
    with pytest.raises(EmbeddingError, match=r"embedding.model: cannot load"):
        bad.encode(["x"])
