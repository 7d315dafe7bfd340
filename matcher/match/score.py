"""The four score components of every (profile, notice) pair, their fusion and its calibration.

- dense: MiniLM cosine of the notice (title + body) with the profile, the mean of three readings: the
  whole profile (its query averaged with the mean cosine of each keyword, keywords acting as extra
  queries), its best-fitting capability phrase, and its phrases' mean fit (each phrase of the capability
  text is its own query, so one clause that names the notice's work counts even in a long profile);
- lexical: TF-IDF cosine (stemmed words and word pairs), field-aware: the mean of the profile against the
  whole text (title counted `title_weight` times), the profile against the title alone, and the best
  capability phrase against the whole text; the buyer's name is left out (a buyer called "...Culture,
  Media & Sport" says nothing about sport work);
- keyword: the share of the SME's keywords found in the notice (whole stemmed phrases; not in the buyer's name),
  each weighted by its idf among the candidates, so a specific keyword found counts for more than a common one;
- cpv: evidence that can lift a notice, never sink it: 0 when the codes are unrelated or either side lists
  none, else the mean of the best overlap through the hierarchy (1 inside the SME's class, partial for a
  shared group or division) and the share of the notice's codes that overlap at all, so a notice padded
  with a dozen codes gets less from touching the SME's area with one of them. A profile that lists no
  codes borrows the commonest CPV groups of its best matches on the other three components
  (pseudo-relevance feedback; matching.infer_cpv_*).

raw = the weighted mean of the components (a profile without keywords leaves the keyword weight out);
score = 1/(1+exp(-slope*(raw - midpoint))), a 0..1 estimate of the chance the SME would judge the
notice relevant. The weights are a pairwise ranking fit on the dev judgments (each SME's relevant notices
above its others) and the slope and midpoint a logistic calibration of the raw score (quality/fit.py;
`matcher eval --fit` refits them).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from matcher.config import MatchingConfig, WeightsConfig
from matcher.match import tfidf
from matcher.match.cpv import MIN_SHARED_DIGITS, infer_codes, significant
from matcher.match.terms import Phrase, TermText, phrases, stems
from matcher.match.texts import buyer_runs_on, capability_phrases, lexical_text, profile_query, without_buyer
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
    return tfidf.vectorizer(stems)


def fit_lexical(notices: Sequence[NoticeRecord], title_weight: int) -> tuple[TfidfVectorizer, object]:
    """TF-IDF over the notices (stemmed words and pairs, sublinear tf); returns the model and the notice matrix
    (what _tfidf().fit_transform of their lexical texts returns, counted faster: match/tfidf.py)."""
    return tfidf.fit([stems(lexical_text(n, title_weight)) for n in notices], stems)


def _segment_max(matrix, sizes: list[int]) -> np.ndarray:
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    return np.maximum.reduceat(np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix), starts, axis=0)


def fit_titles(notices: Sequence[NoticeRecord]) -> tuple[TfidfVectorizer | None, object]:
    """TF-IDF over the titles alone (buyer's name left out); (None, None) when no title has a content word."""
    tokens = [stems(without_buyer(n.title, n.buyer)) for n in notices]
    return tfidf.fit(tokens, stems) if any(tokens) else (None, None)


def lexical_scores(profiles: Sequence[ProfileSpec], vectorizer: TfidfVectorizer, notice_matrix,
                   notices: Sequence[NoticeRecord] | None = None, titles: tuple | None = None) -> np.ndarray:
    """Field-aware TF-IDF cosine: the mean of the whole profile against the whole text, the whole profile against
    the title alone (given the notices, or `titles` = fit_titles(notices) fitted once), and the profile's best
    capability phrase against the whole text (a profile without phrases leaves that reading out)."""
    texts = [profile_query(p) for p in profiles]
    readings = [(vectorizer.transform(texts) @ notice_matrix.T).toarray()]
    if titles is None and notices:
        titles = fit_titles(notices)
    if titles is not None:
        title_vec, title_matrix = titles
        if title_vec is not None:
            readings.append((title_vec.transform(texts) @ title_matrix.T).toarray())
        else:  # no title has a content word: that reading is 0 for every pair
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


@lru_cache(maxsize=200_000)
def phrases_of(keywords: tuple[str, ...]) -> tuple[Phrase, ...]:
    """phrases(keywords), made once per distinct keyword list (each SME's keywords are read by scoring and
    explaining)."""
    return tuple(phrases(list(keywords)))


class NoticeIndex:
    """The notices' stems as an inverted index (stem -> notices holding it): a phrase's hits are the notices
    holding all its stems, checked for the whole phrase only there. Each phrase is looked up once per run."""

    def __init__(self, notice_terms: Sequence[TermText]) -> None:
        self.terms = list(notice_terms)
        postings: dict[str, list[int]] = {}
        for j, t in enumerate(self.terms):
            for s in t.vocabulary:
                postings.setdefault(s, []).append(j)
        self.postings = {s: np.array(js, dtype=np.int64) for s, js in postings.items()}  # ascending as appended
        self._hits: dict[tuple[str, ...], np.ndarray] = {}

    def hits(self, phrase: Phrase) -> np.ndarray:
        """Sorted indices of the notices that contain `phrase` (as TermText.has_phrase decides)."""
        key = phrase.stems
        if key not in self._hits:
            lists = [self.postings.get(s) for s in dict.fromkeys(key)]
            if not key or any(x is None for x in lists):
                found = np.zeros(0, dtype=np.int64)
            else:
                found = lists[0]
                for other in lists[1:]:
                    found = np.intersect1d(found, other, assume_unique=True)
                if len(key) > 1:
                    found = np.array([j for j in found if phrase.joined in self.terms[j].joined], dtype=np.int64)
            self._hits[key] = found
        return self._hits[key]

    def idf(self, phrase: Phrase) -> float:
        """How specific `phrase` is among these notices: log((1 + n) / (1 + notices holding it)) + 1, the smoothed
        idf of TF-IDF (1 for a phrase in every notice, about 7.2 for one in none of 1,000)."""
        return math.log((1 + len(self.terms)) / (1 + len(self.hits(phrase)))) + 1.0

    def hit_matrix(self, phrase_lists: Sequence[Sequence[Phrase]], weighted: bool = False) -> sparse.csr_matrix:
        """(len(phrase_lists) x notices) counts: how many of row i's phrases each notice contains (with
        `weighted`, the sum of their idf instead)."""
        rows, cols, vals = [], [], []
        for i, plist in enumerate(phrase_lists):
            for ph in plist:
                h = self.hits(ph)
                rows.append(np.full(len(h), i, dtype=np.int64))
                cols.append(h)
                vals.append(np.full(len(h), self.idf(ph) if weighted else 1.0))
        r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        v = np.concatenate(vals) if vals else np.zeros(0, dtype=np.float64)
        return sparse.csr_matrix((v, (r, c)), shape=(len(phrase_lists), len(self.terms)))


def keyword_scores(profiles: Sequence[ProfileSpec], notice_terms: Sequence[TermText],
                   index: NoticeIndex | None = None) -> np.ndarray:
    """The share of each profile's keywords found in each notice, each keyword weighted by how specific it is
    among these notices (NoticeIndex.idf: "asbestos" found counts for more than "services"); NaN rows for a
    profile without keywords. From the inverted index: a sparse (profiles x notices) sum of the found keywords'
    idf divided by the sum over all the profile's keywords."""
    index = index or NoticeIndex(notice_terms)
    kws = [phrases_of(tuple(p.keywords)) for p in profiles]
    counts = index.hit_matrix(kws, weighted=True).toarray()
    sizes = np.array([sum(index.idf(ph) for ph in k) for k in kws], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (counts / sizes[:, None]).astype(np.float32)
    out[sizes == 0] = np.nan
    return out


def _code_digits(codes: Sequence[str], width: int = 8) -> np.ndarray:
    """Each code's first `width` characters as code points, padded with -1 (never equal to a character)."""
    out = np.full((len(codes), width), -1, dtype=np.int32)
    for i, c in enumerate(codes):
        for k, ch in enumerate(c[:width]):
            out[i, k] = ord(ch)
    return out


def overlap_table(profile_codes: Sequence[str], notice_codes: Sequence[str]) -> np.ndarray:
    """(profile codes x notice codes) cpv.code_overlap, vectorised over the distinct codes."""
    sigs = [significant(c) for c in profile_codes]
    lengths = np.array([len(s) for s in sigs], dtype=np.int32)
    a, b = _code_digits(sigs), _code_digits(notice_codes)
    within = np.arange(8)[None, :] < lengths[:, None]
    equal = (a[:, None, :] == b[None, :, :]) & within[:, None, :]
    shared = np.cumprod(equal, axis=2).sum(axis=2)
    safe = np.maximum(lengths, 1)[:, None]
    partial = np.where(shared >= MIN_SHARED_DIGITS, shared / safe, 0.0)
    return np.where(shared >= lengths[:, None], 1.0, partial)


def cpv_scores(profile_codes: Sequence[list[str]], notices: Sequence[NoticeRecord]) -> np.ndarray:
    """(profiles x notices) CPV evidence in 0..1: the mean of the best overlap of any code pair and the overlap of
    the notice's main code (its first: tender.classification where the release has one) with the SME's codes
    (cpv.code_overlap); 0 when nothing overlaps or a side has no codes. The main code says what the buyer is
    buying, so a notice whose main code is in the SME's class gets full evidence, and one that touches the SME's
    class only among further (often padded) codes gets half.
    Vectorised: an overlap table over the distinct codes of both sides, reduced per profile and per notice; no
    Python per profile or per pair."""
    out = np.zeros((len(profile_codes), len(notices)), dtype=np.float32)
    notice_codes = [sorted(set(n.cpv)) for n in notices]
    vocab = sorted({c for cs in notice_codes for c in cs})
    with_codes = [i for i, c in enumerate(profile_codes) if c]
    if not vocab or not with_codes:
        return out
    col = {c: k for k, c in enumerate(vocab)}
    pvocab = list(dict.fromkeys(c for i in with_codes for c in profile_codes[i]))
    prow = {c: k for k, c in enumerate(pvocab)}
    table = overlap_table(pvocab, vocab)  # (profile codes x notice codes)
    pflat = [prow[c] for i in with_codes for c in profile_codes[i]]
    pstarts = np.cumsum([0] + [len(profile_codes[i]) for i in with_codes[:-1]])
    per_code = np.maximum.reduceat(table[pflat], pstarts, axis=0)  # (profiles with codes x notice codes)
    coded = np.array([j for j, cs in enumerate(notice_codes) if cs], dtype=np.intp)
    flat = np.array([col[c] for j in coded for c in notice_codes[j]], dtype=np.intp)
    nstarts = np.cumsum([0] + [len(notice_codes[j]) for j in coded[:-1]])
    best = np.maximum.reduceat(per_code[:, flat], nstarts, axis=1)  # (profiles with codes x coded notices)
    main = per_code[:, [col[notices[j].cpv[0]] for j in coded]]
    out[np.ix_(with_codes, coded)] = 0.5 * (best + main) * (best > 0)
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


@dataclass
class NoticeSide:
    """What scoring reads from the notices, prepared once per run and shared by every chunk of SMEs."""

    notices: Sequence[NoticeRecord]
    notice_vecs: np.ndarray
    terms: Sequence[TermText]
    vectorizer: TfidfVectorizer
    matrix: object
    index: NoticeIndex
    titles: tuple

    @classmethod
    def of(cls, notices: Sequence[NoticeRecord], notice_vecs: np.ndarray, notice_terms: Sequence[TermText],
           cfg: MatchingConfig) -> "NoticeSide":
        """`notice_terms` are rank.term_texts(notices): the lexical fit reuses their words (see _lexical_tokens)."""
        if len(notice_vecs) != len(notices) or len(notice_terms) != len(notices):
            raise ValueError(f"{len(notice_vecs)} notice vectors / {len(notice_terms)} term sets for {len(notices)} notices")
        title_tokens = [stems(without_buyer(n.title, n.buyer)) for n in notices]
        tokens = _lexical_tokens(notices, notice_terms, title_tokens, cfg.title_weight)
        vectorizer, matrix = tfidf.fit(tokens, stems)
        titles = tfidf.fit(title_tokens, stems) if any(title_tokens) else (None, None)
        return cls(notices, notice_vecs, notice_terms, vectorizer, matrix, NoticeIndex(notice_terms), titles)


def _lexical_tokens(notices: Sequence[NoticeRecord], notice_terms: Sequence[TermText],
                    title_tokens: Sequence[list[str]], title_weight: int) -> list[list[str]]:
    """stems(lexical_text(n, title_weight)) of each notice, mostly without reading its text again: the lexical text
    is the title repeated, then the matching text (whose stems `notice_terms` hold), with the buyer's name blanked
    over the whole. Blanked part by part it is the same text unless a mention of the name runs on from the end of
    the title into what follows (texts.buyer_runs_on); such a notice's text is read in full."""
    out = []
    for n, terms, title in zip(notices, notice_terms, title_tokens):
        if title_weight == 1:  # lexical_text(n, 1) is matching_text(n)
            out.append(terms.joined.split())
        elif buyer_runs_on(n.title, n.buyer):
            out.append(stems(lexical_text(n, title_weight)))
        else:
            out.append(title * (title_weight - 1) + terms.joined.split())
    return out


def components_for(
    profiles: Sequence[ProfileSpec],
    notices: Sequence[NoticeRecord],
    profile_vecs: Sequence[ProfileVectors],
    notice_vecs: np.ndarray,
    notice_terms: Sequence[TermText],
    cfg: MatchingConfig,
    dense_shift: np.ndarray | None = None,
    side: NoticeSide | None = None,
) -> tuple[Components, TfidfVectorizer]:
    """All four components. `dense_shift` (profiles x notices, e.g. from feedback) is added to the dense one.
    `side` (NoticeSide.of the same notices) saves preparing the notices again for each chunk of profiles."""
    comps, vectorizer = text_components(profiles, notices, profile_vecs, notice_vecs, notice_terms, cfg, dense_shift, side)
    return with_cpv(comps, profiles, notices, cfg.weights, cfg), vectorizer


def text_components(
    profiles: Sequence[ProfileSpec],
    notices: Sequence[NoticeRecord],
    profile_vecs: Sequence[ProfileVectors],
    notice_vecs: np.ndarray,
    notice_terms: Sequence[TermText],
    cfg: MatchingConfig,
    dense_shift: np.ndarray | None = None,
    side: NoticeSide | None = None,
) -> tuple[Components, TfidfVectorizer]:
    """The dense, lexical and keyword components (cpv left at 0: `with_cpv` fills it in)."""
    if len(profile_vecs) != len(profiles):
        raise ValueError(f"{len(profile_vecs)} profile vectors for {len(profiles)} profiles")
    side = side or NoticeSide.of(notices, notice_vecs, notice_terms, cfg)
    dense = dense_scores(profile_vecs, notice_vecs)
    if dense_shift is not None:
        dense = (dense + dense_shift).astype(np.float32)
    comps = Components(
        dense=dense,
        lexical=lexical_scores(profiles, side.vectorizer, side.matrix, notices, side.titles),
        keyword=keyword_scores(profiles, notice_terms, side.index),
        cpv=np.zeros((len(profiles), len(notices)), dtype=np.float32),
    )
    return comps, side.vectorizer


def top_stable(values: np.ndarray, k: int) -> np.ndarray:
    """Per row, the indices of the `k` largest values, best first, ties to the lower index: the first k of
    np.argsort(-values, kind="stable") without sorting whole rows. Shape (rows, min(k, columns))."""
    rows, n = values.shape
    k = min(k, n)
    if k == 0 or rows == 0:
        return np.zeros((rows, k), dtype=np.intp)
    if k >= n // 2:
        return np.argsort(-values, axis=1, kind="stable")[:, :k]
    part = np.argpartition(-values, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(values, part, axis=1).min(axis=1)
    # a tie across the cut could have kept a higher index than the stable order does: those rows in full
    tied = (values >= kth[:, None]).sum(axis=1) > k
    vals = np.take_along_axis(values, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    out = np.take_along_axis(part, order, axis=1)
    if tied.any():
        out[tied] = np.argsort(-values[tied], axis=1, kind="stable")[:, :k]
    return out


def with_cpv(
    comps: Components, profiles: Sequence[ProfileSpec], notices: Sequence[NoticeRecord], weights: WeightsConfig,
    cfg: MatchingConfig,
) -> Components:
    """`comps` with the cpv component filled in. A profile without codes borrows the commonest CPV groups of
    its best matches on the other components fused with `weights` (so it depends on the weights)."""
    codes = [list(p.cpv) for p in profiles]
    inferred: dict[int, list[str]] = {}
    uncoded = [i for i, c in enumerate(codes) if not c]
    coded_notices = np.array([j for j, n in enumerate(notices) if n.cpv], dtype=np.intp)
    if cfg.infer_cpv_top and uncoded and len(coded_notices):
        sub = replace(comps, dense=comps.dense[uncoded][:, coded_notices], lexical=comps.lexical[uncoded][:, coded_notices],
                      keyword=comps.keyword[uncoded][:, coded_notices], cpv=np.zeros((len(uncoded), len(coded_notices)), np.float32))
        first_pass = fuse(sub, weights)  # no cpv evidence yet; only notices that list codes can vote
        best = coded_notices[top_stable(first_pass, cfg.infer_cpv_top)]
        for row, i in enumerate(uncoded):
            codes[i] = infer_codes((notices[j].cpv for j in best[row]), cfg.infer_cpv_top, cfg.infer_cpv_digits,
                                   cfg.infer_cpv_codes)
            if codes[i]:
                inferred[i] = codes[i]
    return replace(comps, cpv=cpv_scores(codes, notices), inferred_cpv=inferred)
