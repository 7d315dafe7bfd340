"""Explanations: the exact shape the digest renders, and evidence quoted verbatim from the notice."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from matcher.config import EmbeddingConfig, MatchingConfig
from matcher.embed import Embedder, cached_embed, matching_vectors
from matcher.quality.corpus import read_notices
from matcher.match import EVAL, ScoredNotice, rank
from matcher.match.cpv import cpv_labels
from matcher.match.explain import explain
from matcher.match.texts import capability_phrases, evidence_candidates
from matcher.store.profiles import read_profiles
from matcher.store import init_db, make_engine, session_scope
from matcher.text import sentences

DEV = Path(__file__).parent / "data" / "eval"
CFG = MatchingConfig()
NOW = datetime(2025, 1, 20, tzinfo=UTC)
KEYS = {"summary": str, "strength": str, "capabilities": list, "terms": list, "cpv": list, "evidence": str,
        "lots": list}


@pytest.fixture(scope="module")
def corpus():
    return read_profiles(DEV / "profiles.json").profiles, read_notices(sorted((DEV / "notices").glob("*.jsonl")))


def assert_quoted_from(evidence: str, notice) -> None:
    """Empty (the notice has no whole sentence to quote) or a whole sentence of the notice's text, not its title."""
    if not evidence:
        return
    fields = [notice.description, *notice.sections.values()]
    assert any(evidence in f for f in fields), (notice.key, evidence)
    assert spaced(evidence) != spaced(notice.title), (notice.key, evidence)
    assert any(evidence in sentences(f) for f in fields), (notice.key, evidence)  # never a piece of a sentence


def assert_shape(why: dict) -> None:
    assert set(why) == set(KEYS)
    for k, t in KEYS.items():
        assert isinstance(why[k], t), k
    assert all(isinstance(x, str) and x for k in ("capabilities", "terms", "cpv", "lots") for x in why[k])
    assert why["summary"].endswith(".") and "\n" not in why["summary"]
    assert why["strength"] in ("likely", "possible") and "%" not in why["summary"]


def spaced(text: str) -> str:
    return " ".join(text.split()).lower()


def assert_honest(why: dict, profile, notice) -> None:
    """Nothing in the explanation is made up: the evidence and every term are the notice's own words, every
    capability is the SME's own phrase, every CPV code is one the notice lists, with the notice's label."""
    assert_quoted_from(why["evidence"], notice)
    text = spaced("\n".join([notice.title, notice.description, *notice.sections.values()]))
    for term in why["terms"]:
        assert spaced(term) in text, (profile.id, notice.key, term)
    for cap in why["capabilities"]:
        assert cap in profile.capabilities, (profile.id, cap)
    labels = cpv_labels(notice.raw)
    for entry in why["cpv"]:
        code, _, label = entry.partition(" ")
        assert code in notice.cpv and (not label or label == labels[code]), (notice.key, entry)
    if why["capabilities"]:
        assert f"“{why['capabilities'][0]}”" in why["summary"]
    if why["terms"]:
        assert "it mentions " + ", ".join(why["terms"][:3]) in why["summary"]


def item_for(key: str, score: float = 0.7) -> ScoredNotice:
    return ScoredNotice(0, key, dense=0.5, lexical=0.2, keyword=0.5, cpv=0.0, raw_score=0.35, score=score)


def test_evidence_is_verbatim_for_every_notice_and_profile_without_vectors(corpus):
    profiles, notices = corpus
    for p in profiles[::4]:
        for n in notices:
            why = explain(p, n, item_for(n.key), CFG)
            assert_shape(why)
            assert_quoted_from(why["evidence"], n)


def test_no_explanation_quotes_anything_absent_from_the_notice_or_the_profile(corpus):
    """Every eval notice, each with two profiles in rotation (so every profile is covered too)."""
    from matcher.match.rank import term_texts
    from matcher.match.score import fit_lexical

    profiles, notices = corpus
    vectorizer, _ = fit_lexical(notices, CFG.title_weight)
    idf = dict(zip(vectorizer.get_feature_names_out(), vectorizer.idf_))
    terms = term_texts(notices)
    listed = 0
    for j, n in enumerate(notices):
        for p in (profiles[j % len(profiles)], profiles[(j + 7) % len(profiles)]):
            why = explain(p, n, item_for(n.key), CFG, terms=terms[j], idf=idf)
            assert_shape(why)
            assert_honest(why, p, n)
            listed += len(why["terms"]) + len(why["cpv"])
    assert listed > len(notices)  # the checks above had terms and codes to look at


