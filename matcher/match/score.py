"""The four score components of every (profile, notice) pair, their fusion and its calibration.

- dense: MiniLM cosine of the notice (title + body) with the profile, the mean of three readings: the
  whole profile (its query averaged with the mean cosine of each keyword, keywords acting as extra
  queries), its best-fitting capability phrase, and its phrases' mean fit (each phrase of the capability
  text is its own query, so one clause that names the notice's work counts even in a long profile);
- lexical: TF-IDF cosine (stemmed words and word pairs), field-aware: the mean of the profile against the
  whole text (title counted `title_weight` times), the profile against the title alone, and the best
  capability phrase against the whole text; the buyer's name is left out (a buyer called "...Culture,
  Media & Sport" says nothing about sport work);
- keyword: the share of the SME's keywords found in the notice (whole stemmed phrases; not in the buyer's name);
- cpv: evidence that can lift a notice, never sink it: 0 when the codes are unrelated or either side lists
  none, else the mean of the best overlap through the hierarchy (1 inside the SME's class, partial for a
  shared group or division) and the share of the notice's codes that overlap at all, so a notice padded
  with a dozen codes gets less from touching the SME's area with one of them. A profile that lists no
  codes borrows the commonest CPV groups of its best matches on the other three components
  (pseudo-relevance feedback; matching.infer_cpv_*).

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
from matcher.match.cpv import code_overlap, infer_codes
from matcher.match.terms import TermText, phrases, stems
from matcher.match.texts import capability_phrases, lexical_text, profile_query, without_buyer
from matcher.schema import NoticeRecord, ProfileSpec

COMPONENTS = ("dense", "lexical", "keyword", "cpv")


@dataclass(frozen=True)
class ProfileVectors:
    """A profile's embeddings: its query text, each keyword (shape (k, dim); k may be 0) and each phrase of
    its capability text (texts.capability_phrases; shape (m, dim), m may be 0: then the whole query alone)."""

    query: np.ndarray
    keywords: np.ndarray
    phrases: np.ndarray | None = None


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


def _segment_reduce(sims: np.ndarray, sizes: list[int], how: str) -> np.ndarray:
    """Rows of `sims` (stacked segments of `sizes` rows, each > 0) reduced per segment: 'mean' or 'max'."""
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    if how == "max":
        return np.maximum.reduceat(sims, starts, axis=0)
    return np.add.reduceat(sims, starts, axis=0) / np.asarray(sizes, dtype=np.float64)[:, None]


def _stacked(parts: list[np.ndarray | None], dim: int) -> tuple[list[int], np.ndarray]:
    """Rows with at least one vector, and those vectors stacked (for one matrix product over all profiles)."""
    rows = [i for i, m in enumerate(parts) if m is not None and len(m)]
    mats = [np.asarray(parts[i], dtype=np.float32).reshape(-1, dim) for i in rows]
    return rows, (np.concatenate(mats) if mats else np.zeros((0, dim), dtype=np.float32))


def dense_scores(profile_vecs: Sequence[ProfileVectors], notice_vecs: np.ndarray) -> np.ndarray:
    """(profiles x notices): mean of the whole-profile cosine (query and keywords) and, for a profile with
    capability phrases, the best and the mean phrase cosine. One matrix product per kind of vector."""
    if notice_vecs.ndim != 2:
        raise ValueError(f"notice vectors: expected a 2-d array, got shape {notice_vecs.shape}")
    dim = notice_vecs.shape[1]
    for i, pv in enumerate(profile_vecs):
        if pv.query.shape[-1] != dim:
            raise ValueError(f"profile {i}: vector size {pv.query.shape[-1]} differs from the notices' {dim}")
    if not profile_vecs:
        return np.zeros((0, len(notice_vecs)), dtype=np.float32)
    nv = notice_vecs.astype(np.float32, copy=False)
    whole = np.stack([pv.query for pv in profile_vecs]).astype(np.float32) @ nv.T
    rows, kw = _stacked([pv.keywords for pv in profile_vecs], dim)
    if rows:
        sizes = [len(profile_vecs[i].keywords) for i in rows]
        whole[rows] = 0.5 * (whole[rows] + _segment_reduce(kw @ nv.T, sizes, "mean"))
    out = whole.astype(np.float64)
    rows, ph = _stacked([pv.phrases for pv in profile_vecs], dim)
    if rows:
        sims = ph @ nv.T
        sizes = [len(profile_vecs[i].phrases) for i in rows]
        out[rows] = (out[rows] + _segment_reduce(sims, sizes, "max") + _segment_reduce(sims, sizes, "mean")) / 3.0
    return out.astype(np.float32)


def _tfidf() -> TfidfVectorizer:
    return TfidfVectorizer(tokenizer=stems, token_pattern=None, lowercase=False, ngram_range=(1, 2), sublinear_tf=True)


def fit_lexical(notices: Sequence[NoticeRecord], title_weight: int) -> tuple[TfidfVectorizer, object]:
    """TF-IDF over the notices (stemmed words and pairs, sublinear tf); returns the model and the notice matrix."""
    vec = _tfidf()
    matrix = vec.fit_transform([lexical_text(n, title_weight) for n in notices])
    return vec, matrix


def _segment_max(matrix, sizes: list[int]) -> np.ndarray:
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    return np.maximum.reduceat(np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix), starts, axis=0)


def lexical_scores(profiles: Sequence[ProfileSpec], vectorizer: TfidfVectorizer, notice_matrix,
                   notices: Sequence[NoticeRecord] | None = None) -> np.ndarray:
    """Field-aware TF-IDF cosine: the mean of the whole profile against the whole text, the whole profile against
    the title alone (given the notices), and the profile's best capability phrase against the whole text (a
    profile without phrases leaves that reading out)."""
    texts = [profile_query(p) for p in profiles]
    readings = [(vectorizer.transform(texts) @ notice_matrix.T).toarray()]
    if notices:
        title_vec = _tfidf()
        try:
            titles = title_vec.fit_transform([without_buyer(n.title, n.buyer) for n in notices])
            readings.append((title_vec.transform(texts) @ titles.T).toarray())
        except ValueError:  # no title has a content word: that reading is 0 for every pair
            readings.append(np.zeros_like(readings[0]))
    out = np.sum(readings, axis=0)
    count = np.full((len(profiles), 1), float(len(readings)))
    phrase_lists = [capability_phrases(p) for p in profiles]
    rows = [i for i, ph in enumerate(phrase_lists) if ph]
    if rows:
        sizes = [len(phrase_lists[i]) for i in rows]
        stacked = vectorizer.transform([t for i in rows for t in phrase_lists[i]]) @ notice_matrix.T
        out[rows] += _segment_max(stacked, sizes)
        count[rows] += 1.0
    return (out / count).astype(np.float32)


def keyword_scores(profiles: Sequence[ProfileSpec], notice_terms: Sequence[TermText]) -> np.ndarray:
    out = np.full((len(profiles), len(notice_terms)), np.nan, dtype=np.float32)
    for i, p in enumerate(profiles):
        kws = phrases(p.keywords)
        if kws:
            out[i] = [sum(t.has_phrase(k) for k in kws) / len(kws) for t in notice_terms]
    return out


def cpv_scores(profile_codes: Sequence[list[str]], notices: Sequence[NoticeRecord]) -> np.ndarray:
    """(profiles x notices) CPV evidence in 0..1: the mean of the best overlap of any code pair and the share of
    the notice's distinct codes that overlap a profile code; 0 when nothing overlaps or a side has no codes.
    Computed on the distinct codes (a small overlap table) and a sparse notice-by-code incidence matrix."""
    from scipy import sparse

    out = np.zeros((len(profile_codes), len(notices)), dtype=np.float32)
    notice_codes = [sorted(set(n.cpv)) for n in notices]
    vocab = sorted({c for cs in notice_codes for c in cs})
    if not vocab or not any(profile_codes):
        return out
    col = {c: k for k, c in enumerate(vocab)}
    rows = [j for j, cs in enumerate(notice_codes) for _ in cs]
    cols = [col[c] for cs in notice_codes for c in cs]
    incidence = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(notices), len(vocab)))
    counts = np.maximum(np.asarray(incidence.sum(axis=1)).ravel(), 1.0)
    for i, codes in enumerate(profile_codes):
        if not codes:
            continue
        per_code = np.array([max(code_overlap(a, b) for a in codes) for b in vocab])  # (codes,)
        best = incidence.multiply(per_code[None, :]).max(axis=1).toarray().ravel()
        share = (incidence @ (per_code > 0).astype(np.float64)) / counts
        out[i] = 0.5 * (best + share) * (best > 0)
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
        lexical=lexical_scores(profiles, vectorizer, matrix, notices),
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
