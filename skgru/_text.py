"""Turn raw text documents into padded matrices of token ids.

The tokenisation itself (preprocessing, accent stripping, lowercasing, the token
pattern, stop words, word n-grams) is scikit-learn's: the analyzer is built by
:class:`sklearn.feature_extraction.text.CountVectorizer`, so a document is split
into exactly the tokens that ``CountVectorizer`` would count. What this module adds
is the ordering of those tokens (kept) and the mapping to integer ids, laid out
like Keras ``pad_sequences`` output so that it can feed a recurrent model.
"""

import warnings
from collections import Counter
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

__all__ = ["SequenceVectorizer"]

# Id reserved for the padding positions of a row.
_PAD_ID = 0
# Id given to every token that is not in ``vocabulary_``.
_OOV_ID = 1
# First id given to a real token.
_FIRST_TOKEN_ID = 2
# How ``inverse_transform`` renders the out-of-vocabulary id. The default
# ``token_pattern`` can never produce it (it has no word characters at the ends).
_OOV_TOKEN = "<OOV>"
# Upper bound on ``max_len_`` when ``max_len=None``: one very long training
# document must not make every row (and every recurrent pass) that long.
_MAX_LEN_CAP = 512

_DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def _check_raw_documents(X):
    # A bare string is an iterable of characters: refuse it the way
    # CountVectorizer does instead of silently treating each character as a
    # document.
    if isinstance(X, (str, bytes)):
        raise ValueError("Iterable over raw text documents expected, string object received.")
    # Iterating a DataFrame gives its column names, not its rows.
    if hasattr(X, "columns") and hasattr(X, "iloc"):
        raise ValueError(
            f"X is a DataFrame with columns {list(X.columns)[:5]}; pass one column of text "
            "(a Series such as df['text']; in a ColumnTransformer select it as 'text', not "
            "['text'])."
        )


def _check_document(doc, i, any_object):
    """Refuse a document the analyzer cannot read, naming it (CountVectorizer's own
    failures are an AttributeError from inside the analyzer)."""
    if isinstance(doc, (str, bytes)):
        return
    if doc is None or (isinstance(doc, float) and doc != doc):
        raise ValueError(
            f"Document {i} is {doc!r}, a missing value; fill missing texts first (for "
            "example with '' for an empty document)."
        )
    if any_object:  # a callable analyzer decides what a document is
        return
    kind = type(doc).__name__
    hint = ""
    if isinstance(doc, (list, tuple)) or getattr(doc, "ndim", 0) >= 1:
        hint = (
            " A 2-D input (one column of a DataFrame selected as ['text'], say) gives rows "
            "instead of strings: pass a 1-D sequence of documents."
        )
    raise TypeError(
        f"Document {i} is of type {kind} ({doc!r:.60}), not a string; SequenceVectorizer takes "
        f"an iterable of str (or bytes) documents.{hint}"
    )


