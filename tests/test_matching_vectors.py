"""matching_vectors asks for each distinct text once, in the order SMEs first need them, and gives every SME the
vectors of its own texts; SMEs with the same texts share one ProfileVectors."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from matcher.embed import matching_vectors
from matcher.match.texts import capability_phrases, dense_text, profile_query
from matcher.schema import ProfileSpec
from matcher.quality.corpus import read_notices

DATA = Path(__file__).resolve().parent / "data" / "eval"


def _vector(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
    return v / np.linalg.norm(v)


def _profile(i: int, caps: str, keywords: list[str]) -> ProfileSpec:
    return ProfileSpec(id=f"p{i}", name=f"P{i}", email=f"p{i}@example.org", capabilities=caps, keywords=keywords)


def test_each_sme_gets_its_own_texts_vectors_and_each_text_is_asked_for_once():
    notices = read_notices(sorted((DATA / "notices").glob("*.jsonl")))[:5]
    caps = ["Grass cutting, hedge trimming and tree surgery for councils.", "Penetration testing; cyber security audits."]
    profiles = [_profile(0, caps[0], ["grounds"]), _profile(1, caps[1], ["pen testing", "grounds"]),
                _profile(2, caps[0], ["grounds"]), _profile(3, caps[0], []),
                _profile(4, caps[1], ["pen testing", "grounds"]), _profile(5, caps[0], ["grounds"]).model_copy(update={"cpv": ["77310000"], "regions": ["Wales"]})]
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return np.stack([_vector(t) for t in texts])

    pvs, nvs = matching_vectors(encode, profiles, notices)
    assert len(calls) == 1
    asked = calls[0]
    assert asked[:len(notices)] == [dense_text(n) for n in notices]
    expected = []  # every SME's texts in order, each the first time it is needed
    for p in profiles:
        for t in [profile_query(p), *p.keywords, *capability_phrases(p)]:
            if t not in expected:
                expected.append(t)
    assert asked[len(notices):] == expected
    assert np.array_equal(nvs, np.stack([_vector(dense_text(n)) for n in notices]))
    for p, pv in zip(profiles, pvs):
        assert np.array_equal(pv.query, _vector(profile_query(p)))
        assert len(pv.keywords) == len(p.keywords) and all(map(np.array_equal, pv.keywords, map(_vector, p.keywords)))
        assert np.array_equal(pv.phrases, np.stack([_vector(t) for t in capability_phrases(p)]))
    assert pvs[0] is pvs[2] is pvs[5] and pvs[1] is pvs[4]  # same capabilities and keywords: one object
    assert len({id(pv) for pv in pvs}) == 3