def test_a_keyword_found_in_another_word_form_is_shown_as_the_notice_writes_it():
    from matcher.schema import NoticeRecord, ProfileSpec

    p = ProfileSpec(id="p", name="n", email="p@example.org", capabilities="Bespoke web platforms.",
                    keywords=["software development", "CCTV"])
    n = NoticeRecord(source="s", key="k", title="Framework for Software Developers",
                     description="Suppliers of cctv maintenance may also bid.")
    why = explain(p, n, item_for("k"), CFG)
    assert why["terms"] == ["software developers", "CCTV"]
    assert "it mentions software developers, CCTV" in why["summary"]
    assert_honest(why, p, n)


def test_evidence_is_verbatim_when_chosen_by_meaning(corpus, tmp_path_factory):
    """The real path: each profile's best notice, its sentences compared with the model."""
    profiles, notices = corpus
    engine = make_engine(f"sqlite:///{tmp_path_factory.getbasetemp() / 'dev-vectors.db'}")
    init_db(engine)
    embedder = Embedder(EmbeddingConfig())

    def encode(texts):
        with session_scope(engine) as s:
            return cached_embed(s, embedder, texts)[0]

    pvecs, nvecs = matching_vectors(encode, profiles, notices)
    result = rank(profiles, notices, pvecs, nvecs, CFG, NOW, EVAL)
    idf = result.idf()
    checked = 0
    for pv, ranking in zip(pvecs, result.rankings):
        p = ranking.profile
        phrase_vecs = encode(capability_phrases(p))
        for item in ranking.items[:1]:
            n = notices[item.index]
            cands = evidence_candidates(n, CFG.evidence_max_chars)
            why = explain(p, n, item, CFG, terms=result.notice_terms[item.index], idf=idf, notice_vec=nvecs[item.index],
                          query_vec=pv.query, phrase_vecs=phrase_vecs, candidate_vecs=encode(cands))
            assert_shape(why)
            assert_honest(why, p, n)
            assert why["capabilities"] and set(why["capabilities"]) <= set(capability_phrases(p))
            checked += 1
    engine.dispose()
    assert checked == len(profiles)


def test_evidence_is_a_whole_sentence_never_cut_and_never_the_title(corpus):
    _, notices = corpus
    quoted = 0
    for n in notices:
        for c in evidence_candidates(n, 120):
            assert len(c) <= 120
            assert_quoted_from(c, n)
            quoted += 1
    assert quoted > len(notices)
    from matcher.schema import NoticeRecord

    n = NoticeRecord(source="s", key="k", title="Grounds maintenance",
                     description="Grounds maintenance.\nThe council wants its parks mown weekly from April. "
                                 "A very long sentence " + "that goes on " * 40 + "and ends.\nThe last line was cut mid-wo")
    assert evidence_candidates(n, 300) == ["The council wants its parks mown weekly from April."]


def test_explanation_names_matched_keywords_and_overlapping_cpv_with_labels(corpus):
    profiles, notices = corpus
    builder = next(p for p in profiles if "construction" in p.keywords and "45000000" in p.cpv)
    n = next(n for n in notices if "construction" in n.title.lower() and any(c.startswith("45") for c in n.cpv)
             and cpv_labels(n.raw))
    why = explain(builder, n, item_for(n.key, 0.9), CFG)
    assert "construction" in why["terms"]
    code, label = why["cpv"][0].split(" ", 1)
    assert code.startswith("45") and label == cpv_labels(n.raw)[code]
    assert why["summary"].startswith("Likely fit: ") and why["strength"] == "likely"


def test_evidence_prefers_the_sentence_closest_in_meaning():
    from matcher.schema import NoticeRecord, ProfileSpec

    p = ProfileSpec(id="p", name="n", email="p@example.org", capabilities="Tree surgery.", keywords=[])
    n = NoticeRecord(source="s", key="k", title="Council services contract",
                     description="The depot opens at nine every weekday. Felling and pruning of mature oaks is needed.")
    cands = evidence_candidates(n)
    vecs = np.eye(len(cands), 4, dtype=np.float32)
    assert len(cands) == 2  # never the title
    why = explain(p, n, item_for("k"), CFG, query_vec=vecs[1], candidate_vecs=vecs)
    assert why["evidence"] == "Felling and pruning of mature oaks is needed."


