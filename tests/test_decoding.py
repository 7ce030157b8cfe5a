"""tutorialkit.ner: Viterbi decoding of IOB2 NER tags, checked by brute force."""

import itertools

import pytest
import torch

from tutorialkit.conll import is_valid_iob2
from tutorialkit.ner import decode_tags, iob2_transitions, viterbi_decode

ID2LABEL = dict(enumerate(["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]))


def brute_force(
    log_probs: torch.Tensor, allowed: torch.Tensor, start: torch.Tensor
) -> list[int]:
    """The best valid sequence found by trying every sequence of tags."""
    n_words, n_tags = log_probs.shape
    valid = (
        seq
        for seq in itertools.product(range(n_tags), repeat=n_words)
        if start[seq[0]] and all(allowed[a, b] for a, b in zip(seq, seq[1:]))
    )
    return list(
        max(
            valid,
            key=lambda seq: sum(log_probs[t, tag].item() for t, tag in enumerate(seq)),
        )
    )


def test_transitions_follow_iob2():
    allowed, start = iob2_transitions(ID2LABEL)
    # I-LOC after B/I-LOC only
    assert allowed[1, 2] and allowed[2, 2] and not allowed[0, 2] and not allowed[3, 2]
    assert allowed[:, [0, 1, 3]].all()  # O and B- may follow anything
    assert start.tolist() == [True, True, False, True, False]


@pytest.mark.parametrize("seed", range(20))
def test_viterbi_finds_the_best_valid_sequence(seed):
    generator = torch.Generator().manual_seed(seed)
    log_probs = torch.randn(4, len(ID2LABEL), generator=generator).log_softmax(-1)
    allowed, start = iob2_transitions(ID2LABEL)
    assert viterbi_decode(log_probs, allowed, start) == brute_force(
        log_probs, allowed, start
    )


def test_without_constraints_viterbi_is_the_argmax():
    log_probs = torch.randn(
        6, 5, generator=torch.Generator().manual_seed(0)
    ).log_softmax(-1)
    everything = torch.ones(5, 5, dtype=torch.bool)
    assert (
        viterbi_decode(log_probs, everything, torch.ones(5, dtype=torch.bool))
        == log_probs.argmax(-1).tolist()
    )


def test_constrained_decoding_repairs_an_invalid_argmax():
    # O then I-LOC is the per-word arg-max, which IOB2 forbids; the best valid sequence
    # is B-LOC I-LOC
    probabilities = torch.tensor(
        [[0.50, 0.45, 0.0, 0.05, 0.0], [0.1, 0.0, 0.8, 0.0, 0.1]]
    )
    assert decode_tags([probabilities], ID2LABEL) == [["O", "I-LOC"]]
    assert decode_tags([probabilities], ID2LABEL, constrained=True) == [
        ["B-LOC", "I-LOC"]
    ]


def test_constrained_output_is_always_valid_iob2():
    generator = torch.Generator().manual_seed(1)
    rows = [torch.rand(n, 5, generator=generator).softmax(-1) for n in (1, 3, 9)]
    assert all(
        is_valid_iob2(tags) for tags in decode_tags(rows, ID2LABEL, constrained=True)
    )
