"""An SME's verdicts on earlier matches ('relevant' / 'not relevant') as changes to its ranking. Pure.

- Rocchio: the profile's dense query moves towards the mean vector of the notices it liked and away from
  what the rejected ones have that the query lacks (their mean's part orthogonal to the query, so one
  rejection does not sink the SME's core work), then is renormalised, so the dense component keeps its scale;
- neighbours: with verdicts of both kinds, each notice's dense component gains
  neighbour_weight * (mean cosine with its nearest liked notices - mean cosine with its nearest rejected
  ones), so the two terms roughly cancel for a notice unrelated to both;
- near-copies: a rejected notice, and any notice at least near_copy_similarity close to one, is not matched.

Settings: [matching.feedback] (config.FeedbackConfig). `matcher eval --feedback-split` measures them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from matcher.config import FeedbackConfig
from matcher.match.score import ProfileVectors
from matcher.match.texts import dense_text
from matcher.schema import NoticeRecord

Verdict = Literal["relevant", "not-relevant"]
VERDICTS: tuple[str, ...] = ("relevant", "not-relevant")
REJECTED_REASON = "marked not relevant"
NEAR_COPY_REASON = "near-copy of a notice marked not relevant"


@dataclass(frozen=True)
class Verdicts:
    """One SME's verdicts as the dense vectors of the notices judged (shape (k, dim); k may be 0)."""

    relevant: np.ndarray
    not_relevant: np.ndarray
    not_relevant_keys: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(len(self.relevant) or len(self.not_relevant))

    @property
    def count(self) -> int:
        return len(self.relevant) + len(self.not_relevant)


def verdict_vectors(
    encode: Callable[[list[str]], np.ndarray], judged: Mapping[str, Sequence[tuple[NoticeRecord, str]]],
) -> dict[str, Verdicts]:
    """{profile id: Verdicts} from {profile id: [(notice, verdict)...]}, embedding every notice's dense text
    in one call of `encode` (the same text the notices are ranked by)."""
    for pid, pairs in judged.items():
        for n, verdict in pairs:
            if verdict not in VERDICTS:
                raise ValueError(f"profile {pid}: notice {n.key}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    texts = [dense_text(n) for pairs in judged.values() for n, _ in pairs]
    if not texts:
        return {}
    vecs = np.asarray(encode(texts), dtype=np.float32)
    out, at = {}, 0
    for pid, pairs in judged.items():
        rows = vecs[at : at + len(pairs)]
        at += len(pairs)
        liked = [i for i, (_, v) in enumerate(pairs) if v == "relevant"]
        rejected = [i for i, (_, v) in enumerate(pairs) if v == "not-relevant"]
        out[pid] = Verdicts(rows[liked], rows[rejected], frozenset(pairs[i][0].key for i in rejected))
    return out


def moved_query(pv: ProfileVectors, v: Verdicts, cfg: FeedbackConfig) -> ProfileVectors:
    """Rocchio on the profile's query vector (its keyword and phrase vectors stay as they are).

    The push away from the rejected notices uses only the part of their mean that the SME's own query does not
    share (its component orthogonal to the query): a "not relevant" on a vehicle-decontamination job moves the
    query away from vehicles, not away from cleaning, so the SME's core work keeps its score. The push grows
    with the evidence: n rejections push n/(n + not_relevant_ramp) of not_relevant_weight."""
    q0 = pv.query.astype(np.float64)
    q = cfg.query_weight * q0
    if len(v.relevant) and cfg.relevant_weight:
        q = q + cfg.relevant_weight * v.relevant.mean(axis=0)
    if len(v.not_relevant) and cfg.not_relevant_weight:
        rejected = v.not_relevant.mean(axis=0).astype(np.float64)
        unit = q0 / (float(np.linalg.norm(q0)) or 1.0)
        n = len(v.not_relevant)
        push = cfg.not_relevant_weight * n / (n + cfg.not_relevant_ramp)
        q = q - push * (rejected - float(rejected @ unit) * unit)
    norm = float(np.linalg.norm(q))
    if norm == 0.0:
        return pv
    return replace(pv, query=(q / norm).astype(np.float32))


def _closeness(notice_vecs: np.ndarray, judged: np.ndarray, k: int) -> np.ndarray:
    """Each notice's mean cosine with its k nearest judged notices."""
    sims = notice_vecs @ judged.T
    k = min(k, sims.shape[1])
    return np.sort(sims, axis=1)[:, -k:].mean(axis=1)


def neighbour_shift(notice_vecs: np.ndarray, v: Verdicts, cfg: FeedbackConfig) -> np.ndarray:
    """The dense-score shift per notice; zero unless the SME has verdicts of both kinds."""
    if not (len(v.relevant) and len(v.not_relevant)) or cfg.neighbour_weight == 0:
        return np.zeros(len(notice_vecs), dtype=np.float32)
    diff = _closeness(notice_vecs, v.relevant, cfg.neighbours) - _closeness(notice_vecs, v.not_relevant, cfg.neighbours)
    return (cfg.neighbour_weight * diff).astype(np.float32)


def suppressed(keys: Sequence[str], notice_vecs: np.ndarray, v: Verdicts, cfg: FeedbackConfig) -> dict[int, str]:
    """{notice index: reason} for the rejected notices themselves and their near-copies."""
    out: dict[int, str] = {j: REJECTED_REASON for j, key in enumerate(keys) if key in v.not_relevant_keys}
    if len(v.not_relevant) and len(notice_vecs):
        close = (notice_vecs @ v.not_relevant.T).max(axis=1) >= cfg.near_copy_similarity
        for j in np.flatnonzero(close):
            out.setdefault(int(j), NEAR_COPY_REASON)
    return out


def aligned(profile_ids: Iterable[str], by_profile: Mapping[str, Verdicts] | None) -> list[Verdicts | None] | None:
    """Verdicts in profile order (None where a profile has none); None when nobody has any."""
    if not by_profile:
        return None
    out = [by_profile.get(pid) or None for pid in profile_ids]
    return out if any(out) else None
