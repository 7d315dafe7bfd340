"""Matching: pure functions (no I/O, no sessions) that score SME profiles against notices.

texts     what is read from notices and profiles (and what is embedded)
terms     stemmed words and phrase look-ups (keywords, excluded words)
cpv       CPV hierarchy overlap and code labels
regions   notice places (names, NUTS/ITL codes, DM locations) to UK regions
filters   hard filters: open, closing date, region, value, excluded words
score     the four components, their fusion and calibration
feedback  an SME's verdicts on earlier matches: Rocchio, neighbours, near-copies of rejected notices
rank      score + filter + order; select the week's top items
explain   the explanation dict the digest renders
"""
from matcher.match.feedback import Verdicts
from matcher.match.filters import EVAL, LIVE, FilterSwitches, ProfileError
from matcher.match.rank import RankResult, Ranking, ScoredNotice, rank, select
from matcher.match.score import ProfileVectors

__all__ = [
    "EVAL", "LIVE", "FilterSwitches", "ProfileError", "ProfileVectors",
    "RankResult", "Ranking", "ScoredNotice", "Verdicts", "rank", "select",
]
