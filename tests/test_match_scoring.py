"""Pure scoring: components, CPV hierarchy, fusion, calibration and selection (synthetic vectors, no model)."""
from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from matcher.config import MatchingConfig
from matcher.match import EVAL, LIVE, ProfileVectors, rank, select
from matcher.match.cpv import code_overlap, cpv_labels, cpv_overlap, infer_codes, overlapping_codes
from matcher.match.score import Components, calibrate, fuse
from matcher.schema import NoticeRecord, ProfileSpec

NOW = datetime(2025, 1, 20, tzinfo=UTC)
CFG = MatchingConfig()
DIM = 8


def unit(*xs: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(xs)] = xs
    return v / np.linalg.norm(v)


def profile(**kw) -> ProfileSpec:
    base = dict(id="p1", name="Greenacre", email="p1@example.org",
                capabilities="We cut grass, trim hedges and do tree surgery for councils.", keywords=["grass cutting"])
    return ProfileSpec(**{**base, **kw})


def notice(key: str, title: str = "Parks contract", description: str = "Maintenance of parks.", **kw) -> NoticeRecord:
    return NoticeRecord(source="contracts_finder", key=key, title=title, description=description, **kw)


def ranked_keys(profiles, notices, pvecs, nvecs, switches=EVAL):
    return [[i.key for i in r.items] for r in rank(profiles, notices, pvecs, nvecs, CFG, NOW, switches).rankings]


def test_cpv_codes_overlap_through_the_hierarchy():
    assert code_overlap("72000000", "72212000") == 1.0  # inside the SME's division
    assert code_overlap("90910000", "90911200") == 1.0
    assert code_overlap("90910000", "90900000") == pytest.approx(0.75)  # the parent class
    assert code_overlap("90910000", "90500000") == pytest.approx(0.5)  # same division only
    assert code_overlap("90910000", "45000000") == 0.0
    assert cpv_overlap(["72000000"], []) is None and cpv_overlap([], ["72000000"]) is None
    assert overlapping_codes(["90910000"], ["45000000", "90911200", "90900000"]) == ["90911200", "90900000"]


def test_cpv_labels_come_from_the_release_classifications():
    raw = {"tender": {"classification": {"scheme": "CPV", "id": "90911200", "description": "Building-cleaning services"},
                      "items": [{"classification": {"id": "90919200-4", "description": "Office cleaning  services"}}]}}
    assert cpv_labels(raw) == {"90911200": "Building-cleaning services", "90919200": "Office cleaning services"}
    assert cpv_labels({}) == {}


def test_a_closer_notice_vector_ranks_higher():
    p = [profile(keywords=[])]
    pv = [ProfileVectors(unit(1, 0), np.zeros((0, DIM), np.float32))]
    ns = [notice("far"), notice("near")]
    assert ranked_keys(p, ns, pv, np.stack([unit(0, 1), unit(1, 0.2)])) == [["near", "far"]]


def test_the_smes_keywords_and_cpv_class_lift_a_notice_with_the_same_meaning():
    # (CPV lifts only: an unrelated code ranks level with no code at all, see the test below)
    p = [profile(cpv=["77310000"])]
    pv = [ProfileVectors(unit(1, 0), np.stack([unit(1, 0)]))]
    ns = [
        notice("plain"),
        notice("keyword", description="Grass cutting in parks."),
        notice("cpv-in-class", cpv=["77314000"]),
        notice("cpv-unrelated", cpv=["33100000"]),
    ]
    nv = np.stack([unit(1, 0.3)] * 4)
    (order,) = ranked_keys(p, ns, pv, nv)
    assert order.index("keyword") < order.index("plain")
    assert order.index("cpv-in-class") < order.index("plain") < order.index("cpv-unrelated")


def test_calibrated_scores_lie_in_0_1_and_follow_the_raw_score():
    raw = np.linspace(-1, 1, 41)
    score = calibrate(raw, CFG)
    assert np.all((score >= 0) & (score <= 1)) and np.all(np.diff(score) > 0)
    assert calibrate(np.array([CFG.calibration_midpoint]), CFG)[0] == pytest.approx(0.5)


def test_fusion_leaves_out_the_keyword_weight_for_a_profile_without_keywords():
    ones = np.ones((1, 1), np.float32)
    comps = Components(dense=ones * 0.5, lexical=ones * 0.2, keyword=np.full((1, 1), np.nan, np.float32), cpv=ones * 0)
    w = CFG.weights
    expected = (w.dense * 0.5 + w.lexical * 0.2) / (w.dense + w.lexical + w.cpv)
    assert fuse(comps, w)[0, 0] == pytest.approx(expected)


