"""Fitting the matcher's fusion weights and calibration on judged data (logistic regression).

The fit: every (judged profile, notice) pair is one example; label = grade >= 1, grade-2 pairs count
twice, unjudged pairs are not relevant. Features are the four score components (match.score).
The logit w.c + b is rewritten as slope*(raw - midpoint) with raw the weighted mean of the components:
weights = w/sum(w), slope = sum(w), midpoint = -b/sum(w). `check_split_half` refits on half of the
profiles and measures on the other half, to see that the fitted settings hold for unseen profiles.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matcher.config import Config, MatchingConfig, WeightsConfig
from matcher.quality.corpus import Qrels
from matcher.match import ProfileVectors
from matcher.match.rank import term_texts
from matcher.match.score import COMPONENTS, components_for
from matcher.schema import NoticeRecord, ProfileSpec


@dataclass
class Fit:
    weights: dict[str, float]
    slope: float
    midpoint: float

    def apply(self, cfg: MatchingConfig) -> MatchingConfig:
        return cfg.model_copy(update={
            "weights": WeightsConfig(**self.weights), "calibration_slope": self.slope, "calibration_midpoint": self.midpoint,
        })

    def as_toml(self) -> str:
        w = "\n".join(f"{k} = {v:.3f}" for k, v in self.weights.items())
        return (f"[matching]\ncalibration_slope = {self.slope:.2f}\ncalibration_midpoint = {self.midpoint:.3f}\n\n"
                f"[matching.weights]\n{w}\n")


def _features(profiles, notices, profile_vecs, notice_vecs, cfg: MatchingConfig) -> np.ndarray:
    comps, _ = components_for(profiles, notices, profile_vecs, notice_vecs, term_texts(notices), cfg)
    return np.nan_to_num(np.stack([getattr(comps, c) for c in COMPONENTS], axis=-1))  # (P, N, 4)


def fit_calibration(
    profiles: Sequence[ProfileSpec], notices: Sequence[NoticeRecord], qrels: Qrels,
    profile_vecs: Sequence[ProfileVectors], notice_vecs: np.ndarray, cfg: MatchingConfig, c: float = 1.0,
) -> Fit:
    from sklearn.linear_model import LogisticRegression

    judged = [i for i, p in enumerate(profiles) if any(g >= 1 for g in qrels.get(p.id, {}).values())]
    if not judged:
        raise ValueError("no profile has a judgment of grade 1 or more: nothing to fit")
    feats = _features([profiles[i] for i in judged], notices, [profile_vecs[i] for i in judged], notice_vecs, cfg)
    grades = np.array([[qrels[profiles[i].id].get(n.key, 0) for n in notices] for i in judged])
    x, g = feats.reshape(-1, len(COMPONENTS)), grades.reshape(-1)
    model = LogisticRegression(C=c, max_iter=5000)
    model.fit(x, (g >= 1).astype(int), sample_weight=np.where(g >= 2, 2.0, 1.0))
    coef = np.clip(model.coef_[0], 0.0, None)  # a component that hurts gets no weight rather than a negative one
    total = float(coef.sum())
    if total <= 0:
        raise ValueError("the fit gave every component a weight of 0: the judgments do not follow any signal")
    return Fit({n: float(w / total) for n, w in zip(COMPONENTS, coef)}, total, float(-model.intercept_[0] / total))


def check_split_half(
    profiles: Sequence[ProfileSpec], notices: Sequence[NoticeRecord], qrels: Qrels,
    profile_vecs: Sequence[ProfileVectors], notice_vecs: np.ndarray, cfg: Config, repeats: int = 10, seed: int = 0,
) -> dict[str, float]:
    """Mean metrics on held-out halves of the judged profiles, each half ranked with weights fitted on the other."""
    from matcher.quality.evaluate import judged_profiles, matcher_run, score_run

    ids = judged_profiles(qrels)
    index = {p.id: i for i, p in enumerate(profiles)}
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(repeats):
        perm = list(rng.permutation(ids))
        for train, test in ((perm[: len(perm) // 2], perm[len(perm) // 2 :]), (perm[len(perm) // 2 :], perm[: len(perm) // 2])):
            sub = lambda keep: ([profiles[index[p]] for p in keep], [profile_vecs[index[p]] for p in keep])  # noqa: E731
            tp, tv = sub(train)
            fit = fit_calibration(tp, notices, {p: qrels[p] for p in train}, tv, notice_vecs, cfg.matching)
            held = cfg.model_copy(update={"matching": fit.apply(cfg.matching)})
            ep, ev = sub(test)
            run = matcher_run(ep, notices, ev, notice_vecs, held)
            rows.append(score_run(run, {p: qrels[p] for p in test}))
    return {m: float(np.mean([r[m] for r in rows])) for m in rows[0]}
