"""Tests for skgru._text.SequenceVectorizer."""

import doctest
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from sklearn import config_context
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import (
    check_estimator_cloneable,
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

import skgru._text
from skgru._text import SequenceVectorizer

# Document frequencies: aa 4, bb 3, cc 2, dd 1 -> ids aa 2, bb 3, cc 4, dd 5.
TRAIN = ["aa bb cc dd", "aa bb cc", "aa bb", "aa"]


def split_on_dash(doc):
    """A module-level (so picklable) callable analyzer."""
    return [token for token in doc.split("-") if token]


def test_doctests():
    result = doctest.testmod(skgru._text, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# ----------------------------------------------------------------- id conventions


def test_id_conventions():
    vec = SequenceVectorizer().fit(TRAIN)
    assert vec.vocabulary_ == {"aa": 2, "bb": 3, "cc": 4, "dd": 5}
    assert vec.max_len_ == 4
    X = vec.transform(["dd zz aa", ""])
    assert X.dtype == np.int32
    assert_array_equal(X, [[0, 5, 1, 2], [0, 0, 0, 0]])


def test_vocabulary_order_ties_alphabetical():
    vec = SequenceVectorizer().fit(["zz yy xx", "yy ww", "ww"])
    # df: ww 2, yy 2, xx 1, zz 1.
    assert vec.vocabulary_ == {"ww": 2, "yy": 3, "xx": 4, "zz": 5}
    assert all(isinstance(i, int) for i in vec.vocabulary_.values())


def test_get_feature_names_out_ordered_by_id():
    vec = SequenceVectorizer().fit(TRAIN)
    names = vec.get_feature_names_out()
    assert names.dtype == object
    assert_array_equal(names, ["aa", "bb", "cc", "dd"])
    for i, token in enumerate(names):
        assert vec.vocabulary_[token] == i + 2


def test_no_n_features_in_like_count_vectorizer():
    vec = SequenceVectorizer().fit(TRAIN)
    cv = CountVectorizer().fit(TRAIN)
    assert not hasattr(cv, "n_features_in_")
    assert not hasattr(vec, "n_features_in_")
    assert not hasattr(vec, "feature_names_in_")


def test_tags_mirror_count_vectorizer():
    tags = SequenceVectorizer().__sklearn_tags__()
    cv_tags = CountVectorizer().__sklearn_tags__()
    assert tags.input_tags.string is True
    assert tags.input_tags.two_d_array is False
    assert tags.input_tags == cv_tags.input_tags
    assert tags.transformer_tags is not None
    assert tags.requires_fit


# ------------------------------------------------------------ padding / truncating

# Tokens: "aa bb cc dd ee" -> [2, 3, 4, 5, 1], "cc" -> [4], "" -> [].
PAD_DOCS = ["aa bb cc dd ee", "cc", ""]


@pytest.mark.parametrize(
    "padding, truncating, expected",
    [
        ("pre", "pre", [[4, 5, 1], [0, 0, 4], [0, 0, 0]]),
        ("pre", "post", [[2, 3, 4], [0, 0, 4], [0, 0, 0]]),
        ("post", "pre", [[4, 5, 1], [4, 0, 0], [0, 0, 0]]),
        ("post", "post", [[2, 3, 4], [4, 0, 0], [0, 0, 0]]),
    ],
)
def test_padding_truncating_by_hand(padding, truncating, expected):
    vec = SequenceVectorizer(max_len=3, padding=padding, truncating=truncating).fit(TRAIN)
    assert_array_equal(vec.transform(PAD_DOCS), np.array(expected, dtype=np.int32))


def test_defaults_are_keras_pre_pre():
    vec = SequenceVectorizer()
    assert vec.padding == "pre"
    assert vec.truncating == "pre"


def test_exact_fit_needs_no_padding_or_truncation():
    vec = SequenceVectorizer(max_len=4, padding="post", truncating="post").fit(TRAIN)
    assert_array_equal(vec.transform(["dd cc bb aa"]), [[5, 4, 3, 2]])


def test_fit_transform_equals_fit_then_transform():
    vec = SequenceVectorizer(max_len=3, padding="post")
    assert_array_equal(vec.fit_transform(TRAIN), clone(vec).fit(TRAIN).transform(TRAIN))


# ---------------------------------------------------- min_df / max_df / max_features

DF_TRAIN = ["aa bb cc", "aa bb", "aa dd", "aa"]  # df: aa 4, bb 2, cc 1, dd 1


@pytest.mark.parametrize(
    "params, vocabulary",
    [
        ({}, {"aa": 2, "bb": 3, "cc": 4, "dd": 5}),
        ({"min_df": 2}, {"aa": 2, "bb": 3}),
        ({"min_df": 0.5}, {"aa": 2, "bb": 3}),
        ({"min_df": 0.51}, {"aa": 2}),
        ({"max_df": 3}, {"bb": 2, "cc": 3, "dd": 4}),
        ({"max_df": 0.75}, {"bb": 2, "cc": 3, "dd": 4}),
        ({"max_df": 1}, {"cc": 2, "dd": 3}),
        ({"max_features": 2}, {"aa": 2, "bb": 3}),
        ({"max_features": 3}, {"aa": 2, "bb": 3, "cc": 4}),
        ({"max_features": 10}, {"aa": 2, "bb": 3, "cc": 4, "dd": 5}),
        ({"max_df": 3, "max_features": 1}, {"bb": 2}),
        ({"min_df": 2, "max_df": 2}, {"bb": 2}),
    ],
)
def test_document_frequency_pruning(params, vocabulary):
    vec = SequenceVectorizer(**params).fit(DF_TRAIN)
    assert vec.vocabulary_ == vocabulary


def test_min_max_df_same_tokens_as_count_vectorizer():
    for params in [{"min_df": 2}, {"max_df": 0.75}, {"min_df": 0.25, "max_df": 3}]:
        vec = SequenceVectorizer(**params).fit(DF_TRAIN)
        cv = CountVectorizer(**params).fit(DF_TRAIN)
        assert set(vec.vocabulary_) == set(cv.vocabulary_)


def test_pruned_tokens_become_oov():
    vec = SequenceVectorizer(min_df=2, max_len=3).fit(DF_TRAIN)
    assert_array_equal(vec.transform(["cc aa dd"]), [[1, 2, 1]])


def test_max_features_keeps_ids_stable():
    full = SequenceVectorizer().fit(DF_TRAIN).vocabulary_
    small = SequenceVectorizer(max_features=2).fit(DF_TRAIN).vocabulary_
    assert all(full[token] == i for token, i in small.items())


def test_max_df_below_min_df_raises():
    with pytest.raises(ValueError, match="max_df corresponds to < documents than min_df"):
        SequenceVectorizer(min_df=3, max_df=2).fit(DF_TRAIN)


def test_everything_pruned_raises():
    with pytest.raises(ValueError, match="no terms remain"):
        SequenceVectorizer(min_df=3, max_df=3).fit(DF_TRAIN)


# --------------------------------------------------------------------- max_len


def test_max_len_none_is_longest_training_document():
    vec = SequenceVectorizer().fit(["aa", "aa bb cc dd ee", "bb cc"])
    assert vec.max_len_ == 5
    assert vec.max_len is None
    assert vec.transform(["aa"]).shape == (1, 5)


def test_max_len_none_counts_tokens_after_analysis():
    # "the" and "of" are English stop words; "x" is too short for the pattern.
    vec = SequenceVectorizer(stop_words="english").fit(["the end of x story", "aa"])
    assert vec.max_len_ == 2
    vec = SequenceVectorizer(ngram_range=(1, 2)).fit(["aa bb cc"])
    assert vec.max_len_ == 5


def test_max_len_none_is_capped_at_512():
    long_doc = " ".join(f"w{i:03d}" for i in range(600))
    vec = SequenceVectorizer().fit([long_doc, "aa"])
    assert vec.max_len_ == 512
    X = vec.transform([long_doc])
    assert X.shape == (1, 512)
    # truncating="pre" keeps the last 512 tokens.
    assert vec.inverse_transform(X)[0] == long_doc.split()[-512:]


def test_explicit_max_len_is_not_capped():
    long_doc = " ".join(f"w{i:03d}" for i in range(600))
    vec = SequenceVectorizer(max_len=600).fit([long_doc])
    assert vec.max_len_ == 600
    assert (vec.transform([long_doc]) > 1).all()


def test_max_len_is_independent_of_training_lengths():
    vec = SequenceVectorizer(max_len=7).fit(TRAIN)
    assert vec.max_len_ == 7
    assert vec.transform(TRAIN).shape == (4, 7)


# ------------------------------------------------------------- empty docs and OOV


def test_empty_documents():
    vec = SequenceVectorizer(max_len=3).fit(["", "aa bb", ""])
    assert_array_equal(vec.transform(["", "   ", "a"]), np.zeros((3, 3), dtype=np.int32))
    assert vec.inverse_transform(vec.transform([""])) == [[]]


def test_empty_list_of_documents():
    vec = SequenceVectorizer(max_len=3).fit(TRAIN)
    X = vec.transform([])
    assert X.shape == (0, 3)
    assert X.dtype == np.int32


def test_only_unknown_words():
    vec = SequenceVectorizer(max_len=4).fit(TRAIN)
    assert_array_equal(vec.transform(["zz yy xx"]), [[0, 1, 1, 1]])
    assert vec.inverse_transform(vec.transform(["zz yy"])) == [["<OOV>", "<OOV>"]]


def test_fit_on_empty_vocabulary_raises():
    with pytest.raises(ValueError, match="empty vocabulary"):
        SequenceVectorizer().fit(["", "a b"])
    with pytest.raises(ValueError, match="empty vocabulary"):
        SequenceVectorizer(stop_words="english").fit(["the of and"])


def test_iterables_other_than_lists():
    vec = SequenceVectorizer(max_len=4)
    expected = vec.fit_transform(TRAIN)
    assert_array_equal(clone(vec).fit_transform(doc for doc in TRAIN), expected)
    assert_array_equal(clone(vec).fit_transform(np.array(TRAIN)), expected)
    assert_array_equal(vec.transform(tuple(TRAIN)), expected)


@pytest.mark.parametrize("method", ["fit", "fit_transform"])
def test_bare_string_raises_in_fit(method):
    msg = "Iterable over raw text documents expected, string object received."
    with pytest.raises(ValueError, match=msg):
        getattr(SequenceVectorizer(), method)("aa bb cc")


def test_bare_string_raises_in_transform():
    vec = SequenceVectorizer().fit(TRAIN)
    with pytest.raises(ValueError, match="Iterable over raw text documents expected"):
        vec.transform("aa bb")


@pytest.mark.parametrize("method", ["transform", "inverse_transform", "get_feature_names_out"])
def test_not_fitted(method):
    arg = () if method == "get_feature_names_out" else (["aa"],)
    if method == "inverse_transform":
        arg = ([[0, 1]],)
    with pytest.raises(NotFittedError):
        getattr(SequenceVectorizer(), method)(*arg)


# ------------------------------------------------------------------ text analysis


def test_stop_words_english_and_list():
    vec = SequenceVectorizer(stop_words="english", max_len=3).fit(["the cat and the dog"])
    assert set(vec.vocabulary_) == {"cat", "dog"}
    assert_array_equal(vec.transform(["the dog"]), [[0, 0, vec.vocabulary_["dog"]]])

    vec = SequenceVectorizer(stop_words=["cat"]).fit(["the cat and the dog"])
    assert set(vec.vocabulary_) == {"the", "and", "dog"}


def test_custom_tokenizer():
    vec = SequenceVectorizer(tokenizer=str.split, token_pattern=None, max_len=4)
    X = vec.fit_transform(["a b a", "b c"])
    # Single characters survive because the default token_pattern is not used.
    assert vec.vocabulary_ == {"b": 2, "a": 3, "c": 4}
    assert_array_equal(X, [[0, 3, 2, 3], [0, 0, 2, 4]])


def test_tokenizer_with_token_pattern_warns_like_count_vectorizer():
    with pytest.warns(UserWarning, match="token_pattern"):
        SequenceVectorizer(tokenizer=str.split).fit(["a b"])


def test_callable_analyzer():
    vec = SequenceVectorizer(analyzer=split_on_dash, max_len=3).fit(["x-y", "y-z-y"])
    assert vec.vocabulary_ == {"y": 2, "x": 3, "z": 4}
    assert_array_equal(vec.transform(["z-q"]), [[0, 4, 1]])


def test_callable_analyzer_warns_for_ignored_params():
    with pytest.warns(UserWarning, match="ngram_range"):
        SequenceVectorizer(analyzer=split_on_dash, ngram_range=(1, 2)).fit(["x-y"])


def test_lowercase_and_strip_accents():
    vec = SequenceVectorizer(strip_accents="ascii").fit(["Café CAFE cafe"])
    assert vec.vocabulary_ == {"cafe": 2}
    vec = SequenceVectorizer(lowercase=False).fit(["Aa aa"])
    assert vec.vocabulary_ == {"Aa": 2, "aa": 3}


def test_preprocessor():
    vec = SequenceVectorizer(preprocessor=lambda doc: doc.replace("_", " ")).fit(["aa_bb"])
    assert vec.vocabulary_ == {"aa": 2, "bb": 3}


def test_ngram_range_order_matches_count_vectorizer_analyzer():
    vec = SequenceVectorizer(ngram_range=(1, 2)).fit(["aa bb cc"])
    analyzer = CountVectorizer(ngram_range=(1, 2)).build_analyzer()
    tokens = analyzer("aa bb cc")
    assert tokens == ["aa", "bb", "cc", "aa bb", "bb cc"]
    assert vec.inverse_transform(vec.transform(["aa bb cc"]))[0] == tokens


def test_stop_word_warning_not_repeated_in_transform():
    # "we've" tokenizes to "ve", which is not itself in the stop list.
    with pytest.warns(UserWarning, match="stop_words may be inconsistent"):
        vec = SequenceVectorizer(stop_words=["we've"]).fit(["aa bb"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vec.transform(["aa"])


# ------------------------------------------------------------- parameter checks


@pytest.mark.parametrize(
    "params",
    [
        {"analyzer": "char"},
        {"analyzer": "char_wb"},
        {"padding": "middle"},
        {"truncating": "both"},
        {"max_len": 0},
        {"max_len": 2.5},
        {"max_features": 0},
        {"min_df": -1},
        {"min_df": 1.5},
        {"max_df": 0},
        {"ngram_range": [1, 2]},
        {"stop_words": "french"},
        {"lowercase": "yes"},
    ],
)
def test_invalid_params_raise_invalid_parameter_error(params):
    with pytest.raises(InvalidParameterError):
        SequenceVectorizer(**params).fit(TRAIN)


@pytest.mark.parametrize("ngram_range", [(2, 1), (0, 1), (1,), (1, 2, 3), (1.0, 2)])
def test_invalid_ngram_range(ngram_range):
    with pytest.raises(ValueError, match="ngram_range"):
        SequenceVectorizer(ngram_range=ngram_range).fit(TRAIN)


def test_token_pattern_none_without_tokenizer():
    with pytest.raises(ValueError, match="token_pattern=None requires a tokenizer"):
        SequenceVectorizer(token_pattern=None).fit(TRAIN)


# ----------------------------------------------------------- inverse_transform


def test_inverse_transform_by_hand():
    vec = SequenceVectorizer().fit(TRAIN)
    X = np.array([[0, 0, 2, 1], [5, 4, 3, 2], [0, 0, 0, 0]])
    assert vec.inverse_transform(X) == [["aa", "<OOV>"], ["dd", "cc", "bb", "aa"], []]
    # Any width, and whole-number floats, are accepted.
    assert vec.inverse_transform(np.array([[3.0, 0.0]])) == [["bb"]]


@pytest.mark.parametrize("X", [[[6]], [[-1, 2]], [[2.5]]])
def test_inverse_transform_rejects_bad_ids(X):
    vec = SequenceVectorizer().fit(TRAIN)
    with pytest.raises(ValueError):
        vec.inverse_transform(X)


WORDS = ["aa", "bb", "cc", "dd", "ee", "ff"]
word_lists = st.lists(st.sampled_from(WORDS), max_size=8)


def _naive_pad(ids, max_len, padding, truncating):
    """Keras pad_sequences for one sequence, written independently."""
    if len(ids) > max_len:
        ids = ids[len(ids) - max_len :] if truncating == "pre" else ids[:max_len]
    pad = [0] * (max_len - len(ids))
    return pad + ids if padding == "pre" else ids + pad


@settings(max_examples=60, deadline=None)
@given(
    train=st.lists(word_lists, min_size=1, max_size=6).filter(lambda docs: any(docs)),
    doc=word_lists,
    max_len=st.one_of(st.none(), st.integers(1, 10)),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
)
def test_inverse_transform_round_trip_property(train, doc, max_len, padding, truncating):
    vec = SequenceVectorizer(max_len=max_len, padding=padding, truncating=truncating)
    vec.fit([" ".join(words) for words in train])
    X = vec.transform([" ".join(doc)])
    vocabulary = vec.vocabulary_

    expected_ids = [vocabulary.get(word, 1) for word in doc]
    assert X.tolist() == [_naive_pad(expected_ids, vec.max_len_, padding, truncating)]

    if len(doc) <= vec.max_len_:
        recovered = vec.inverse_transform(X)[0]
        assert recovered == [word if word in vocabulary else "<OOV>" for word in doc]
        assert [t for t in recovered if t != "<OOV>"] == [w for w in doc if w in vocabulary]


# ------------------------------------------------- clone, params, pickling, API


def test_clone_and_get_set_params():
    vec = SequenceVectorizer(max_len=5, padding="post", ngram_range=(1, 2), min_df=2)
    params = vec.get_params()
    assert params["max_len"] == 5
    assert params["ngram_range"] == (1, 2)
    cloned = clone(vec)
    assert cloned.get_params() == params
    vec.fit(TRAIN)
    assert not hasattr(clone(vec), "vocabulary_")
    # min_df=2 keeps aa (df 4), "aa bb" and bb (df 3), "bb cc" and cc (df 2),
    # and a document yields its unigrams, then its bigrams.
    assert vec.vocabulary_ == {"aa": 2, "aa bb": 3, "bb": 4, "bb cc": 5, "cc": 6}
    assert vec.transform(["aa bb cc"]).tolist() == [[2, 4, 6, 3, 5]]
    assert vec.set_params(max_len=2, truncating="post", ngram_range=(1, 1)) is vec
    assert vec.fit(TRAIN).transform(["aa bb cc"]).tolist() == [[2, 3]]


def test_fit_does_not_mutate_params():
    vec = SequenceVectorizer(stop_words=["aa"])
    before = vec.get_params()
    vec.fit(TRAIN)
    assert vec.get_params() == before
    assert vec.max_len is None


@pytest.mark.parametrize(
    "check",
    [
        check_estimator_cloneable,
        check_estimator_repr,
        check_get_params_invariance,
        check_no_attributes_set_in_init,
        check_parameters_default_constructible,
        check_set_params,
    ],
)
def test_sklearn_api_checks_that_do_not_need_numeric_data(check):
    check("SequenceVectorizer", SequenceVectorizer())


@pytest.mark.parametrize("analyzer", ["word", split_on_dash])
def test_pickle_round_trip(analyzer):
    docs = ["aa-bb cc", "bb-cc dd"]
    vec = SequenceVectorizer(analyzer=analyzer, max_len=3).fit(docs)
    restored = pickle.loads(pickle.dumps(vec))
    assert restored.vocabulary_ == vec.vocabulary_
    assert restored.max_len_ == vec.max_len_
    assert_array_equal(restored.transform(docs + ["zz"]), vec.transform(docs + ["zz"]))
    # Fitted state is plain data: no analyzer or other compiled object is kept.
    fitted = {k: v for k, v in vars(restored).items() if k.endswith("_")}
    assert set(fitted) == {"vocabulary_", "max_len_"}


def test_set_output():
    vec = SequenceVectorizer()
    assert vec.set_output(transform="default") is vec
    with pytest.raises(ValueError, match="only returns NumPy arrays"):
        vec.set_output(transform="pandas")
    with config_context(transform_output="pandas"):
        assert isinstance(vec.fit_transform(TRAIN), np.ndarray)


# --------------------------------------------------------- pipelines and search

POSITIVE = ["good great fine", "great good", "fine good nice", "nice great", "good"]
NEGATIVE = ["bad awful poor", "awful bad", "poor bad ugly", "ugly awful", "bad"]
TEXTS = POSITIVE + NEGATIVE
LABELS = np.array([1] * len(POSITIVE) + [0] * len(NEGATIVE))


def test_pipeline_with_logistic_regression():
    pipe = make_pipeline(SequenceVectorizer(max_len=3), LogisticRegression())
    pipe.fit(TEXTS, LABELS)
    pred = pipe.predict(["good nice", "bad ugly"])
    assert pred.shape == (2,)
    assert set(pred) <= {0, 1}
    assert pipe.set_output(transform="default") is pipe


def test_grid_search_over_vectorizer_parameter():
    pipe = make_pipeline(SequenceVectorizer(), LogisticRegression())
    grid = {"sequencevectorizer__max_len": [1, 3], "sequencevectorizer__padding": ["pre", "post"]}
    search = GridSearchCV(pipe, grid, cv=2).fit(TEXTS, LABELS)
    assert search.best_params_["sequencevectorizer__max_len"] in (1, 3)
    assert len(search.cv_results_["params"]) == 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # The outer estimator's parameters were not touched by the search.
    assert pipe.get_params()["sequencevectorizer__max_len"] is None
