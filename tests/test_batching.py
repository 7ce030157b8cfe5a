"""tutorialkit.batching: LengthGroupedBatches, batches of examples of similar length."""

import pytest
import torch

from tutorialkit.batching import LengthGroupedBatches


def test_length_grouped_batches_cover_every_index_once_with_little_padding():
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
