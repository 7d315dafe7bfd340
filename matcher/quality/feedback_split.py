"""`matcher eval --feedback-split`: does feedback improve an SME's later ranking?

Each profile's judgments are split in two, seeded and stratified by relevance: half of its relevant and half of
its not-relevant judgments (grade >= 1 -> 'relevant', grade 0 -> 'not-relevant') are replayed as the SME's
verdicts, and the ranking is measured on the other half. The replayed notices are left out of the measured
ranking both with and without feedback, so the two runs rank the same notices against the same judgments.
Several seeds are averaged, because one split of ~35 judgments per profile is noisy.

The single-rejection scenario asks the opposite question: does one "not relevant" stay local? Per profile one
relevant notice, picked at random (seeded), is replayed as "not relevant" and the ranking is measured on every
other judgment. A rejection must suppress that notice and its near-copies, not the SME's core work: nDCG@10
should hardly move (issue target: a fall of at most 0.01).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from matcher.clock import utc_now
from matcher.config import Config
from matcher.quality.corpus import Qrels
from matcher.quality.evaluate import Run, judged_profiles, score_run
from matcher.match import EVAL, ProfileVectors, Verdicts, rank
from matcher.match.feedback import aligned
from matcher.schema import NoticeRecord, ProfileSpec


@dataclass
class FeedbackSplitReport:
    without: dict[str, float]  # mean metrics on the measured halves, no feedback
    with_feedback: dict[str, float]  # the same, with the other halves replayed as verdicts
    seeds: list[int]
    replayed: int  # judgments replayed as feedback, per split (mean)
    measured: int  # judgments measured on, per split (mean)
    profiles: int  # profiles measured (a relevant judgment in the measured half), per split (mean)
    per_seed: list[dict[str, dict[str, float]]] = field(default_factory=list)

    @property
    def gain(self) -> dict[str, float]:
        return {m: self.with_feedback[m] - self.without[m] for m in self.without}

    def as_json(self) -> dict:
        return {"without": self.without, "with_feedback": self.with_feedback, "gain": self.gain, "seeds": self.seeds,
                "replayed_judgments": self.replayed, "measured_judgments": self.measured, "profiles": self.profiles,
                "per_seed": self.per_seed}


def split_judgments(qrels: Qrels, seed: int, known: set[str] | None = None) -> tuple[Qrels, Qrels]:
    """(replayed, measured): per profile, half (rounded down) of its relevant and of its not-relevant judgments
    replayed, chosen by a generator seeded with `seed`; the rest measured. Only notices in `known` (the
    corpus) can be replayed; judgments of other notices stay measured."""
    rng = np.random.default_rng(seed)
    replayed: Qrels = {}
    measured: Qrels = {}
    for pid in sorted(qrels):
        judged = qrels[pid]
        picked: set[str] = set()
        for group in ([k for k, g in judged.items() if g >= 1], [k for k, g in judged.items() if g < 1]):
            group = sorted(k for k in group if known is None or k in known)
            picked |= {group[i] for i in rng.permutation(len(group))[: len(group) // 2]}
        replayed[pid] = {k: judged[k] for k in sorted(picked)}
        measured[pid] = {k: g for k, g in judged.items() if k not in picked}
    return replayed, measured


def verdicts_from(replayed: Qrels, profiles: Sequence[ProfileSpec], keys: Sequence[str], notice_vecs: np.ndarray) -> dict[str, Verdicts]:
    """The replayed judgments as each SME's Verdicts (the notices' own vectors: what the job embeds too)."""
    index = {k: j for j, k in enumerate(keys)}
    out = {}
    for p in profiles:
        judged = replayed.get(p.id, {})
        liked = [index[k] for k, g in judged.items() if g >= 1]
        rejected = [index[k] for k, g in judged.items() if g < 1]
        if liked or rejected:
            out[p.id] = Verdicts(notice_vecs[liked], notice_vecs[rejected], frozenset(keys[j] for j in rejected))
    return out


def _without(run: Run, replayed: Qrels) -> Run:
    return {pid: [k for k in keys if k not in replayed.get(pid, {})] for pid, keys in run.items()}


def feedback_split(
    profiles: Sequence[ProfileSpec], notices: Sequence[NoticeRecord], qrels: Qrels,
    profile_vecs: Sequence[ProfileVectors], notice_vecs: np.ndarray, cfg: Config, seed: int = 0, repeats: int = 5,
) -> FeedbackSplitReport:
    """Mean metrics over `repeats` seeded splits (seeds seed .. seed+repeats-1), without and with feedback."""
    if repeats < 1:
        raise ValueError(f"--repeats: {repeats} must be at least 1")
    profiles = list(profiles)
    keys = [n.key for n in notices]
    now = utc_now()  # the EVAL switches ignore time
    plain = rank(profiles, notices, profile_vecs, notice_vecs, cfg.matching, now, EVAL)
    plain_run = {r.profile.id: [i.key for i in r.items] for r in plain.rankings}
    seeds = list(range(seed, seed + repeats))
    per_seed, sizes = [], []
    for s in seeds:
        replayed, measured = split_judgments(qrels, s, set(keys))
        if not judged_profiles(measured):
            raise ValueError("no profile keeps a relevant judgment in the measured half: nothing to measure")
        feedback = aligned([p.id for p in profiles], verdicts_from(replayed, profiles, keys, notice_vecs))
        fed = rank(profiles, notices, profile_vecs, notice_vecs, cfg.matching, now, EVAL, feedback=feedback)
        fed_run = {r.profile.id: [i.key for i in r.items] for r in fed.rankings}
        per_seed.append({"without": score_run(_without(plain_run, replayed), measured),
                         "with_feedback": score_run(_without(fed_run, replayed), measured)})
        sizes.append((sum(map(len, replayed.values())), sum(map(len, measured.values())), len(judged_profiles(measured))))
    mean = lambda which: {m: float(np.mean([r[which][m] for r in per_seed])) for m in per_seed[0][which]}  # noqa: E731
    replayed_n, measured_n, profiles_n = (round(float(np.mean(col))) for col in zip(*sizes))
    return FeedbackSplitReport(mean("without"), mean("with_feedback"), seeds, replayed_n, measured_n, profiles_n, per_seed)


@dataclass
class SingleRejectionReport:
    without: dict[str, float]  # mean metrics on the other judgments, no feedback
    with_rejection: dict[str, float]  # the same after one relevant notice per profile was marked not relevant
    seeds: list[int]
    profiles: int  # profiles measured, per seed (mean)
    passing_without: float = 0.0  # the other relevant notices at or above the threshold, per profile (mean)
    passing_with: float = 0.0  # the same after the rejection: what the SME's digest keeps of its real fits

    @property
    def change(self) -> dict[str, float]:
        return {m: self.with_rejection[m] - self.without[m] for m in self.without}

    def as_json(self) -> dict:
        return {"without": self.without, "with_rejection": self.with_rejection, "change": self.change,
                "seeds": self.seeds, "profiles": self.profiles,
                "relevant_above_threshold": {"without": self.passing_without, "with_rejection": self.passing_with}}


def reject_one(qrels: Qrels, seed: int, known: set[str] | None = None) -> tuple[Qrels, Qrels]:
    """(replayed, measured): per profile one relevant judgment (seeded pick, among notices in `known`) replayed
    as a rejection, and every other judgment measured."""
    rng = np.random.default_rng(seed)
    replayed: Qrels = {}
    measured: Qrels = {}
    for pid in sorted(qrels):
        judged = qrels[pid]
        relevant = sorted(k for k, g in judged.items() if g >= 1 and (known is None or k in known))
        picked = relevant[int(rng.integers(len(relevant)))] if relevant else None
        replayed[pid] = {picked: 0} if picked else {}
        measured[pid] = {k: g for k, g in judged.items() if k != picked}
    return replayed, measured


def single_rejection(
    profiles: Sequence[ProfileSpec], notices: Sequence[NoticeRecord], qrels: Qrels,
    profile_vecs: Sequence[ProfileVectors], notice_vecs: np.ndarray, cfg: Config, seed: int = 0, repeats: int = 5,
) -> SingleRejectionReport:
    """Mean metrics over `repeats` seeds, without and with one relevant notice per profile marked not relevant
    (the rejected notice is left out of both rankings)."""
    if repeats < 1:
        raise ValueError(f"--repeats: {repeats} must be at least 1")
    profiles = list(profiles)
    keys = [n.key for n in notices]
    now = utc_now()
    plain = rank(profiles, notices, profile_vecs, notice_vecs, cfg.matching, now, EVAL)
    plain_run = {r.profile.id: [i.key for i in r.items] for r in plain.rankings}
    seeds = list(range(seed, seed + repeats))
    rows, sizes, passing = [], [], []
    for s in seeds:
        replayed, measured = reject_one(qrels, s, set(keys))
        if not judged_profiles(measured):
            raise ValueError("no profile keeps a relevant judgment once one is rejected: nothing to measure")
        feedback = aligned([p.id for p in profiles], verdicts_from(replayed, profiles, keys, notice_vecs))
        fed = rank(profiles, notices, profile_vecs, notice_vecs, cfg.matching, now, EVAL, feedback=feedback)
        fed_run = {r.profile.id: [i.key for i in r.items] for r in fed.rankings}
        rows.append((score_run(_without(plain_run, replayed), measured), score_run(_without(fed_run, replayed), measured)))
        sizes.append(len(judged_profiles(measured)))
        passing.append((_passing(plain, measured, cfg.matching.threshold), _passing(fed, measured, cfg.matching.threshold)))
    mean = lambda k: {m: float(np.mean([r[k][m] for r in rows])) for m in rows[0][k]}  # noqa: E731
    return SingleRejectionReport(mean(0), mean(1), seeds, round(float(np.mean(sizes))),
                                 float(np.mean([p[0] for p in passing])), float(np.mean([p[1] for p in passing])))


def _passing(result, measured: Qrels, threshold: float) -> float:
    """Mean over the measured profiles of how many of their relevant notices score at or above the threshold."""
    pids = set(judged_profiles(measured))
    counts = [sum(1 for i in r.items if i.score >= threshold and measured[r.profile.id].get(i.key, 0) >= 1)
              for r in result.rankings if r.profile.id in pids]
    return float(np.mean(counts)) if counts else 0.0