class SequenceVectorizer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Convert raw text documents to a padded matrix of token ids.

    Each document is split into tokens by scikit-learn's text analyzer (the one
    :class:`~sklearn.feature_extraction.text.CountVectorizer` builds from the
    same parameters), each token is replaced by its integer id, and the
    sequences are padded or truncated to a common length ``max_len_`` following
    the conventions of Keras ``pad_sequences``.

    Id conventions:

    - ``0`` is padding;
    - ``1`` is an out-of-vocabulary token (unseen in training, or removed by
      ``min_df``, ``max_df`` or ``max_features``);
    - ``2, 3, ...`` are the vocabulary tokens, by decreasing document frequency
      in the training documents, ties broken by the token in alphabetical
      order.

    Parameters
    ----------
    max_len : int or None, default=None
        Number of columns of the output. ``None`` means the number of tokens
        of the longest training document, capped at 512 (longer documents are
        then truncated as set by ``truncating``). The resolved value is stored
        in ``max_len_``.

    padding : {"pre", "post"}, default="pre"
        Where the padding ids of a document shorter than ``max_len_`` go:
        before the tokens (``"pre"``) or after them (``"post"``). The default
        is Keras's.

    truncating : {"pre", "post"}, default="pre"
        Which tokens are dropped from a document longer than ``max_len_``:
        those at the beginning (``"pre"``, keeping the last ``max_len_``
        tokens) or at the end (``"post"``, keeping the first ``max_len_``).
        The default is Keras's.

    max_features : int or None, default=None
        If not None, keep only the ``max_features`` first tokens of the
        vocabulary order (highest document frequency, then alphabetical) that
        pass ``min_df`` and ``max_df``. Unlike ``CountVectorizer``, which ranks
        by total term count, the ranking is the id order itself, so a token
        kept by a smaller ``max_features`` has the same id as without it.

    min_df : float in [0.0, 1.0] or int, default=1
        Ignore tokens whose document frequency is strictly lower than this
        threshold. A float is a proportion of the training documents, an int
        an absolute count (as in ``CountVectorizer``).

    max_df : float in [0.0, 1.0] or int, default=1.0
        Ignore tokens whose document frequency is strictly higher than this
        threshold. A float is a proportion of the training documents, an int
        an absolute count (as in ``CountVectorizer``).

    lowercase : bool, default=True
        Convert all characters to lowercase before tokenizing.

    strip_accents : {"ascii", "unicode"} or callable, default=None
        Remove accents during preprocessing, as in ``CountVectorizer``.

    preprocessor : callable, default=None
        Override the preprocessing (string transformation) stage while keeping
        the tokenizing and n-grams generation steps. Only applies if
        ``analyzer`` is not callable.

    tokenizer : callable, default=None
        Override the string tokenization step while keeping the preprocessing
        and n-grams generation steps. Only applies if ``analyzer == "word"``.

    token_pattern : str or None, default=r"(?u)\\b\\w\\w+\\b"
        Regular expression denoting what constitutes a token, used only if
        ``analyzer == "word"`` and ``tokenizer`` is None. The default keeps
        tokens of two or more alphanumeric characters.

    stop_words : {"english"}, list or None, default=None
        Words removed from the token sequence, as in ``CountVectorizer``.
        Removed words take no position in the output (they are not OOV).

    ngram_range : tuple (min_n, max_n), default=(1, 1)
        Range of word n-grams to extract. A document yields all its
        ``min_n``-grams in order, then all its ``min_n + 1``-grams, and so on,
        as in ``CountVectorizer``. Only applies if ``analyzer == "word"``.

    analyzer : {"word"} or callable, default="word"
        ``"word"`` builds scikit-learn's word analyzer from the parameters
        above. A callable takes a raw document and returns its sequence of
        tokens (strings); the other text parameters are then ignored.

    Attributes
    ----------
    vocabulary_ : dict of str to int
        Mapping from each kept token to its id (ids ``2`` to
        ``len(vocabulary_) + 1``).

    max_len_ : int
        Number of columns of the output of ``transform``.

    See Also
    --------
    sklearn.feature_extraction.text.CountVectorizer : Bag-of-words counts from
        the same analyzer.

    Notes
    -----
    Like ``CountVectorizer``, this transformer takes a one-dimensional iterable
    of strings, so it sets no ``n_features_in_``. The output columns are
    sequence positions, not the tokens listed by ``get_feature_names_out``, so
    ``set_output`` accepts only ``"default"`` and a global
    ``transform_output="pandas"`` is ignored.

    Examples
    --------
    >>> from skgru._text import SequenceVectorizer
    >>> docs = ["the cat sat", "the dog sat down", "a cat"]
    >>> vec = SequenceVectorizer(max_len=4)
    >>> vec.fit_transform(docs)
    array([[0, 4, 2, 3],
           [4, 5, 3, 6],
           [0, 0, 0, 2]], dtype=int32)
    >>> vec.get_feature_names_out()
    array(['cat', 'sat', 'the', 'dog', 'down'], dtype=object)
    >>> X = vec.transform(["the bird sat"])
    >>> X
    array([[0, 4, 1, 3]], dtype=int32)
    >>> vec.inverse_transform(X)
    [['the', '<OOV>', 'sat']]
    """

    _parameter_constraints: dict = {
        "max_len": [Interval(Integral, 1, None, closed="left"), None],
        "padding": [StrOptions({"pre", "post"})],
        "truncating": [StrOptions({"pre", "post"})],
        "max_features": [Interval(Integral, 1, None, closed="left"), None],
        "min_df": [
            Interval(RealNotInt, 0, 1, closed="both"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "max_df": [
            Interval(RealNotInt, 0, 1, closed="both"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "lowercase": ["boolean"],
        "strip_accents": [StrOptions({"ascii", "unicode"}), None, callable],
        "preprocessor": [callable, None],
        "tokenizer": [callable, None],
        "token_pattern": [str, None],
        "stop_words": [StrOptions({"english"}), list, None],
        "ngram_range": [tuple],
        "analyzer": [StrOptions({"word"}), callable],
    }

    def __init__(
        self,
        *,
        max_len=None,
        padding="pre",
        truncating="pre",
        max_features=None,
        min_df=1,
        max_df=1.0,
        lowercase=True,
        strip_accents=None,
        preprocessor=None,
        tokenizer=None,
        token_pattern=_DEFAULT_TOKEN_PATTERN,
        stop_words=None,
        ngram_range=(1, 1),
        analyzer="word",
    ):
        self.max_len = max_len
        self.padding = padding
        self.truncating = truncating
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.preprocessor = preprocessor
        self.tokenizer = tokenizer
        self.token_pattern = token_pattern
        self.stop_words = stop_words
        self.ngram_range = ngram_range
        self.analyzer = analyzer

    # ------------------------------------------------------------------ helpers

    def _check_text_params(self):
        """Checks that ``_parameter_constraints`` cannot express."""
        ngram_range = self.ngram_range
        if (
            len(ngram_range) != 2
            or not all(isinstance(n, Integral) and not isinstance(n, bool) for n in ngram_range)
            or not 1 <= ngram_range[0] <= ngram_range[1]
        ):
            raise ValueError(
                f"ngram_range must be a tuple (min_n, max_n) of ints with "
                f"1 <= min_n <= max_n, got {ngram_range!r}."
            )
        if not callable(self.analyzer) and self.tokenizer is None and self.token_pattern is None:
            raise ValueError(
                "token_pattern=None requires a tokenizer (or a callable analyzer) to split "
                "documents into tokens."
            )
        # The same warnings CountVectorizer gives for parameters it will ignore.
        if (
            self.tokenizer is not None
            and self.token_pattern is not None
            and not callable(self.analyzer)
        ):
            warnings.warn(
                "The parameter 'token_pattern' will not be used since 'tokenizer' is "
                "not None. Pass token_pattern=None to silence this warning.",
                UserWarning,
                stacklevel=4,
            )
        if callable(self.analyzer):
            ignored = []
            if self.preprocessor is not None:
                ignored.append("preprocessor")
            if self.tokenizer is not None:
                ignored.append("tokenizer")
            if tuple(self.ngram_range) != (1, 1):
                ignored.append("ngram_range")
            if ignored:
                warnings.warn(
                    f"The parameters {ignored} will not be used since 'analyzer' is callable.",
                    UserWarning,
                    stacklevel=4,
                )

    def _build_analyzer(self):
        """Return scikit-learn's analyzer for the current parameters.

        Built anew on each call rather than stored, so that the fitted state
        stays plain data (a user's lambda tokenizer is the user's to pickle).
        """
        return CountVectorizer(
            lowercase=self.lowercase,
            strip_accents=self.strip_accents,
            preprocessor=self.preprocessor,
            tokenizer=self.tokenizer,
            token_pattern=self.token_pattern,
            stop_words=self.stop_words,
            ngram_range=self.ngram_range,
            analyzer=self.analyzer,
        ).build_analyzer()

    def _analyze(self, X, analyzer):
        _check_raw_documents(X)
        any_object = callable(self.analyzer)
        out = []
        for i, doc in enumerate(X):
            _check_document(doc, i, any_object)
            out.append(list(analyzer(doc)))
        return out

    def _learn_vocabulary(self, token_lists):
        n_docs = len(token_lists)
        document_frequency = Counter()
        for tokens in token_lists:
            document_frequency.update(set(tokens))
        if not document_frequency:
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")

        max_doc_count = self.max_df if isinstance(self.max_df, Integral) else self.max_df * n_docs
        min_doc_count = self.min_df if isinstance(self.min_df, Integral) else self.min_df * n_docs
        if max_doc_count < min_doc_count:
            raise ValueError("max_df corresponds to < documents than min_df")

        kept = sorted(
            (
                (-df, token)
                for token, df in document_frequency.items()
                if min_doc_count <= df <= max_doc_count
            ),
        )
        if self.max_features is not None:
            kept = kept[: self.max_features]
        if not kept:
            raise ValueError(
                "After pruning, no terms remain. Try a lower min_df or a higher max_df."
            )
        return {token: i for i, (_, token) in enumerate(kept, start=_FIRST_TOKEN_ID)}

    def _fit(self, X):
        """Fit and return the token lists of ``X``, for ``fit_transform`` to reuse."""
        self._validate_params()
        self._check_text_params()
        token_lists = self._analyze(X, self._build_analyzer())
        self.vocabulary_ = self._learn_vocabulary(token_lists)
        if self.max_len is None:
            longest = max(len(tokens) for tokens in token_lists)
            self.max_len_ = int(min(longest, _MAX_LEN_CAP))
        else:
            self.max_len_ = int(self.max_len)
        return token_lists

    def _to_ids(self, token_lists):
        max_len = self.max_len_
        vocabulary = self.vocabulary_
        ids = np.full((len(token_lists), max_len), _PAD_ID, dtype=np.int32)
        for row, tokens in zip(ids, token_lists):
            seq = [vocabulary.get(token, _OOV_ID) for token in tokens]
            if len(seq) > max_len:
                seq = seq[-max_len:] if self.truncating == "pre" else seq[:max_len]
            if not seq:
                continue
            if self.padding == "pre":
                row[max_len - len(seq) :] = seq
            else:
                row[: len(seq)] = seq
        return ids

    # --------------------------------------------------------------- public API

    def fit(self, X, y=None):
        """Learn the vocabulary and the output length from training documents.

        Parameters
        ----------
        X : iterable of str
            Raw text documents, e.g. a list of strings.

        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : SequenceVectorizer
            The fitted vectorizer.
        """
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """Learn the vocabulary and return the token-id matrix of ``X``.

        Equivalent to ``fit(X).transform(X)`` but analyzes each document once.

        Parameters
        ----------
        X : iterable of str
            Raw text documents, e.g. a list of strings.

        y : None
            Ignored; present for API consistency.

        Returns
        -------
        ids : ndarray of shape (n_samples, ``max_len_``), dtype int32
            Token ids, padded with 0; 1 marks out-of-vocabulary tokens.
        """
        token_lists = self._fit(X)
        return self._to_ids(token_lists)

    def transform(self, X):
        """Convert documents to a padded matrix of token ids.

        Parameters
        ----------
        X : iterable of str
            Raw text documents, e.g. a list of strings. Empty documents give
            rows of padding.

        Returns
        -------
        ids : ndarray of shape (n_samples, ``max_len_``), dtype int32
            Token ids, padded with 0; 1 marks out-of-vocabulary tokens.
        """
        check_is_fitted(self, "vocabulary_")
        with warnings.catch_warnings():
            # Already said in fit; the analyzer is rebuilt for every call.
            warnings.filterwarnings("ignore", message="Your stop_words may be inconsistent")
            analyzer = self._build_analyzer()
        return self._to_ids(self._analyze(X, analyzer))

    def inverse_transform(self, X):
        """Return the tokens of each row of a token-id matrix.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_positions)
            Integer token ids, e.g. the output of ``transform``. Any number of
            columns is accepted.

        Returns
        -------
        tokens : list of list of str
            For each row, the tokens of its non-padding ids in order. The
            out-of-vocabulary id 1 is rendered as ``"<OOV>"``.
        """
        check_is_fitted(self, "vocabulary_")
        X = check_array(X, dtype=None)
        if not np.issubdtype(X.dtype, np.integer):
            if not np.issubdtype(X.dtype, np.floating) or not np.all(X == np.round(X)):
                raise ValueError(f"X must hold integer token ids, got dtype {X.dtype}.")
        X = X.astype(np.int64, copy=False)
        n_ids = len(self.vocabulary_) + _FIRST_TOKEN_ID
        if X.size and (X.min() < 0 or X.max() >= n_ids):
            raise ValueError(
                f"X holds ids outside [0, {n_ids - 1}], the ids of this vocabulary "
                f"(min {X.min()}, max {X.max()})."
            )
        id_to_token = np.empty(n_ids, dtype=object)
        id_to_token[_PAD_ID] = None
        id_to_token[_OOV_ID] = _OOV_TOKEN
        id_to_token[_FIRST_TOKEN_ID:] = self.get_feature_names_out()
        return [id_to_token[row[row != _PAD_ID]].tolist() for row in X]

    @property
    def vocab_size_(self):
        """Number of ids, ``len(vocabulary_) + 2`` (padding and out-of-vocabulary
        included): the ``vocab_size`` of a classifier reading this output, and
        the number of rows of its embedding matrix."""
        check_is_fitted(self, "vocabulary_")
        return len(self.vocabulary_) + _FIRST_TOKEN_ID

    def embedding_matrix(self, vectors, *, missing="random", random_state=None):
        """Arrange word vectors by token id: the ``embedding_init`` of a classifier.

        Row ``i`` is the vector of the token with id ``i`` (see
        ``vocabulary_``); row 0 (padding, never read: padding is masked) is
        zeros; row 1 (out-of-vocabulary) and the rows of vocabulary tokens
        that ``vectors`` lacks are filled as ``missing`` says.

        Parameters
        ----------
        vectors : mapping of str to array-like, or str or path-like
            Word vectors: a dict (or any mapping with ``in`` and ``[]``, such
            as gensim's ``KeyedVectors``) from token to a 1-D vector, or the
            path of a text file in the GloVe / word2vec text format (one
            ``token v1 v2 ...`` line per token, an optional ``count dim``
            header line; UTF-8). Only the vocabulary's lines of a file are
            kept, so a large file costs one pass and no more memory than the
            result. Tokens are looked up as this vectorizer produces them
            (lowercased by default).
        missing : {"random", "zeros"}, default="random"
            ``"random"`` draws the missing rows from a normal distribution
            with the mean and standard deviation of the vectors found (so
            they are on the scale of the others and train as such);
            ``"zeros"`` leaves them zero.
        random_state : int, RandomState instance or None, default=None
            Seeds the ``"random"`` rows.

        Returns
        -------
        matrix : ndarray of shape (vocab_size_, dim), dtype float32
            ``found_`` is set too: a boolean mask of the rows taken from
            ``vectors``.

        Examples
        --------
        >>> from skgru import SequenceVectorizer
        >>> vec = SequenceVectorizer().fit(["the cat sat", "the dog"])
        >>> vectors = {"the": [1.0, 0.0], "cat": [0.0, 1.0]}
        >>> E = vec.embedding_matrix(vectors, missing="zeros")
        >>> E.shape, vec.vocab_size_
        ((6, 2), 6)
        >>> E[vec.vocabulary_["cat"]]
        array([0., 1.], dtype=float32)
        >>> vec.found_.sum()
        np.int64(2)
        """
        check_is_fitted(self, "vocabulary_")
        if missing not in ("random", "zeros"):
            raise ValueError(f"missing must be 'random' or 'zeros', got {missing!r}.")
        if isinstance(vectors, (str, bytes)) or hasattr(vectors, "__fspath__"):
            vectors = _read_vectors_file(vectors, self.vocabulary_)
        rows, found, dim = {}, np.zeros(self.vocab_size_, dtype=bool), None
        for token, i in self.vocabulary_.items():
            if token not in vectors:
                continue
            v = np.asarray(vectors[token], dtype=np.float64)
            if v.ndim != 1 or (dim is not None and v.shape[0] != dim):
                raise ValueError(
                    f"The vector of {token!r} has shape {v.shape}; all vectors must be 1-D "
                    f"of the same length{f' ({dim})' if dim else ''}."
                )
            if not np.isfinite(v).all():
                raise ValueError(f"The vector of {token!r} contains NaN or infinity.")
            dim = v.shape[0]
            rows[i] = v
            found[i] = True
        if dim is None:
            raise ValueError(
                "None of the vocabulary's tokens has a vector; check that the vectors' "
                "tokens are written as this vectorizer writes them (lowercase by default)."
            )
        matrix = np.zeros((self.vocab_size_, dim), dtype=np.float64)
        for i, v in rows.items():
            matrix[i] = v
        fill = ~found
        fill[_PAD_ID] = False
        if missing == "random" and fill.any():
            from sklearn.utils import check_random_state

            known = matrix[found]
            rng = check_random_state(random_state)
            matrix[fill] = rng.normal(
                known.mean(axis=0), known.std(axis=0) + 1e-12, size=(int(fill.sum()), dim)
            )
        self.found_ = found
        return matrix.astype(np.float32)

    def get_feature_names_out(self, input_features=None):
        """Return the vocabulary tokens ordered by id.

        Parameters
        ----------
        input_features : None
            Ignored; present for API consistency (the input is raw text).

        Returns
        -------
        tokens : ndarray of shape (``len(vocabulary_)``,), dtype object
            ``tokens[i]`` is the token of id ``i + 2`` (ids 0 and 1 are padding
            and out-of-vocabulary). These are not the output columns, which
            are sequence positions.
        """
        check_is_fitted(self, "vocabulary_")
        tokens = np.empty(len(self.vocabulary_), dtype=object)
        for token, i in self.vocabulary_.items():
            tokens[i - _FIRST_TOKEN_ID] = token
        return tokens

    def set_output(self, *, transform=None):
        """Accept only the default output container.

        The output columns are sequence positions, so there are no column
        names for a DataFrame to carry. This method exists so that
        ``Pipeline.set_output(transform="default")`` works with this step.

        Parameters
        ----------
        transform : {"default"} or None, default=None
            ``"default"`` (a NumPy array) or None (unchanged).

        Returns
        -------
        self : SequenceVectorizer
            The estimator, unchanged.
        """
        if transform not in (None, "default"):
            raise ValueError(
                f"SequenceVectorizer only returns NumPy arrays; set_output(transform="
                f"{transform!r}) is not supported (its columns are sequence positions)."
            )
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Mirrors CountVectorizer: a 1-D iterable of strings, not a 2-D array.
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


def _read_vectors_file(path, vocabulary):
    """The vectors of ``vocabulary``'s tokens from a GloVe / word2vec text file."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\n").rstrip().split(" ")
            if n == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec's "count dim" header
            if len(parts) < 2 or parts[0] not in vocabulary:
                continue
            try:
                out[parts[0]] = np.array(parts[1:], dtype=np.float64)
            except ValueError:
                raise ValueError(
                    f"Line {n + 1} of {path!s} is not 'token v1 v2 ...' with numbers."
                ) from None
    return out
