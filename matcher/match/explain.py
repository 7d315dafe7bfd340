"""Why a notice matched a profile, in the shape the digest renders:

{"summary": str, "strength": "likely"|"possible", "capabilities": [str], "terms": [str], "cpv": [str],
 "evidence": str, "lots": [str]}

Nothing is made up: the evidence is one of the notice's own whole sentences, never its title
(texts.evidence_candidates); each term is quoted from the notice as it writes it, and is distinctive (rare
across this week's notices, never a generic procurement word); each capability is a phrase of the SME's own
capability text; each CPV code is one the notice lists, with the label the notice (or another stored notice)
gives it; each lot is one of the notice's lots, by its own title. The strength follows the calibrated score
(roughly the chance the SME would call the notice relevant) and is never shown as a percentage.
"""
from __future__ import annotations

from functools import lru_cache
from collections.abc import Mapping, Sequence

import numpy as np

from matcher.config import MatchingConfig
from matcher.match.cpv import cpv_labels, overlapping_codes
from matcher.match.rank import ScoredNotice
from matcher.match.score import phrases_of
from matcher.match.terms import TermText, found, quote, stems, words
from matcher.match.texts import capability_phrases, evidence_candidates, profile_query
from matcher.schema import NoticeRecord, ProfileSpec

KEYWORD_BONUS = 0.1  # an evidence sentence naming one of the SME's keywords is preferred over a slightly closer one
RARE_IDF = 3.0  # a shared word is listed as a term only if rarer than this (idf ~3 = in under ~1 notice in 8)
KEYWORD_IDF = 2.0  # an SME keyword is listed only if some word of it is rarer than this (idf 2 = in under ~1 in 3)
LIKELY = 0.7  # calibrated score from which a match is called a likely fit (below: a possible fit)
MIN_SHARED_CHARS = 4  # shorter shared words ("air", "day") say nothing on their own
MAX_LOTS = 5
# Words every kind of notice uses: never evidence of a fit, however rare they are in one week's notices.
GENERIC = frozenset(stems(
    "service services provide provider provision providing support supply supplier suppliers work works working "
    "contract contracts contractor council councils authority public local new based within range quality high "
    "hours hour cover offer offers offering deliver delivery delivering requirement requirements including "
    "management manage managing year years day days time week weeks month months people team teams client clients "
    "company business businesses organisation organisations customer customers area areas site sites project "
    "projects programme solution solutions experience experienced trained professional specialist range full "
    "available across wide small large family national regional community help make use using able"
))


def strength(score: float) -> str:
    """'likely' or 'possible': the calibrated score, in words."""
    return "likely" if score >= LIKELY else "possible"


def strength_label(score: float) -> str:
    return "Likely fit" if strength(score) == "likely" else "Possible fit"


def fitting_capabilities(
    phrase_list: Sequence[str], phrase_vecs: np.ndarray | None, notice_vec: np.ndarray | None,
    terms: TermText, cfg: MatchingConfig,
) -> list[str]:
    """The profile's capability phrases closest to the notice: the best always, others above the floor
    (or sharing a word with the notice when there are no vectors)."""
    if not phrase_list:
        return []
    if phrase_vecs is not None and notice_vec is not None and len(phrase_vecs) == len(phrase_list):
        sims = phrase_vecs @ notice_vec
    else:
        sims = np.array([len(set(stems(p)) & terms.vocabulary) / max(len(stems(p)), 1) for p in phrase_list])
    order = np.argsort(-sims, kind="stable")
    floor = cfg.explain_min_similarity
    keep = [phrase_list[i] for n, i in enumerate(order) if n == 0 or sims[i] >= floor]
    return keep[: cfg.explain_max_items]


def _shown(piece: str, own_words: str) -> str:
    """A quoted piece as listed: the SME's own spelling when it is the same words (case aside), else the
    notice's, lower-cased unless it is a short all-capitals word (an acronym such as CCTV)."""
    piece = " ".join(piece.split())
    if piece.lower() == " ".join(own_words.split()).lower():
        return " ".join(own_words.split())
    return piece if piece.isupper() and " " not in piece and len(piece) <= 5 else piece.lower()


def distinctive(stem_seq: tuple[str, ...], idf: Mapping[str, float], floor: float) -> bool:
    """Some word of the phrase is neither generic nor common across notices (idf at least `floor`).
    Without idf figures (no notices to compare) only the generic words are ruled out."""
    useful = [s for s in stem_seq if s not in GENERIC and not s.isdigit()]
    if not useful:
        return False
    return not idf or any(idf.get(s, 0.0) >= floor for s in useful)


