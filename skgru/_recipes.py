"""The recommended pipelines: what to fit first, and the small grid to tune it with.

Their settings were chosen by measurement on the training splits of real
data sets (``benchmarks/accuracy.py``; the figures and what else was tried
are in ``benchmarks/results/accuracy.md`` and ``benchmarks/NOTES.md``).
"""

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from ._text import SequenceVectorizer
from .estimators import ConstrainedGRUClassifier
from .preprocessing import DilatedConvolutions, SequenceScaler

__all__ = [
    "make_sequence_classifier",
    "make_text_classifier",
    "sequence_param_grid",
    "text_param_grid",
]

# Settings of the GRU behind the convolutional front-end, chosen with it by
# 3-fold cross-validation on the training splits of seven UCR/UEA sets; the
# variants that lost are in benchmarks/NOTES.md, "Accuracy on real data".
_SEQUENCE_GRU = {
    # 128 units beat 32 and 64 on mean CV accuracy: the front-end gives
    # 336-672 detector channels per step, more than 32 units can mix.
    "units": 128,
    # Dropout on those channels (one mask per series) keeps 128 units from
    # fitting training sets of 36-200 series by a few detectors each.
    "dropout": 0.2,
    # Max over time reads "was this shape seen anywhere", what the
    # front-end's detectors are built for; "last" forgets early shapes.
    "pooling": "max",
    # Small training sets need many updates per epoch: "auto" makes one batch
    # of up to 200 series, so 36 series took one step an epoch.
    "batch_size": 16,
    "learning_rate_init": 0.003,
    "max_iter": 200,
}


def make_sequence_classifier(*, random_state=None, **gru_params):
    """The recommended pipeline for time-series classification.

    ``SequenceScaler`` (each channel standardised with its training mean and
    standard deviation) ->
    ``DilatedConvolutions`` (a fixed front-end of dilated shape detectors,
    pooled to about 80 steps, each giving the proportion of its block where
    the shape is present) -> ``ConstrainedGRUClassifier`` (128 units,
    dropout 0.2 on its inputs, max-pooling over time, minibatches of 16,
    learning rate 0.003).
    Accepts every input format of the classifier: 3-D arrays, univariate 2-D
    arrays and ragged lists. Tune it with :func:`sequence_param_grid`.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Seeds the front-end and the GRU.
    **gru_params
        Parameters of the classifier that replace the recommended ones
        (e.g. ``device="cuda"``, ``n_jobs=2``).

    Returns
    -------
    Pipeline
        Steps ``"scale"``, ``"conv"`` and ``"gru"``.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skgru import make_sequence_classifier, sequence_param_grid
    >>> search = GridSearchCV(make_sequence_classifier(random_state=0), sequence_param_grid())
    >>> set(search.param_grid) <= set(search.estimator.get_params())
    True
    """
    gru = {**_SEQUENCE_GRU, **gru_params}
    return Pipeline(
        [
            # Per channel over the training set, not per series: the front-end
            # ignores offsets either way, and amplitudes that tell classes apart
            # (activity recordings) survive. On series z-normalised already the
            # two are the same; by CV on the training splits "channel" won on
            # three sets and tied on four.
            ("scale", SequenceScaler(mode="channel")),
            ("conv", DilatedConvolutions(random_state=random_state)),
            ("gru", ConstrainedGRUClassifier(random_state=random_state, **gru)),
        ]
    )


def sequence_param_grid():
    """The small grid for :func:`make_sequence_classifier` (6 candidates).

    * ``scale__mode``: ``"channel"`` (the default: amplitudes relative to the
      training set are kept, as activity recordings need, where running is
      louder than walking) or ``"sequence"`` (each series z-normalised on its
      own: shape matters, not amplitude);
    * ``gru__pooling``: ``"max"`` or ``"mean"`` over time (mean suits classes
      told apart by how often a shape occurs rather than whether it occurs),
      or the ``"last"`` state (for short series, tens of steps, that the GRU
      reads whole, where the order of the shapes up to the end carries the
      class; on long series it forgets what came early).

    Returns
    -------
    dict
        A ``param_grid`` for :class:`~sklearn.model_selection.GridSearchCV`.

    Examples
    --------
    >>> from sklearn.model_selection import ParameterGrid
    >>> from skgru import sequence_param_grid
    >>> sequence_param_grid()
    {'scale__mode': ['channel', 'sequence'], 'gru__pooling': ['max', 'mean', 'last']}
    >>> len(ParameterGrid(sequence_param_grid()))
    6
    """
    # The defaults come first, so that GridSearchCV keeps them on ties.
    return {"scale__mode": ["channel", "sequence"], "gru__pooling": ["max", "mean", "last"]}


_TEXT_VECTORIZER = {
    "max_features": 20000,
    "max_len": 300,
    # A document's subject and opening say most about its topic; keep them.
    "truncating": "post",
}
_TEXT_GRU = {
    "embedding_dim": 64,
    "units": 64,
    "bidirectional": True,
    "pooling": "max",
    # Minibatches of 32 at 0.003 reached a validation accuracy of 0.78 on 20
    # Newsgroups after one epoch, where "auto" (200) at 0.001 reached 0.38.
    "learning_rate_init": 0.003,
    "batch_size": 32,
    "early_stopping": True,
    "max_iter": 10,
    "n_iter_no_change": 2,
}


