"""Matching commands: `matcher match` (this week's matches into the store) and `matcher eval` (match quality)."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from matcher.cli.common import ConfigOption, NowOption, console, engine_for, err_console, fail, load, parse_now_option, styled
from matcher.cli.eval_inputs import read_eval_set, vector_encoder


def match_cmd(
    now: str = NowOption,
    profile: list[str] = typer.Option(None, "--profile", "-p", help="Only this profile (repeatable)."),
    config: Path = ConfigOption,
) -> None:
    """Rank open notices for every active SME and store this week's best as matches. Safe to run again."""
    from matcher.match_week import match_week
    from matcher.embed import EmbeddingError

    cfg = load(config)
    when = parse_now_option(now)
    try:
        report = match_week(cfg, engine_for(cfg), when, profile_ids=profile or None)
    except EmbeddingError as e:
        fail(str(e), 2)
    table = Table("profile", "matches", title=f"Matches for {report.week}")
    for pid, n in sorted(report.per_profile.items()):
        table.add_row(pid, str(n))
    console.print(table)
    if report.excluded:
        console.print("filtered out: " + ", ".join(f"{n} {why}" for why, n in report.excluded.most_common(6)), highlight=False)
    for err in report.errors:
        err_console.print(styled("yellow", "skipped", f" {err}"), highlight=False, soft_wrap=True)
    console.print(str(report), highlight=False)
    if report.errors and not report.per_profile:
        raise typer.Exit(1)


def eval_cmd(
    profiles: Path = typer.Option(..., "--profiles", exists=True, dir_okay=False, help="Profiles (JSON list or CSV)."),
    qrels: Path = typer.Option(..., "--qrels", exists=True, dir_okay=False, help="Judgments, one JSON object a line."),
    notices: list[Path] = typer.Option(..., "--notices", help="Notice files (JSON lines) or a folder of them; repeatable."),
    more_notices: list[Path] = typer.Argument(None, help="Further notice files (so `--notices dir/*.jsonl` works).", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    system: list[str] = typer.Option(None, "--system", "-s", help="Only this system (repeatable): matcher, keyword_alert, tfidf, dense."),
    fit: bool = typer.Option(False, "--fit", help="Also fit the matcher's weights and calibration on these judgments and print them as TOML."),
    feedback_split: bool = typer.Option(False, "--feedback-split", help="Also replay half of each profile's judgments as feedback "
                                        "and measure the matcher on the other half, with and without it."),
    seed: int = typer.Option(0, "--seed", help="--feedback-split: the first seed choosing the replayed half."),
    repeats: int = typer.Option(5, "--repeats", min=1, max=100, help="--feedback-split: splits averaged (seeds seed..seed+repeats-1)."),
    vector_cache: Path = typer.Option(None, "--vector-cache", help="SQLite file to cache embeddings in between runs."),
    config: Path = ConfigOption,
) -> None:
    """Measure match quality (nDCG@10, P@5, R@20, MRR) against judgments, for ours and reference systems."""
    from matcher.embed import Embedder, EmbeddingError
    from matcher.quality.evaluate import SYSTEMS, evaluate

    cfg = load(config)
    systems = list(system) if system else list(SYSTEMS)
    bad = [s for s in systems if s not in SYSTEMS]
    if bad:
        fail(f"--system: unknown system {bad[0]!r}; known: {', '.join(SYSTEMS)}", 2)
    sme_profiles, corpus, judged = read_eval_set(profiles, qrels, list(notices) + list(more_notices or []))
    encode, engine = vector_encoder(Embedder(cfg.embedding), vector_cache)
    split = None
    try:
        report = evaluate(sme_profiles, corpus, judged, cfg, encode, systems)
        if fit:
            _print_fit(sme_profiles, corpus, judged, cfg, encode)
        if feedback_split:
            split = _feedback_split(sme_profiles, corpus, judged, cfg, encode, seed, repeats)
    except EmbeddingError as e:
        fail(str(e), 2)
    except ValueError as e:
        fail(str(e))
    finally:
        if engine is not None:
            engine.dispose()
    if as_json:
        out = report.as_json()
        if split is not None:
            out["feedback_split"] = split.as_json()
        typer.echo(json.dumps(out, indent=2))
        return
    table = Table("system", "nDCG@10", "P@5", "R@20", "MRR",
                  title=f"{report.profiles} judged profiles, {report.notices} notices")
    for name, m in report.systems.items():
        table.add_row(name, *(f"{m[k]:.3f}" for k in ("ndcg10", "p5", "r20", "mrr")))
    console.print(table)
    if split is not None:
        _print_split(split)


def _feedback_split(profiles, corpus, judged, cfg, encode, seed: int, repeats: int):
    from matcher.embed import matching_vectors
    from matcher.quality.feedback_split import feedback_split

    profile_vecs, notice_vecs = matching_vectors(encode, profiles, corpus)
    return feedback_split(profiles, corpus, judged, profile_vecs, notice_vecs, cfg, seed, repeats)


def _print_split(split) -> None:
    seeds = f"seed {split.seeds[0]}" if len(split.seeds) == 1 else f"seeds {split.seeds[0]}-{split.seeds[-1]}"
    table = Table("matcher", "nDCG@10", "P@5", "R@20", "MRR", title=(
        f"Feedback split ({seeds}, mean): ~{split.replayed} judgments replayed as feedback, "
        f"~{split.measured} measured, {split.profiles} profiles"))
    for name, m in (("no feedback", split.without), ("with feedback", split.with_feedback), ("gain", split.gain)):
        fmt = "{:+.3f}" if name == "gain" else "{:.3f}"
        table.add_row(name, *(fmt.format(m[k]) for k in ("ndcg10", "p5", "r20", "mrr")))
    console.print(table)
    console.print("The replayed notices are left out of both rankings; half of each profile's relevant and of its "
                  "not-relevant judgments is replayed.", highlight=False)


def _print_fit(profiles, corpus, judged, cfg, encode) -> None:
    from matcher.embed import matching_vectors
    from matcher.quality.fit import check_split_half, fit_calibration

    profile_vecs, notice_vecs = matching_vectors(encode, profiles, corpus)
    fitted = fit_calibration(profiles, corpus, judged, profile_vecs, notice_vecs, cfg.matching)
    held = check_split_half(profiles, corpus, judged, profile_vecs, notice_vecs, cfg)
    err_console.print("# fitted on these judgments; paste into config.toml", highlight=False)
    err_console.print(fitted.as_toml(), highlight=False, markup=False)
    err_console.print("# split-half check (fit on half the profiles, measured on the other half, 10 splits): "
                      + ", ".join(f"{k} {v:.3f}" for k, v in held.items()), highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("match")(match_cmd)
    app.command("eval")(eval_cmd)
