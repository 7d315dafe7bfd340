"""How verdicts change a ranking (pure): Rocchio on the query, the neighbour shift, near-copy suppression."""
from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from matcher.config import FeedbackConfig, MatchingConfig
from matcher.match import EVAL, ProfileVectors, Verdicts, rank
from matcher.match.feedback import (NEAR_COPY_REASON, REJECTED_REASON, aligned, moved_query, neighbour_shift,
                                    suppressed, verdict_vectors)
from matcher.schema import NoticeRecord, ProfileSpec

CFG = FeedbackConfig(neighbour_weight=0.25)  # the neighbour shift on (the default leaves it off)
NOW = datetime(2025, 1, 20, tzinfo=UTC)


def unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def verdicts(liked=(), rejected=(), rejected_keys=()) -> Verdicts:
    shape = lambda rows: np.array(rows, dtype=np.float32).reshape(len(rows), 3)  # noqa: E731
    return Verdicts(shape(liked), shape(rejected), frozenset(rejected_keys))


def test_rocchio_moves_the_query_towards_liked_and_away_from_rejected_notices_and_keeps_it_a_unit_vector():
    pv = ProfileVectors(query=unit(1, 0, 0), keywords=np.zeros((0, 3), dtype=np.float32))
    liked, rejected = unit(0, 1, 0), unit(0, 0, 1)
    moved = moved_query(pv, verdicts([liked], [rejected]), CFG).query
    assert moved @ liked > pv.query @ liked
    assert moved @ rejected < pv.query @ rejected
    assert np.linalg.norm(moved) == pytest.approx(1.0, abs=1e-6)
    off = moved_query(pv, verdicts([liked], [rejected]), FeedbackConfig(relevant_weight=0, not_relevant_weight=0))
    assert np.allclose(off.query, pv.query)


def test_neighbour_shift_needs_both_kinds_of_verdict_and_favours_notices_near_liked_ones():
    notices = np.stack([unit(0, 1, 0), unit(0, 0, 1), unit(1, 0, 0)])
    assert not neighbour_shift(notices, verdicts(liked=[unit(0, 1, 0)]), CFG).any()
    assert not neighbour_shift(notices, verdicts(rejected=[unit(0, 0, 1)]), CFG).any()
    shift = neighbour_shift(notices, verdicts([unit(0, 1, 0)], [unit(0, 0, 1)]), CFG)
    assert shift[0] > 0 > shift[1] and shift[2] == pytest.approx(0.0, abs=1e-6)


def test_rejected_notices_and_their_near_copies_are_suppressed_with_their_reasons():
    keys = ["rejected", "near-copy", "different"]
    notices = np.stack([unit(0, 0, 1), unit(0, 0.2, 1), unit(0, 1, 0.3)])
    v = verdicts(rejected=[unit(0, 0, 1)], rejected_keys=["rejected"])
    assert suppressed(keys, notices, v, CFG) == {0: REJECTED_REASON, 1: NEAR_COPY_REASON}
    assert suppressed(keys, notices, v, FeedbackConfig(near_copy_similarity=1.0)) == {0: REJECTED_REASON}


def test_verdict_vectors_embed_each_judged_notice_and_refuse_an_unknown_verdict():
    a = NoticeRecord(source="s", key="a", title="Grass cutting")
    b = NoticeRecord(source="s", key="b", title="Penetration testing")
    seen: list[list[str]] = []

    def encode(texts):
        seen.append(texts)
        return np.stack([unit(1, 0, 0) if "Grass" in t else unit(0, 1, 0) for t in texts])

    got = verdict_vectors(encode, {"p": [(a, "relevant"), (b, "not-relevant")]})
    assert len(seen) == 1 and len(seen[0]) == 2
    assert np.allclose(got["p"].relevant, [unit(1, 0, 0)]) and got["p"].not_relevant_keys == {"b"}
    with pytest.raises(ValueError, match="profile p: notice a: verdict 'maybe'"):
        verdict_vectors(encode, {"p": [(a, "maybe")]})
    assert aligned(["p", "q"], got)[1] is None and aligned(["q"], got) is None


def test_rank_with_feedback_reorders_one_profile_and_leaves_the_others_alone():
    profile = lambda pid: ProfileSpec(id=pid, name=pid, email=f"{pid}@example.org", capabilities="Services.")  # noqa: E731
    profiles = [profile("p"), profile("q")]
    notices = [NoticeRecord(source="s", key=k, title=f"Notice {k}") for k in ("x", "y", "z")]
    nvecs = np.stack([unit(1, 0.30, 0), unit(1, -0.32, 0), unit(0, 0, 1)])
    pvecs = [ProfileVectors(unit(1, 0, 0), np.zeros((0, 3), dtype=np.float32)) for _ in profiles]
    cfg = MatchingConfig()
    plain = rank(profiles, notices, pvecs, nvecs, cfg, NOW, EVAL)
    assert [i.key for i in plain.rankings[0].items][:2] == ["x", "y"]
    feedback = [verdicts(liked=[unit(1, -0.9, 0)]), None]
    fed = rank(profiles, notices, pvecs, nvecs, cfg, NOW, EVAL, feedback=feedback)
    assert [i.key for i in fed.rankings[0].items][:2] == ["y", "x"]
    assert [(i.key, i.score) for i in fed.rankings[1].items] == [(i.key, i.score) for i in plain.rankings[1].items]
    with pytest.raises(ValueError, match="1 feedback entries for 2 profiles"):
        rank(profiles, notices, pvecs, nvecs, cfg, NOW, EVAL, feedback=feedback[:1])


def test_one_rejection_pushes_the_query_away_from_what_the_notice_adds_not_from_the_smes_own_work():
    """A cleaning firm rejects a vehicle-decontamination job: other cleaning work keeps its closeness."""
    pv = ProfileVectors(query=unit(1, 0, 0), keywords=np.zeros((0, 3), dtype=np.float32))
    rejected = unit(1, 1, 0)  # cleaning + vehicles
    core, vehicles = unit(1, 0, 0.2), unit(0.2, 1, 0)
    moved = moved_query(pv, verdicts(rejected=[rejected]), CFG).query
    assert moved @ vehicles < pv.query @ vehicles
    assert moved @ core == pytest.approx(pv.query @ core, abs=0.02)


def test_the_push_from_rejections_grows_with_their_number():
    pv = ProfileVectors(query=unit(1, 0, 0), keywords=np.zeros((0, 3), dtype=np.float32))
    away = unit(0.5, 1, 0)
    one = moved_query(pv, verdicts(rejected=[away]), CFG).query
    five = moved_query(pv, verdicts(rejected=[away] * 5), CFG).query
    full = moved_query(pv, verdicts(rejected=[away]), FeedbackConfig(not_relevant_ramp=0)).query
    assert full @ away < five @ away < one @ away < pv.query @ away
