"""Retrieval and ranking: find the items (FAQ answers, catalogue entries) closest to a
query.

Texts become vectors, either sparse bag-of-words vectors weighted by TF-IDF
(:class:`Tfidf`, the baseline) or dense vectors from an encoder
(:func:`tutorialkit.embeddings.embed_texts`). Every use then goes through the same two
steps: :func:`cosine_scores` compares queries with items, and :func:`rank` sorts the
items of each query by score. The FAQ of a customer-service bot and a recommender are
both this one function; they differ in what the query vector is (a question, or
:func:`profile_vector` of a user's history). :func:`top_k_accuracy` scores a ranking
against the right answers.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

# scikit-learn's default token pattern: runs of two or more letters, digits or
# underscores.
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")


def tokenize(text: str) -> list[str]:
    """The lower-cased words of ``text`` that :class:`Tfidf` counts
    (:data:`TOKEN_PATTERN`).

    Words of one character ("a", "I") are dropped, as scikit-learn's ``TfidfVectorizer``
    does.

    Example:

    >>> tokenize("Where's my bag?")
    ['where', 'my', 'bag']
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a str, found {type(text).__name__}")
    return TOKEN_PATTERN.findall(text.lower())


@dataclass(frozen=True)
class Tfidf:
    """TF-IDF vectors: word counts weighted by how rare each word is in the indexed
    documents.

    For a vocabulary fitted on ``N`` documents, where word ``t`` occurs in ``df(t)`` of
    them, ``idf(t) = ln((1 + N) / (1 + df(t))) + 1`` and a text ``d`` becomes the vector
    ``count(t, d) * idf(t)`` over the vocabulary, divided by its Euclidean length. Words
    outside the vocabulary are ignored. These are the defaults of scikit-learn's
    ``TfidfVectorizer``.

    Example (a vocabulary of 8 words; "lost" is not one of them):

    >>> tfidf = Tfidf.fit(["where is my bag", "how do I get a refund"])
    >>> tfidf.transform(["lost my bag"]).shape
    torch.Size([1, 8])
    """

    vocabulary: dict[str, int]  # word -> column
    idf: torch.Tensor  # (V,)

    @classmethod
    def fit(cls, documents: Sequence[str]) -> Tfidf:
        """Learn the vocabulary (sorted) and the idf of each word from ``documents``."""
        if isinstance(documents, str) or not documents:
            raise ValueError(
                "Tfidf.fit expects a non-empty list of texts (a single str is not a "
                "list)"
            )
        df = Counter(word for text in documents for word in set(tokenize(text)))
        if not df:
            raise ValueError(
                f"the {len(documents)} documents contain no word of two or more "
                "characters"
            )
        words = sorted(df)
        n = len(documents)
        idf = torch.tensor(
            [math.log((1 + n) / (1 + df[w])) + 1 for w in words], dtype=torch.float32
        )
        return cls({w: i for i, w in enumerate(words)}, idf)

    def transform(self, texts: Sequence[str]) -> torch.Tensor:
        """The unit-length TF-IDF vectors of ``texts``: a dense (len(texts), V) tensor.

        A text with no known word gets the zero vector (it matches nothing).
        """
        if isinstance(texts, str):
            raise TypeError(
                "transform expects a list of texts, found a single str; wrap it in a "
                "list"
            )
        vectors = torch.zeros(len(texts), len(self.vocabulary))
        for row, text in enumerate(texts):
            for word, count in Counter(tokenize(text)).items():
                column = self.vocabulary.get(word)
                if column is not None:
                    vectors[row, column] = count * self.idf[column]
        return vectors / vectors.norm(dim=1, keepdim=True).clamp(min=1e-12)