def test_terms_are_distinctive_never_generic_short_or_common_across_notices():
    from matcher.schema import NoticeRecord, ProfileSpec

    p = ProfileSpec(id="p", name="n", email="p@example.org",
                    capabilities="Air conditioning servicing with out-of-hours cover; we offer chiller overhauls.",
                    keywords=["services", "chiller", "maintenance"])
    n = NoticeRecord(source="s", key="k", title="Chiller maintenance services",
                     description="Hours of cover: we offer the air handling units and chiller plant an overhaul.")
    idf = {"chiller": 5.0, "overhaul": 4.5, "air": 5.0, "hour": 4.0, "cover": 4.0, "offer": 4.0, "servic": 1.2,
           "mainten": 1.1}  # "maintenance" is in most of this week's notices
    why = explain(p, n, item_for("k"), CFG, idf=idf)
    assert why["terms"] == ["chiller", "overhaul"]
    assert_honest(why, p, n)


def test_strength_follows_the_calibrated_score_in_words_without_a_percentage():
    from matcher.schema import NoticeRecord, ProfileSpec

    p = ProfileSpec(id="p", name="n", email="p@example.org", capabilities="Tree surgery.", keywords=[])
    n = NoticeRecord(source="s", key="k", title="Tree works", description="Felling of mature oaks is needed.")
    assert explain(p, n, item_for("k", 0.52), CFG)["summary"].startswith("Possible fit")
    assert explain(p, n, item_for("k", 0.52), CFG)["strength"] == "possible"
    assert explain(p, n, item_for("k", 0.91), CFG)["strength"] == "likely"


def test_lots_that_fit_are_listed_by_title_within_the_value_range():
    from matcher.schema import Lot, NoticeRecord, ProfileSpec

    p = ProfileSpec(id="p", name="n", email="p@example.org", capabilities="Roofing repairs and gutter clearance.",
                    keywords=["roofing"], value_max=2_000_000)
    n = NoticeRecord(source="s", key="k", title="Building works framework", description="Four lots.", lots=[
        Lot(id="1", title="Lot 1 Roofing (small)", value=500_000), Lot(id="2", title="Lot 2 Roofing (major)", value=40_000_000),
        Lot(id="3", title="Lot 3 Electrical", value=300_000), Lot(id="4", title="Lot 4 Gutter clearance")])
    why = explain(p, n, item_for("k"), CFG, idf={"gutter": 4.0, "roof": 2.5})
    assert why["lots"] == ["Lot 1 Roofing (small)", "Lot 4 Gutter clearance"]


def test_a_stored_explanation_reads_back_exactly_as_explain_made_it_and_is_smaller(corpus):
    """A Match row keeps explanations without their summary and strength (they follow from the row's score) and
    without empty parts: every consumer (digest items, the desk) reads them back through as_shown(), which must
    give explain()'s dict exactly, key order included, at either strength and with challenge facts."""
    import json

    from matcher.match.explain import as_shown, stored

    profiles, notices = corpus
    full = small = 0
    empties = 0
    for j, n in enumerate(notices):
        p = profiles[j % len(profiles)]
        for score in (0.52, 0.91):
            why = explain(p, n, item_for(n.key, score), CFG)
            if j % 5 == 0:
                why |= {"challenge": "an SBRI competition", "any_sector": score < CFG.threshold}
            kept = json.loads(json.dumps(stored(why)))  # as the row holds it
            assert not {"summary", "strength"} & set(kept)
            back = as_shown(kept, score)
            assert back == why and list(back) == list(why)
            empties += sum(1 for k in ("cpv", "lots", "terms") if not why[k])
            full, small = full + len(json.dumps(why)), small + len(json.dumps(kept))
    assert empties and small < 0.75 * full


def test_rows_stored_before_the_compact_form_and_unexplained_rows_read_as_stored():
    from matcher.match.explain import as_shown

    old = {"summary": "Likely fit: it mentions drainage.", "strength": "likely", "capabilities": [], "terms": ["drainage"],
           "cpv": [], "evidence": "", "lots": []}
    assert as_shown(old, 0.2) == old  # never re-derived from today's score or wording
    assert as_shown({}, 0.9) == {} and as_shown(None, 0.9) == {}
