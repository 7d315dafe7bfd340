"""Ranking profiles against notices: score every pair, apply the hard filters, order, select."""
from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from matcher.config import MatchingConfig
from matcher.match.feedback import Verdicts, moved_query, neighbour_shift, suppressed
from matcher.match.filters import LIVE, FilterSwitches, ProfileFilter, closing_reason, not_open_reason
from matcher.match.regions import region_fits
from matcher.match.score import COMPONENTS, NoticeIndex, NoticeSide, ProfileVectors, calibrate, components_for, fuse, top_stable
from matcher.match.terms import TermText, found
from matcher.match.texts import matching_text
from matcher.schema import NoticeRecord, ProfileSpec


@dataclass(frozen=True)
class ScoredNotice:
    index: int  # position in the notices passed in
    key: str
    dense: float
    lexical: float
    keyword: float
    cpv: float
    raw_score: float
    score: float

    def components(self) -> dict[str, float]:
        return {c: getattr(self, c) for c in COMPONENTS}


@dataclass
class Ranking:
    """One profile's notices that pass its filters, best first, and why the others did not."""

    profile: ProfileSpec
    items: list[ScoredNotice]
    excluded: Counter = field(default_factory=Counter)
    matched: int | None = None  # how many passed at or above min_score (items may keep fewer); None = len(items)
    best: ScoredNotice | None = None  # the best notice passing the filters at any score

    def __post_init__(self) -> None:
        if self.matched is None:
            self.matched = len(self.items)
        if self.best is None and self.items:
            self.best = self.items[0]


@dataclass
class RankResult:
    rankings: list[Ranking]
    notice_terms: list[TermText]
    vectorizer: TfidfVectorizer | None
    inferred_cpv: dict[str, list[str]] = field(default_factory=dict)  # profile id -> CPV groups borrowed

    def idf(self) -> dict[str, float]:
        if self.vectorizer is None:
            return {}
        vocabulary = self.vectorizer.vocabulary_
        if all(map(operator.eq, vocabulary.values(), range(len(vocabulary)))):  # numbered in order (match/tfidf.py)
            return dict(zip(vocabulary, self.vectorizer.idf_))
        return dict(zip(self.vectorizer.get_feature_names_out(), self.vectorizer.idf_))


def term_texts(notices: Sequence[NoticeRecord]) -> list[TermText]:
    return [TermText.of(matching_text(n)) for n in notices]


# why a pair is left out, as codes in a (profiles x notices) array; 0 = it passes every filter
_PASS, _NOTICE, _REGION, _BELOW, _ABOVE, _EXCLUDED, _BLOCKED, _LOTS_ABOVE, _LOTS_OUT = range(9)
_FIXED = {_REGION: "outside the SME's regions", _BELOW: "value below the SME's minimum",
          _ABOVE: "value above the SME's maximum", _LOTS_ABOVE: "every lot's value is above the SME's maximum",
          _LOTS_OUT: "every lot's value is outside the SME's range"}


