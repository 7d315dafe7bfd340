"""The eval metrics on tiny hand-made rankings whose answers are worked out by hand."""
from __future__ import annotations

import json
import math

import pytest

from matcher.quality.corpus import EvalDataError, read_notices, read_qrels
from matcher.quality.evaluate import judged_profiles, ndcg_at, precision_at, recall_at, reciprocal_rank, score_run

JUDGED = {"a": 2, "b": 0, "c": 1, "d": 1}  # "x", "y" unjudged = grade 0


def test_ndcg_uses_exponential_gain_and_the_ideal_order():
    ranked = ["b", "a", "x", "c"]
    dcg = 3 / math.log2(3) + 1 / math.log2(5)
    idcg = 3 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(ranked, JUDGED, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at(["a", "c", "d"], JUDGED, 10) == pytest.approx(1.0)
    assert ndcg_at(["a"], {"z": 0}, 10) == 0.0


def test_precision_counts_grade_one_and_up_in_the_first_k():
    assert precision_at(["a", "b", "c", "x", "y", "d"], JUDGED, 5) == pytest.approx(2 / 5)
    assert precision_at(["a"], JUDGED, 5) == pytest.approx(1 / 5)  # a short list still divides by k


def test_recall_is_the_share_of_relevant_notices_in_the_first_k():
    assert recall_at(["x", "a", "y", "d"], JUDGED, 20) == pytest.approx(2 / 3)
    assert recall_at(["x", "a", "y", "d"], JUDGED, 2) == pytest.approx(1 / 3)


def test_reciprocal_rank_is_one_over_the_first_relevant_position():
    assert reciprocal_rank(["b", "x", "c"], JUDGED) == pytest.approx(1 / 3)
    assert reciprocal_rank(["b", "x"], JUDGED) == 0.0


def test_score_run_averages_over_profiles_with_a_relevant_judgment_only():
    qrels = {"p1": {"a": 2, "b": 0}, "p2": {"c": 1}, "p3": {"d": 0}}  # p3 has nothing relevant
    run = {"p1": ["a", "b"], "p2": ["x", "c"], "p3": ["d"]}
    assert judged_profiles(qrels) == ["p1", "p2"]
    got = score_run(run, qrels)
    assert got["mrr"] == pytest.approx((1 + 0.5) / 2)
    assert got["p5"] == pytest.approx((1 / 5 + 1 / 5) / 2)
    assert got["r20"] == pytest.approx(1.0)
    assert got["ndcg10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)


def test_a_profile_missing_from_the_run_scores_zero():
    assert score_run({}, {"p1": {"a": 1}}) == {"ndcg10": 0.0, "p5": 0.0, "r20": 0.0, "mrr": 0.0}


def test_reading_bad_eval_files_names_the_file_and_line(tmp_path):
    qrels = tmp_path / "qrels.jsonl"
    qrels.write_text('{"profile": "p1", "notice": "n", "grade": 1}\n{"profile": "p1", "grade": 2}\n')
    with pytest.raises(EvalDataError, match=r"qrels.jsonl: line 2"):
        read_qrels(qrels)
    notices = tmp_path / "cf.jsonl"
    notices.write_text(json.dumps({"ocid": "ocds-b5fd17-1", "tender": {"title": "Roof repairs"}}) + "\n"
                       + json.dumps({"ocid": "ocds-b5fd17-2", "tender": {}}) + "\n")
    with pytest.raises(EvalDataError, match=r"cf.jsonl: line 2: tender.title: missing"):
        read_notices([notices])


def test_notice_lines_go_through_the_parser_of_their_source(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text(json.dumps({"ocid": "ocds-r6ebe6-9", "tender": {"title": "Grass cutting"}}) + "\n"
                 + json.dumps({"id": 42, "title": "Discovery for a booking service", "summary": "A discovery."}) + "\n")
    got = {n.key: n for n in read_notices([f])}
    assert got["ocds-r6ebe6-9"].source == "public_contracts_scotland"
    assert got["dm-42"].source == "digital_marketplace"


def _judged_set(name: str, n_profiles: int):
    import numpy as np

    from matcher.match import ProfileVectors
    from matcher.quality.fit import JudgedSet
    from matcher.schema import NoticeRecord, ProfileSpec

    rng = np.random.default_rng(len(name))
    dim = 4
    unit = lambda v: (v / np.linalg.norm(v)).astype(np.float32)  # noqa: E731
    notices = [NoticeRecord(source="s", key=f"{name}-n{j}", title=f"Notice {j} about {'grass' if j % 2 else 'software'}")
               for j in range(8)]
    nvecs = np.stack([unit(rng.normal(size=dim)) for _ in notices])
    profiles = [ProfileSpec(id=f"{name}-{i}", name="p", email="p@example.org", capabilities="We cut grass.",
                            keywords=["grass"]) for i in range(n_profiles)]
    pvecs = [ProfileVectors(unit(nvecs[1] + 0.1 * rng.normal(size=dim)), np.zeros((0, dim), np.float32)) for _ in profiles]
    qrels = {p.id: {n.key: (2 if j % 2 else 0) for j, n in enumerate(notices) if j < 6} for p in profiles}
    return JudgedSet(name, profiles, notices, qrels, pvecs, nvecs)


def test_every_judged_profile_lands_in_exactly_one_fold_and_each_fold_mixes_the_sets():
    from matcher.quality.fit import folds_of

    sets = [_judged_set("a", 5), _judged_set("bb", 6)]
    folds = folds_of(sets, 3, seed=0)
    dealt = [x for f in folds for x in f]
    assert sorted(dealt) == sorted((si, r) for si, s in enumerate(sets) for r in s.judged_rows())
    assert all({si for si, _ in f} == {0, 1} for f in folds) and {len(f) for f in folds} <= {3, 4}
    assert folds_of(sets, 3, seed=0) == folds and folds_of(sets, 3, seed=1) != folds


def test_cross_validation_never_fits_on_the_profiles_it_measures(monkeypatch):
    import matcher.quality.evaluate as evaluate_mod
    import matcher.quality.fit as fit_mod
    from matcher.config import Config

    sets = [_judged_set("a", 5), _judged_set("bb", 6)]
    trained: list[set[str]] = []
    measured: list[set[str]] = []
    real_fit, real_run = fit_mod.fit_sets, evaluate_mod.matcher_run

    def spy_fit(parts, *args, **kw):
        trained.append({s.profiles[r].id for s, rows in parts for r in rows})
        return real_fit(parts, *args, **kw)

    def spy_run(profiles, *args, **kw):
        if len(measured) < len(trained):
            measured.append(set())
        measured[-1] |= {p.id for p in profiles}
        return real_run(profiles, *args, **kw)

    monkeypatch.setattr(fit_mod, "fit_sets", spy_fit)
    monkeypatch.setattr(evaluate_mod, "matcher_run", spy_run)
    cv = fit_mod.cross_validate(sets, Config(), folds=3, repeats=2)
    assert len(trained) == len(measured) == 6
    everyone = {p.id for s in sets for p in s.profiles}
    for fit_ids, held in zip(trained, measured):
        assert not fit_ids & held and fit_ids | held == everyone
    assert set(cv.per_profile) == {"a", "bb"} and len(cv.per_profile["a"]) == 5 and len(cv.per_profile["bb"]) == 6
    assert cv.overall()["ndcg10"] == pytest.approx(
        sum(m["ndcg10"] for rows in cv.per_profile.values() for m in rows.values()) / 11)