def matched_terms(profile: ProfileSpec, notice: NoticeRecord, terms: TermText, idf: Mapping[str, float], limit: int) -> list[str]:
    """The SME's keywords found in the notice, then its rarest other words that the notice shares; each as the
    notice writes it (a keyword matched through another word form, "cleaners" for "cleaning", is shown as
    "cleaners"), so every term listed can be found in the notice. Only distinctive ones: a keyword common
    across the week's notices, a generic word ("service", "hours") or a short one ("air") is never listed."""
    fields = [notice.title, notice.description, *notice.sections.values()]

    def quoted(stem_seq: tuple[str, ...], own: str) -> str | None:
        piece = next((q for f in fields if (q := quote(f, stem_seq))), None)
        return _shown(piece, own) if piece else None

    hits = found(phrases_of(tuple(profile.keywords)), terms)
    out = [q for k in hits if distinctive(k.stems, idf, KEYWORD_IDF) and (q := quoted(k.stems, k.text))]
    seen = {s for k in hits for s in k.stems}
    surface = _surface(profile.capabilities)
    shared = [s for s in surface if s in terms.vocabulary and s not in seen and len(s) >= MIN_SHARED_CHARS
              and len(surface[s]) >= MIN_SHARED_CHARS and s not in GENERIC and not s.isdigit()
              and idf.get(s, 0.0) >= RARE_IDF]
    shared.sort(key=lambda s: -idf.get(s, 0.0))
    out += [q for s in shared if (q := quoted((s,), surface[s]))]
    return list(dict.fromkeys(out))[:limit]


@lru_cache(maxsize=65536)
def _surface(capabilities: str) -> dict[str, str]:
    """Each stem of the SME's own words -> the first word it comes from (read only; once per distinct text)."""
    surface: dict[str, str] = {}
    for w in words(capabilities):
        for s in stems(w):
            surface.setdefault(s, w)
    return surface


@lru_cache(maxsize=65536)
def _own_stems(capabilities: str) -> tuple[str, ...]:
    return tuple(stems(capabilities))


def matched_cpv(profile: ProfileSpec, notice: NoticeRecord, limit: int,
                known_labels: Mapping[str, str] | None = None) -> list[str]:
    """The notice's CPV codes in the SME's classes, each with its label: the one this notice gives, else the
    one another stored notice gives the code (`known_labels`), else the bare code."""
    labels = {**(known_labels or {}), **cpv_labels(notice.raw)}
    codes = overlapping_codes(profile.cpv, notice.cpv)[:limit]
    return [f"{c} {labels[c]}" if c in labels else c for c in codes]


def fitting_lots(profile: ProfileSpec, notice: NoticeRecord, idf: Mapping[str, float]) -> list[str]:
    """The titles of the notice's lots that fit the SME: the lot's own text names one of its distinctive
    keywords or rare capability words, and the lot's value (where given) is within the SME's range."""
    kws = [k for k in phrases_of(tuple(profile.keywords)) if distinctive(k.stems, idf, KEYWORD_IDF)]
    own = {s for s in _own_stems(profile.capabilities) if len(s) >= MIN_SHARED_CHARS and s not in GENERIC
           and idf.get(s, 0.0) >= RARE_IDF}
    out = []
    for lot in notice.lots:
        if not lot.title:
            continue
        if lot.value is not None and ((profile.value_min is not None and lot.value < profile.value_min)
                                      or (profile.value_max is not None and lot.value > profile.value_max)):
            continue
        text = _terms_of(f"{lot.title}\n{lot.description}")
        if found(kws, text) or own & text.vocabulary:
            out.append(lot.title)
    return list(dict.fromkeys(out))[:MAX_LOTS]


@lru_cache(maxsize=65536)
def _terms_of(sentence: str) -> TermText:
    """A candidate sentence's (or a lot's) stems, once per run however many SMEs it is weighed for."""
    return TermText.of(sentence)


def pick_evidence(
    profile: ProfileSpec, candidates: Sequence[str], candidate_vecs: np.ndarray | None,
    query_vec: np.ndarray | None, idf: Mapping[str, float],
) -> str:
    """The candidate sentence closest to the profile (by meaning when vectors are given, else by shared rare words)."""
    if not candidates:
        return ""
    kws = phrases_of(tuple(profile.keywords))
    bonus = np.array([KEYWORD_BONUS if found(kws, _terms_of(c)) else 0.0 for c in candidates])
    if candidate_vecs is not None and query_vec is not None and len(candidate_vecs) == len(candidates):
        sims = candidate_vecs @ query_vec + bonus
    else:
        query = set(stems(profile_query(profile)))
        sims = np.array([sum(idf.get(s, 1.0) for s in set(stems(c)) & query) for c in candidates]) + bonus
    return candidates[int(np.argmax(sims))]


