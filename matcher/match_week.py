"""A week's matching against the store: rank this week's candidate notices for every active SME and store the best
as the SME's MatchSet for the period (store/match_sets.py), named by its WeekOutcome row: one row per SME, the
items of SMEs with the same list stored once. The I/O shell around the pure matcher in match/; jobs/match.py
schedules it.

Loads from the store (load_week: profiles, candidates, what was sent, the SMEs' verdicts), embeds through the
vector cache, ranks with the pure matcher (choose), writes. Re-running for the same period replaces the SMEs'
outcomes and sets; items already in the period's digest are kept there and never chosen again. `matcher preview` (quality/preview.py) runs the same load_week and choose without writing.

Daily SMEs (cadence 'daily', matcher.period) are matched by the daily run only, each against the notices first seen
since its previous digest's cut-off (load_days); the weekly run matches weekly SMEs only. Each run stores its `now`
as the SMEs' cut-off (WeekOutcome.seen_until). A daily SME whose digest of the day is built is left as it is.
"""
from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import wraps

import numpy as np
from sqlalchemy import delete, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from matcher.progress import Progress
from matcher.period import Cadence, Period, period_of
from matcher.config import Config, MatchingConfig
from matcher.embed import Embedder, cached_embed, matching_vectors
from matcher.store.feedback import verdicts_for
from matcher.match import ProfileError, ProfileVectors, RankResult, ScoredNotice, Verdicts, select as select_top
from matcher.match.challenge import challenge_reason
from matcher.match.cpv import cpv_labels
from matcher.match.explain import explain, stored
from matcher.match.feedback import aligned, verdict_vectors
from matcher.match.filters import ProfileFilter
from matcher.match.groups import rank_distinct
from matcher.match.texts import capability_phrases, evidence_candidates
from matcher.store.match_sets import encode as encode_set, orphan_sets
from matcher.store.models import Digest, Match, MatchSet, Notice, WeekOutcome, utcnow
from matcher.store.periods import daily_since
from matcher.store.profiles import matching_profiles
from matcher.schema import NoticeRecord, ProfileSpec
from matcher.store import as_utc, session_scope
from matcher.store.bulk import id_groups, insert_shared
from matcher.store.writer import BackgroundWrite

log = logging.getLogger(__name__)
progress_log = logging.getLogger("matcher.progress")

_BOOKKEEPING = {"id", "content_hash", "first_seen", "last_seen"}


@dataclass
class MatchReport:
    week: str
    profiles: int = 0
    candidates: int = 0
    embedded: int = 0  # distinct texts embedded by this run (the rest came from the cache)
    written: int = 0
    per_profile: dict[str, int] = field(default_factory=dict)
    excluded: Counter = field(default_factory=Counter)  # why candidates were filtered out, summed over SMEs
    errors: list[str] = field(default_factory=list)
    cadence: Cadence | None = "weekly"  # None: SMEs of every cadence (`matcher preview` looks at a week of all)
    settled: int = 0  # daily SMEs whose digest of the day was already built (left as they are)

    def __str__(self) -> str:
        daily, new = (" daily", " new") if self.cadence == "daily" else ("", "")
        return (f"{self.week}: {self.written} match(es) for {self.profiles}{daily} SME(s) from {self.candidates}"
                f"{new} candidate notice(s); {self.embedded} text(s) embedded"
                + (f"; {self.settled} already had the day's digest" if self.settled else "")
                + (f"; {len(self.errors)} error(s)" if self.errors else ""))


def notice_record(row: Notice) -> NoticeRecord:
    return NoticeRecord.model_validate(row.model_dump(exclude=_BOOKKEEPING))


def _open_notices(now: datetime, min_days: int):  # noqa: ANN202
    cutoff = now + timedelta(days=min_days)
    return select(Notice).where(or_(col(Notice.closes_at).is_(None), col(Notice.closes_at) >= cutoff)).order_by(Notice.key)


