"""The four score components of every (profile, notice) pair, their fusion and its calibration.

- dense: MiniLM cosine of the notice (title + body) with the profile query, averaged with the mean
  cosine of the notice with each profile keyword (keywords act as extra queries);
- lexical: TF-IDF cosine (stemmed words and word pairs, title counted `title_weight` times);
- keyword: the share of the SME's keywords found in the notice (whole stemmed phrases);
- cpv: 2*overlap-1 through the CPV hierarchy (-1 unrelated .. +1 inside the SME's class), 0 when
  either side lists no codes. A profile that lists no codes borrows the commonest CPV groups of its
  best matches on the other three components (pseudo-relevance feedback; matching.infer_cpv_*).

raw = the weighted mean of the components (a profile without keywords leaves the keyword weight out);
score = 1/(1+exp(-slope*(raw - midpoint))), a 0..1 estimate of the chance the SME would judge the
notice relevant. Weights, slope and midpoint are a logistic regression on the dev judgments (grade>=1
relevant, grade 2 counted twice, unjudged pairs as not relevant): `matcher eval --fit` refits them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from matcher.config import MatchingConfig, WeightsConfig
from matcher.match.cpv import cpv_overlap, infer_codes
from matcher.match.terms import TermText, phrases, stems
from matcher.match.texts import lexical_text, profile_query
from matcher.schema import NoticeRecord, ProfileSpec

COMPONENTS = ("dense", "lexical", "keyword", "cpv")


@dataclass(frozen=True)
class ProfileVectors:
    """A profile's embeddings: its query text, and each keyword (shape (k, dim); k may be 0)."""

    query: np.ndarray
    keywords: np.ndarray


@dataclass
class Components:
    """Each component as a (profiles x notices) float32 array; keyword rows are NaN for a profile without keywords."""

    dense: np.ndarray
    lexical: np.ndarray
    keyword: np.ndarray
    cpv: np.ndarray
    inferred_cpv: dict[int, list[str]] = field(default_factory=dict)  # profile row -> CPV codes borrowed

    def as_dict(self) -> dict[str, np.ndarray]:
        return {c: getattr(self, c) for c in COMPONENTS}


def dense_scores(profile_vecs: Sequence[ProfileVectors], notice_vecs: np.ndarray) -> np.ndarray:
    if notice_vecs.ndim != 2:
        raise ValueError(f"notice vectors: expected a 2-d array, got shape {notice_vecs.shape}")
    out = np.empty((len(profile_vecs), notice_vecs.shape[0]), dtype=np.float32)
    for i, pv in enumerate(profile_vecs):
        if pv.query.shape[-1] != notice_vecs.shape[1]:
            raise ValueError(f"profile {i}: vector size {pv.query.shape[-1]} differs from the notices' {notice_vecs.shape[1]}")
        sims = notice_vecs @ pv.query
        if len(pv.keywords):
            sims = 0.5 * (sims + (notice_vecs @ pv.keywords.T).mean(axis=1))
        out[i] = sims
    return out


def fit_lexical(notices: Sequence[NoticeRecord], title_weight: int) -> tuple[TfidfVectorizer, object]:
    """TF-IDF over the notices (stemmed words and pairs, sublinear tf); returns the model and the notice matrix."""
    vec = TfidfVectorizer(tokenizer=stems, token_pattern=None, lowercase=False, ngram_range=(1, 2), sublinear_tf=True)
    matrix = vec.fit_transform([lexical_text(n, title_weight) for n in notices])
    return vec, matrix


def lexical_scores(profiles: Sequence[ProfileSpec], vectorizer: TfidfVectorizer, notice_matrix) -> np.ndarray:
    queries = vectorizer.transform([profile_query(p) for p in profiles])
    return (queries @ notice_matrix.T).toarray().astype(np.float32)


def keyword_scores(profiles: Sequence[ProfileSpec], notice_terms: Sequence[TermText]) -> np.ndarray:
    out = np.full((len(profiles), len(notice_terms)), np.nan, dtype=np.float32)
    for i, p in enumerate(profiles):
        kws = phrases(p.keywords)
        if kws:
            out[i] = [sum(t.has_phrase(k) for k in kws) / len(kws) for t in notice_terms]
    return out


