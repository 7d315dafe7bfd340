"""The notices' TF-IDF fit (stemmed words and word pairs, sublinear tf), counted in arrays.

`fit(tokens)` returns what `TfidfVectorizer(tokenizer=stems, ngram_range=(1, 2), sublinear_tf=True, ...)
.fit_transform(texts)` does, to the bit, where tokens[i] = stems(texts[i]): the same vocabulary, idf and matrix
(tests/test_match_tfidf.py compares them). scikit-learn counts a corpus in a Python loop over every word and word
pair (~0.4 s for 1,000 notices, a fixed cost of every match run); here each word is looked up once, the pairs are
integer keys, and the counting, the first-seen order scikit-learn's rows keep and the alphabetical columns are
numpy. The weighting stays scikit-learn's own (TfidfTransformer), and the vectorizer returned is a real fitted
TfidfVectorizer (its vocabulary and idf set through its public parameters), so transform() of a profile's text
works as before. Pure.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer


def vectorizer(tokenizer: Callable[[str], list[str]]) -> TfidfVectorizer:
    """The matcher's TF-IDF settings, unfitted."""
    return TfidfVectorizer(tokenizer=tokenizer, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                           sublinear_tf=True)


def _alphabetical(unigrams: list[str], keys: np.ndarray) -> np.ndarray:
    """The order that sorts the features named by `keys` (k < U: unigrams[k]; else the pair (k-U)//U, (k-U)%U
    joined by a space) as sorted() sorts their strings. Words of [a-z0-9] only sort above the space, so a pair
    "a b" comes right after "a" and before any longer word starting with "a": the order is (rank of the first word,
    then the second word's rank, the word alone first), integers to sort, not strings."""
    u = len(unigrams)
    rank = np.empty(u, dtype=np.int64)
    rank[sorted(range(u), key=unigrams.__getitem__)] = np.arange(u)
    pair = keys >= u
    first = np.where(pair, (keys - u) // max(u, 1), keys)
    second = np.where(pair, (keys - u) % max(u, 1), 0)
    order_key = rank[first] * (u + 1) + np.where(pair, rank[second] + 1, 0)
    return np.argsort(order_key, kind="stable")


def fit(tokens: Sequence[list[str]], tokenizer: Callable[[str], list[str]]) -> tuple[TfidfVectorizer, object]:
    """(the fitted vectorizer, the documents' TF-IDF matrix) for documents given as their tokens; `tokenizer`
    is what the vectorizer reads other texts with (transform). Tokens hold no space (a pair's name is its two words
    joined by one). ValueError for a corpus without a word, as scikit-learn's."""
    n_docs = len(tokens)
    flat = list(chain.from_iterable(tokens))
    unigrams = list(dict.fromkeys(flat))
    if not unigrams:
        raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
    u = len(unigrams)
    ids = np.fromiter(map(dict(zip(unigrams, range(u))).__getitem__, flat), dtype=np.int64, count=len(flat))
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=n_docs)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    # each document's words, then its word pairs: scikit-learn's order, which numbers the features as first seen
    pairs = np.maximum(lengths - 1, 0)
    seq_start = starts + np.concatenate([[0], np.cumsum(pairs)[:-1]])  # where each document's features begin
    follows = np.ones(len(flat), dtype=bool)  # position p starts a pair with p + 1 in the same document
    follows[(starts + lengths - 1)[lengths > 0]] = False
    at = np.flatnonzero(follows)
    within = np.arange(len(flat)) - starts[doc_of]
    keys = np.empty(len(flat) + len(at), dtype=np.int64)
    keys[seq_start[doc_of] + within] = ids
    keys[seq_start[doc_of[at]] + lengths[doc_of[at]] + within[at]] = u + ids[at] * u + ids[at + 1]
    docs = np.repeat(np.arange(n_docs, dtype=np.int64), lengths + pairs)
    distinct, first_at, inverse = np.unique(keys, return_index=True, return_inverse=True)
    by_first = np.argsort(first_at, kind="stable")
    n_features = len(distinct)
    seen = np.empty(n_features, dtype=np.int64)  # feature -> its first-seen number (scikit-learn's raw column)
    seen[by_first] = np.arange(n_features)
    cells, counts = np.unique(docs * n_features + seen[inverse.ravel()], return_counts=True)
    rows, raw_cols = cells // n_features, cells % n_features
    # columns renumbered alphabetically, each row's cells left in first-seen order (as _sort_features leaves them)
    keys_seen = distinct[by_first]
    joined = "".join(unigrams)
    if " " in joined:
        raise ValueError("a token holds a space: its name would be a word pair's")
    if joined.isascii() and joined.isalnum() and joined == joined.lower() and "" not in unigrams:
        order = _alphabetical(unigrams, keys_seen)
    else:  # words of other characters: the strings themselves sorted
        names_seen = _names(unigrams, keys_seen)
        order = np.array(sorted(range(n_features), key=names_seen.__getitem__), dtype=np.int64)
    new_col = np.empty(n_features, dtype=np.int64)
    new_col[order] = np.arange(n_features)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_docs))])
    counted = sparse.csr_matrix((counts.astype(np.float64), new_col[raw_cols].astype(np.int32),
                                 indptr.astype(np.int32)), shape=(n_docs, n_features))
    names = _names(unigrams, keys_seen[order])
    weights = TfidfTransformer(norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=True)
    weights.fit(counted)
    matrix = weights.transform(counted, copy=False)
    fitted = vectorizer(tokenizer)
    fitted.set_params(vocabulary=dict(zip(names, range(n_features))))
    fitted.idf_ = weights.idf_
    return fitted, matrix


def _names(unigrams: list[str], keys: np.ndarray) -> list[str]:
    """Each feature's string: the word, or the pair's two words joined by a space."""
    u = len(unigrams)
    pair = keys >= u
    first = np.where(pair, (keys - u) // u, keys).tolist()
    second = np.where(pair, (keys - u) % u, -1).tolist()
    spaced = [w + " " for w in unigrams]
    return [unigrams[a] if b < 0 else spaced[a] + unigrams[b] for a, b in zip(first, second)]