def candidate_notices(session: Session, now: datetime, min_days: int) -> list[NoticeRecord]:
    """Notices still open long enough (or with no closing date); the pure filters do the rest."""
    return [notice_record(r) for r in session.exec(_open_notices(now, min_days))]


def new_notices(session: Session, now: datetime, min_days: int, seen_after: datetime) -> list[tuple[NoticeRecord, datetime]]:
    """Open candidates first seen after `seen_after`, with when each was first seen (no upper bound: one stored
    while this run reads is new again to the next run, unless it is sent by then)."""
    stmt = _open_notices(now, min_days).where(col(Notice.first_seen) > seen_after)
    return [(notice_record(r), as_utc(r.first_seen)) for r in session.exec(stmt)]


ON_ITS_WAY = ("sent", "sending", "created", "failed")  # a daily SME's run skips these digests' items too


def sent_before(session: Session, week: str, profile_ids: Sequence[str],
                states: Sequence[str] = ("sent",)) -> dict[str, set[str]]:
    """Per SME, the notices already sent (or in `states`) in a digest of another period (of either cadence)."""
    out: dict[str, set[str]] = {}
    for group in id_groups(session, profile_ids, _IN_CHUNK):  # on SQLite one group, bound as one value
        stmt = (
            select(Match.profile_id, Match.notice_key)
            .join(Digest, col(Digest.id) == Match.digest_id)
            .where(col(Digest.state).in_(states), col(Digest.week) != week, col(Match.profile_id).in_(group))
        )
        for pid, key in session.exec(stmt):
            out.setdefault(pid, set()).add(key)
    return out


def attached_this_week(session: Session, week: str, profile_ids: Sequence[str]) -> dict[str, set[str]]:
    """Per SME, this week's matches already in a digest: kept as they are, never duplicated."""
    out: dict[str, set[str]] = {}
    for group in id_groups(session, profile_ids, _IN_CHUNK):
        stmt = select(Match.profile_id, Match.notice_key).where(
            Match.week == week, col(Match.digest_id).is_not(None), col(Match.profile_id).in_(group))
        for pid, key in session.exec(stmt):
            out.setdefault(pid, set()).add(key)
    return out


def _load_profiles(session: Session, profile_ids: Sequence[str] | None, report: MatchReport) -> list[ProfileSpec]:
    specs, errors, elsewhere = matching_profiles(session, profile_ids, report.cadence)
    if profile_ids is not None:
        missing = set(profile_ids) - {p.id for p in specs} - {pid for pid, _ in errors} - {pid for pid, _ in elsewhere}
        report.errors += [f"profile {pid}: not found, disabled or unsubscribed" for pid in sorted(missing)]
        report.errors += [f"profile {pid}: gets {c} digests (match it with --cadence {c})" for pid, c in elsewhere]
    report.errors += [f"profile {pid}: {why}" for pid, why in errors]
    readable: dict[tuple, str | None] = {}  # the filters read once per distinct (regions, excluded words)
    out = []
    for spec in specs:
        key = (tuple(spec.regions), tuple(spec.exclude))
        if key not in readable:
            try:
                ProfileFilter.of(spec)
                readable[key] = None
            except (ProfileError, ValueError) as e:
                readable[key] = str(e).split(": ", 1)[1] if isinstance(e, ProfileError) else str(e)
        if readable[key] is None:
            out.append(spec)
        else:
            report.errors.append(f"profile {spec.id}: {readable[key]}")
    return out


@dataclass
class WeekInputs:
    """What a week's matching reads from the store: read once, then ranked (by the job, or by `matcher preview`)."""

    week: str
    profiles: list[ProfileSpec]
    notices: list[NoticeRecord]  # the candidates
    skip: dict[str, set[str]]  # per SME: already sent, or already in this week's digest
    judged: dict[str, list[tuple[NoticeRecord, str]]]  # per SME: its verdicts on earlier matches
    _challenges: list[str | None] | None = field(default=None, repr=False)

    def challenge_reasons(self) -> list[str | None]:
        """Per candidate, why it is a challenge (match/challenge.py) or None; read once per run."""
        if self._challenges is None:
            self._challenges = [challenge_reason(n) for n in self.notices]
        return self._challenges