class _Filters:
    """exclusion_reason for whole chunks at once: the notice-only checks once per notice, regions once per set of
    regions served, values as arrays, excluded words through the notices' inverted index."""

    def __init__(self, notices: Sequence[NoticeRecord], index: NoticeIndex, now: datetime, cfg: MatchingConfig,
                 switches: FilterSwitches) -> None:
        self.notices, self.index, self.switches = notices, index, switches
        self.notice_reason: list[str | None] = []
        for n in notices:
            why = not_open_reason(n, cfg) if switches.stage else None
            if not why and switches.closing:
                why = closing_reason(n, now, cfg.min_days_to_close)
            self.notice_reason.append(why)
        self.notice_out = np.array([w is not None for w in self.notice_reason], dtype=bool)
        nan = float("nan")
        low = [n.value_min if n.value_min is not None else n.value_max for n in notices]
        high = [n.value_max if n.value_max is not None else n.value_min for n in notices]
        self.low = np.array([nan if v is None else float(v) for v in low])
        self.high = np.array([nan if v is None else float(v) for v in high])
        self._regions: dict[frozenset[str], np.ndarray] = {}
        # notices whose lots carry values: the lots decide (filters.value_reason)
        self.lots = [(j, np.array([float(lot.value) for lot in n.lots if lot.value is not None]))
                     for j, n in enumerate(notices) if any(lot.value is not None for lot in n.lots)]
        self.by_value = np.ones(len(notices), dtype=bool)
        self.by_value[[j for j, _ in self.lots]] = False

    def _region_ok(self, served: frozenset[str]) -> np.ndarray:
        if served not in self._regions:
            self._regions[served] = np.array([region_fits(n.regions, served, n.postcode) for n in self.notices], dtype=bool)
        return self._regions[served]

    def codes(self, filters: Sequence[ProfileFilter], blocked: Sequence[dict[int, str]]) -> np.ndarray:
        """(profiles x notices) int8 reason codes, the first reason in exclusion_reason's order."""
        sw = self.switches
        out = np.zeros((len(filters), len(self.notices)), dtype=np.int8)

        def mark(mask: np.ndarray, code: int) -> None:
            out[(out == _PASS) & mask] = code

        for i, b in enumerate(blocked):
            if b:
                out[i, list(b)] = _BLOCKED
        mark(np.broadcast_to(self.notice_out, out.shape), _NOTICE)
        if sw.region:
            mark(np.stack([~self._region_ok(pf.served) for pf in filters]) if filters else out.astype(bool), _REGION)
        if sw.value:
            vmin = np.array([np.nan if pf.profile.value_min is None else float(pf.profile.value_min) for pf in filters])
            vmax = np.array([np.nan if pf.profile.value_max is None else float(pf.profile.value_max) for pf in filters])
            with np.errstate(invalid="ignore"):
                mark((self.high[None, :] < vmin[:, None]) & self.by_value, _BELOW)
                mark((self.low[None, :] > vmax[:, None]) & self.by_value, _ABOVE)
                bounded = ~(np.isnan(vmin) & np.isnan(vmax))
                for j, vals in self.lots:
                    fits = ((np.isnan(vmin)[:, None] | (vals[None, :] >= vmin[:, None]))
                            & (np.isnan(vmax)[:, None] | (vals[None, :] <= vmax[:, None]))).any(axis=1)
                    above = ~np.isnan(vmax) & (vals.min() > vmax)
                    lot_code = np.where(above, _LOTS_ABOVE, _LOTS_OUT).astype(np.int8)
                    col = out[:, j]
                    hit = bounded & ~fits & (col == _PASS)
                    col[hit] = lot_code[hit]
        if sw.excluded and any(pf.excluded for pf in filters):
            mark(self.index.hit_matrix([pf.excluded for pf in filters]).toarray() > 0, _EXCLUDED)
        return out

    def reason(self, code: int, pf: ProfileFilter, j: int, blocked: dict[int, str]) -> str:
        if code == _NOTICE:
            return self.notice_reason[j]  # type: ignore[return-value]
        if code == _BLOCKED:
            return blocked[j]
        if code == _EXCLUDED:
            return f"mentions excluded word {found(list(pf.excluded), self.index.terms[j])[0].text!r}"
        return _FIXED[code]


def _filters_of(profiles: Sequence[ProfileSpec]) -> list[ProfileFilter]:
    """ProfileFilter.of each profile, reading each distinct (regions, excluded words) once."""
    seen: dict[tuple, ProfileFilter] = {}
    out = []
    for p in profiles:
        key = (tuple(p.regions), tuple(p.exclude))
        if key not in seen:
            seen[key] = ProfileFilter.of(p)  # raises ProfileError naming this profile
        out.append(ProfileFilter(p, seen[key].served, seen[key].excluded))
    return out


def rank(
    profiles: Sequence[ProfileSpec],
    notices: Sequence[NoticeRecord],
    profile_vecs: Sequence[ProfileVectors],
    notice_vecs: np.ndarray,
    cfg: MatchingConfig,
    now: datetime,
    switches: FilterSwitches = LIVE,
    min_score: float = 0.0,
    feedback: Sequence[Verdicts | None] | None = None,
    keep: Sequence[int] | int | None = None,
    on_chunk: Callable[[int], None] | None = None,
    notice_terms: Sequence[TermText] | None = None,
) -> RankResult:
    """Every profile's ranking of the notices that pass its filters, down to `min_score` (calibrated).

    Profiles are scored in chunks of matching.chunk_size against all notices (float32; never the whole
    profiles x notices matrix at once). `keep` (one number, or one per profile) keeps only that many of each
    profile's best items; Ranking.matched still counts them all and Ranking.best is the best item passing the
    filters at any score. `on_chunk(n)` is called after each chunk of n profiles. `notice_terms` (term_texts of
    the same notices) saves reading the notices' words again.

    `feedback` (aligned with `profiles`; None where a profile has no verdicts) moves each profile's ranking
    by its verdicts on earlier matches and leaves out the notices it rejected and their near-copies
    (matcher.match.feedback). Raises ProfileError for a profile the filters cannot read (e.g. an unknown region).
    """
    filters = _filters_of(profiles)
    terms = term_texts(notices) if notice_terms is None else list(notice_terms)
    if len(terms) != len(notices):
        raise ValueError(f"{len(terms)} term sets for {len(notices)} notices")
    if not notices or not profiles:
        return RankResult([Ranking(p, []) for p in profiles], terms, None)
    if feedback is not None and len(feedback) != len(profiles):
        raise ValueError(f"{len(feedback)} feedback entries for {len(profiles)} profiles")
    if len(profile_vecs) != len(profiles):
        raise ValueError(f"{len(profile_vecs)} profile vectors for {len(profiles)} profiles")
    verdicts = list(feedback) if feedback is not None else [None] * len(profiles)
    keeps = [keep] * len(profiles) if keep is None or isinstance(keep, int) else list(keep)
    side = NoticeSide.of(notices, notice_vecs, terms, cfg)
    checks = _Filters(notices, side.index, now, cfg, switches)
    rankings: list[Ranking] = []
    inferred: dict[str, list[str]] = {}
    size = cfg.chunk_size
    for start in range(0, len(profiles), size):
        stop = min(start + size, len(profiles))
        rankings += _rank_chunk(profiles[start:stop], filters[start:stop], profile_vecs[start:stop],
                                verdicts[start:stop], keeps[start:stop], side, checks, cfg, min_score, inferred)
        if on_chunk is not None:
            on_chunk(stop - start)
    return RankResult(rankings, terms, side.vectorizer, inferred)


