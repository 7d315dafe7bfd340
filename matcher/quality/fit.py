"""Fitting the matcher's fusion weights and calibration on judged data, and checking the fit on unseen SMEs.

The fit has two steps, each profile ranked against its own set's corpus (unjudged pairs are not relevant):
- Weights, pairwise (a linear RankNet/RankSVM-style logistic regression without intercept): within each judged
  profile, every (relevant, not relevant) pair of notices is one example whose features are the difference of
  their four score components (match.score), label "the first ranks above"; grade-2 over grade-1 pairs count at
  half weight, a pair with a grade-2 notice counts twice, and every profile's pairs together weigh the same, so an
  SME with many judgments does not decide the weights. This fits what the digest needs, the order of one SME's
  notices, rather than scores compared across SMEs (a pointwise fit is pulled by how strongly each SME matches at
  all). A component that hurts gets weight 0, never a negative one.
- Calibration: a weakly regularised 1-D logistic regression of grade >= 1 on the fused raw score (grade 2 counted
  twice), giving score = 1/(1+exp(-slope*(raw - midpoint))): the chance the SME calls the notice relevant.

`cross_validate` is the honest figure: the judged profiles of all sets are dealt into k folds (each set's
profiles spread over the folds), and each fold is ranked with weights fitted on the other folds only. The
CPV codes a profile without codes borrows depend on the weights, so a fold's fit runs twice: first with
equal weights, then with the weights of that first fit; neither touches the measured fold.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from matcher.config import Config, MatchingConfig, WeightsConfig
from matcher.match import ProfileVectors
from matcher.match.rank import term_texts
from matcher.match.score import COMPONENTS, Components, fuse, text_components, with_cpv
from matcher.quality.corpus import Qrels
from matcher.schema import NoticeRecord, ProfileSpec

FIT_C = 0.1  # inverse L2 strength of the pairwise weight fit; chosen by cross-validation (bench/eval_variants.md)
CALIBRATION_C = 100.0  # the 1-D calibration is weakly regularised (as `matcher tune`'s)
GRADE_PAIR_WEIGHT = 0.5  # a profile's (grade 2, grade 1) pairs together, beside its (relevant, not relevant) ones at 1


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


@dataclass
class JudgedSet:
    """One evaluation set with its vectors: profiles are ranked against this set's notices only."""

    name: str
    profiles: list[ProfileSpec]
    notices: list[NoticeRecord]
    qrels: Qrels
    profile_vecs: list[ProfileVectors]
    notice_vecs: np.ndarray
    _text: Components | None = field(default=None, repr=False)

    def judged_rows(self) -> list[int]:
        return [i for i, p in enumerate(self.profiles) if any(g >= 1 for g in self.qrels.get(p.id, {}).values())]

    def text_components(self, cfg: MatchingConfig) -> Components:
        """The weight-independent components of every profile, computed once."""
        if self._text is None:
            self._text, _ = text_components(self.profiles, self.notices, self.profile_vecs, self.notice_vecs,
                                            term_texts(self.notices), cfg)
        return self._text

    def features(self, rows: Sequence[int], cfg: MatchingConfig) -> tuple[np.ndarray, np.ndarray]:
        """((rows, notices, 4) components with CPV inferred under cfg.weights (keyword NaN for a profile without
        keywords, as fuse() expects), (rows, notices) grades)."""
        comps = self.text_components(cfg)
        sub = Components(**{c: getattr(comps, c)[list(rows)] for c in COMPONENTS})
        sub = with_cpv(sub, [self.profiles[i] for i in rows], self.notices, cfg.weights, cfg)
        feats = np.stack([getattr(sub, c) for c in COMPONENTS], axis=-1)
        grades = np.array([[self.qrels.get(self.profiles[i].id, {}).get(n.key, 0) for n in self.notices] for i in rows])
        return feats, grades.reshape(len(rows), len(self.notices))