@dataclass
class WeekVectors:
    profiles: list[ProfileVectors]
    notices: np.ndarray
    verdicts: dict[str, Verdicts]


def notices_by_key(session: Session, keys: Sequence[str]) -> dict[str, NoticeRecord]:
    out: dict[str, NoticeRecord] = {}
    wanted = sorted(set(keys))
    for start in range(0, len(wanted), 500):
        for row in session.exec(select(Notice).where(col(Notice.key).in_(wanted[start : start + 500]))):
            out[row.key] = notice_record(row)
    return out


def judged_notices(session: Session, profile_ids: Sequence[str]) -> dict[str, list[tuple[NoticeRecord, str]]]:
    """Per SME, its verdicts with the notices they are about (a verdict on a notice no longer stored is dropped)."""
    verdicts = verdicts_for(session, profile_ids)
    stored = notices_by_key(session, [k for pairs in verdicts.values() for k, _ in pairs])
    return {pid: [(stored[k], v) for k, v in pairs if k in stored] for pid, pairs in verdicts.items()}


def load_week(session: Session, cfg: Config, now: datetime, profile_ids: Sequence[str] | None,
              report: MatchReport) -> WeekInputs:
    """Profiles, candidate notices, what to skip and the SMEs' verdicts; reads only."""
    profiles = _load_profiles(session, profile_ids, report)
    ids = [p.id for p in profiles]
    notices = candidate_notices(session, now, cfg.matching.min_days_to_close)
    skip = sent_before(session, report.week, ids)
    for pid, keys in attached_this_week(session, report.week, ids).items():
        skip.setdefault(pid, set()).update(keys)
    return WeekInputs(report.week, profiles, notices, skip, judged_notices(session, ids))


def load_days(session: Session, cfg: Config, now: datetime, profile_ids: Sequence[str] | None, report: MatchReport,
              period: Period) -> list[WeekInputs]:
    """The daily run's inputs: daily SMEs without the day's digest, grouped by the cut-off of their previous
    digest, each group with the candidates first seen since it (new to them); reads only."""
    profiles = _load_profiles(session, profile_ids, report)
    built = set(session.exec(select(Digest.profile_id).where(Digest.week == report.week)))
    report.settled = sum(1 for p in profiles if p.id in built)
    profiles = [p for p in profiles if p.id not in built]
    if not profiles:
        return []
    ids = [p.id for p in profiles]
    since = daily_since(session, ids, period, now, cfg.digest.timezone)
    seen = new_notices(session, now, cfg.matching.min_days_to_close, min(since.values()))
    skip = sent_before(session, report.week, ids, ON_ITS_WAY)  # an unsent one is carried over if it never goes
    judged = judged_notices(session, ids)
    groups: dict[datetime, list[ProfileSpec]] = {}
    for p in profiles:
        groups.setdefault(since[p.id], []).append(p)
    out = []
    for cut, members in sorted(groups.items()):
        notices = [n for n, first in seen if first > cut]
        out.append(WeekInputs(report.week, members, notices, {p.id: skip[p.id] for p in members if p.id in skip},
                              {p.id: judged[p.id] for p in members if p.id in judged}))
    return out


def week_vectors(inputs: WeekInputs, encode: Callable[[list[str]], np.ndarray]) -> WeekVectors:
    profile_vecs, notice_vecs = matching_vectors(encode, inputs.profiles, inputs.notices)
    return WeekVectors(profile_vecs, notice_vecs, verdict_vectors(encode, inputs.judged))


MAX_CHALLENGES = 5  # challenges in any sector added per week for an SME that opted in


