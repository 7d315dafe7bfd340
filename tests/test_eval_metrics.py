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
