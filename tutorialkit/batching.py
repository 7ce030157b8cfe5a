"""Batches of examples of similar length, so that padding costs little."""

from __future__ import annotations

import math
from collections.abc import Sequence


class LengthGroupedBatches:
    """Batches of indices of examples of similar length, in a new random order every
    epoch.

    A DataLoader pads each batch to its longest example, so random batches of short
    texts with a few long ones are mostly padding. Each epoch this shuffles the indices,
    cuts them into groups of ``group`` batches, sorts each group by length, cuts it into
    batches and shuffles the batches: every index appears once per epoch, and a batch
    holds texts of similar length. The shuffles use torch's global generator, so
    ``seed_everything`` (which ``train`` calls) fixes the order. (transformers'
    ``Trainer`` groups alike with ``train_sampling_strategy="group_by_length"``.)
    Usage: ``DataLoader(data, batch_sampler=LengthGroupedBatches(lengths, 16),
    collate_fn=collate)``.

    Example (one group of three batches: each batch holds two neighbouring lengths):

    >>> lengths = [5, 1, 4, 2, 3, 6]
    >>> batches = list(LengthGroupedBatches(lengths, batch_size=2, group=3))
    >>> sorted(sorted(lengths[i] for i in batch) for batch in batches)
    [[1, 2], [3, 4], [5, 6]]
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, group: int = 8) -> None:
        if batch_size < 1 or group < 1:
            raise ValueError(
                f"batch_size and group must be >= 1, found {batch_size} and {group}"
            )
        if not lengths:
            raise ValueError("expected the lengths of at least one example, found none")
        self.lengths, self.batch_size, self.group = list(lengths), batch_size, group

    def __len__(self) -> int:
        """Batches per epoch (the last batch of each group may be smaller)."""
        span = self.batch_size * self.group
        full, rest = divmod(len(self.lengths), span)
        return full * self.group + math.ceil(rest / self.batch_size)

    def __iter__(self):
        import torch

        order = torch.randperm(len(self.lengths)).tolist()
        span = self.batch_size * self.group
        batches = []
        for start in range(0, len(order), span):
            group = sorted(order[start : start + span], key=lambda i: self.lengths[i])
            batches += [
                group[i : i + self.batch_size]
                for i in range(0, len(group), self.batch_size)
            ]
        for b in torch.randperm(len(batches)).tolist():
            yield batches[b]