def choose(
    inputs: WeekInputs, vectors: WeekVectors, mcfg: MatchingConfig, now: datetime,
    on_chunk: Callable[[int], None] | None = None, full: bool = False,
) -> tuple[RankResult, dict[str, list[ScoredNotice]]]:
    """Rank with the SMEs' verdicts and pick each SME's week: the pure matcher, no store access. An SME that
    opted in to challenges also gets the week's challenges in any sector that pass its filters. Each ranking
    keeps only the items select() can pick (top_k plus what it skips), unless `full` (all at the threshold)."""
    feedback = aligned([p.id for p in inputs.profiles], vectors.verdicts)
    keep = None if full else [mcfg.top_k + len(inputs.skip.get(p.id, ())) for p in inputs.profiles]
    result = rank_distinct(inputs.profiles, inputs.notices, vectors.profiles, vectors.notices, mcfg, now,
                           min_score=mcfg.threshold, feedback=feedback, keep=keep, on_chunk=on_chunk)
    shared: dict[int, list[ScoredNotice]] = {}  # SMEs sharing a ranking and skipping nothing share its pick
    chosen = {}
    for r in result.rankings:
        skip = inputs.skip.get(r.profile.id)
        if skip:
            chosen[r.profile.id] = select_top(r, mcfg.threshold, mcfg.top_k, skip)
        else:
            if id(r.items) not in shared:
                shared[id(r.items)] = select_top(r, mcfg.threshold, mcfg.top_k)
            chosen[r.profile.id] = shared[id(r.items)]  # one list for the group (never changed in place)
    joined: dict[tuple, list[ScoredNotice]] = {}  # SMEs with the same pick and the same challenges share one list
    for pid, extra in any_sector_challenges(inputs, vectors, mcfg, now, feedback, result.notice_terms).items():
        both = (id(chosen[pid]), *map(id, extra))  # the items are shared objects, alive while `joined` is
        if both not in joined:
            have = {item.key for item in chosen[pid]}
            joined[both] = chosen[pid] + [item for item in extra if item.key not in have][:MAX_CHALLENGES]
        chosen[pid] = joined[both]
    return result, chosen


def any_sector_challenges(inputs: WeekInputs, vectors: WeekVectors, mcfg: MatchingConfig, now: datetime,
                          feedback: list, notice_terms: Sequence | None = None) -> dict[str, list[ScoredNotice]]:
    """Per SME that opted in: the challenge notices passing its filters (any score), best first."""
    opted = [i for i, p in enumerate(inputs.profiles) if p.challenges]
    if not opted:
        return {}
    idx = [j for j, why in enumerate(inputs.challenge_reasons()) if why is not None]
    if not idx:
        return {}
    sub = rank_distinct([inputs.profiles[i] for i in opted], [inputs.notices[j] for j in idx],
                        [vectors.profiles[i] for i in opted], vectors.notices[idx], mcfg, now, min_score=0.0,
                        feedback=[feedback[i] for i in opted] if feedback is not None else None,
                        notice_terms=None if notice_terms is None else [notice_terms[j] for j in idx])
    out, moved = {}, {}  # moved: each shared ranking's items re-indexed once
    for ranking in sub.rankings:
        skip = inputs.skip.get(ranking.profile.id, set())
        if id(ranking.items) not in moved:
            moved[id(ranking.items)] = [replace(item, index=idx[item.index]) for item in ranking.items]
        out[ranking.profile.id] = [item for item in moved[id(ranking.items)] if item.key not in skip]
    return out


def _cyclic_gc_paused(fn: Callable) -> Callable:
    """Run `fn` with Python's cyclic garbage collector paused (and resumed after, if it was on). The match job
    makes millions of small objects that live until it ends (specs, scored items, rows), and each automatic
    collection walks all of them: about 4 s of a 100,000-SME run. Memory is still freed by reference counting
    as the job goes (measured: the same peak RSS); the few cycles are collected once the collector resumes."""
    @wraps(fn)
    def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        was = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was:
                gc.enable()
    return run