def test_every_item_keeps_its_components_and_scores():
    p = [profile()]
    pv = [ProfileVectors(unit(1, 0), np.stack([unit(1, 0)]))]
    result = rank(p, [notice("n1", description="Grass cutting.")], pv, np.stack([unit(1, 0.1)]), CFG, NOW, EVAL)
    (item,) = result.rankings[0].items
    assert item.keyword == 1.0 and item.cpv == 0.0 and 0.9 < item.dense <= 1.0 and item.lexical > 0
    assert 0 < item.score < 1 and item.raw_score == pytest.approx(
        sum(getattr(CFG.weights, c) * v for c, v in item.components().items()) / sum(CFG.weights.model_dump().values()))


def test_live_ranking_leaves_out_filtered_notices_and_counts_why():
    p = [profile()]
    pv = [ProfileVectors(unit(1, 0), np.stack([unit(1, 0)]))]
    ns = [notice("open"), notice("awarded", stage="award")]
    result = rank(p, ns, pv, np.stack([unit(1, 0)] * 2), CFG, NOW, LIVE)
    assert [i.key for i in result.rankings[0].items] == ["open"]
    assert result.rankings[0].excluded == {"stage award": 1}


def test_select_keeps_the_top_k_above_the_threshold_and_skips_notices_already_sent():
    p = [profile(keywords=[])]
    pv = [ProfileVectors(unit(1, 0), np.zeros((0, DIM), np.float32))]
    ns = [notice(f"n{i}") for i in range(5)]
    nv = np.stack([unit(1, x) for x in (0.0, 0.1, 0.2, 0.3, 5.0)])
    ranking = rank(p, ns, pv, nv, CFG, NOW, EVAL).rankings[0]
    scores = {i.key: i.score for i in ranking.items}
    threshold = (scores["n3"] + scores["n4"]) / 2  # n4 is far below the others
    assert [i.key for i in select(ranking, threshold, 2)] == ["n0", "n1"]
    assert [i.key for i in select(ranking, threshold, 10, skip_keys={"n1"})] == ["n0", "n2", "n3"]
    assert select(ranking, 1.0, 10) == []


def test_no_notices_gives_empty_rankings():
    p = [profile()]
    result = rank(p, [], [ProfileVectors(unit(1), np.zeros((0, DIM), np.float32))], np.zeros((0, DIM)), CFG, NOW)
    assert result.rankings[0].items == []


def test_cpv_groups_are_inferred_from_the_codes_of_the_best_matches():
    ranked = [["77310000", "77314000"], [], ["77311000"], ["45000000"], ["45112000"], ["90910000"]]
    assert infer_codes(ranked, top=10, digits=3, max_codes=2) == ["77300000"]  # 451 is seen once only
    assert infer_codes(ranked, top=10, digits=2, max_codes=2) == ["77000000", "45000000"]
    assert infer_codes(ranked, top=1, digits=3, max_codes=2) == []  # one notice cannot vote twice


def test_a_profile_without_cpv_codes_borrows_them_from_its_best_text_matches():
    p = [profile(keywords=["grass cutting"], cpv=[])]
    pv = [ProfileVectors(unit(1, 0), np.stack([unit(1, 0)]))]
    ns = [notice(f"grass{i}", description="Grass cutting.", cpv=["77314000"]) for i in range(3)]
    ns += [notice("in-group", cpv=["77311000"]), notice("elsewhere", cpv=["33100000"])]
    nv = np.stack([unit(1, 0.1)] * 3 + [unit(1, 0.4)] * 2)
    result = rank(p, ns, pv, nv, CFG, NOW, EVAL)
    assert result.inferred_cpv == {"p1": ["77300000"]}
    order = [i.key for i in result.rankings[0].items]
    assert order.index("in-group") < order.index("elsewhere")
    off = CFG.model_copy(update={"infer_cpv_top": 0})
    assert rank(p, ns, pv, nv, off, NOW, EVAL).inferred_cpv == {}


def scored(p, ns, nv, pv=None):
    pv = pv or [ProfileVectors(unit(1, 0), np.stack([unit(1, 0)]))]
    return {i.key: i for i in rank(p, ns, pv, nv, CFG, NOW, EVAL).rankings[0].items}


def test_an_unrelated_cpv_code_never_ranks_a_notice_below_one_without_codes():
    """Buyers code the same work in other divisions (youth work as community services): disagreement is no veto."""
    p = [profile(cpv=["85312000"])]
    ns = [notice("no-codes"), notice("other-division", cpv=["98000000"]), notice("in-class", cpv=["85312300"])]
    got = scored(p, ns, np.stack([unit(1, 0.3)] * 3))
    assert got["other-division"].cpv == 0.0 == got["no-codes"].cpv
    assert got["other-division"].score == pytest.approx(got["no-codes"].score)
    assert got["in-class"].score > got["no-codes"].score


