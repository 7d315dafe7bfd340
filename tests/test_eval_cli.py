"""`matcher eval` on the bundled copies of the dev sets: the JSON shape, per-SME figures, unjudged counts, and the
cross-validated figure over both sets."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.cli import app

DEV = Path(__file__).parent / "data" / "eval"
DEV2 = Path(__file__).parent / "data" / "eval2"
CONFIG = Path(__file__).parents[1] / "config.toml"


@pytest.fixture(scope="module")
def eval_json(tmp_path_factory) -> dict:
    """One run of every system over the whole corpus (this embeds the ~500 notices once per session:
    the vectors go to a cache in the session's temp folder that other test modules reuse)."""
    cache = tmp_path_factory.getbasetemp() / "dev-vectors.db"
    args = ["eval", "--profiles", str(DEV / "profiles.json"), "--qrels", str(DEV / "qrels.jsonl"),
            "--notices", *map(str, sorted((DEV / "notices").glob("*.jsonl"))), "--json", "--folds", "0",
            "--vector-cache", str(cache), "--config", str(CONFIG)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{"):])


def test_eval_json_has_every_system_and_metric(eval_json):
    assert {"systems", "profiles", "notices", "unjudged_top10", "worst_served", "per_profile", "sets"} <= set(eval_json)
    assert set(eval_json["sets"]) == {"eval"} and eval_json["sets"]["eval"]["systems"] == eval_json["systems"]
    assert set(eval_json["systems"]) == {"matcher", "keyword_alert", "tfidf", "dense"}
    for figures in eval_json["systems"].values():
        assert set(figures) == {"ndcg10", "p5", "r20", "mrr"}
        assert all(0.0 <= v <= 1.0 for v in figures.values())
    assert eval_json["profiles"] == 19  # dev-19 has no relevant judgment


def test_matcher_beats_the_keyword_alert_and_meets_the_quality_target(eval_json):
    ours, alert = eval_json["systems"]["matcher"], eval_json["systems"]["keyword_alert"]
    assert ours["ndcg10"] > alert["ndcg10"] and ours["p5"] > alert["p5"]
    assert ours["ndcg10"] >= 0.80 and ours["p5"] >= 0.70


def test_reference_systems_land_near_the_published_figures(eval_json):
    systems = eval_json["systems"]
    assert systems["keyword_alert"]["ndcg10"] == pytest.approx(0.62, abs=0.05)
    assert systems["dense"]["ndcg10"] == pytest.approx(0.52, abs=0.07)


def test_eval_names_a_missing_notices_file(tmp_path):
    result = CliRunner().invoke(app, ["eval", "--profiles", str(DEV / "profiles.json"), "--qrels",
                                      str(DEV / "qrels.jsonl"), "--notices", str(tmp_path / "none.jsonl"),
                                      "--config", str(CONFIG)])
    assert result.exit_code == 2 and "none.jsonl does not exist" in result.output


def test_each_profile_has_its_figures_and_the_worst_served_is_named_with_every_systems_figure(eval_json):
    per = eval_json["per_profile"]
    assert set(per) == {"matcher", "keyword_alert", "tfidf", "dense"} and len(per["matcher"]) == 19
    worst = eval_json["worst_served"]
    assert worst["ndcg10"]["matcher"] == min(m["ndcg10"] for m in per["matcher"].values())
    assert set(worst["ndcg10"]) == set(per) and worst["ndcg10"]["keyword_alert"] == per["keyword_alert"][worst["profile"]]["ndcg10"]
    mean = sum(m["ndcg10"] for m in per["matcher"].values()) / 19
    assert mean == pytest.approx(eval_json["systems"]["matcher"]["ndcg10"])


def test_unjudged_notices_in_each_top_ten_are_counted(eval_json):
    counts = eval_json["unjudged_top10"]
    assert set(counts) == {"matcher", "keyword_alert", "tfidf", "dense"}
    assert all(0 <= n <= 190 for n in counts.values())


def test_eval_over_two_sets_reports_each_and_a_cross_validated_figure(tmp_path_factory):
    """Both bundled sets, each ranked against its own corpus; the weights refitted per fold of SMEs."""
    cache = tmp_path_factory.getbasetemp() / "dev-vectors.db"
    args = ["eval", "--set", str(DEV), "--set", str(DEV2), "--system", "matcher", "--folds", "4", "--cv-repeats", "1",
            "--json", "--vector-cache", str(cache), "--config", str(CONFIG)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{"):])
    assert set(data["sets"]) == {"eval", "eval2"} and "systems" not in data
    cv = data["cross_validation"]
    assert cv["folds"] == 4 and set(cv["sets"]) == {"eval", "eval2"}
    assert len(cv["per_profile"]["eval"]) == 19 and len(cv["per_profile"]["eval2"]) == 20
    assert cv["all"]["ndcg10"] >= 0.78 and cv["all"]["p5"] >= 0.64  # held-out SMEs (default config: see README)
    assert data["sets"]["eval2"]["systems"]["matcher"]["ndcg10"] >= 0.72


def test_eval_asks_for_a_set_and_names_a_folder_without_judgments(tmp_path):
    assert CliRunner().invoke(app, ["eval", "--config", str(CONFIG)]).exit_code == 2
    (tmp_path / "profiles.json").write_text("[]")
    result = CliRunner().invoke(app, ["eval", "--set", str(tmp_path), "--config", str(CONFIG)])
    assert result.exit_code == 2 and "has no qrels.jsonl" in result.output
