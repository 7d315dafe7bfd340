"""`matcher tune`: threshold and weight sweep on the dev set, the target's config block, the plot."""
from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from matcher.cli import app
from matcher.config import MatchingConfig, WeightsConfig, config_from_dict
from matcher.quality.evaluate import judged_profiles
from matcher.schema import NoticeRecord
from matcher.quality.tune import Row, Target, choose, parse_target, weekly_rate, weight_grid

DEV = Path(__file__).parent / "data" / "eval"
CONFIG = Path(__file__).parents[1] / "config.toml"


def tune(tmp_path_factory, *extra: str):
    args = ["tune", "--profiles", str(DEV / "profiles.json"), "--qrels", str(DEV / "qrels.jsonl"),
            "--notices", str(DEV / "notices"), "--vector-cache", str(tmp_path_factory.getbasetemp() / "dev-vectors.db"),
            "--config", str(CONFIG), *extra]
    return CliRunner().invoke(app, args)


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[dict, Path]:
    """One full sweep (default grid and thresholds) as JSON, with its plot."""
    plot = tmp_path_factory.mktemp("tune") / "sweep.png"
    result = tune(tmp_path_factory, "--json", "--plot", str(plot))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{"):]), plot


def test_every_setting_has_precision_recall_f1_and_items_per_week(swept):
    data, _ = swept
    rows = data["rows"]
    weights = {tuple(r["weights"].values()) for r in rows}
    assert len(weights) > 10 and len(rows) == len(weights) * 17  # the weight grid x thresholds 0.10 .. 0.90
    for r in rows:
        assert 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1 and r["items_per_week"] >= 0
        p, rc = r["precision"], r["recall"]
        assert r["f1"] == pytest.approx(2 * p * rc / (p + rc) if p + rc else 0.0)
        assert sum(r["weights"].values()) == pytest.approx(1.0, abs=0.002)
    for w in weights:
        mine = sorted((r for r in rows if tuple(r["weights"].values()) == w), key=lambda r: r["threshold"])
        assert all(a["recall"] >= b["recall"] and a["items_per_week"] >= b["items_per_week"] for a, b in zip(mine, mine[1:]))
    assert "distinct weeks" in data["estimated"] and data["notices_per_week"] > 0
    assert data["judged_profiles"] == 19


def test_the_chosen_setting_meets_the_default_target_with_the_most_recall(swept):
    data, _ = swept
    chosen = data["chosen"]
    assert data["target"] == "precision >= 0.8"
    assert chosen["precision"] >= 0.8
    assert chosen["recall"] == max(r["recall"] for r in data["rows"] if r["precision"] >= 0.8 and r["sent"] > 0)


def test_the_plot_is_a_png(swept):
    _, plot = swept
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_the_printed_block_is_valid_config_and_gives_the_printed_precision(tmp_path_factory, tmp_path):
    """The block for recall >= 0.6 on the configured weights, pasted into a config file, passes `matcher config
    check`; ranking the dev set with it gives the precision and recall tune printed."""
    result = tune(tmp_path_factory, "--grid", "1", "--target-recall", "0.6")
    assert result.exit_code == 0, result.output
    block = result.stdout[result.stdout.index("[matching]\n"):]
    parsed = tomllib.loads(block)
    config = tmp_path / "tuned.toml"
    config.write_text(block)
    check = CliRunner().invoke(app, ["config", "check", str(config)])
    assert check.exit_code == 0, check.output
    tuned = config_from_dict(parsed).matching
    assert tuned.weights == WeightsConfig(**{k: round(v / sum(MatchingConfig().weights.model_dump().values()), 3)
                                             for k, v in MatchingConfig().weights.model_dump().items()})
    text = " ".join(result.output.split())
    printed_p = float(text.split("meets recall >= 0.6: precision ")[1].split(",")[0])
    printed_r = float(text.split(", recall ")[1].split(",")[0])
    assert printed_r >= 0.6
    p, r = precision_recall(tuned, tmp_path_factory)
    assert p == pytest.approx(printed_p, abs=0.0006) and r == pytest.approx(printed_r, abs=0.0006)


def precision_recall(cfg: MatchingConfig, tmp_path_factory) -> tuple[float, float]:
    """Pairs the matcher ranks at or above cfg.threshold (eval filters) against the dev judgments."""
    from matcher.clock import utc_now
    from matcher.embed import Embedder, cached_embed, matching_vectors
    from matcher.quality.corpus import read_notices, read_qrels
    from matcher.match import EVAL, rank
    from matcher.store.profiles import read_profiles
    from matcher.store import init_db, make_engine, session_scope

    profiles = read_profiles(DEV / "profiles.json").profiles
    notices = read_notices(sorted((DEV / "notices").glob("*.jsonl")))
    qrels = read_qrels(DEV / "qrels.jsonl")
    engine = make_engine(f"sqlite:///{tmp_path_factory.getbasetemp() / 'dev-vectors.db'}")
    init_db(engine)
    embedder = Embedder()

    def encode(texts):
        with session_scope(engine) as s:
            return cached_embed(s, embedder, texts)[0]

    pvecs, nvecs = matching_vectors(encode, profiles, notices)
    engine.dispose()
    result = rank(profiles, notices, pvecs, nvecs, cfg, utc_now(), EVAL, min_score=cfg.threshold)
    judged = set(judged_profiles(qrels))
    sent = hits = relevant = 0
    for r in result.rankings:
        if r.profile.id in judged:
            grades = qrels[r.profile.id]
            sent += len(r.items)
            hits += sum(grades.get(i.key, 0) >= 1 for i in r.items)
            relevant += sum(g >= 1 for g in grades.values())
    return hits / sent, hits / relevant


def test_an_unreachable_target_fails_naming_it_and_a_bad_one_is_refused(tmp_path_factory):
    unreachable = tune(tmp_path_factory, "--grid", "1", "--thresholds", "0.1", "--target-precision", "0.99")
    assert unreachable.exit_code == 1
    assert "no setting reaches precision >= 0.99" in " ".join(unreachable.output.split())
    for args, named in ((["--target", "accuracy=0.9"], "unknown metric 'accuracy'"),
                        (["--target", "recall=high"], "give recall=X"),
                        (["--thresholds", "0.2,2"], "--thresholds"),
                        (["--target-precision", "0.8", "--target", "f1"], "give one target")):
        result = tune(tmp_path_factory, *args)
        assert result.exit_code == 2 and named in " ".join(result.output.split()), (args, result.output)


def test_weekly_rate_counts_dated_notices_per_distinct_week():
    monday = datetime(2025, 1, 6, tzinfo=UTC)
    dated = [monday, monday + timedelta(days=2), monday + timedelta(days=7), None]
    notices = [NoticeRecord(source="s", key=str(i), title="t", published_at=d) for i, d in enumerate(dated)]
    rate = weekly_rate(notices)
    assert rate.per_week == 1.5 and "3 of 4 notices" in rate.how and "2 distinct weeks" in rate.how
    with pytest.raises(ValueError, match="--notices-per-week"):
        weekly_rate(notices[3:])


def test_weight_grid_starts_with_the_configured_weights_and_has_no_duplicates():
    grid = weight_grid(WeightsConfig(dense=2, lexical=1, keyword=1, cpv=0), (0.5, 1, 2))
    assert grid[0] == {"dense": 0.5, "lexical": 0.25, "keyword": 0.25, "cpv": 0.0}
    assert len({tuple(w.values()) for w in grid}) == len(grid)
    assert all(sum(w.values()) == pytest.approx(1.0, abs=0.002) for w in grid)
    assert weight_grid(WeightsConfig(), (1,)) == [{"dense": 0.408, "lexical": 0.387, "keyword": 0.126, "cpv": 0.079}]


def test_targets_parse_and_choose_as_documented():
    assert parse_target("precision=0.8") == Target("precision", 0.8) and parse_target("F1") == Target("f1")
    row = lambda t, p, r, current=False: Row({"dense": 1.0}, 20.0, 0.3, t, p, r, 2 * p * r / (p + r), 1.0, 10, 0.8, current)  # noqa: E731
    rows = [row(0.3, 0.6, 0.9), row(0.5, 0.8, 0.7), row(0.7, 0.9, 0.5), row(0.5, 0.8, 0.7, current=True)]
    assert choose(rows, Target("precision", 0.8)) is rows[3]  # equal figures: the configured weights win
    assert choose(rows, Target("recall", 0.6)) is rows[3]
    assert choose(rows, Target("f1")) is rows[3]  # F1 0.747 beats 0.72 (row 0) and 0.643 (row 2)
    assert choose(rows[:3], Target("recall", 0.8)) is rows[0]
    assert choose(rows, Target("precision", 0.95)) is None
    assert np.isclose(rows[0].f1, 0.72)
