"""Ranking SMEs that share their scoring inputs once: many SMEs register the same trade in the same words (and a
national service's sign-ups repeat trades heavily), so each distinct profile is scored, filtered and ordered once
and its Ranking is shared by every SME with the same inputs. Distinct profiles still go through rank() in full,
chunked and vectorised; nothing here depends on how much repeats."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np

from matcher.config import MatchingConfig
from matcher.match.feedback import Verdicts
from matcher.match.filters import LIVE, FilterSwitches
from matcher.match.rank import RankResult, Ranking, rank
from matcher.match.score import ProfileVectors
from matcher.schema import ProfileSpec


def scoring_key(p: ProfileSpec, pv: ProfileVectors, verdicts: Verdicts | None, i: int) -> tuple:
    """What rank() reads of one SME: its texts, codes, filters and vectors (the very same ProfileVectors object,
    as matching_vectors shares one between SMEs with the same texts). An SME with verdicts is its own group."""
    if verdicts:
        return ("own", i)
    return (id(pv), p.capabilities, tuple(p.keywords), tuple(p.cpv), tuple(p.regions), tuple(p.exclude),
            p.value_min, p.value_max)


def groups_of(profiles: Sequence[ProfileSpec], profile_vecs: Sequence[ProfileVectors],
              feedback: Sequence[Verdicts | None] | None) -> tuple[list[int], np.ndarray]:
    """(the first SME of each group, in order; each SME's group number). An SME whose inputs are the very same
    objects as an earlier one's (store/profiles.matching_profiles shares them between SMEs with the same content)
    joins that SME's group without its scoring_key being made; any other is grouped by scoring_key."""
    verdicts = feedback if feedback is not None else [None] * len(profiles)
    first: dict[tuple, int] = {}
    same_objects: dict[tuple, int] = {}
    reps: list[int] = []
    groups = []
    for i, (p, pv, v) in enumerate(zip(profiles, profile_vecs, verdicts)):
        if v:
            g = None
        else:
            ids = (id(pv), id(p.capabilities), id(p.keywords), id(p.cpv), id(p.regions), id(p.exclude), p.value_min,
                   p.value_max)
            g = same_objects.get(ids)
        if g is None:
            key = scoring_key(p, pv, v, i)
            g = first.get(key)
            if g is None:
                g = first[key] = len(reps)
                reps.append(i)
            if not v:
                same_objects[ids] = g
        groups.append(g)
    return reps, np.array(groups, dtype=np.intp)


def rank_distinct(
    profiles: Sequence[ProfileSpec],
    notices: Sequence,
    profile_vecs: Sequence[ProfileVectors],
    notice_vecs: np.ndarray,
    cfg: MatchingConfig,
    now: datetime,
    switches: FilterSwitches = LIVE,
    min_score: float = 0.0,
    feedback: Sequence[Verdicts | None] | None = None,
    keep: Sequence[int | None] | int | None = None,
    on_chunk: Callable[[int], None] | None = None,
    notice_terms: Sequence | None = None,
) -> RankResult:
    """rank() with each distinct profile ranked once: the same rankings, items, counts and inferred codes per SME.

    A group keeps as many items as its most demanding member asks for (`keep`), so an SME may get a few more
    items than it asked for, never fewer; select() reads only what it needs. `on_chunk(n)` counts SMEs."""
    if feedback is not None and len(feedback) != len(profiles):
        raise ValueError(f"{len(feedback)} feedback entries for {len(profiles)} profiles")
    if len(profile_vecs) != len(profiles):
        raise ValueError(f"{len(profile_vecs)} profile vectors for {len(profiles)} profiles")
    reps, inverse = groups_of(profiles, profile_vecs, feedback)
    sizes = np.bincount(inverse, minlength=len(reps)) if len(profiles) else np.zeros(0, dtype=np.intp)
    if keep is None or isinstance(keep, int):
        group_keep: list[int | None] | int | None = keep
    else:
        if None in keep:
            most: list[int | None] = [0] * len(reps)
            for g, k in zip(inverse.tolist(), keep):
                most[g] = None if k is None or most[g] is None else max(most[g], k)  # type: ignore[type-var]
            group_keep = most
        else:  # the largest of each group's numbers, in one pass
            largest = np.zeros(len(reps), dtype=np.int64)
            np.maximum.at(largest, inverse, np.asarray(keep, dtype=np.int64))
            group_keep = largest.tolist()
    done = [0]

    def step(n: int) -> None:  # n distinct profiles ranked: report the SMEs they stand for
        smes = int(sizes[done[0]:done[0] + n].sum())
        done[0] += n
        on_chunk(smes)  # type: ignore[misc]

    result = rank([profiles[i] for i in reps], notices, [profile_vecs[i] for i in reps], notice_vecs, cfg, now,
                  switches, min_score=min_score, feedback=None if feedback is None else [feedback[i] for i in reps],
                  keep=group_keep, on_chunk=step if on_chunk is not None else None, notice_terms=notice_terms)
    groups = inverse.tolist()
    rankings = []
    new = object.__new__
    for i, (p, g) in enumerate(zip(profiles, groups)):
        r = result.rankings[g]
        if reps[g] == i:
            rankings.append(r)
        else:  # Ranking(p, r.items, r.excluded, r.matched, r.best), without its __init__ per SME
            copy = new(Ranking)
            copy.__dict__ = {**r.__dict__, "profile": p}
            rankings.append(copy)
    inferred = {}
    if result.inferred_cpv:
        codes_of = [result.inferred_cpv.get(profiles[i].id) for i in reps]
        for p, g in zip(profiles, groups):
            if (codes := codes_of[g]) is not None:
                inferred[p.id] = codes
    return RankResult(rankings, result.notice_terms, result.vectorizer, inferred)
