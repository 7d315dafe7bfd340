"""`matcher tune`: sweep the threshold and weights on judged data; print the [matching] block meeting a target."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from matcher.cli.common import ConfigOption, console, err_console, fail, load


def _numbers(option: str, text: str, low: float, high: float) -> list[float]:
    """'0.3,0.5,0.7' or 'start:stop:step' (stop included)."""
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0:
                raise ValueError
            values = [round(start + i * step, 4) for i in range(int(round((stop - start) / step)) + 1)]
        else:
            values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        fail(f"{option}: {text!r} is not a comma-separated list of numbers or start:stop:step", 2)
    bad = [v for v in values if not low <= v <= high]
    if not values or bad:
        fail(f"{option}: {text!r}: every value must be between {low:g} and {high:g}", 2)
    return values


def _target(precision: float | None, recall: float | None, target: str | None):
    from matcher.quality.tune import Target, parse_target

    given = [t for t in (precision is not None, recall is not None, target is not None) if t]
    if len(given) > 1:
        fail("give one target: --target-precision, --target-recall or --target", 2)
    if precision is not None:
        return Target("precision", precision)
    if recall is not None:
        return Target("recall", recall)
    try:
        return parse_target(target or "precision=0.8")
    except ValueError as e:
        fail(str(e), 2)


def tune_cmd(
    profiles: Path = typer.Option(..., "--profiles", exists=True, dir_okay=False, help="Profiles (JSON list or CSV)."),
    qrels: Path = typer.Option(..., "--qrels", exists=True, dir_okay=False, help="Judgments, one JSON object a line."),
    notices: list[Path] = typer.Option(..., "--notices", help="Notice files (JSON lines) or a folder of them; repeatable."),
    more_notices: list[Path] = typer.Argument(None, help="Further notice files.", show_default=False),
    target_precision: float = typer.Option(None, "--target-precision", min=0.0, max=1.0, help="Choose the setting with the most recall at this precision or more (default 0.8)."),
    target_recall: float = typer.Option(None, "--target-recall", min=0.0, max=1.0, help="Choose the setting with the most precision at this recall or more."),
    target: str = typer.Option(None, "--target", help="precision=X, recall=X or f1 (the best F1)."),
    thresholds: str = typer.Option("0.1:0.9:0.05", "--thresholds", help="Thresholds to try: a list (0.3,0.5) or start:stop:step."),
    grid: str = typer.Option("0.5,1,2", "--grid", help="Each configured weight is scaled by each of these factors (every combination, renormalised); 1 sweeps the threshold alone."),
    notices_per_week: float = typer.Option(None, "--notices-per-week", min=0.0, help="Notices a week to expect live (default: estimated from the corpus' publication dates)."),
    plot: Path = typer.Option(None, "--plot", dir_okay=False, help="Save precision/recall/F1 and items per week against the threshold as a PNG."),
    as_json: bool = typer.Option(False, "--json", help="Print every setting and the chosen one as JSON."),
    show: int = typer.Option(10, "--show", min=1, help="Weight settings listed (best first for the target)."),
    vector_cache: Path = typer.Option(None, "--vector-cache", help="SQLite file to cache embeddings in between runs."),
    config: Path = ConfigOption,
) -> None:
    """Sweep the threshold (on the calibrated score) and the fusion weights against judgments: precision, recall,
    F1 and expected items per SME per week at each setting, and the [matching] block that meets the target."""
    from matcher.cli.eval_inputs import read_eval_set, vector_encoder
    from matcher.embed import Embedder, EmbeddingError, matching_vectors
    from matcher.quality.tune import Rate, tune, weekly_rate
    from matcher.quality.tune_plot import save_plot

    cfg = load(config)
    goal = _target(target_precision, target_recall, target)
    steps = _numbers("--thresholds", thresholds, 0.0, 1.0)
    factors = _numbers("--grid", grid, 0.0, 100.0)
    sme_profiles, corpus, judged = read_eval_set(profiles, qrels, list(notices) + list(more_notices or []))
    if notices_per_week is not None:
        rate = Rate(notices_per_week, f"{notices_per_week:g} notices a week, as given with --notices-per-week")
    else:
        try:
            rate = weekly_rate(corpus)
        except ValueError as e:
            fail(str(e), 2)
    encode, engine = vector_encoder(Embedder(cfg.embedding), vector_cache)
    try:
        profile_vecs, notice_vecs = matching_vectors(encode, sme_profiles, corpus)
        result = tune(sme_profiles, corpus, judged, profile_vecs, notice_vecs, cfg.matching, goal, rate, steps, factors)
    except EmbeddingError as e:
        fail(str(e), 2)
    except ValueError as e:
        fail(str(e))
    finally:
        if engine is not None:
            engine.dispose()
    if plot is not None:
        save_plot(result, plot)
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2))
    else:
        _print(result, show, plot)
    if result.chosen is None:
        best = max((getattr(r, goal.metric) for r in result.rows), default=0.0)
        fail(f"no setting reaches {goal} (the best is {best:.3f}); try a lower target or more --thresholds")


def _print(result, show: int, plot: Path | None) -> None:
    from matcher.quality.tune import choose

    fmt = lambda r: (f"{r.threshold:.2f}", f"{r.precision:.3f}", f"{r.recall:.3f}", f"{r.f1:.3f}",  # noqa: E731
                     f"{r.items_per_week:.2f}", str(r.sent))
    shown = result.chosen.weights if result.chosen else next(r.weights for r in result.rows if r.current)
    label = "chosen" if result.chosen and not result.chosen.current else "configured"
    table = Table("threshold", "precision", "recall", "F1", "items/SME/week", "pairs sent",
                  title=f"Threshold sweep, {label} weights " + ", ".join(f"{k} {v}" for k, v in shown.items()))
    for r in result.rows_for(shown):
        table.add_row(*fmt(r), style="bold" if r is result.chosen else None)
    console.print(table)
    settings = []
    for w in result.weight_settings():
        rows = result.rows_for(w)
        met = choose(rows, result.target)
        settings.append((met or max(rows, key=lambda r: (getattr(r, result.target.metric), r.threshold)), met is not None))
    settings.sort(key=lambda pair: (pair[0] is result.chosen, pair[1], pair[0].recall if result.target.metric == "precision"
                                    else pair[0].precision if result.target.metric == "recall" else pair[0].f1), reverse=True)
    listed = settings[:show] + [s for s in settings[show:] if s[0].current]
    table = Table("dense", "lex", "kw", "cpv", "nDCG@10", "thr.", "P", "R", "F1", "items",
                  title=f"Weight sweep ({len(settings)} settings, {len(listed)} shown), each at its best threshold for "
                        f"{result.target}; * = configured weights; P/R = precision/recall, items = per SME per week")
    for best, met in listed:
        weights = [f"{v:.2f}" for v in best.weights.values()]
        weights[-1] += "*" if best.current else ""
        table.add_row(*weights, f"{best.ndcg10:.3f}", *fmt(best)[:5], style="bold" if best is result.chosen else
                      None if met else "dim")
    console.print(table)
    console.print(f"{result.profiles} judged profiles; unjudged notices count as not relevant, so precision is a lower "
                  f"bound. The calibration is refitted for each weight setting, so every threshold is a 0-1 chance of "
                  f"relevance. Items per SME per week: {result.rate.how}, times each SME's share of the corpus at or "
                  f"above the threshold (at most top_k), averaged over the profiles; live region, value and closing-date "
                  f"filters remove more.", highlight=False)
    if plot is not None:
        console.print(f"plot saved to {plot}", highlight=False)
    if result.chosen is not None:
        c = result.chosen
        err_console.print(f"# meets {result.target}: precision {c.precision:.3f}, recall {c.recall:.3f}, F1 {c.f1:.3f}, "
                          f"~{c.items_per_week:.2f} items per SME per week. Replace these keys in config.toml "
                          f"(or check it with `matcher config check`):", highlight=False, markup=False)
        typer.echo(c.as_toml())


def register(app: typer.Typer) -> None:
    app.command("tune")(tune_cmd)
