"""tutorialkit.embeddings: mean pooling and batched encoding."""

import pytest
import torch

from tutorialkit import resources
from tutorialkit.embeddings import embed_texts, mean_pool


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.equal(mean_pool(hidden, mask), torch.tensor([[2.0, 3.0]]))


def test_mean_pool_shape_mismatch_is_explained():
    with pytest.raises(
        ValueError, match=r"hidden is \(1, 3, 2\) but attention_mask is \(1, 4\)"
    ):
        mean_pool(torch.zeros(1, 3, 2), torch.ones(1, 4))


@pytest.fixture(scope="module")
def minilm():
    source = resources.packaged_path("minilm")
    return resources.load_model(source), resources.load_tokenizer(source)


def test_encode_does_not_depend_on_batching(minilm):
    model, tokenizer = minilm
    texts = [
        "a short one",
        "a much longer sentence that forces padding in its batch",
        "ok",
        "bank",
    ]
    one_by_one = embed_texts(model, tokenizer, texts, batch_size=1, progress=False)
    together = embed_texts(model, tokenizer, texts, batch_size=4, progress=False)
    in_pairs_unsorted = embed_texts(
        model, tokenizer, texts, batch_size=2, sort_by_length=False, progress=False
    )
    assert one_by_one.shape == (4, 384)
    torch.testing.assert_close(one_by_one, together, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(one_by_one, in_pairs_unsorted, atol=1e-5, rtol=1e-4)


def test_encode_keeps_the_input_order_when_sorting(minilm):
    model, tokenizer = minilm
    texts = ["a much longer sentence than the others here", "short", "a medium one"]
    sorted_run = embed_texts(model, tokenizer, texts, batch_size=1, progress=False)
    for row, text in enumerate(texts):
        torch.testing.assert_close(
            sorted_run[row], embed_texts(model, tokenizer, [text], progress=False)[0]
        )


def test_encode_rejects_a_single_string(minilm):
    model, tokenizer = minilm
    with pytest.raises(TypeError, match="wrap it in a list"):
        embed_texts(model, tokenizer, "just one text")


def test_encode_of_nothing_is_empty(minilm):
    model, tokenizer = minilm
    assert embed_texts(model, tokenizer, [], progress=False).shape == (0, 384)