def test_a_notice_that_touches_the_sme_s_class_only_among_its_further_cpv_codes_gets_half():
    p = [profile(cpv=["77310000"])]
    others = ["45000000", "50000000", "71000000", "79000000", "90000000", "33000000", "34000000"]
    ns = [notice("focused", cpv=["77314000"]), notice("padded", cpv=["45000000", "77314000", *others[1:]]),
          notice("main-then-padding", cpv=["77314000", *others])]
    got = scored(p, ns, np.stack([unit(1, 0.3)] * 3))
    assert got["focused"].cpv == pytest.approx(1.0)
    assert got["padded"].cpv == pytest.approx(0.5)  # its main code (the first) is works: grounds upkeep is a side line
    assert got["main-then-padding"].cpv == pytest.approx(1.0)  # the main code is the SME's: padding takes nothing


def test_cpv_scores_are_the_mean_of_the_best_overlap_and_the_main_code_s_overlap():
    from matcher.match.score import cpv_scores

    ns = [notice("a", cpv=["45000000", "90911200"]), notice("b", cpv=["90900000"]), notice("c"), notice("d", cpv=["45000000"]),
          notice("e", cpv=["90600000", "90911200", "90900000"])]
    got = cpv_scores([["90910000"], []], ns)
    # "9091" significant: 90911200 agrees fully, 90900000 on 3 of 4 digits, 90600000 on the division's 2 of 4
    assert got[0].tolist() == pytest.approx([0.5 * (1.0 + 0.0), 0.75, 0.0, 0.0, 0.5 * (1.0 + 0.5)])
    assert not got[1].any()


def test_codes_that_share_only_the_division_lift_a_notice_less_than_the_sme_s_own_code():
    from matcher.match.score import cpv_scores

    own = notice("own", cpv=["92610000"])
    division = notice("division", cpv=["92310000", "92311000", "92312000"])  # arts events, for a sports operator
    got = cpv_scores([["92600000"]], [own, division])[0]
    assert got[0] == pytest.approx(1.0)
    assert got[1] == pytest.approx(2 / 3)  # "926" significant: 2 of 3 digits, for the best and the main code


def test_the_buyers_name_never_matches_a_keyword_or_lifts_the_words_score():
    """'Department for Digital, Culture, Media & Sport' buys IT, not sport."""
    p = [profile(capabilities="We run sport and leisure centres.", keywords=["sport"])]
    buyer = "Department for Digital, Culture, Media & Sport"
    ns = [notice("it-role", title="End user compute engineer", description=f"The {buyer} needs a desktop engineer.", buyer=buyer),
          notice("plain-it", title="End user compute engineer", description="A department needs a desktop engineer.")]
    got = scored(p, ns, np.stack([unit(1, 0.3)] * 2))
    assert got["it-role"].keyword == 0.0
    assert got["it-role"].lexical == pytest.approx(got["plain-it"].lexical)


def test_the_best_fitting_capability_phrase_lifts_a_notice_that_matches_one_clause():
    """A long profile: one clause names the notice's work; the phrase queries see it, the whole query barely."""
    p = [profile(keywords=[])]
    whole = unit(1, 0, 0)
    phrases = np.stack([unit(0, 1, 0), unit(0, 0, 1)])
    ns = [notice("one-clause"), notice("neither")]
    nv = np.stack([unit(0.3, 1, 0), unit(0.3, 0, 0, 1)])
    with_phrases = scored(p, ns, nv, [ProfileVectors(whole, np.zeros((0, DIM), np.float32), phrases)])
    without = scored(p, ns, nv, [ProfileVectors(whole, np.zeros((0, DIM), np.float32))])
    assert without["one-clause"].dense == pytest.approx(without["neither"].dense)
    assert with_phrases["one-clause"].dense > with_phrases["neither"].dense


def test_dense_scores_give_each_profile_its_own_keyword_and_phrase_reading():
    from matcher.match.score import dense_scores

    nv = np.stack([unit(1, 0), unit(0, 1)])
    pvs = [ProfileVectors(unit(1, 0), np.stack([unit(0, 1)])),  # query and one keyword
           ProfileVectors(unit(1, 0), np.zeros((0, DIM), np.float32), np.stack([unit(0, 1), unit(1, 0)])),  # two phrases
           ProfileVectors(unit(0, 1), np.zeros((0, DIM), np.float32))]  # the query alone
    got = dense_scores(pvs, nv)
    assert got[0].tolist() == pytest.approx([0.5, 0.5])
    assert got[1].tolist() == pytest.approx([(1 + 1 + 0.5) / 3, (0 + 1 + 0.5) / 3])
    assert got[2].tolist() == pytest.approx([0.0, 1.0])