def summary(item: ScoredNotice, caps: list[str], terms: list[str], cpv: list[str]) -> str:
    return summary_for(item.score, caps, terms, cpv)


def summary_for(score: float, caps: list[str], terms: list[str], cpv: list[str]) -> str:
    parts = [strength_label(score)]
    if caps:
        parts.append(f"close to \u201c{caps[0]}\u201d in your profile")
    if terms:
        parts.append("it mentions " + ", ".join(terms[:3]))
    if cpv:
        code, _, label = cpv[0].partition(" ")
        parts.append(f"its CPV code {code}" + (f" ({label})" if label else "") + " is in your area")
    return parts[0] + (": " + "; ".join(parts[1:]) if len(parts) > 1 else "") + "."


def explain(
    profile: ProfileSpec,
    notice: NoticeRecord,
    item: ScoredNotice,
    cfg: MatchingConfig,
    *,
    terms: TermText | None = None,
    idf: Mapping[str, float] | None = None,
    notice_vec: np.ndarray | None = None,
    query_vec: np.ndarray | None = None,
    phrase_vecs: np.ndarray | None = None,
    candidate_vecs: np.ndarray | None = None,
    known_labels: Mapping[str, str] | None = None,
    candidates: Sequence[str] | None = None,
    phrase_list: Sequence[str] | None = None,
) -> dict:
    """The explanation dict. Vectors are optional: without them the choices fall back to shared words.

    phrase_vecs align with texts.capability_phrases(profile); candidate_vecs with
    texts.evidence_candidates(notice, cfg.evidence_max_chars). `known_labels` are CPV labels collected from
    other stored notices, used for codes this notice lists without one. `candidates` and `phrase_list` are those
    two lists when the caller has them already (the match job computes each once per notice and per profile).
    """
    idf = idf or {}
    terms = terms or TermText.of("\n".join([notice.title, notice.description, *notice.sections.values()]))
    phrase_list = capability_phrases(profile) if phrase_list is None else phrase_list
    caps = fitting_capabilities(phrase_list, phrase_vecs, notice_vec, terms, cfg)
    found_terms = matched_terms(profile, notice, terms, idf, cfg.explain_max_items)
    cpv = matched_cpv(profile, notice, cfg.explain_max_items, known_labels)
    candidates = evidence_candidates(notice, cfg.evidence_max_chars) if candidates is None else candidates
    evidence = pick_evidence(profile, candidates, candidate_vecs, query_vec, idf)
    return {
        "summary": summary(item, caps, found_terms, cpv),
        "strength": strength(item.score),
        "capabilities": caps,
        "terms": found_terms,
        "cpv": cpv,
        "evidence": evidence,
        "lots": fitting_lots(profile, notice, idf),
    }


# How a Match row stores its explanation (the match job writes ~7 rows per SME a week, so every byte counts):
# format 2 leaves out the summary and the strength, which follow from the row's score and the parts (as_shown()
# rebuilds them exactly), and the parts that are empty. Rows stored before (no "v") are read as they are.
STORED_FORMAT = 2
_DERIVED = ("summary", "strength")
_PARTS = {"capabilities": list, "terms": list, "cpv": list, "evidence": str, "lots": list}


def stored(why: dict) -> dict:
    """The explanation as a Match row keeps it: the inverse of as_shown()."""
    out: dict = {"v": STORED_FORMAT}
    out.update((k, v) for k, v in why.items() if k not in _DERIVED and not (k in _PARTS and not v))
    return out


def as_shown(value: object, score: float) -> dict:
    """A Match row's explanation with every part, as explain() made it: for a stored() one, its summary and
    strength rebuilt from the row's `score` and the empty parts put back; an older row's (or {}) as stored."""
    if not isinstance(value, dict):
        return {}
    if value.get("v") != STORED_FORMAT:
        return value
    parts = {k: kind() for k, kind in _PARTS.items()} | {k: v for k, v in value.items() if k != "v"}
    lists = [v if isinstance(v := parts[k], list) else [] for k in ("capabilities", "terms", "cpv")]
    return {"summary": summary_for(score, *lists), "strength": strength(score), **parts}
