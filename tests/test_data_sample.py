"""tutorialkit.data.sample_and_split: the shared, seeded sample-then-split of the
sentiment chapters."""

import random
from collections import Counter

import pytest

from tutorialkit.data import LabeledText, sample_and_split, split_dataset

ROWS = [LabeledText(f"text {i}", ("neg", "neu", "pos")[i % 5 % 3]) for i in range(500)]


def by_label(row):
    return row.label


def test_sample_and_split_is_the_sample_then_the_stratified_split():
    parts = sample_and_split(ROWS, 200, (0.6, 0.1, 0.3), seed=3, stratify=by_label)
    expected = split_dataset(
        random.Random(3).sample(ROWS, 200), (0.6, 0.1, 0.3), seed=3, stratify=by_label
    )
    assert parts == expected
    # within one row per class
    assert [len(p) for p in parts] == pytest.approx([120, 20, 60], abs=3)
    drawn = [r.text for p in parts for r in p]
    assert len(set(drawn)) == 200  # every sampled row in exactly one part
    train, _, test = parts
    share = lambda part: Counter(r.label for r in part)["pos"] / len(part)  # noqa: E731
    assert share(train) == pytest.approx(share(test), abs=0.02)  # stratified


def test_sample_and_split_depends_on_the_seed_and_takes_everything_with_none():
    assert (
        sample_and_split(ROWS, 100, seed=0)[2] != sample_and_split(ROWS, 100, seed=1)[2]
    )
    assert sum(len(p) for p in sample_and_split(ROWS, None, seed=0)) == len(ROWS)


@pytest.mark.parametrize("n", [0, 501])
def test_sample_and_split_rejects_impossible_sizes(n):
    with pytest.raises(ValueError, match="n must be between 1 and the 500 items"):
        sample_and_split(ROWS, n)


def test_length_grouped_batches_cover_every_index_once_with_little_padding():
    import torch

    from tutorialkit.batching import LengthGroupedBatches

    lengths = [(i * 37) % 61 + 1 for i in range(203)]
    sampler = LengthGroupedBatches(lengths, batch_size=8, group=4)
    torch.manual_seed(0)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(203))
    assert all(1 <= len(b) <= 8 for b in batches)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    torch.manual_seed(0)
    shuffled = torch.randperm(203).tolist()
    random_padded = sum(
        max(lengths[i] for i in shuffled[s : s + 8]) * len(shuffled[s : s + 8])
        for s in range(0, 203, 8)
    )
    assert padded < 0.8 * random_padded
    torch.manual_seed(0)
    assert list(sampler) == batches  # the global seed fixes the order ...
    assert list(sampler) != batches  # ... and each epoch draws a new one
    with pytest.raises(ValueError, match="batch_size and group must be >= 1"):
        LengthGroupedBatches(lengths, 0)