def cpv_scores(profile_codes: Sequence[list[str]], notices: Sequence[NoticeRecord]) -> np.ndarray:
    out = np.zeros((len(profile_codes), len(notices)), dtype=np.float32)
    for i, codes in enumerate(profile_codes):
        if not codes:
            continue
        for j, n in enumerate(notices):
            overlap = cpv_overlap(codes, n.cpv)
            if overlap is not None:
                out[i, j] = 2.0 * overlap - 1.0
    return out


def fuse(components: Components, weights: WeightsConfig) -> np.ndarray:
    """Weighted mean of the components, leaving out missing (NaN) ones pair by pair."""
    num = np.zeros_like(components.dense, dtype=np.float64)
    den = np.zeros_like(num)
    for name, values in components.as_dict().items():
        w = float(getattr(weights, name))
        present = ~np.isnan(values)
        num += np.where(present, w * np.nan_to_num(values), 0.0)
        den += np.where(present, w, 0.0)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def calibrate(raw: np.ndarray, cfg: MatchingConfig) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-cfg.calibration_slope * (raw - cfg.calibration_midpoint)))


def components_for(
    profiles: Sequence[ProfileSpec],
    notices: Sequence[NoticeRecord],
    profile_vecs: Sequence[ProfileVectors],
    notice_vecs: np.ndarray,
    notice_terms: Sequence[TermText],
    cfg: MatchingConfig,
    dense_shift: np.ndarray | None = None,
) -> tuple[Components, TfidfVectorizer]:
    """All four components. `dense_shift` (profiles x notices, e.g. from feedback) is added to the dense one."""
    comps, vectorizer = text_components(profiles, notices, profile_vecs, notice_vecs, notice_terms, cfg, dense_shift)
    return with_cpv(comps, profiles, notices, cfg.weights, cfg), vectorizer


def text_components(
    profiles: Sequence[ProfileSpec],
    notices: Sequence[NoticeRecord],
    profile_vecs: Sequence[ProfileVectors],
    notice_vecs: np.ndarray,
    notice_terms: Sequence[TermText],
    cfg: MatchingConfig,
    dense_shift: np.ndarray | None = None,
) -> tuple[Components, TfidfVectorizer]:
    """The dense, lexical and keyword components (cpv left at 0: `with_cpv` fills it in)."""
    if len(profile_vecs) != len(profiles):
        raise ValueError(f"{len(profile_vecs)} profile vectors for {len(profiles)} profiles")
    if len(notice_vecs) != len(notices) or len(notice_terms) != len(notices):
        raise ValueError(f"{len(notice_vecs)} notice vectors / {len(notice_terms)} term sets for {len(notices)} notices")
    vectorizer, matrix = fit_lexical(notices, cfg.title_weight)
    dense = dense_scores(profile_vecs, notice_vecs)
    if dense_shift is not None:
        dense = (dense + dense_shift).astype(np.float32)
    comps = Components(
        dense=dense,
        lexical=lexical_scores(profiles, vectorizer, matrix),
        keyword=keyword_scores(profiles, notice_terms),
        cpv=np.zeros((len(profiles), len(notices)), dtype=np.float32),
    )
    return comps, vectorizer


def with_cpv(
    comps: Components, profiles: Sequence[ProfileSpec], notices: Sequence[NoticeRecord], weights: WeightsConfig,
    cfg: MatchingConfig,
) -> Components:
    """`comps` with the cpv component filled in. A profile without codes borrows the commonest CPV groups of
    its best matches on the other components fused with `weights` (so it depends on the weights)."""
    codes = [list(p.cpv) for p in profiles]
    inferred: dict[int, list[str]] = {}
    if cfg.infer_cpv_top and any(not c for c in codes):
        first_pass = fuse(replace(comps, cpv=np.zeros_like(comps.cpv)), weights)  # no cpv evidence yet
        for i, p in enumerate(profiles):
            if not p.cpv:
                order = np.argsort(-first_pass[i], kind="stable")
                codes[i] = infer_codes((notices[j].cpv for j in order), cfg.infer_cpv_top, cfg.infer_cpv_digits,
                                       cfg.infer_cpv_codes)
                if codes[i]:
                    inferred[i] = codes[i]
    return replace(comps, cpv=cpv_scores(codes, notices), inferred_cpv=inferred)
