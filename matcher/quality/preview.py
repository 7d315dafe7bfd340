"""Admin preview: what each SME would get this week with a proposed threshold and weights, next to what it
gets with the current config, before anyone edits config.toml.

It reads the store through the match job's own steps (matcher.match_week.load_week and choose, feedback included)
and writes nothing: no Match rows, and texts missing from the vector cache are embedded for this run only.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

import numpy as np
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from matcher import clock
from matcher.config import Config, MatchingConfig, WeightsConfig
from matcher.embed import Embedder, cached_embed


class PreviewError(ValueError):
    """A proposed setting that cannot be used; the message names the option and value."""


@dataclass
class Item:
    key: str
    title: str
    score_now: float | None  # calibrated score under the current config (None: below its threshold or filtered)
    score_proposed: float | None


@dataclass
class SmePreview:
    profile_id: str
    name: str
    now: int  # items this week with the current config (any already in this week's digest included)
    proposed: int
    entering: list[Item] = field(default_factory=list)
    leaving: list[Item] = field(default_factory=list)
    verdicts: int = 0  # the SME's stored feedback, which both rankings use


@dataclass
class PreviewReport:
    week: str
    candidates: int
    changes: dict[str, tuple[float, float]]  # setting -> (current, proposed)
    smes: list[SmePreview]
    errors: list[str] = field(default_factory=list)
    embedded_now: int = 0  # texts not in the vector cache, embedded for this preview and not kept

    def as_json(self) -> dict:
        return asdict(self)


def _number(option: str, name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PreviewError(f"{option}: {name}={text!r}: the value is not a number") from None
    if not np.isfinite(value):
        raise PreviewError(f"{option}: {name}={text!r}: the value must be a finite number")
    return value


def proposed_config(current: MatchingConfig, threshold: float | None = None, weights: Sequence[str] = ()) -> MatchingConfig:
    """The current [matching] settings with a new threshold and/or weights ("name=value" each)."""
    known = list(WeightsConfig.model_fields)
    new_weights = current.weights.model_dump()
    for arg in weights:
        name, sep, value = arg.partition("=")
        name = name.strip().removeprefix("weights.")
        if not sep:
            raise PreviewError(f"--weight: {arg!r} is not name=value (names: {', '.join(known)})")
        if name not in known:
            raise PreviewError(f"--weight: unknown weight {name!r}; known: {', '.join(known)}")
        new_weights[name] = _number("--weight", name, value.strip())
    data = current.model_dump()
    data["weights"] = new_weights
    if threshold is not None:
        data["threshold"] = threshold
    try:
        return MatchingConfig.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        option = "--threshold" if where == "threshold" else "--weight"
        raise PreviewError(f"{option}: {where}: {first['msg']} (got {first.get('input')!r})") from None


def changed_settings(current: MatchingConfig, proposed: MatchingConfig) -> dict[str, tuple[float, float]]:
    out = {}
    if current.threshold != proposed.threshold:
        out["threshold"] = (current.threshold, proposed.threshold)
    for name, value in current.weights.model_dump().items():
        new = getattr(proposed.weights, name)
        if new != value:
            out[f"weights.{name}"] = (value, new)
    return out


def preview(
    cfg: Config, engine: Engine, now: datetime, proposed: MatchingConfig, profile_ids: Sequence[str] | None = None,
    embedder: Embedder | None = None,
) -> PreviewReport:
    """Both weeks, current and proposed, for every active SME (or `profile_ids`); the store is left unchanged."""
    from matcher.match_week import MatchReport, choose, load_week, sent_before, week_vectors

    embedder = embedder or Embedder(cfg.embedding)
    job = MatchReport(week=clock.week_of(now, cfg.digest.timezone), cadence=None)  # SMEs of both cadences
    with Session(engine) as s:
        inputs = load_week(s, cfg, now, profile_ids, job)
        # the whole week, including items already in this week's digest (the job keeps those and adds the rest)
        inputs.skip = sent_before(s, job.week, [p.id for p in inputs.profiles])
    report = PreviewReport(job.week, len(inputs.notices), changed_settings(cfg.matching, proposed), [], job.errors)

    def encode(texts: list[str]) -> np.ndarray:
        with Session(engine) as s:  # read the cache; what is missing is embedded, used and then rolled back
            vecs, new = cached_embed(s, embedder, texts)
            s.rollback()
        report.embedded_now += new
        return vecs

    if not inputs.profiles:
        return report
    vectors = week_vectors(inputs, encode) if inputs.notices else None
    runs = [choose(inputs, vectors, m, now, full=True) if vectors else (None, {}) for m in (cfg.matching, proposed)]
    titles = {n.key: n.title for n in inputs.notices}
    for p in inputs.profiles:
        (res_now, now_items), (res_new, new_items) = runs
        scores_now = _scores(res_now, p.id)
        scores_new = _scores(res_new, p.id)
        before = [i.key for i in now_items.get(p.id, [])]
        after = [i.key for i in new_items.get(p.id, [])]
        item = lambda k: Item(k, titles.get(k, k), scores_now.get(k), scores_new.get(k))  # noqa: E731
        report.smes.append(SmePreview(
            p.id, p.name, len(before), len(after),
            entering=[item(k) for k in after if k not in before], leaving=[item(k) for k in before if k not in after],
            verdicts=len(inputs.judged.get(p.id, [])),
        ))
    return report


def _scores(result, profile_id: str) -> dict[str, float]:
    if result is None:
        return {}
    ranking = next((r for r in result.rankings if r.profile.id == profile_id), None)
    return {i.key: i.score for i in ranking.items} if ranking else {}