@_cyclic_gc_paused
def match_week(
    cfg: Config, engine: Engine, now: datetime, profile_ids: Sequence[str] | None = None, embedder: Embedder | None = None,
    cadence: Cadence = "weekly",
) -> MatchReport:
    """Rank and store this period's matches for every active SME of `cadence` (or only `profile_ids`), using their
    feedback: weekly SMEs against this week's candidates, daily ones against what is new to each (load_days)."""
    period = period_of(now, cadence, cfg.digest.timezone)
    report = MatchReport(week=period.label, cadence=cadence)
    embedder = embedder or Embedder(cfg.embedding)
    with session_scope(engine) as s:
        groups = (load_days(s, cfg, now, profile_ids, report, period) if cadence == "daily"
                  else [load_week(s, cfg, now, profile_ids, report)])
    every = [p for inputs in groups for p in inputs.profiles]
    ids = [p.id for p in every]
    report.profiles = len(every)
    report.candidates = len({n.key for inputs in groups for n in inputs.notices})

    def encode(texts: list[str]) -> np.ndarray:
        with session_scope(engine) as s:
            vecs, new = cached_embed(s, embedder, texts)
        report.embedded += new
        return vecs

    chosen: dict[str, list] = {p.id: [] for p in every}
    outcomes = {p.id: (0, None, None, None) for p in every}  # OUTCOME_COLUMNS but the set
    explainers = []  # per group, its rows to make: every text they compare is embedded (and cached) before the write
    for inputs in groups:
        if not (inputs.profiles and inputs.notices):
            continue
        vectors = week_vectors(inputs, encode)
        with Progress("match: scoring", total=len(inputs.profiles), unit="SME") as scoring:
            result, picked = choose(inputs, vectors, cfg.matching, now, on_chunk=scoring.step)
        mine: dict[str, list] = {}
        paired: dict[tuple[int, int], list] = {}
        shared_excluded: Counter = Counter()  # id of each ranking's Counter (shared by a group) -> SMEs reading it
        counters = {}
        for pv, ranking in zip(vectors.profiles, result.rankings):
            shared_excluded[id(ranking.excluded)] += 1
            counters[id(ranking.excluded)] = ranking.excluded
            got = picked[ranking.profile.id]
            if (id(got), id(pv)) not in paired:  # SMEs sharing a pick share its (item, vectors) list too
                paired[id(got), id(pv)] = [(item, pv) for item in got]
            mine[ranking.profile.id] = paired[id(got), id(pv)]
        for key, smes in shared_excluded.items():
            for why, n in counters[key].items():
                report.excluded[why] += n * smes
        chosen.update(mine)
        explainers.append((len(mine), _explainer(mine, inputs.profiles, inputs.notices, vectors.notices, result,
                                                  result.idf(), encode, cfg, inputs.challenge_reasons())))
        _note_outcomes(outcomes, result)

    existing: set[str] = set()  # the period's sets already stored (for SMEs not in this run), read by clear

    def clear(s: Session) -> None:  # the SMEs' outcomes (naming their sets) go, in the write's own transaction
        for part in id_groups(s, ids, _IN_CHUNK):  # on SQLite and PostgreSQL one statement for all the ids
            s.execute(delete(WeekOutcome).where(WeekOutcome.week == report.week, col(WeekOutcome.profile_id).in_(part)))
        s.execute(orphan_sets(report.week))
        existing.update(s.exec(select(MatchSet.key).where(MatchSet.week == report.week)))

    # one transaction on a writer thread (store/writer.py): each batch of SMEs' outcomes and new sets is inserted
    # while the next is explained; plain tuples in bulk (store/bulk.py), not one ORM object or dict per row
    stamp = utcnow()
    sets_at = {"week": report.week, "created_at": stamp}
    outcomes_at = {"week": report.week, "seen_until": now, "created_at": stamp}
    made: set[str] = set()  # sets handed over by this run (SMEs of different profiles may get the same one)
    with BackgroundWrite(engine, start=clear) as write:
        for count, sets_of in explainers:
            with Progress("match: explaining", total=count, unit="SME") as progress:
                for new_sets, named in sets_of(progress):
                    fresh = []
                    for key, text in new_sets:
                        if key not in made:
                            made.add(key)
                            fresh.append((key, text))
                    # filtered on the writer thread, after clear() has read what is stored
                    write.put(MatchSet.__table__, SET_COLUMNS, (r for r in fresh if r[0] not in existing), sets_at)
                    write.call(insert_shared, WeekOutcome.__table__, "profile_id", OUTCOME_COLUMNS,
                               _shared_outcomes((pid, (*outcomes.pop(pid), key)) for pid, key in named), outcomes_at)
        write.call(insert_shared, WeekOutcome.__table__, "profile_id", OUTCOME_COLUMNS,
                   _shared_outcomes((pid, (*o, None)) for pid, o in outcomes.items()), outcomes_at)
        write.finish()
    report.written = sum(len(items) for items in chosen.values())
    report.per_profile = {pid: len(items) for pid, items in chosen.items()}
    log.info("%s", report)
    return report


