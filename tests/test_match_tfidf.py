"""The notices' TF-IDF fit (match/tfidf.py) is scikit-learn's TfidfVectorizer fit to the bit: the same vocabulary,
idf and matrix (data, column indices and row pointers, in the same order), and a vectorizer that reads new texts the
same way. On the bundled real notices, as the match job fits them, and on small corpora at the edges."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matcher.match import tfidf
from matcher.match.score import fit_lexical, fit_titles
from matcher.match.terms import stems
from matcher.match.texts import lexical_text, without_buyer
from matcher.quality.corpus import read_notices

DATA = Path(__file__).resolve().parent / "data" / "eval"


def _sklearn(texts, tokenizer=stems):
    vec = tfidf.vectorizer(tokenizer)
    return vec, vec.fit_transform(texts)


def _assert_same(ours, theirs, probes):
    (vec, matrix), (ref, ref_matrix) = ours, theirs
    assert vec.vocabulary_ == ref.vocabulary_
    assert vec.idf_.dtype == ref.idf_.dtype and np.array_equal(vec.idf_, ref.idf_)
    assert type(matrix) is type(ref_matrix) and matrix.shape == ref_matrix.shape
    for part in ("data", "indices", "indptr"):
        mine, want = getattr(matrix, part), getattr(ref_matrix, part)
        assert mine.dtype == want.dtype and np.array_equal(mine, want), part  # same values, in the same order
    assert np.array_equal(vec.get_feature_names_out(), ref.get_feature_names_out())
    got, want = vec.transform(probes), ref.transform(probes)
    assert np.array_equal(got.data, want.data) and np.array_equal(got.indices, want.indices)
    assert np.array_equal((got @ matrix.T).toarray(), (want @ ref_matrix.T).toarray())


@pytest.fixture(scope="module")
def notices():
    return read_notices(sorted((DATA / "notices").glob("*.jsonl")))


PROBES = ["grounds maintenance and grass cutting", "user research, agile software development and hosting",
          "words no notice has: zyzzyva qwxk", ""]


def test_lexical_fit_of_real_notices_is_scikit_learns_to_the_bit(notices):
    for weight in (1, 2):
        texts = [lexical_text(n, weight) for n in notices]
        _assert_same(fit_lexical(notices, weight), _sklearn(texts), PROBES)


def test_title_fit_of_real_notices_is_scikit_learns_to_the_bit(notices):
    _assert_same(fit_titles(notices), _sklearn([without_buyer(n.title, n.buyer) for n in notices]), PROBES)


def test_repeated_words_empty_documents_and_a_one_word_corpus_fit_as_scikit_learn():
    corpora = [
        ["cleaning cleaning cleaners office", "", "office cleaning", "the and of", "windows"],
        ["tree"],
        ["", "grass grass grass grass", ""],
        ["b a", "a b", "ab", "a b c", "a", "aa b", "a0 b", "a 0"],  # pairs beside words that start alike
    ]
    for texts in corpora:
        _assert_same(tfidf.fit([stems(t) for t in texts], stems), _sklearn(texts), PROBES + texts)


def test_tokens_of_other_characters_sort_as_scikit_learn_sorts_them():
    texts = ["Éclair zebra Apple", "apple Zebra éclair", "x-ray X-RAY 3d", "Apple apple"]
    _assert_same(tfidf.fit([t.split() for t in texts], str.split), _sklearn(texts, str.split), texts)


def test_a_corpus_without_a_word_is_refused_as_scikit_learn_refuses_it(notices):
    with pytest.raises(ValueError, match="empty vocabulary"):
        tfidf.fit([stems("the and of"), []], stems)
    with pytest.raises(ValueError):
        _sklearn(["the and of", ""])
    assert fit_titles([n.model_copy(update={"title": "The"}) for n in notices[:3]]) == (None, None)


def test_rank_results_idf_names_each_feature_with_its_own_idf(notices):
    from matcher.match.rank import RankResult

    for vec in (fit_lexical(notices[:200], 2)[0], _sklearn(["bee ant cat", "ant dog"], str.split)[0]):
        want = dict(zip(vec.get_feature_names_out(), vec.idf_))
        got = RankResult([], [], vec).idf()
        assert list(got.items()) == list(want.items())


def _buyer_notices(notices):
    """Real notices with buyers' names placed where blanking them part by part could go wrong."""
    base = notices[0]
    cases = [("Council repairs in Leeds City", "Grounds maintenance.", "Leeds City Council"),  # runs on into the
             # title's next copy in the lexical text
             ("Leeds City", "Council seeks grounds maintenance.", "Leeds City Council"),  # runs on into the body
             ("Works for Leeds City  ", "\n council estates: cleaning", "Leeds City Council"),
             ("Leeds City Council grounds", "Leeds City Council parks", "Leeds City Council"),  # whole, in both
             ("Parks for LEEDS", "city council depots", "Leeds City Council"),
             ("Repairs", "Repairs and Leeds City Council works", "Leeds City Council"),
             ("Council", "Council housing repairs", "Council"),  # one word: never runs on
             ("NHS", "NHS trust cleaning", "NHS"),  # too short to be blanked
             ("Cleaning İstanbul", "ınnovatıon", "İstanbul Office"), ("Title", "", None)]
    made = [base.model_copy(update={"key": f"buyer-{i}", "title": t, "description": d, "buyer": b})
            for i, (t, d, b) in enumerate(cases)]
    return list(notices) + made


def test_the_notice_side_fits_what_fit_lexical_and_fit_titles_fit_whatever_the_title_weight(notices):
    from matcher.config import MatchingConfig
    from matcher.match.rank import term_texts
    from matcher.match.score import NoticeSide

    some = _buyer_notices(notices)
    terms = term_texts(some)
    for weight in (1, 2, 3):
        cfg = MatchingConfig().model_copy(update={"title_weight": weight})
        side = NoticeSide.of(some, np.zeros((len(some), 4), dtype=np.float32), terms, cfg)
        _assert_same((side.vectorizer, side.matrix), fit_lexical(some, weight), PROBES)
        _assert_same(side.titles, fit_titles(some), PROBES)


def test_a_buyers_name_runs_on_only_from_a_title_ending_with_its_first_words():
    from matcher.match.texts import buyer_runs_on

    assert buyer_runs_on("Leeds City", "Leeds City Council") and buyer_runs_on("Works for leeds  ", "Leeds City Council")
    assert not buyer_runs_on("Leeds City Council", "Leeds City Council")  # the whole name ends inside the title
    assert not buyer_runs_on("Leeds City parks", "Leeds City Council") and not buyer_runs_on("Council", "Council")
    assert not buyer_runs_on("NHS", "NHS Trust x"[:3]) and not buyer_runs_on("Anything", None)
