"""`matcher tune`: sweep the fusion weights and the threshold on judged data, and pick the setting that meets
a target (e.g. precision >= 0.8).

For each weight setting (the configured weights, each scaled by the grid's factors, renormalised) the
calibration is refitted (logistic regression of relevance on the fused score, as `matcher eval --fit` does),
so the threshold always applies to a calibrated 0-1 score. At each threshold, over the judged profiles:
precision = relevant pairs sent / pairs sent, recall = relevant pairs sent / relevant pairs (grade >= 1;
unjudged pairs count as not relevant, so precision is a lower bound), F1, and the expected items per SME per
week = notices per week x the SME's share of notices at or above the threshold (at most top_k), averaged.
Filters as in `matcher eval`: only the SMEs' excluded words apply.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from matcher.config import MatchingConfig, WeightsConfig
from matcher.quality.corpus import Qrels
from matcher.match import EVAL, ProfileVectors
from matcher.match.filters import ProfileFilter, exclusion_reason
from matcher.match.rank import term_texts
from matcher.match.score import calibrate, fuse, text_components, with_cpv
from matcher.schema import NoticeRecord, ProfileSpec

TARGETS = ("precision", "recall", "f1")
DEFAULT_THRESHOLDS = tuple(round(0.1 + 0.05 * i, 2) for i in range(17))  # 0.10 .. 0.90
DEFAULT_FACTORS = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Target:
    metric: str  # precision, recall or f1
    minimum: float | None = None  # None for f1 (maximised)

    def __str__(self) -> str:
        return "the best F1" if self.metric == "f1" else f"{self.metric} >= {self.minimum:g}"


@dataclass(frozen=True)
class Rate:
    per_week: float
    how: str


@dataclass
class Row:
    weights: dict[str, float]
    slope: float
    midpoint: float
    threshold: float
    precision: float
    recall: float
    f1: float
    items_per_week: float  # per SME
    sent: int  # judged-profile pairs at or above the threshold
    ndcg10: float  # ranking quality of these weights (threshold-independent)
    current: bool  # the configured weights

    def config(self, cfg: MatchingConfig) -> MatchingConfig:
        return cfg.model_copy(update={"weights": WeightsConfig(**self.weights), "threshold": self.threshold,
                                      "calibration_slope": self.slope, "calibration_midpoint": self.midpoint})

    def as_toml(self) -> str:
        weights = "\n".join(f"{k} = {v}" for k, v in self.weights.items())
        return (f"[matching]\nthreshold = {self.threshold}\ncalibration_slope = {self.slope}\n"
                f"calibration_midpoint = {self.midpoint}\n\n[matching.weights]\n{weights}\n")


@dataclass
class TuneResult:
    rows: list[Row]
    rate: Rate
    target: Target
    chosen: Row | None
    profiles: int  # judged profiles the precision/recall are over

    def weight_settings(self) -> list[dict[str, float]]:
        return list({tuple(r.weights.items()): r.weights for r in self.rows}.values())

    def rows_for(self, weights: dict[str, float]) -> list[Row]:
        return [r for r in self.rows if r.weights == weights]

    def as_json(self) -> dict:
        return {"target": str(self.target), "notices_per_week": self.rate.per_week, "estimated": self.rate.how,
                "judged_profiles": self.profiles, "chosen": asdict(self.chosen) if self.chosen else None,
                "config_toml": self.chosen.as_toml() if self.chosen else None,
                "rows": [asdict(r) for r in self.rows]}


def parse_target(text: str) -> Target:
    """'precision=0.8', 'recall=0.6' or 'f1'."""
    name, sep, value = text.partition("=")
    name = name.strip().lower()
    if name not in TARGETS:
        raise ValueError(f"--target: unknown metric {name!r}; use precision=X, recall=X or f1")
    if name == "f1":
        return Target("f1")
    try:
        minimum = float(value)
    except ValueError:
        raise ValueError(f"--target: {text!r}: give {name}=X with X between 0 and 1") from None
    if not sep or not 0 < minimum <= 1:
        raise ValueError(f"--target: {text!r}: give {name}=X with X between 0 and 1")
    return Target(name, minimum)


def weekly_rate(notices: Sequence[NoticeRecord]) -> Rate:
    """Notices per week in the corpus: dated notices / distinct ISO weeks they were published in."""
    dated = [n.published_at for n in notices if n.published_at is not None]
    if not dated:
        raise ValueError("no notice has a publication date: give --notices-per-week")
    weeks = {d.isocalendar()[:2] for d in dated}
    rate = len(dated) / len(weeks)
    return Rate(rate, f"{len(dated)} of {len(notices)} notices have a publication date, in {len(weeks)} distinct weeks "
                      f"from {min(dated):%Y-%m-%d} to {max(dated):%Y-%m-%d}: {rate:.1f} notices a week in the weeks the "
                      f"corpus covers")


def weight_grid(current: WeightsConfig, factors: Sequence[float]) -> list[dict[str, float]]:
    """The configured weights first, then every combination of them scaled by `factors`, renormalised and rounded."""
    base = current.model_dump()
    out: dict[tuple, dict[str, float]] = {}
    for combo in itertools.chain([(1.0,) * len(base)], itertools.product(factors, repeat=len(base))):
        scaled = {k: v * f for (k, v), f in zip(base.items(), combo)}
        total = sum(scaled.values())
        if total <= 0:
            continue
        w = {k: round(v / total, 3) for k, v in scaled.items()}
        out.setdefault(tuple(w.values()), w)
    return list(out.values())


def _fit_calibration(raw: np.ndarray, grades: np.ndarray) -> tuple[float, float] | None:
    """(slope, midpoint) of a logistic regression of grade >= 1 on the raw score (grade 2 counted twice)."""
    from sklearn.linear_model import LogisticRegression

    x, g = raw.reshape(-1, 1), grades.reshape(-1)
    if len(set((g >= 1).tolist())) < 2:
        return None
    model = LogisticRegression(C=100.0, max_iter=5000).fit(x, (g >= 1).astype(int), sample_weight=np.where(g >= 2, 2.0, 1.0))
    slope = float(model.coef_[0][0])
    if slope <= 0:
        return None
    return round(slope, 2), round(float(-model.intercept_[0] / slope), 4)


def _ndcg10(raw: np.ndarray, allowed: np.ndarray, grades: np.ndarray) -> float:
    gains = (2.0 ** grades - 1.0)
    out = []
    for i in range(len(raw)):
        order = [j for j in np.argsort(-raw[i], kind="stable") if allowed[i, j]][:10]
        dcg = sum(gains[i, j] / np.log2(r + 2) for r, j in enumerate(order))
        ideal = sorted(gains[i], reverse=True)[:10]
        idcg = sum(g / np.log2(r + 2) for r, g in enumerate(ideal))
        out.append(dcg / idcg if idcg > 0 else 0.0)
    return float(np.mean(out))


def tune(
    profiles: Sequence[ProfileSpec], notices: Sequence[NoticeRecord], qrels: Qrels,
    profile_vecs: Sequence[ProfileVectors], notice_vecs: np.ndarray, cfg: MatchingConfig, target: Target,
    rate: Rate, thresholds: Sequence[float] = DEFAULT_THRESHOLDS, factors: Sequence[float] = DEFAULT_FACTORS,
) -> TuneResult:
    """Every (weights, threshold) setting's precision, recall, F1 and items per SME per week; the chosen one."""
    from matcher.clock import utc_now

    judged = [i for i, p in enumerate(profiles) if any(g >= 1 for g in qrels.get(p.id, {}).values())]
    if not judged:
        raise ValueError("no profile has a judgment of grade 1 or more: nothing to tune on")
    terms = term_texts(notices)
    base, _ = text_components(profiles, notices, profile_vecs, notice_vecs, terms, cfg)
    now = utc_now()  # the EVAL switches ignore time
    filters = [ProfileFilter.of(p) for p in profiles]
    allowed = np.array([[exclusion_reason(f, n, t, now, cfg, EVAL) is None for n, t in zip(notices, terms)] for f in filters])
    grades = np.array([[qrels[profiles[i].id].get(n.key, 0) for n in notices] for i in judged])
    relevant = (grades >= 1) & allowed[judged]
    current = {k: round(v / sum(cfg.weights.model_dump().values()), 3) for k, v in cfg.weights.model_dump().items()}
    infer = bool(cfg.infer_cpv_top) and any(not p.cpv for p in profiles)  # only then does cpv depend on the weights
    fixed = None if infer else with_cpv(base, profiles, notices, cfg.weights, cfg)
    rows: list[Row] = []
    for w in weight_grid(cfg.weights, factors):
        weights = WeightsConfig(**w)
        raw = fuse(fixed or with_cpv(base, profiles, notices, weights, cfg), weights)
        fitted = _fit_calibration(raw[judged], grades)
        if fitted is None:
            continue
        slope, midpoint = fitted
        score = calibrate(raw, cfg.model_copy(update={"calibration_slope": slope, "calibration_midpoint": midpoint}))
        ndcg = _ndcg10(raw[judged], allowed[judged], grades)
        for t in thresholds:
            sent_all = (score >= t) & allowed
            sent = sent_all[judged]
            hits, n_sent, n_rel = int((sent & relevant).sum()), int(sent.sum()), int(relevant.sum())
            p = hits / n_sent if n_sent else 0.0
            r = hits / n_rel if n_rel else 0.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            share = sent_all.sum(axis=1) / max(len(notices), 1)
            items = float(np.mean(np.minimum(rate.per_week * share, cfg.top_k)))
            rows.append(Row(w, slope, midpoint, float(t), p, r, f1, items, n_sent, ndcg, w == current))
    return TuneResult(rows, rate, target, choose(rows, target), len(judged))


def choose(rows: Sequence[Row], target: Target) -> Row | None:
    """The setting that meets the target best: precision >= X with the most recall, recall >= X with the most
    precision, or the best F1. Ties go to the configured weights, then to the higher threshold."""
    sent = [r for r in rows if r.sent > 0]
    if target.metric == "precision":
        ok, key = [r for r in sent if r.precision >= target.minimum], lambda r: (r.recall, r.f1)
    elif target.metric == "recall":
        ok, key = [r for r in sent if r.recall >= target.minimum], lambda r: (r.precision, r.f1)
    else:
        ok, key = sent, lambda r: (r.f1, 0.0)
    if not ok:
        return None
    return max(ok, key=lambda r: (*(round(x, 6) for x in key(r)), r.current, r.threshold))
