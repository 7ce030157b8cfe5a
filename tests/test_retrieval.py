"""tutorialkit.retrieval: TF-IDF equal to scikit-learn's, cosine, ranking, top-k."""

import math

import pytest
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from tutorialkit.retrieval import (
    Tfidf,
    cosine_scores,
    profile_vector,
    rank,
    tokenize,
    top_k_accuracy,
)

DOCS = [
    "Where is my bag? My bag is lost.",
    "How do I get a refund for a cancelled flight?",
    "Can I bring my dog on the plane?",
    "Refund rules for lost bags",
]


def test_tokenize_keeps_words_of_two_or_more_characters_lower_cased():
    assert tokenize("Where's my BAG? I lost it.") == [
        "where",
        "my",
        "bag",
        "lost",
        "it",
    ]
    with pytest.raises(TypeError, match="expected a str, found list"):
        tokenize(["a list"])


def test_tfidf_equals_scikit_learn():
    ours = Tfidf.fit(DOCS)
    theirs = TfidfVectorizer().fit(DOCS)
    assert ours.vocabulary == {w: int(i) for w, i in theirs.vocabulary_.items()}
    queries = ["my lost bag", "refund for my dog", "nothing known here"]
    expected = torch.tensor(theirs.transform(queries).toarray(), dtype=torch.float32)
    torch.testing.assert_close(ours.transform(queries), expected)
    torch.testing.assert_close(ours.idf, torch.tensor(theirs.idf_, dtype=torch.float32))


def test_tfidf_idf_by_hand_and_unknown_text_is_zero():
    model = Tfidf.fit(["aa bb", "aa cc"])
    # in every document
    assert model.idf[model.vocabulary["aa"]].item() == pytest.approx(1.0)
    assert model.idf[model.vocabulary["bb"]].item() == pytest.approx(
        math.log(3 / 2) + 1
    )
    assert torch.equal(model.transform(["zz"]), torch.zeros(1, 3))


@pytest.mark.parametrize(
    "call, error, message",
    [
        pytest.param(
            lambda: Tfidf.fit("just one string"),
            ValueError,
            "non-empty list",
            id="fit-a-str",
        ),
        pytest.param(
            lambda: Tfidf.fit(["a", "b"]),
            ValueError,
            "no word of two or more",
            id="fit-no-word",
        ),
        pytest.param(
            lambda: Tfidf.fit(DOCS).transform("my bag"),
            TypeError,
            "wrap it in a list",
            id="transform-a-str",
        ),
    ],
)
def test_tfidf_refuses_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_cosine_scores_by_hand_and_shapes():
    scores = cosine_scores(
        torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.tensor([[3.0, 4.0], [2.0, 0.0]])
    )
    torch.testing.assert_close(scores, torch.tensor([[0.6, 1.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"same d, found \(1, 2\) and \(1, 3\)"):
        cosine_scores(torch.zeros(1, 2), torch.zeros(1, 3))


def test_rank_sorts_by_score_with_ties_in_index_order():
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    ranking = rank(torch.tensor([[1.0, 0.1]]), items)
    # items 0 and 3 tie: lower index first
    assert ranking.indices.tolist() == [[0, 3, 2, 1]]
    assert (ranking.scores[0, :-1] >= ranking.scores[0, 1:]).all()
    assert rank(torch.tensor([[1.0, 0.1]]), items, k=2).indices.shape == (1, 2)


def test_rank_excludes_items_per_query():
    items = torch.eye(3)
    ranking = rank(
        torch.tensor([[1.0, 0.5, 0.0], [1.0, 0.5, 0.0]]),
        items,
        k=2,
        exclude=[{0}, set()],
    )
    assert ranking.indices.tolist() == [[1, 2], [0, 1]]


@pytest.mark.parametrize(
    "n_queries, options, message",
    [
        pytest.param(
            1,
            {"k": 2, "exclude": [{0, 1}]},
            "excludes 2 of the 3 items",
            id="fewer-than-k-left",
        ),
        pytest.param(1, {"exclude": [{5}]}, "outside 0..2", id="exclude-no-item"),
        pytest.param(
            2, {"exclude": [{0}]}, "one collection per query", id="exclude-per-query"
        ),
        pytest.param(
            1, {"k": 4}, "k must be between 1 and the 3 items", id="k-above-items"
        ),
    ],
)
def test_rank_refuses_bad_k_and_exclusions(n_queries, options, message):
    with pytest.raises(ValueError, match=message):
        rank(torch.ones(n_queries, 3), torch.eye(3), **options)


def test_top_k_accuracy_counts_labels_of_the_first_k_items():
    ranked = torch.tensor([[1, 0, 2], [2, 1, 0]])
    labels = ["bags", "refund", "bags"]  # two items share a label
    assert top_k_accuracy(ranked, labels, ["refund", "refund"], k=1) == 0.5
    assert top_k_accuracy(ranked, labels, ["refund", "refund"], k=2) == 1.0
    assert top_k_accuracy(ranked, labels, ["bags", "bags"], k=2) == 1.0
    with pytest.raises(ValueError, match="k must be between 1 and the 3"):
        top_k_accuracy(ranked, labels, ["bags", "refund"], k=4)
    with pytest.raises(ValueError, match=r"expected ranked of shape \(3, k\)"):
        top_k_accuracy(ranked, labels, ["bags", "refund", "bags"])


def test_profile_vector_is_a_weighted_mean_of_unit_vectors():
    history = torch.tensor([[2.0, 0.0], [0.0, 5.0]])
    torch.testing.assert_close(profile_vector(history), torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(
        profile_vector(history, [1.0, -1.0]), torch.tensor([0.5, -0.5])
    )
    # a disliked text pushes its items down the ranking
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert rank(profile_vector(history, [1.0, -0.5])[None], items).indices.tolist() == [
        [0, 1]
    ]
    with pytest.raises(ValueError, match="every weight is 0"):
        profile_vector(history, [0.0, 0.0])
    with pytest.raises(ValueError, match="one weight per history vector"):
        profile_vector(history, [1.0])