def _rank_chunk(profiles, filters, profile_vecs, verdicts, keeps, side: NoticeSide, checks: _Filters,
                cfg: MatchingConfig, min_score: float, inferred: dict[str, list[str]]) -> list[Ranking]:
    notices, notice_vecs = side.notices, side.notice_vecs
    fcfg = cfg.feedback
    keys = [n.key for n in notices]
    profile_vecs = [moved_query(pv, v, fcfg) if v else pv for pv, v in zip(profile_vecs, verdicts)]
    shift = None
    if any(verdicts):
        shift = np.zeros((len(profiles), len(notices)), dtype=np.float32)
        for i, v in enumerate(verdicts):
            if v:
                shift[i] = neighbour_shift(notice_vecs, v, fcfg)
    blocked = [suppressed(keys, notice_vecs, v, fcfg) if v else {} for v in verdicts]
    # SMEs whose scoring inputs are the same (texts, codes, vectors; no verdicts) are scored once
    sigs = [(id(pv), p.capabilities, tuple(p.keywords), tuple(p.cpv)) if not v else ("own", i)
            for i, (p, pv, v) in enumerate(zip(profiles, profile_vecs, verdicts))]
    first: dict = {}
    inverse = np.array([first.setdefault(sg, len(first)) for sg in sigs], dtype=np.intp)
    reps = list({v: i for i, v in reversed(list(enumerate(inverse.tolist())))}.values())
    reps = sorted(reps, key=lambda i: inverse[i])  # reps[u] = the first profile with unique row u
    comps, _ = components_for([profiles[i] for i in reps], notices, [profile_vecs[i] for i in reps], notice_vecs,
                              side.terms, cfg, None if shift is None else shift[reps], side)
    raw = fuse(comps, cfg.weights)[inverse]
    score = calibrate(raw, cfg)
    codes = checks.codes(filters, blocked)
    passing = codes == _PASS
    candidate = score >= min_score
    matched = (passing & candidate).sum(axis=1)
    arrays = {c: np.nan_to_num(v) for c, v in comps.as_dict().items()}  # unique rows: index with inverse[i]

    def item(i: int, j: int) -> ScoredNotice:
        vals = {c: float(arrays[c][inverse[i], j]) for c in COMPONENTS}
        return ScoredNotice(j, keys[j], **vals, raw_score=float(raw[i, j]), score=float(score[i, j]))

    masked = np.where(passing, raw, -np.inf)
    most = max(min(int(matched.max()), max((k if k is not None else len(notices)) for k in keeps)), 1)
    top = top_stable(masked, most)
    out_rows = np.flatnonzero((~passing & candidate).any(axis=1))
    excluded_by_row: dict[int, Counter] = {}
    for i in out_rows:  # the reasons, counted over the candidates the filters left out
        js = np.flatnonzero(~passing[i] & candidate[i])
        excluded_by_row[int(i)] = Counter(checks.reason(int(codes[i, j]), filters[i], int(j), blocked[i]) for j in js)
    rankings = []
    for i, pf in enumerate(filters):
        n_items = int(matched[i]) if keeps[i] is None else min(int(matched[i]), keeps[i])
        items = [item(i, int(j)) for j in top[i, :n_items]]
        best = items[0] if items else (item(i, int(top[i, 0])) if passing[i].any() else None)
        rankings.append(Ranking(pf.profile, items, excluded_by_row.get(i, Counter()), int(matched[i]), best))
    for i, u in enumerate(inverse.tolist()):
        if u in comps.inferred_cpv:
            inferred[profiles[i].id] = comps.inferred_cpv[u]
    return rankings


def select(ranking: Ranking, threshold: float, top_k: int, skip_keys: Collection[str] = ()) -> list[ScoredNotice]:
    """The best `top_k` at or above the threshold, leaving out notices already sent to this SME."""
    out = []
    for item in ranking.items:
        if item.score < threshold:
            break
        if item.key in skip_keys:
            continue
        out.append(item)
        if len(out) >= top_k:
            break
    return out
