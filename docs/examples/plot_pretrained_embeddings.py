"""
=========================================================
Pretrained word vectors: ``embedding_init`` and freezing
=========================================================

A text classifier that sees few labelled documents learns an embedding only
for the words in them. Pretrained word vectors (GloVe, word2vec, fastText)
place words met in other text near the words they behave like, so a model
can read words it never saw with a label. This example

1. writes a small vectors file in the GloVe text format (``token v1 v2
   ...``), as a user would download one;
2. fits a :class:`~skgru.SequenceVectorizer` on unlabelled documents and
   arranges the file's vectors by its token ids with
   :meth:`~skgru.SequenceVectorizer.embedding_matrix`;
3. trains :class:`~skgru.ConstrainedGRUClassifier` on 40 labelled documents
   with a random embedding, with the pretrained one frozen
   (``embedding_trainable=False``: never updated, no optimizer state), and
   with the pretrained one fine-tuned, and scores each on documents whose
   sentiment words never occur in the labelled ones.
"""

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from skgru import ConstrainedGRUClassifier, SequenceVectorizer

QUICK = os.environ.get("SKGRU_DOCS_QUICK", "") not in ("", "0")
rng = np.random.default_rng(0)
positive = [f"good{i:02d}" for i in range(30)]
negative = [f"bad{i:02d}" for i in range(30)]
filler = [f"word{i:02d}" for i in range(40)]


def make_docs(n, pos_words, neg_words):
    """Six filler words and two sentiment words of the document's class."""
    docs, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(filler, size=6))
        for w in rng.choice(pos_words if label else neg_words, size=2):
            words.insert(int(rng.integers(len(words) + 1)), w)
        docs.append(" ".join(words))
        labels.append(label)
    return docs, np.array(labels)


# Labelled documents use 8 words of each sentiment; the test documents only the others.
train_docs, y_train = make_docs(40, positive[:8], negative[:8])
test_docs, y_test = make_docs(400, positive[8:], negative[8:])
unlabelled, _ = make_docs(2000, positive, negative)
print(train_docs[0], "->", y_train[0])

# %%
# A vectors file
# --------------
# Word vectors as a pretraining run on a large corpus would leave them:
# the sentiment words of each polarity lie along one direction, fillers
# anywhere. Written in the GloVe text format, one line per word.

dim = 16
direction = rng.normal(size=dim)
direction /= np.linalg.norm(direction)
folder = Path(tempfile.mkdtemp())
path = folder / "vectors.txt"
with open(path, "w", encoding="utf-8") as f:
    for words, sign in ((positive, 1.0), (negative, -1.0), (filler, 0.0)):
        for w in words:
            v = sign * direction + 0.35 * rng.normal(size=dim)
            f.write(w + " " + " ".join(f"{x:.5f}" for x in v) + "\n")
print(path.read_text().splitlines()[0][:60], "...")

# %%
# The embedding matrix for the vectorizer's ids
# ---------------------------------------------
# The vocabulary comes from unlabelled text (it covers the test words);
# ``embedding_matrix`` reads only the vocabulary's lines of the file and
# puts each vector at its token's id (row 0, padding, stays zero; tokens
# without a vector get random rows on the vectors' scale).

vectorizer = SequenceVectorizer(max_len=10).fit(unlabelled)
E = vectorizer.embedding_matrix(path, random_state=0)
print(E.shape, "rows;", int(vectorizer.found_.sum()), "found in the file")
X_train, X_test = vectorizer.transform(train_docs), vectorizer.transform(test_docs)

# %%
# Three classifiers
# -----------------

common = dict(
    units=16,
    embedding_dim=dim,
    vocab_size=vectorizer.vocab_size_,
    learning_rate_init=0.01,
    max_iter=30 if QUICK else 150,
    random_state=0,
)
models = {
    "random embedding": ConstrainedGRUClassifier(**common),
    "pretrained, frozen": ConstrainedGRUClassifier(
        **common, embedding_init=E, embedding_trainable=False
    ),
    "pretrained, fine-tuned": ConstrainedGRUClassifier(**common, embedding_init=E),
}
scores = {}
for name, model in models.items():
    model.fit(X_train, y_train)
    scores[name] = model.score(X_test, y_test)
    print(f"{name:>24}: test accuracy {scores[name]:.3f}")
frozen = models["pretrained, frozen"]
print("frozen embedding unchanged:", np.array_equal(frozen.get_weights()[0], E))

# %%
# The random embedding knows nothing of the test words (their rows never
# received a gradient), so it stays near chance on them; with the pretrained
# vectors the classifier reads them as it reads the words it was trained on.

fig, ax = plt.subplots(figsize=(6, 3))
ax.barh(list(scores), list(scores.values()), color=["C7", "C0", "C2"])
ax.axvline(0.5, color="0.4", linestyle=":", label="chance")
ax.set_xlim(0, 1)
ax.set_xlabel("accuracy on documents with unseen sentiment words")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