def _shared_outcomes(rows: Iterable[tuple[str, tuple]]) -> list[tuple[tuple, list[str]]]:
    """(outcome values, the SMEs with them) from (SME, outcome values): SMEs of one ranking share one outcome."""
    out: dict[tuple, list[str]] = {}
    for pid, values in rows:
        out.setdefault(values, []).append(pid)
    return list(out.items())


def _note_outcomes(outcomes: dict[str, tuple], result: RankResult) -> None:
    """Each SME's week for the champions' desk: how many items reached the threshold and the best score, even
    below the threshold (rank() finds it in the same pass, with the same filters and verdicts)."""
    for ranking in result.rankings:
        best = ranking.best
        outcomes[ranking.profile.id] = (ranking.matched, None if best is None else round(best.score, 4),
                                        None if best is None else best.key, None)


_IN_CHUNK = 500  # ids per IN (...) list
# the rows the job writes (week, created_at and seen_until are added at the write)
SET_COLUMNS = ("key", "items")
OUTCOME_COLUMNS = ("matched", "best_score", "best_notice_key", "error", "match_set")  # after the SME's id


PROGRESS_CHUNK = 500  # SMEs per progress step
WRITE_BATCH = 20_000  # SMEs' outcomes handed to the writer thread at once (at most 2 batches wait in its queue)