def _pairs(feats: np.ndarray, grades: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One profile's ranking examples: (feature differences "first minus second", their weights). Each (relevant,
    not relevant) pair weighs 1/pairs, twice that with a grade-2 notice; the (grade 2, grade 1) pairs together
    GRADE_PAIR_WEIGHT. So every profile weighs about the same whatever its number of judgments."""
    diffs, weights = [], []
    pos, neg = np.flatnonzero(grades >= 1), np.flatnonzero(grades == 0)
    if len(pos) and len(neg):
        d = (feats[pos][:, None, :] - feats[neg][None, :, :]).reshape(-1, feats.shape[-1])
        diffs.append(d)
        weights.append(np.repeat(np.where(grades[pos] >= 2, 2.0, 1.0), len(neg)) / len(d))
    top, mid = np.flatnonzero(grades >= 2), np.flatnonzero(grades == 1)
    if len(top) and len(mid):
        d = (feats[top][:, None, :] - feats[mid][None, :, :]).reshape(-1, feats.shape[-1])
        diffs.append(d)
        weights.append(np.full(len(d), GRADE_PAIR_WEIGHT / len(d)))
    if not diffs:
        return np.zeros((0, feats.shape[-1])), np.zeros(0)
    return np.concatenate(diffs), np.concatenate(weights)


def _fit(parts: Sequence[tuple[JudgedSet, Sequence[int]]], cfg: MatchingConfig, c: float) -> Fit:
    from sklearn.linear_model import LogisticRegression

    diffs, weights, xs, gs = [], [], [], []
    for s, rows in parts:
        if len(rows):
            f, g = s.features(rows, cfg)
            for fi, gi in zip(f, g):
                d, w = _pairs(np.nan_to_num(fi), gi)  # a missing component: equal for both, so 0
                diffs.append(d)
                weights.append(w)
            xs.append(f.reshape(-1, len(COMPONENTS)))
            gs.append(g.reshape(-1))
    d = np.concatenate(diffs) if diffs else np.zeros((0, len(COMPONENTS)))
    if not len(d):
        raise ValueError("no profile has both a judgment of grade 1 or more and a notice that is not relevant: nothing to fit")
    w = np.concatenate(weights)
    w = np.concatenate([w, w]) / w.mean()  # each pair both ways round, so the classes balance without an intercept
    ranker = LogisticRegression(C=c, fit_intercept=False, max_iter=5000)
    ranker.fit(np.concatenate([d, -d]), np.r_[np.ones(len(d)), np.zeros(len(d))], sample_weight=w)
    coef = np.clip(ranker.coef_[0], 0.0, None)  # a component that hurts gets no weight rather than a negative one
    total = float(coef.sum())
    if total <= 0:
        raise ValueError("the fit gave every component a weight of 0: the judgments do not follow any signal")
    fitted = {n: float(v / total) for n, v in zip(COMPONENTS, coef)}
    comps = np.concatenate(xs)
    raw = fuse(Components(*(comps[:, k][None, :] for k in range(len(COMPONENTS)))), WeightsConfig(**fitted))[0]
    g = np.concatenate(gs)
    calib = LogisticRegression(C=CALIBRATION_C, max_iter=5000)
    calib.fit(raw.reshape(-1, 1), (g >= 1).astype(int), sample_weight=np.where(g >= 2, 2.0, 1.0))
    slope = float(calib.coef_[0][0])
    if slope <= 0:
        raise ValueError("the calibration fit found no rise of relevance with the score")
    return Fit(fitted, slope, float(-calib.intercept_[0] / slope))


def fit_sets(parts: Sequence[tuple[JudgedSet, Sequence[int]]], cfg: MatchingConfig, c: float = FIT_C,
             passes: int = 1) -> Fit:
    """Weights and calibration fitted on the given profile rows of each set. With passes=2 the first pass infers
    CPV codes with equal weights and the second with the first pass's weights (so nothing but these rows counts)."""
    if passes == 1:
        return _fit(parts, cfg, c)
    step = cfg.model_copy(update={"weights": WeightsConfig(**{k: 1.0 for k in COMPONENTS})})
    for _ in range(passes):
        fit = _fit(parts, step, c)
        step = fit.apply(cfg)
    return fit


def fit_calibration(
    profiles: Sequence[ProfileSpec], notices: Sequence[NoticeRecord], qrels: Qrels,
    profile_vecs: Sequence[ProfileVectors], notice_vecs: np.ndarray, cfg: MatchingConfig, c: float = FIT_C,
) -> Fit:
    """The fit on one set (CPV inference under the configured weights)."""
    s = JudgedSet("set", list(profiles), list(notices), qrels, list(profile_vecs), notice_vecs)
    return fit_sets([(s, s.judged_rows())], cfg, c)


