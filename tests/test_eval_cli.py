"""`matcher eval` on the bundled copy of the dev set: the JSON shape, and that ours beats a keyword alert."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.cli import app

DEV = Path(__file__).parent / "data" / "eval"
CONFIG = Path(__file__).parents[1] / "config.toml"


@pytest.fixture(scope="module")
def eval_json(tmp_path_factory) -> dict:
    """One run of every system over the whole corpus (this embeds the ~500 notices once per session:
    the vectors go to a cache in the session's temp folder that other test modules reuse)."""
    cache = tmp_path_factory.getbasetemp() / "dev-vectors.db"
    args = ["eval", "--profiles", str(DEV / "profiles.json"), "--qrels", str(DEV / "qrels.jsonl"),
            "--notices", *map(str, sorted((DEV / "notices").glob("*.jsonl"))), "--json",
            "--vector-cache", str(cache), "--config", str(CONFIG)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{"):])


def test_eval_json_has_every_system_and_metric(eval_json):
    assert set(eval_json) == {"systems", "profiles"}
    assert set(eval_json["systems"]) == {"matcher", "keyword_alert", "tfidf", "dense"}
    for figures in eval_json["systems"].values():
        assert set(figures) == {"ndcg10", "p5", "r20", "mrr"}
        assert all(0.0 <= v <= 1.0 for v in figures.values())
    assert eval_json["profiles"] == 19  # dev-19 has no relevant judgment


def test_matcher_beats_the_keyword_alert_and_meets_the_quality_target(eval_json):
    ours, alert = eval_json["systems"]["matcher"], eval_json["systems"]["keyword_alert"]
    assert ours["ndcg10"] > alert["ndcg10"] and ours["p5"] > alert["p5"]
    assert ours["ndcg10"] >= 0.72 and ours["p5"] >= 0.62


def test_reference_systems_land_near_the_published_figures(eval_json):
    systems = eval_json["systems"]
    assert systems["keyword_alert"]["ndcg10"] == pytest.approx(0.62, abs=0.05)
    assert systems["dense"]["ndcg10"] == pytest.approx(0.52, abs=0.07)


def test_eval_names_a_missing_notices_file(tmp_path):
    result = CliRunner().invoke(app, ["eval", "--profiles", str(DEV / "profiles.json"), "--qrels",
                                      str(DEV / "qrels.jsonl"), "--notices", str(tmp_path / "none.jsonl"),
                                      "--config", str(CONFIG)])
    assert result.exit_code == 2 and "none.jsonl does not exist" in result.output
