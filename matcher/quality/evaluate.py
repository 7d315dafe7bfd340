"""Match quality on a judged set: our matcher against the systems an SME could get elsewhere.

Metrics (see the eval README): nDCG@10 with gain 2^grade-1, P@5 (grade>=1 relevant), R@20 and MRR,
averaged over profiles with at least one grade>=1 judgment; an unjudged notice is grade 0.
Every system ranks the whole corpus per profile with the time, region, value and stage filters off.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from matcher.clock import utc_now

import numpy as np

from matcher.config import Config
from matcher.quality.corpus import Qrels
from matcher.match import EVAL, ProfileVectors, rank
from matcher.match.terms import words
from matcher.match.texts import full_text
from matcher.schema import NoticeRecord, ProfileSpec

Run = dict[str, list[str]]  # profile id -> notice keys, best first
Encode = Callable[[list[str]], np.ndarray]
SYSTEMS = ("matcher", "keyword_alert", "tfidf", "dense")
METRICS = ("ndcg10", "p5", "r20", "mrr")


def ndcg_at(ranked: Sequence[str], judged: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** judged.get(key, 0) - 1) / math.log2(i + 2) for i, key in enumerate(ranked[:k]))
    ideal = sorted((2 ** g - 1 for g in judged.values()), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def precision_at(ranked: Sequence[str], judged: dict[str, int], k: int = 5) -> float:
    return sum(1 for key in ranked[:k] if judged.get(key, 0) >= 1) / k


def recall_at(ranked: Sequence[str], judged: dict[str, int], k: int = 20) -> float:
    relevant = {key for key, g in judged.items() if g >= 1}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranked: Sequence[str], judged: dict[str, int]) -> float:
    return next((1.0 / (i + 1) for i, key in enumerate(ranked) if judged.get(key, 0) >= 1), 0.0)


def judged_profiles(qrels: Qrels) -> list[str]:
    """The profiles the metrics average over: those with at least one grade>=1 judgment."""
    return sorted(p for p, j in qrels.items() if any(g >= 1 for g in j.values()))


def profile_metrics(run: Run, qrels: Qrels) -> dict[str, dict[str, float]]:
    """{profile: {metric: value}} for every judged profile; a profile missing from the run counts as an empty ranking."""
    out = {}
    for p in judged_profiles(qrels):
        ranked, judged = run.get(p, []), qrels[p]
        out[p] = {"ndcg10": ndcg_at(ranked, judged), "p5": precision_at(ranked, judged),
                  "r20": recall_at(ranked, judged), "mrr": reciprocal_rank(ranked, judged)}
    return out


def score_run(run: Run, qrels: Qrels) -> dict[str, float]:
    """Mean metrics over the judged profiles; a profile missing from the run counts as an empty ranking."""
    rows = profile_metrics(run, qrels)
    if not rows:
        raise ValueError("no profile has a judgment of grade 1 or more: nothing to measure")
    return {m: float(np.mean([r[m] for r in rows.values()])) for m in METRICS}


def unjudged_in_top(run: Run, qrels: Qrels, k: int = 10) -> dict[str, int]:
    """{profile: how many of its first k notices nobody judged for it} over the judged profiles. They count as
    grade 0 in every metric, so a system that surfaces new notices is under-rated by them: read them."""
    return {p: sum(1 for key in run.get(p, [])[:k] if key not in qrels[p]) for p in judged_profiles(qrels)}


def _order(keys: list[str], scores: np.ndarray) -> list[str]:
    return [keys[i] for i in np.argsort(-scores, kind="stable")]


def _spaced(text: str) -> str:
    """Lower-case words between single spaces, so a phrase test with spaces is whole-word."""
    return " " + " ".join(words(text)) + " "


def keyword_alert_run(profiles: Sequence[ProfileSpec], notices: Sequence[NoticeRecord]) -> Run:
    """A portal's saved search: notices containing any of the keywords (whole words), ranked by BM25."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each index build at DEBUG
    texts = [full_text(n) for n in notices]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    plain = [_spaced(t) for t in texts]
    keys = [n.key for n in notices]
    run: Run = {}
    for p in profiles:
        kws = [k for k in (_spaced(k) for k in p.keywords) if k.strip()]
        hits = [j for j, t in enumerate(plain) if any(k in t for k in kws)]
        query = bm25s.tokenize(" ".join(p.keywords), stopwords="en", return_ids=False, show_progress=False)[0]
        scores = retriever.get_scores(query) if query else np.zeros(len(notices))
        run[p.id] = [keys[j] for j in sorted(hits, key=lambda j: -scores[j])]
    return run