def cosine_scores(queries: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every query with every item: (q, d) and (n, d) in, (q, n)
    out.

    ``cos(u, v) = u . v / (|u| |v|)``: 1 for vectors pointing the same way, 0 for
    orthogonal ones; a zero vector scores 0 against everything.

    Example (``cos(pi/4) = 0.7071``):

    >>> cosine_scores(torch.eye(2), torch.tensor([[1.0, 1.0]]))
    tensor([[0.7071],
            [0.7071]])
    """
    if queries.ndim != 2 or items.ndim != 2 or queries.shape[1] != items.shape[1]:
        raise ValueError(
            "expected queries (q, d) and items (n, d) of the same d, found "
            f"{tuple(queries.shape)} "
            f"and {tuple(items.shape)}"
        )
    q = queries.float() / queries.float().norm(dim=1, keepdim=True).clamp(min=1e-12)
    v = items.float() / items.float().norm(dim=1, keepdim=True).clamp(min=1e-12)
    return q @ v.T


class Ranking(NamedTuple):
    """The result of :func:`rank`: item indices, best first, and their scores, both (q,
    k)."""

    indices: torch.Tensor
    scores: torch.Tensor


def rank(
    queries: torch.Tensor,
    items: torch.Tensor,
    k: int | None = None,
    *,
    exclude: Sequence[Collection[int]] | None = None,
) -> Ranking:
    """The ``k`` items most similar to each query, best first: one function for search
    and recommendation.

    ``queries`` is (q, d) and ``items`` (n, d); similarity is :func:`cosine_scores`.
    ``k=None`` ranks every item. ``exclude[i]`` holds item indices that query ``i`` must
    not get back (a user's history in a recommender); they are ranked last with score
    ``-inf``, so ``k`` must leave them out. Ties keep the lower item index first.
    Usage: ``rank(question_vectors, faq_vectors, k=3).indices[0]``, the 3 best FAQ
    entries of the first question.

    Example:

    >>> items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> rank(torch.tensor([[1.0, 0.2]]), items, k=2).indices
    tensor([[0, 2]])
    """
    scores = cosine_scores(queries, items)
    n = items.shape[0]
    k = n if k is None else k
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the {n} items, found {k}")
    if exclude is not None:
        if len(exclude) != len(queries):
            raise ValueError(
                f"exclude needs one collection per query ({len(queries)}), found "
                f"{len(exclude)}"
            )
        for row, banned in enumerate(exclude):
            bad = [i for i in banned if not 0 <= i < n]
            if bad:
                raise ValueError(f"exclude[{row}] names items {bad} outside 0..{n - 1}")
            if k > n - len(set(banned)):
                raise ValueError(
                    f"k={k} but query {row} excludes {len(set(banned))} of the {n} "
                    "items"
                )
            scores[row, list(banned)] = -math.inf
    order = torch.sort(scores, dim=1, descending=True, stable=True)
    return Ranking(order.indices[:, :k], order.values[:, :k])


def top_k_accuracy(
    ranked: torch.Tensor, item_labels: Sequence, gold: Sequence, k: int = 1
) -> float:
    """Share of queries whose right answer is among the labels of their first ``k``
    ranked items.

    ``ranked`` is (q, >=k) item indices (``rank(...).indices``), ``item_labels[j]`` the
    answer that item ``j`` stands for (several items may share one), ``gold[i]`` the
    right answer of query ``i``.

    Example (the right item is ranked second):

    >>> top_k_accuracy(torch.tensor([[1, 0]]), ["refund", "bags"], ["refund"])
    0.0
    >>> top_k_accuracy(torch.tensor([[1, 0]]), ["refund", "bags"], ["refund"], k=2)
    1.0
    """
    if ranked.ndim != 2 or ranked.shape[0] != len(gold):
        raise ValueError(
            f"expected ranked of shape ({len(gold)}, k) for {len(gold)} queries, "
            f"found {tuple(ranked.shape)}"
        )
    if not 1 <= k <= ranked.shape[1]:
        raise ValueError(
            f"k must be between 1 and the {ranked.shape[1]} ranked items, found {k}"
        )
    if not gold:
        raise ValueError("expected at least one query, found none")
    hits = sum(
        answer in {item_labels[int(j)] for j in row[:k]}
        for row, answer in zip(ranked, gold)
    )
    return hits / len(gold)


def profile_vector(
    vectors: torch.Tensor, weights: Sequence[float] | torch.Tensor | None = None
) -> torch.Tensor:
    """A user's taste as one vector: the weighted mean of the unit vectors of their
    history, (h, d) -> (d,).

    ``weights`` (one per history text; default all 1) say how much each text counts and
    in which direction: a positive weight pulls the profile towards the text, a negative
    one (a text the user disliked) pushes it away. Each vector is normalised first, so a
    long text does not outweigh a short one. Usage: ``profile_vector(embed_texts(model,
    tok, history), [1.0, 1.0, -0.5])``.

    Example (one text liked, one disliked):

    >>> profile_vector(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), [1.0, -1.0])
    tensor([ 0.5000, -0.5000])
    """
    if vectors.ndim != 2 or len(vectors) == 0:
        raise ValueError(
            "expected history vectors of shape (h, d) with h >= 1, found "
            f"{tuple(vectors.shape)}"
        )
    w = (
        torch.ones(len(vectors))
        if weights is None
        else torch.as_tensor(weights, dtype=torch.float32)
    )
    if w.shape != (len(vectors),):
        raise ValueError(
            f"expected one weight per history vector ({len(vectors)}), found shape "
            f"{tuple(w.shape)}"
        )
    if w.abs().sum() == 0:
        raise ValueError("every weight is 0: the history says nothing about the user")
    unit = vectors.float() / vectors.float().norm(dim=1, keepdim=True).clamp(min=1e-12)
    return (w[:, None] * unit).sum(dim=0) / w.abs().sum()
