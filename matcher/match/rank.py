"""Ranking profiles against notices: score every pair, apply the hard filters, order, select."""
from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from matcher.config import MatchingConfig
from matcher.match.feedback import Verdicts, moved_query, neighbour_shift, suppressed
from matcher.match.filters import LIVE, FilterSwitches, ProfileFilter, exclusion_reason
from matcher.match.score import COMPONENTS, ProfileVectors, calibrate, components_for, fuse
from matcher.match.terms import TermText
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


@dataclass
class RankResult:
    rankings: list[Ranking]
    notice_terms: list[TermText]
    vectorizer: TfidfVectorizer | None
    inferred_cpv: dict[str, list[str]] = field(default_factory=dict)  # profile id -> CPV groups borrowed

    def idf(self) -> dict[str, float]:
        if self.vectorizer is None:
            return {}
        return dict(zip(self.vectorizer.get_feature_names_out(), self.vectorizer.idf_))


def term_texts(notices: Sequence[NoticeRecord]) -> list[TermText]:
    return [TermText.of(matching_text(n)) for n in notices]


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
) -> RankResult:
    """Every profile's ranking of the notices that pass its filters, down to `min_score` (calibrated).

    `feedback` (aligned with `profiles`; None where a profile has no verdicts) moves each profile's ranking
    by its verdicts on earlier matches and leaves out the notices it rejected and their near-copies
    (matcher.match.feedback). Raises ProfileError for a profile the filters cannot read (e.g. an unknown region).
    """
    filters = [ProfileFilter.of(p) for p in profiles]
    terms = term_texts(notices)
    if not notices or not profiles:
        return RankResult([Ranking(p, []) for p in profiles], terms, None)
    if feedback is not None and len(feedback) != len(profiles):
        raise ValueError(f"{len(feedback)} feedback entries for {len(profiles)} profiles")
    verdicts = list(feedback) if feedback is not None else [None] * len(profiles)
    fcfg = cfg.feedback
    keys = [n.key for n in notices]
    profile_vecs = [moved_query(pv, v, fcfg) if v else pv for pv, v in zip(profile_vecs, verdicts)]
    shift = None
    if any(verdicts):
        shift = np.stack([neighbour_shift(notice_vecs, v, fcfg) if v else np.zeros(len(notices), dtype=np.float32)
                          for v in verdicts])
    blocked = [suppressed(keys, notice_vecs, v, fcfg) if v else {} for v in verdicts]
    comps, vectorizer = components_for(profiles, notices, profile_vecs, notice_vecs, terms, cfg, shift)
    raw = fuse(comps, cfg.weights)
    score = calibrate(raw, cfg)
    arrays = comps.as_dict()
    rankings = []
    for i, pf in enumerate(filters):
        excluded: Counter = Counter()
        items = []
        for j in np.argsort(-raw[i], kind="stable"):
            if score[i, j] < min_score:
                break
            why = blocked[i].get(int(j)) or exclusion_reason(pf, notices[j], terms[j], now, cfg, switches)
            if why:
                excluded[why] += 1
                continue
            vals = {c: float(np.nan_to_num(arrays[c][i, j])) for c in COMPONENTS}
            items.append(ScoredNotice(int(j), notices[j].key, **vals, raw_score=float(raw[i, j]), score=float(score[i, j])))
        rankings.append(Ranking(pf.profile, items, excluded))
    inferred = {profiles[i].id: codes for i, codes in comps.inferred_cpv.items()}
    return RankResult(rankings, terms, vectorizer, inferred)


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
