"""Batches of examples of similar length, so that padding costs little, and batches
padded to a few fixed lengths, so that a compiled model sees few shapes."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence


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


def padded_positions(lengths: Sequence[int], batches: Iterable[Sequence[int]]) -> int:
    """The positions the model computes over ``batches`` (lists of indices into
    ``lengths``) when each batch is padded to its longest example: the cost of an
    epoch, padding included, to set against ``sum(lengths)``.

    Example (two batches of two: 2 x 3 + 2 x 2 positions for 8 real ones):

    >>> padded_positions([3, 1, 2, 2], [[0, 1], [2, 3]])
    10
    """
    return sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)


# the keys of a batch that may hold one value per position
SEQUENCE_KEYS = (
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "position_ids",
    "labels",
)


class PadToBucket:
    """A collate function that pads each batch's sequences up to the smallest of a few
    fixed lengths (the buckets) instead of to its longest example.

    A compiled model (``torch.compile``, CUDA graphs) is specialised to the shapes it
    has seen and compiles again for each new one; batches padded to their longest text
    bring a new length almost every step. Padded to one of a few buckets, they bring at
    most ``len(buckets)`` lengths, at the price of some padding, which the attention
    mask hides and labels of -100 leave out of the loss: the losses are those of the
    unpadded batch (up to float rounding). ``collate`` makes the batch (e.g.
    ``DataCollatorForTokenClassification``); the tensors of ``SEQUENCE_KEYS`` laid out
    like ``input_ids`` are padded: ``input_ids`` with ``pad_token_id``, ``labels``
    (token labels; a sentence's label has no positions) with -100, the others with 0.

    >>> import torch
    >>> pad = PadToBucket(lambda rows: {"input_ids": torch.tensor(rows)}, (4, 8))
    >>> pad([[5, 6, 7], [5, 6, 0]])["input_ids"]
    tensor([[5, 6, 7, 0],
            [5, 6, 0, 0]])
    """

    def __init__(
        self, collate: Callable, buckets: Sequence[int], pad_token_id: int = 0
    ) -> None:
        if not buckets or any(b < 1 for b in buckets):
            raise ValueError(f"buckets must be lengths >= 1, found {list(buckets)}")
        self.collate, self.buckets = collate, sorted(buckets)
        self.pad_values = {"input_ids": pad_token_id, "labels": -100}

    def __call__(self, examples: list) -> dict:
        batch = self.collate(examples)
        rows, length = batch["input_ids"].shape
        bucket = next((b for b in self.buckets if b >= length), None)
        if bucket is None:
            raise ValueError(
                f"a batch of {length} positions is longer than the largest bucket, "
                f"{self.buckets[-1]}: add a bucket or truncate to max_length "
                f"{self.buckets[-1]}"
            )
        return {
            key: _pad_right(value, bucket, self.pad_values.get(key, 0))
            if key in SEQUENCE_KEYS and _is_sequence(value, rows, length)
            else value
            for key, value in batch.items()
        }


def bucket_lengths(max_length: int, smallest: int = 32) -> tuple[int, ...]:
    """Buckets that double from ``smallest`` and end at ``max_length``: a batch is
    padded by less than a factor of two.

    >>> bucket_lengths(128), bucket_lengths(100), bucket_lengths(16)
    ((32, 64, 128), (32, 64, 100), (16,))
    """
    buckets, length = [], smallest
    while length < max_length:
        buckets.append(length)
        length *= 2
    return (*buckets, max_length)


def _is_sequence(value: object, rows: int, length: int) -> bool:
    """Whether ``value`` is a tensor laid out like ``input_ids`` (rows x positions)."""
    return hasattr(value, "shape") and tuple(value.shape[:2]) == (rows, length)


def _pad_right(tensor, length: int, value: int):
    """``tensor`` padded with ``value`` along its second dimension to ``length``."""
    import torch

    padding = list(tensor.shape)
    padding[1] = length - tensor.shape[1]
    fill = torch.full(padding, value, dtype=tensor.dtype, device=tensor.device)
    return torch.cat([tensor, fill], dim=1)
