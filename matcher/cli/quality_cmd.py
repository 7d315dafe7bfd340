"""Matching commands: `matcher match` (this week's matches into the store) and `matcher eval` (match quality)."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from matcher.cli.common import (CadenceOption, ConfigOption, NowOption, console, engine_for, err_console, fail, load,
                                parse_cadence_option, parse_now_option, styled)
from matcher.cli.eval_inputs import read_eval_set, vector_encoder


def match_cmd(
    now: str = NowOption,
    profile: list[str] = typer.Option(None, "--profile", "-p", help="Only this profile (repeatable)."),
    cadence: str = CadenceOption,
    config: Path = ConfigOption,
) -> None:
    """Rank open notices for every active SME of the cadence and store this period's best as matches (daily:
    only notices new to each SME since its previous digest). Safe to run again."""
    from matcher.match_week import match_week
    from matcher.embed import EmbeddingError

    cfg = load(config)
    when = parse_now_option(now)
    try:
        report = match_week(cfg, engine_for(cfg), when, profile_ids=profile or None, cadence=parse_cadence_option(cadence))
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


METRIC_KEYS = ("ndcg10", "p5", "r20", "mrr")


def _eval_sets(profiles: Path | None, qrels: Path | None, notices: list[Path], sets: list[Path]):
    """[(name, profiles, notices, judgments)]: the set given by --profiles/--qrels/--notices, then each --set folder."""
    out = []
    if profiles or qrels or notices:
        if not (profiles and qrels and notices):
            fail("--profiles, --qrels and --notices go together (or give each set as --set FOLDER)", 2)
        out.append((profiles.resolve().parent.name or "set", *read_eval_set(profiles, qrels, notices)))
    for folder in sets:
        if not folder.is_dir():
            fail(f"--set: {folder} is not a folder (it holds profiles.json, qrels.jsonl and notices/)", 2)
        missing = [n for n in ("profiles.json", "qrels.jsonl", "notices") if not (folder / n).exists()]
        if missing:
            fail(f"--set: {folder} has no {missing[0]}", 2)
        out.append((folder.resolve().name, *read_eval_set(folder / "profiles.json", folder / "qrels.jsonl", [folder / "notices"])))
    if not out:
        fail("give an evaluation set: --set FOLDER (repeatable), or --profiles, --qrels and --notices", 2)
    names = [n for n, *_ in out]
    if len(set(names)) < len(names):
        out = [(f"{n}-{i + 1}", *rest) for i, (n, *rest) in enumerate(out)]
    return out


def eval_cmd(
    profiles: Path = typer.Option(None, "--profiles", exists=True, dir_okay=False, help="Profiles (JSON list or CSV)."),
    qrels: Path = typer.Option(None, "--qrels", exists=True, dir_okay=False, help="Judgments, one JSON object a line."),
    notices: list[Path] = typer.Option(None, "--notices", help="Notice files (JSON lines) or a folder of them; repeatable."),
    more_notices: list[Path] = typer.Argument(None, help="Further notice files (so `--notices dir/*.jsonl` works).", show_default=False),
    sets: list[Path] = typer.Option(None, "--set", help="An evaluation set folder (profiles.json, qrels.jsonl, notices/); repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    system: list[str] = typer.Option(None, "--system", "-s", help="Only this system (repeatable): matcher, keyword_alert, tfidf, dense."),
    folds: int = typer.Option(5, "--folds", min=0, help="Cross-validation: fit on the other folds of SMEs (all sets pooled), "
                              "measure on each held-out fold; 0 = off."),
    cv_repeats: int = typer.Option(2, "--cv-repeats", min=1, max=20, help="Cross-validation: fold assignments averaged."),
    fit: bool = typer.Option(False, "--fit", help="Also fit the matcher's weights and calibration on all these judgments and print them as TOML."),
    feedback_split: bool = typer.Option(False, "--feedback-split", help="Also replay half of each profile's judgments as feedback "
                                        "and measure the matcher on the other half, with and without it; and reject one relevant "
                                        "notice per profile and measure the rest."),
    seed: int = typer.Option(0, "--seed", help="--feedback-split and cross-validation: the first seed."),
    repeats: int = typer.Option(5, "--repeats", min=1, max=100, help="--feedback-split: splits averaged (seeds seed..seed+repeats-1)."),
    vector_cache: Path = typer.Option(None, "--vector-cache", help="SQLite file to cache embeddings in between runs."),
    config: Path = ConfigOption,
) -> None:
    """Measure match quality (nDCG@10, P@5, R@20, MRR) against judgments, for ours and reference systems, per set
    and cross-validated over all sets (weights refitted without the measured SMEs)."""
    from matcher.embed import Embedder, EmbeddingError, matching_vectors
    from matcher.quality.evaluate import SYSTEMS, evaluate
    from matcher.quality.fit import JudgedSet, cross_validate, fit_sets

    cfg = load(config)
    systems = list(system) if system else list(SYSTEMS)
    bad = [s for s in systems if s not in SYSTEMS]
    if bad:
        fail(f"--system: unknown system {bad[0]!r}; known: {', '.join(SYSTEMS)}", 2)
    read = _eval_sets(profiles, qrels, list(notices or []) + list(more_notices or []), list(sets or []))
    encode, engine = vector_encoder(Embedder(cfg.embedding), vector_cache)
    reports, splits, cv, fitted = {}, {}, None, None
    try:
        judged_sets = []
        for name, sme_profiles, corpus, judged in read:
            reports[name] = evaluate(sme_profiles, corpus, judged, cfg, encode, systems)
            if folds or fit or feedback_split:
                pv, nv = matching_vectors(encode, sme_profiles, corpus)
                judged_sets.append(JudgedSet(name, list(sme_profiles), corpus, judged, pv, nv))
        if feedback_split:
            splits = {s.name: _feedback_split(s, cfg, seed, repeats) for s in judged_sets}
        if fit:
            fitted = fit_sets([(s, s.judged_rows()) for s in judged_sets], cfg.matching)
        if folds and "matcher" in systems:
            cv = cross_validate(judged_sets, cfg, folds=folds, repeats=cv_repeats, seed=seed)
    except EmbeddingError as e:
        fail(str(e), 2)
    except ValueError as e:
        fail(str(e))
    finally:
        if engine is not None:
            engine.dispose()
    if fitted is not None:
        err_console.print("# fitted on all these judgments; paste into config.toml", highlight=False)
        err_console.print(fitted.as_toml(), highlight=False, markup=False)
    if as_json:
        out: dict = {"sets": {}}
        for name, report in reports.items():
            out["sets"][name] = report.as_json()
            if name in splits:
                out["sets"][name]["feedback_split"] = {**splits[name][0].as_json(), "single_rejection": splits[name][1].as_json()}
        if len(reports) == 1:
            out.update(next(iter(out["sets"].values())))
        if cv is not None:
            out["cross_validation"] = cv.as_json()
        if fitted is not None:
            out["fit"] = {"weights": fitted.weights, "calibration_slope": fitted.slope, "calibration_midpoint": fitted.midpoint}
        typer.echo(json.dumps(out, indent=2))
        return
    for name, report in reports.items():
        _print_report(name, report)
        if name in splits:
            _print_split(*splits[name])
    if cv is not None:
        _print_cv(cv)


def _print_report(name: str, report) -> None:
    table = Table("system", "nDCG@10", "P@5", "R@20", "MRR", "unjudged@10",
                  title=f"{name}: {report.profiles} judged profiles, {report.notices} notices")
    unjudged = report.unjudged_total()
    for system, m in report.systems.items():
        table.add_row(system, *(f"{m[k]:.3f}" for k in METRIC_KEYS), str(unjudged[system]))
    console.print(table)
    worst = report.worst()
    if worst:
        pid, by_system = worst
        others = ", ".join(f"{s} {v:.3f}" for s, v in by_system.items() if s != "matcher")
        console.print(f"worst served by the matcher: {pid}, nDCG@10 {by_system['matcher']:.3f}"
                      + (f" ({others})" if others else ""), highlight=False)
    console.print("unjudged@10: notices in the top 10 that nobody judged for that SME (summed over SMEs); they count as "
                  "not relevant, so read them.", highlight=False)


def _print_cv(cv) -> None:
    table = Table("set", "nDCG@10", "P@5", "R@20", "MRR", "SMEs", title=(
        f"Cross-validated matcher: {cv.folds} folds of SMEs over all sets, {cv.repeats} fold assignment(s); "
        "each fold ranked with weights fitted on the others"))
    for name, m in cv.per_set().items():
        table.add_row(name, *(f"{m[k]:.3f}" for k in METRIC_KEYS), str(len(cv.per_profile[name])))
    overall = cv.overall()
    table.add_row("all", *(f"{overall[k]:.3f}" for k in METRIC_KEYS), str(sum(map(len, cv.per_profile.values()))))
    console.print(table)


def _feedback_split(s, cfg, seed: int, repeats: int):
    from matcher.quality.feedback_split import feedback_split, single_rejection

    return (feedback_split(s.profiles, s.notices, s.qrels, s.profile_vecs, s.notice_vecs, cfg, seed, repeats),
            single_rejection(s.profiles, s.notices, s.qrels, s.profile_vecs, s.notice_vecs, cfg, seed, repeats))


def _print_split(split, rejection) -> None:
    seeds = f"seed {split.seeds[0]}" if len(split.seeds) == 1 else f"seeds {split.seeds[0]}-{split.seeds[-1]}"
    table = Table("matcher", "nDCG@10", "P@5", "R@20", "MRR", title=(
        f"Feedback split ({seeds}, mean): ~{split.replayed} judgments replayed as feedback, "
        f"~{split.measured} measured, {split.profiles} profiles"))
    rows = (("no feedback", split.without), ("with feedback", split.with_feedback), ("gain", split.gain),
            ("one rejection: none", rejection.without), ("one rejection: after", rejection.with_rejection),
            ("one rejection: change", rejection.change))
    for name, m in rows:
        fmt = "{:+.3f}" if name in ("gain", "one rejection: change") else "{:.3f}"
        table.add_row(name, *(fmt.format(m[k]) for k in METRIC_KEYS))
    console.print(table)
    console.print("The replayed notices are left out of both rankings; half of each profile's relevant and of its "
                  "not-relevant judgments is replayed. 'One rejection': one relevant notice per SME marked not "
                  f"relevant, the rest measured ({rejection.profiles} profiles); relevant notices at or above the "
                  f"threshold per SME: {rejection.passing_without:.2f} before, {rejection.passing_with:.2f} after.",
                  highlight=False)


def register(app: typer.Typer) -> None:
    app.command("match")(match_cmd)
    app.command("eval")(eval_cmd)
