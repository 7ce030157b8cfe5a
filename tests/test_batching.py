"""tutorialkit.batching: LengthGroupedBatches (batches of examples of similar length)
and PadToBucket (batches padded to a few fixed lengths, for a compiled model)."""

import pytest
import torch
from torch.utils.data import DataLoader
from transformers import DataCollatorForTokenClassification

from tutorialkit.batching import LengthGroupedBatches, PadToBucket, padded_positions
from tutorialkit.train import TrainConfig, train


def test_length_grouped_batches_cover_every_index_once_with_little_padding():
    lengths = [(i * 37) % 61 + 1 for i in range(203)]
    sampler = LengthGroupedBatches(lengths, batch_size=8, group=4)
    torch.manual_seed(0)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(203))
    assert all(1 <= len(b) <= 8 for b in batches)
    torch.manual_seed(0)
    shuffled = torch.randperm(203).tolist()
    random_batches = [shuffled[s : s + 8] for s in range(0, 203, 8)]
    assert padded_positions(lengths, batches) < 0.8 * padded_positions(
        lengths, random_batches
    )
    torch.manual_seed(0)
    assert list(sampler) == batches  # the global seed fixes the order ...
    assert list(sampler) != batches  # ... and each epoch draws a new one
    with pytest.raises(ValueError, match="batch_size and group must be >= 1"):
        LengthGroupedBatches(lengths, 0)


def test_padded_positions_count_what_the_collator_builds(tokenizer):
    features = _tagged_features(tokenizer)
    lengths = [len(f["input_ids"]) for f in features]
    batches = [[0, 5, 11], [1, 2], [23, 7, 8, 9]]
    collate = DataCollatorForTokenClassification(tokenizer)
    built = sum(
        collate([features[i] for i in batch])["input_ids"].numel() for batch in batches
    )
    assert (
        padded_positions(lengths, batches)
        == built
        > sum(lengths[i] for b in batches for i in b)
    )


def _tagged_features(tokenizer, n: int = 24) -> list[dict]:
    """``n`` sentences of 2 to 13 word pieces, token labels (-100 on [CLS], [SEP])."""
    features = []
    for i in range(n):
        ids = tokenizer.convert_tokens_to_ids(["the", "cat", "sat"] * 4)[: 2 + i % 12]
        ids = [tokenizer.cls_token_id, *ids, tokenizer.sep_token_id]
        labels = [-100] + [j % 3 for j in range(len(ids) - 2)] + [-100]
        features.append({"input_ids": ids, "labels": labels})
    return features


def test_pad_to_bucket_gives_the_losses_of_batches_padded_to_their_longest(
    tokenizer, make_tiny_bert
):
    model = make_tiny_bert("token", num_labels=3, seed=0).eval()
    collate = DataCollatorForTokenClassification(tokenizer)
    bucketed = PadToBucket(collate, (8, 16), pad_token_id=tokenizer.pad_token_id)
    features = _tagged_features(tokenizer)
    lengths = set()
    with torch.no_grad():
        for start in range(0, len(features), 4):
            rows = features[start : start + 4]
            plain, padded = collate(rows), bucketed(rows)
            lengths.add(padded["input_ids"].shape[1])
            assert padded["input_ids"].shape[1] >= plain["input_ids"].shape[1]
            assert padded["labels"][:, plain["labels"].shape[1] :].eq(-100).all()
            torch.testing.assert_close(
                model(**padded).loss, model(**plain).loss, rtol=1e-5, atol=1e-6
            )
    assert lengths == {8, 16}  # both buckets used, and nothing else
    with pytest.raises(ValueError, match="longer than the largest bucket, 8"):
        PadToBucket(collate, (8,))(features[-4:])


def test_compiled_training_takes_the_eager_steps(tokenizer, make_tiny_bert):
    """TrainConfig(compile=True) on bucketed batches: the same losses as eager (the
    compiled kernels round differently, so not to the last bit). Without dropout: a
    compiled graph draws its random numbers from another generator than eager. One
    bucket, so one shape to compile (each takes seconds on a CPU)."""
    collate = PadToBucket(
        DataCollatorForTokenClassification(tokenizer), (16,), tokenizer.pad_token_id
    )
    loader = DataLoader(
        _tagged_features(tokenizer, 16), batch_size=4, shuffle=True, collate_fn=collate
    )
    losses = {}
    for compiled in (False, True):
        model = make_tiny_bert(
            "token",
            num_labels=3,
            seed=0,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
        config = TrainConfig(
            lr=1e-3, epochs=1, progress=False, device="cpu", compile=compiled
        )
        losses[compiled] = [r["loss"] for r in train(model, loader, config).train]
    assert len(losses[True]) == 4
    torch.testing.assert_close(losses[True], losses[False], rtol=1e-4, atol=1e-5)