def tfidf_run(profiles: Sequence[ProfileSpec], notices: Sequence[NoticeRecord]) -> Run:
    """TF-IDF cosine of the capability text with each notice's title and description."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    docs = vec.fit_transform([f"{n.title}\n{n.description}" for n in notices])
    sims = (vec.transform([p.capabilities for p in profiles]) @ docs.T).toarray()
    keys = [n.key for n in notices]
    return {p.id: _order(keys, sims[i]) for i, p in enumerate(profiles)}


def dense_run(profiles: Sequence[ProfileSpec], notice_vecs: np.ndarray, capability_vecs: np.ndarray, keys: list[str]) -> Run:
    """MiniLM cosine of the capability text with each notice's title and description."""
    sims = capability_vecs @ notice_vecs.T
    return {p.id: _order(keys, sims[i]) for i, p in enumerate(profiles)}


def matcher_run(
    profiles: Sequence[ProfileSpec], notices: Sequence[NoticeRecord], profile_vecs: Sequence[ProfileVectors],
    notice_vecs: np.ndarray, cfg: Config,
) -> Run:
    result = rank(profiles, notices, profile_vecs, notice_vecs, cfg.matching, utc_now(), EVAL)  # EVAL ignores time
    return {r.profile.id: [item.key for item in r.items] for r in result.rankings}


@dataclass
class EvalReport:
    systems: dict[str, dict[str, float]]
    profiles: int
    notices: int
    per_profile: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # system -> profile -> metric
    unjudged: dict[str, dict[str, int]] = field(default_factory=dict)  # system -> profile -> unjudged in its top 10
    runs: dict[str, Run] = field(default_factory=dict, repr=False)

    def unjudged_total(self) -> dict[str, int]:
        return {s: sum(per.values()) for s, per in self.unjudged.items()}

    def worst(self, system: str = "matcher", metric: str = "ndcg10") -> tuple[str, dict[str, float]] | None:
        """The profile `system` serves worst by `metric` (ties: first id), with every system's figure for it."""
        per = self.per_profile.get(system)
        if not per:
            return None
        pid = min(sorted(per), key=lambda p: per[p][metric])
        return pid, {s: rows[pid][metric] for s, rows in self.per_profile.items() if pid in rows}

    def as_json(self) -> dict:
        worst = self.worst()
        return {"systems": self.systems, "profiles": self.profiles, "notices": self.notices,
                "unjudged_top10": self.unjudged_total(),
                "worst_served": {"profile": worst[0], "ndcg10": worst[1]} if worst else None,
                "per_profile": self.per_profile}


def evaluate(
    profiles: Sequence[ProfileSpec], notices: Sequence[NoticeRecord], qrels: Qrels, cfg: Config, encode: Encode,
    systems: Sequence[str] = SYSTEMS,
) -> EvalReport:
    """Rank the corpus for every profile with each system and score the runs against the judgments."""
    from matcher.embed import matching_vectors

    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"unknown system {unknown[0]!r}; known: {', '.join(SYSTEMS)}")
    profiles = list(profiles)
    keys = [n.key for n in notices]
    runs: dict[str, Run] = {}
    if "matcher" in systems or "dense" in systems:
        profile_vecs, notice_vecs = matching_vectors(encode, profiles, notices)
        if "matcher" in systems:
            runs["matcher"] = matcher_run(profiles, notices, profile_vecs, notice_vecs, cfg)
        if "dense" in systems:
            runs["dense"] = dense_run(profiles, notice_vecs, encode([p.capabilities for p in profiles]), keys)
    if "keyword_alert" in systems:
        runs["keyword_alert"] = keyword_alert_run(profiles, notices)
    if "tfidf" in systems:
        runs["tfidf"] = tfidf_run(profiles, notices)
    scored = {s: score_run(runs[s], qrels) for s in systems}
    return EvalReport(scored, len(judged_profiles(qrels)), len(notices),
                      per_profile={s: profile_metrics(runs[s], qrels) for s in systems},
                      unjudged={s: unjudged_in_top(runs[s], qrels) for s in systems}, runs=runs)

