"""The weight fit ranks within each SME: a component that orders an SME's own notices wins over one that only
says which SMEs match a lot (quality/fit.py)."""
from __future__ import annotations

import numpy as np
import pytest

from matcher.config import MatchingConfig
from matcher.match.score import COMPONENTS
from matcher.quality.fit import JudgedSet, _pairs, fit_sets


class SyntheticSet(JudgedSet):
    """A judged set whose components are given (no notices to score): features() returns them."""

    def __init__(self, feats: np.ndarray, grades: np.ndarray) -> None:
        super().__init__("synthetic", [], [], {}, [], np.zeros((0, 1)))
        self.feats, self.grades = feats, grades

    def judged_rows(self) -> list[int]:
        return list(range(len(self.feats)))

    def features(self, rows, cfg):  # noqa: ANN001, ANN201
        return self.feats[list(rows)], self.grades[list(rows)]


def _sets(seed: int = 0) -> SyntheticSet:
    """40 SMEs x 60 notices. 'lexical' puts each SME's relevant notices above its others (with noise); 'dense'
    is high for every notice of the SMEs with many relevant notices and says nothing within an SME."""
    rng = np.random.default_rng(seed)
    smes, notices = 40, 60
    feats = np.zeros((smes, notices, len(COMPONENTS)))
    grades = np.zeros((smes, notices), dtype=int)
    for i in range(smes):
        busy = i % 2 == 0
        relevant = rng.choice(notices, 12 if busy else 2, replace=False)
        grades[i, relevant] = 1
        feats[i, :, 0] = (0.6 if busy else 0.2) + rng.normal(0, 0.02, notices)  # dense: the SME, not the notice
        feats[i, :, 1] = rng.normal(0.2, 0.1, notices) + 0.1 * grades[i]  # lexical: the notice for this SME
        feats[i, :, 2] = rng.uniform(0, 1, notices)  # keyword: noise
        feats[i, :, 3] = 0.0  # cpv: absent
    return SyntheticSet(feats, grades)


def test_the_fit_weights_what_orders_each_smes_notices_over_what_separates_smes():
    s = _sets()
    fit = fit_sets([(s, s.judged_rows())], MatchingConfig())
    # (a pointwise logistic regression on the same data gives dense 0.35 and lexical 0.65)
    assert fit.weights["lexical"] > 0.85 and fit.weights["dense"] < 0.15
    assert sum(fit.weights.values()) == pytest.approx(1.0)
    # the calibration still means "chance of relevant": it rises with the score, and over all pairs it predicts
    # as many relevant notices as there are
    raw = sum(fit.weights[c] * s.feats[..., k] for k, c in enumerate(COMPONENTS))
    chance = 1 / (1 + np.exp(-fit.slope * (raw - fit.midpoint)))
    assert fit.slope > 0 and chance.mean() == pytest.approx((s.grades >= 1).mean(), abs=0.01)


def test_each_sme_weighs_about_the_same_whatever_its_number_of_judgments():
    feats = np.random.default_rng(1).uniform(size=(30, len(COMPONENTS)))
    many = np.array([1] * 10 + [0] * 20)
    few = np.array([1] * 2 + [0] * 28)
    (d_many, w_many), (d_few, w_few) = _pairs(feats, many), _pairs(feats, few)
    assert len(d_many) == 200 and len(d_few) == 56
    assert w_many.sum() == pytest.approx(1.0) and w_few.sum() == pytest.approx(1.0)
    graded = np.array([2] * 3 + [1] * 4 + [0] * 23)
    d, w = _pairs(feats, graded)
    assert len(d) == 7 * 23 + 3 * 4
    assert w[: 7 * 23].sum() == pytest.approx((3 * 2 + 4) / 7) and w[7 * 23 :].sum() == pytest.approx(0.5)


def test_a_set_with_nothing_relevant_cannot_be_fitted():
    s = _sets()
    s.grades[:] = 0
    with pytest.raises(ValueError, match="nothing to fit"):
        fit_sets([(s, s.judged_rows())], MatchingConfig())