def folds_of(sets: Sequence[JudgedSet], k: int, seed: int) -> list[list[tuple[int, int]]]:
    """k folds of (set index, profile row): each set's judged profiles shuffled (seeded) and dealt in turn, the
    dealing carrying on from set to set, so every fold holds profiles of every set and fold sizes differ by <= 1."""
    rng = np.random.default_rng(seed)
    folds: list[list[tuple[int, int]]] = [[] for _ in range(k)]
    at = 0
    for si, s in enumerate(sets):
        rows = s.judged_rows()
        for r in rng.permutation(len(rows)):
            folds[at % k].append((si, rows[int(r)]))
            at += 1
    return folds


@dataclass
class CrossValidation:
    """Held-out metrics: per profile (mean over repeats), per set and over all sets (means over profiles)."""

    per_profile: dict[str, dict[str, dict[str, float]]]  # set name -> profile id -> metric -> value
    folds: int
    repeats: int
    fits: list[Fit] = field(default_factory=list)

    def per_set(self) -> dict[str, dict[str, float]]:
        return {name: _mean(rows.values()) for name, rows in self.per_profile.items()}

    def overall(self) -> dict[str, float]:
        return _mean([m for rows in self.per_profile.values() for m in rows.values()])

    def as_json(self) -> dict:
        return {"folds": self.folds, "repeats": self.repeats, "all": self.overall(), "sets": self.per_set(),
                "per_profile": self.per_profile}


def _mean(rows) -> dict[str, float]:
    rows = list(rows)
    return {m: float(np.mean([r[m] for r in rows])) for m in rows[0]} if rows else {}


def cross_validate(sets: Sequence[JudgedSet], cfg: Config, folds: int = 5, repeats: int = 2, seed: int = 0,
                   c: float = FIT_C) -> CrossValidation:
    """Leave-profiles-out cross-validation of the fit over all sets: each fold ranked (by the matcher itself, EVAL
    switches) with weights and calibration fitted on the other folds only."""
    from matcher.quality.evaluate import matcher_run, profile_metrics

    n = sum(len(s.judged_rows()) for s in sets)
    if folds < 2 or folds > n:
        raise ValueError(f"--folds: {folds} must be between 2 and the {n} judged profiles")
    collected: dict[str, dict[str, list[dict[str, float]]]] = {s.name: {} for s in sets}
    fits = []
    for r in range(repeats):
        dealt = folds_of(sets, folds, seed + r)
        for f, held in enumerate(dealt):
            train = [x for g, fold in enumerate(dealt) if g != f for x in fold]
            fit = fit_sets([(s, [row for si, row in train if si == i]) for i, s in enumerate(sets)], cfg.matching, c, passes=2)
            fits.append(fit)
            held_cfg = cfg.model_copy(update={"matching": fit.apply(cfg.matching)})
            for i, s in enumerate(sets):
                rows = [row for si, row in held if si == i]
                if not rows:
                    continue
                run = matcher_run([s.profiles[j] for j in rows], s.notices, [s.profile_vecs[j] for j in rows],
                                  s.notice_vecs, held_cfg)
                for pid, m in profile_metrics(run, {s.profiles[j].id: s.qrels[s.profiles[j].id] for j in rows}).items():
                    collected[s.name].setdefault(pid, []).append(m)
    per_profile = {name: {pid: _mean(ms) for pid, ms in sorted(rows.items())} for name, rows in collected.items()}
    return CrossValidation(per_profile, folds, repeats, fits)


def check_split_half(
    profiles: Sequence[ProfileSpec], notices: Sequence[NoticeRecord], qrels: Qrels,
    profile_vecs: Sequence[ProfileVectors], notice_vecs: np.ndarray, cfg: Config, repeats: int = 10, seed: int = 0,
) -> dict[str, float]:
    """Mean metrics on held-out halves of one set's judged profiles (2-fold cross-validation, `repeats` times)."""
    s = JudgedSet("set", list(profiles), list(notices), qrels, list(profile_vecs), notice_vecs)
    return cross_validate([s], cfg, folds=2, repeats=repeats, seed=seed).overall()


__all__ = ["Fit", "JudgedSet", "CrossValidation", "fit_sets", "fit_calibration", "folds_of", "cross_validate",
           "check_split_half"]