def _explainer(chosen, profiles, notices, notice_vecs, result, idf, encode, cfg: Config,
               challenges: Sequence[str | None]) -> Callable[[Progress | None], Iterator[tuple[list, list]]]:
    """Each SME's MatchSet (store/match_sets.py), with explanations for the items a digest can show (each SME's
    first digest.max_items, and challenges). The phrases and sentences they compare are embedded through the cache
    here, at once; the returned function then yields, for about WRITE_BATCH SMEs at a time, the sets first made
    (key, text) and each SME's set key, and touches the store no more."""
    mcfg = cfg.matching
    shown = cfg.digest.max_items
    by_id = {p.id: p for p in profiles}

    def explained(rank_no: int, j: int) -> bool:
        return rank_no <= shown or challenges[j] is not None

    lists = {id(items): items for items in chosen.values()}  # SMEs of a group share one list
    used = sorted({item.index for items in lists.values() for r, (item, _) in enumerate(items, 1) if explained(r, item.index)})
    cands = {j: evidence_candidates(notices[j], mcfg.evidence_max_chars) for j in used}
    phrases: dict[str, list[str]] = {}
    by_text: dict[str, list[str]] = {}  # SMEs with the same capability text share its phrases (and their vectors)
    for pid, items in chosen.items():
        if items:
            caps = by_id[pid].capabilities
            phrases[pid] = by_text[caps] if caps in by_text else by_text.setdefault(caps, capability_phrases(by_id[pid]))
    distinct = {id(v): v for v in phrases.values()}
    texts = [t for j in used for t in cands[j]] + [t for v in distinct.values() for t in v]
    vecs = encode(texts) if texts else np.zeros((0, notice_vecs.shape[1]), dtype=np.float32)
    at, cand_vecs, by_list = 0, {}, {}
    for j in used:
        cand_vecs[j], at = vecs[at : at + len(cands[j])], at + len(cands[j])
    for key, v in distinct.items():
        by_list[key], at = vecs[at : at + len(v)], at + len(v)
    phrase_vecs = {pid: by_list[id(v)] for pid, v in phrases.items()}
    labels: dict[str, str] = {}  # CPV labels the week's notices carry, for codes a notice lists bare
    for n in notices:
        for code, label in cpv_labels(n.raw).items():
            labels.setdefault(code, label)

    def sets_of(progress: Progress | None = None) -> Iterator[tuple[list[tuple[str, str]], list[tuple[str, str]]]]:
        new_sets: list[tuple[str, str]] = []  # (key, JSON text) of each set first made in this batch
        named: list[tuple[str, str]] = []  # (SME, its set's key)
        matches = 0  # items chosen so far
        unexplained: dict = {}  # one dict for every item stored without an explanation
        done_before: dict[tuple, dict] = {}  # SMEs with the same profile and item: explained once, one shared dict
        keys: dict[tuple, str] = {}  # SMEs with the same profile and the same list: one set
        for done, (pid, items) in enumerate(chosen.items(), 1):
            if progress is not None and (done % PROGRESS_CHUNK == 0 or done == len(chosen)):
                progress.step(done - progress.done, note=f"{matches} matches")
            if not items:
                continue
            matches += len(items)
            p = by_id[pid]
            # the same list for the same profile content: SMEs loaded with the same content share its values (the
            # very objects, store/profiles.matching_profiles), so their ids stand for it (all alive while this runs)
            fast = (id(items), id(p.capabilities), id(p.keywords), id(p.cpv), id(p.regions), id(p.exclude),
                    p.value_min, p.value_max)
            key = keys.get(fast)
            if key is None:
                sig = (p.capabilities, tuple(p.keywords), tuple(p.cpv), tuple(p.regions), tuple(p.exclude),
                       p.value_min, p.value_max)
                key = keys.get((sig, id(items)))
            if key is None:
                rows = []
                for rank_no, (item, pv) in enumerate(items, 1):
                    j = item.index
                    if not explained(rank_no, j):  # below what a digest shows: kept for the desk, not explained
                        why = unexplained
                    elif (same := (sig, id(pv), j, item.score, item.raw_score)) in done_before:
                        why = done_before[same]
                    else:
                        why = explain(p, notices[j], item, mcfg, terms=result.notice_terms[j], idf=idf,
                                      notice_vec=notice_vecs[j], query_vec=pv.query, phrase_vecs=phrase_vecs.get(pid),
                                      candidate_vecs=cand_vecs[j], known_labels=labels, candidates=cands[j],
                                      phrase_list=phrases.get(pid))
                        if (reason := challenges[j]) is not None:
                            why["challenge"] = reason
                            why["any_sector"] = item.score < mcfg.threshold  # only here as the SME asked for challenges
                        why = done_before[same] = stored(why)  # what follows from the row is left out (as_shown)
                    rows.append((item.key, rank_no, item.dense, item.lexical, item.keyword, item.cpv, item.raw_score,
                                 item.score, why))
                key, text = encode_set(rows)
                keys[sig, id(items)] = key
                new_sets.append((key, text))
            keys[fast] = key
            named.append((pid, key))
            if len(named) >= WRITE_BATCH:
                yield new_sets, named
                new_sets, named = [], []
        if named:
            yield new_sets, named

    return sets_of