# Weight of the GRU's probabilities in the vote (the TF-IDF model has the
# rest): the best of 0.2-0.5 on a time-ordered holdout inside the 20
# Newsgroups training split (benchmarks/NOTES.md, "Text: a time-ordered
# holdout, and the vote").
_TEXT_GRU_WEIGHT = 0.3


def _text_linear(random_state):
    """TF-IDF of words and word pairs into a linear SVM with calibrated probabilities."""
    # Imported here: sklearn.calibration and sklearn.svm (with the modules
    # they load) cost every `import skgru` about 14 MB and 70 ms.
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    return Pipeline(
        [
            ("tfidf", TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2))),
            (
                "svm",
                CalibratedClassifierCV(LinearSVC(random_state=random_state), cv=3),
            ),
        ]
    )


def make_text_classifier(*, random_state=None, vectorizer_params=None, linear=True, **gru_params):
    """The recommended model for text classification.

    A GRU over the words of each document: ``SequenceVectorizer`` (the
    20,000 most frequent words, documents cut after 300 tokens, keeping
    their beginning) -> a bidirectional ``ConstrainedGRUClassifier`` over a
    learnt 64-dimensional embedding, max-pooled over time, with early
    stopping. With ``linear=True`` (the default) its class probabilities
    are averaged (weights 0.3 and 0.7) with those of a TF-IDF model of
    words and word pairs (a linear SVM, its probabilities calibrated by
    3-fold cross-validation) in a soft-voting
    :class:`~sklearn.ensemble.VotingClassifier`: on topic classification
    the bag of words carries most of the evidence and the GRU adds what
    word order tells, so the vote is more accurate than either model alone
    (see ``benchmarks/results/accuracy.md``). Tune it with
    :func:`text_param_grid`.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Seeds the GRU and the SVM.
    vectorizer_params : dict or None, default=None
        Parameters of the ``SequenceVectorizer`` that replace the recommended ones.
    linear : bool, default=True
        Vote with the TF-IDF model (a ``VotingClassifier``); ``False`` gives
        the GRU pipeline alone.
    **gru_params
        Parameters of the classifier that replace the recommended ones.

    Returns
    -------
    VotingClassifier or Pipeline
        ``linear=True``: a soft-voting ensemble of ``"sequence"`` (the GRU
        pipeline) and ``"words"`` (the TF-IDF pipeline), so the GRU's
        parameters are ``sequence__gru__<name>``. ``linear=False``: the GRU
        pipeline, steps ``"vectorize"`` and ``"gru"``.

    Examples
    --------
    >>> from skgru import make_text_classifier
    >>> model = make_text_classifier(random_state=0)
    >>> [name for name, _ in model.estimators]
    ['sequence', 'words']
    >>> params = model.get_params()
    >>> params["sequence__vectorize__max_len"], params["sequence__gru__bidirectional"]
    (300, True)
    >>> docs = ["a good film", "a bad film", "good fun", "bad taste"] * 10
    >>> labels = [1, 0, 1, 0] * 10
    >>> pipe = make_text_classifier(random_state=0, linear=False, units=8, max_iter=2,
    ...                             vectorizer_params={"max_len": 10})
    >>> pipe.fit(docs, labels).predict(["good fun", "bad film"]).shape
    (2,)
    """
    vec = {**_TEXT_VECTORIZER, **(vectorizer_params or {})}
    gru = {**_TEXT_GRU, **gru_params}
    sequence = Pipeline(
        [
            ("vectorize", SequenceVectorizer(**vec)),
            ("gru", ConstrainedGRUClassifier(random_state=random_state, **gru)),
        ]
    )
    if not linear:
        return sequence
    from sklearn.ensemble import VotingClassifier  # as in _text_linear

    return VotingClassifier(
        [("sequence", sequence), ("words", _text_linear(random_state))],
        voting="soft",
        weights=[_TEXT_GRU_WEIGHT, 1.0 - _TEXT_GRU_WEIGHT],
    )


def text_param_grid():
    """The small grid for :func:`make_text_classifier` (3 candidates).

    ``weights`` of the vote (GRU, TF-IDF): the recommended 0.3 / 0.7, an
    even vote, or the GRU alone (1 / 0), for texts where word order says
    more than which words occur.

    Returns
    -------
    dict
        A ``param_grid`` for :class:`~sklearn.model_selection.GridSearchCV`.

    Examples
    --------
    >>> from skgru import make_text_classifier, text_param_grid
    >>> text_param_grid()
    {'weights': [[0.3, 0.7], [0.5, 0.5], [1.0, 0.0]]}
    >>> set(text_param_grid()) <= set(make_text_classifier().get_params())
    True
    """
    return {"weights": [[_TEXT_GRU_WEIGHT, 1.0 - _TEXT_GRU_WEIGHT], [0.5, 0.5], [1.0, 0.0]]}
