"""Matching at scale gives the same rankings and scores as the straightforward per-pair code it replaced.

The reference below is that code, kept here on purpose: every profile against every notice in Python loops
(keyword phrase by phrase, CPV code pair by code pair, each filter pair by pair, a full stable sort per profile).
The chunked, vectorised rank() must agree with it on the dev eval set (real notices and profiles; vectors are
seeded random unit vectors, as the comparison is about the arithmetic, not the model)."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from matcher.config import FeedbackConfig, MatchingConfig
from matcher.match import EVAL, LIVE, ProfileVectors, Verdicts, rank
from matcher.match.cpv import code_overlap, infer_codes
from matcher.match.filters import ProfileFilter, exclusion_reason
from matcher.match.score import Components, calibrate, dense_scores, fit_lexical, fuse, lexical_scores, top_stable
from matcher.match.texts import capability_phrases
from matcher.match.terms import phrases
from matcher.match.rank import term_texts
from matcher.quality.corpus import read_notices
from matcher.store.profiles import read_profiles

DATA = Path(__file__).resolve().parent / "data" / "eval"
ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2025, 2, 3, 8, tzinfo=UTC)
DIM = 16


def _inputs():
    notices = read_notices(sorted((DATA / "notices").glob("*.jsonl")))
    base = read_profiles(DATA / "profiles.json").profiles + read_profiles(ROOT / "matcher" / "data" / "sample_profiles.json").profiles
    profiles = []
    for k, p in enumerate(base):  # each real profile as it is, without its CPV codes (inferred), and with filters
        profiles.append(p)
        profiles.append(p.model_copy(update={"id": f"{p.id}-nocpv", "cpv": []}))
        profiles.append(p.model_copy(update={"id": f"{p.id}-strict", "exclude": [*p.exclude, "framework", "software"],
                                             "value_min": 10_000 * k, "value_max": 2_000_000 if k % 2 else None,
                                             "keywords": [*p.keywords, *p.keywords[:1]]}))
    rng = np.random.default_rng(7)

    def units(n):
        v = rng.standard_normal((n, DIM)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    notice_vecs = units(len(notices))
    # nudge each profile towards a few notices so that some pairs score high
    pvecs = []
    for i, p in enumerate(profiles):
        q = units(1)[0] + notice_vecs[(i * 37) % len(notices)] * 2
        pvecs.append(ProfileVectors(query=q / np.linalg.norm(q), keywords=units(len(p.keywords)),
                                    phrases=units(len(capability_phrases(p)))))
    for i in range(0, 24, 2):  # SMEs sharing another's texts and vectors (scored once), with their own filters
        profiles.append(profiles[i].model_copy(update={"id": f"{profiles[i].id}-twin", "exclude": ["cleaning"],
                                                       "value_max": 500_000 if i % 4 else None}))
        pvecs.append(pvecs[i])
    return profiles, notices, pvecs, notice_vecs


_REFERENCE: dict = {}


def _reference(profiles, notices, pvecs, nvecs, cfg, switches, min_score, feedback=None):
    key = (switches, min_score, feedback is not None)
    if key not in _REFERENCE:
        _REFERENCE[key] = _reference_run(profiles, notices, pvecs, nvecs, cfg, switches, min_score, feedback)
    return _REFERENCE[key]


def _reference_run(profiles, notices, pvecs, nvecs, cfg, switches, min_score, feedback=None):
    """The per-pair code matching used before chunking: {profile id: ([(key, components..., raw, score)], excluded)}."""
    from matcher.match.feedback import moved_query, neighbour_shift, suppressed

    fcfg = cfg.feedback
    verdicts = feedback or [None] * len(profiles)
    keys = [n.key for n in notices]
    pvecs = [moved_query(pv, v, fcfg) if v else pv for pv, v in zip(pvecs, verdicts)]
    terms = term_texts(notices)
    dense = dense_scores(pvecs, nvecs)  # one matrix product for all profiles already (issue 9)
    for i, pv in enumerate(pvecs):
        if verdicts[i]:
            dense[i] += neighbour_shift(nvecs, verdicts[i], fcfg)
    vec, matrix = fit_lexical(notices, cfg.title_weight)
    lexical = lexical_scores(profiles, vec, matrix, notices)  # fits the title model itself
    keyword = np.full((len(profiles), len(notices)), np.nan, dtype=np.float32)
    for i, p in enumerate(profiles):
        kws = phrases(p.keywords)
        if kws:
            idf = [math.log((1 + len(terms)) / (1 + sum(t.has_phrase(k) for t in terms))) + 1 for k in kws]
            keyword[i] = [sum(w for k, w in zip(kws, idf) if t.has_phrase(k)) / sum(idf) for t in terms]
    comps = Components(dense, lexical, keyword, np.zeros_like(dense))
    first = fuse(comps, cfg.weights)
    codes = []
    for i, p in enumerate(profiles):
        c = list(p.cpv)
        if not c and cfg.infer_cpv_top:
            order = np.argsort(-first[i], kind="stable")
            c = infer_codes((notices[j].cpv for j in order), cfg.infer_cpv_top, cfg.infer_cpv_digits, cfg.infer_cpv_codes)
        codes.append(c)
    cpv = np.zeros_like(dense)
    for i, c in enumerate(codes):
        for j, n in enumerate(notices):
            mine = sorted(set(n.cpv))
            if not c or not mine:
                continue
            best = max(code_overlap(a, b) for a in c for b in mine)
            main = max(code_overlap(a, n.cpv[0]) for a in c)
            cpv[i, j] = 0.5 * (best + main) if best > 0 else 0.0
    comps = replace(comps, cpv=cpv)
    raw = fuse(comps, cfg.weights)
    score = calibrate(raw, cfg)
    out = {}
    for i, p in enumerate(profiles):
        pf, blocked = ProfileFilter.of(p), suppressed(keys, nvecs, verdicts[i], fcfg) if verdicts[i] else {}
        items, excluded = [], Counter()
        for j in np.argsort(-raw[i], kind="stable"):
            if score[i, j] < min_score:
                break
            why = blocked.get(int(j)) or exclusion_reason(pf, notices[j], terms[j], NOW, cfg, switches)
            if why:
                excluded[why] += 1
                continue
            items.append((keys[j], *(float(np.nan_to_num(a[i, j])) for a in comps.as_dict().values()),
                          float(raw[i, j]), float(score[i, j])))
        out[p.id] = (items, excluded)
    return out


def _as_table(result):
    return {r.profile.id: ([(i.key, i.dense, i.lexical, i.keyword, i.cpv, i.raw_score, i.score) for i in r.items], r.excluded)
            for r in result.rankings}


def _assert_same(got, want, least=50):
    assert got.keys() == want.keys()
    total = 0
    for pid in want:
        (g_items, g_excl), (w_items, w_excl) = got[pid], want[pid]
        assert [x[0] for x in g_items] == [x[0] for x in w_items], pid
        np.testing.assert_allclose(np.array([x[1:] for x in g_items]).reshape(-1, 6),
                                   np.array([x[1:] for x in w_items]).reshape(-1, 6), rtol=0, atol=1e-5, err_msg=pid)
        assert g_excl == w_excl, pid
        total += len(w_items)
    assert total > least, "too few items compared: the test would prove little"


@pytest.mark.parametrize("chunk", [5, 100_000])
@pytest.mark.parametrize("switches,min_score", [(LIVE, 0.05), (EVAL, 0.0)])
def test_chunked_vectorised_rank_matches_the_per_pair_reference(chunk, switches, min_score):
    profiles, notices, pvecs, nvecs = _inputs()
    cfg = MatchingConfig(chunk_size=chunk)
    want = _reference(profiles, notices, pvecs, nvecs, cfg, switches, min_score)
    got = _as_table(rank(profiles, notices, pvecs, nvecs, cfg, NOW, switches, min_score=min_score))
    _assert_same(got, want, 50 if switches is EVAL else 10)
    if switches is LIVE:
        assert sum(sum(e.values()) for _, e in want.values()) > 0, "no filter left anything out"


def test_chunked_rank_with_feedback_matches_the_reference():
    profiles, notices, pvecs, nvecs = _inputs()
    feedback = [None] * len(profiles)
    for i in range(0, len(profiles), 4):
        feedback[i] = Verdicts(nvecs[[i % 50, 60]], nvecs[[(i * 7) % 500]], frozenset({notices[(i * 7) % 500].key}))
    # the neighbour shift switched on (the default leaves it off) so the comparison covers it too
    cfg = MatchingConfig(chunk_size=9, feedback=FeedbackConfig(neighbour_weight=0.25))
    want = _reference(profiles, notices, pvecs, nvecs, cfg, EVAL, 0.0, feedback)
    got = _as_table(rank(profiles, notices, pvecs, nvecs, cfg, NOW, EVAL, min_score=0.0, feedback=feedback))
    _assert_same(got, want)
    assert sum(sum(e.values()) for _, e in want.values()) > 0, "no verdict left anything out"


def test_kept_items_are_the_best_and_matched_and_best_count_all():
    profiles, notices, pvecs, nvecs = _inputs()
    cfg = MatchingConfig(chunk_size=7)
    full = rank(profiles, notices, pvecs, nvecs, cfg, NOW, LIVE, min_score=0.3)
    kept = rank(profiles, notices, pvecs, nvecs, cfg, NOW, LIVE, min_score=0.3, keep=3)
    for a, b in zip(full.rankings, kept.rankings):
        assert [i.key for i in b.items] == [i.key for i in a.items[:3]]
        assert b.matched == len(a.items) and b.excluded == a.excluded
    nothing = rank(profiles, notices, pvecs, nvecs, cfg, NOW, LIVE, min_score=0.0)
    above = rank(profiles, notices, pvecs, nvecs, cfg, NOW, LIVE, min_score=0.999)
    for a, b in zip(nothing.rankings, above.rankings):
        assert (a.items[0].key if a.items else None) == (b.best.key if b.best else None)


def test_top_stable_equals_a_stable_sort_with_ties():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 4, size=(50, 40)).astype(np.float64)  # many ties across the cut
    for k in (1, 3, 10, 25, 40):
        np.testing.assert_array_equal(top_stable(values, k), np.argsort(-values, axis=1, kind="stable")[:, :k])


def test_chunked_rank_is_the_same_under_two_hash_seeds():
    code = ("import sys, hashlib; sys.path.insert(0, 'tests'); import test_match_scale as t; "
            "from matcher.config import MatchingConfig; from matcher.match import LIVE, rank; "
            "p, n, pv, nv = t._inputs(); r = rank(p, n, pv, nv, MatchingConfig(chunk_size=6), t.NOW, LIVE, min_score=0.3); "
            "print(hashlib.sha256(repr((t._as_table(r), sorted(r.inferred_cpv.items()))).encode()).hexdigest())")
    outs = set()
    for seed in (1, 2):
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        outs.add(done.stdout.strip())
    assert len(outs) == 1
