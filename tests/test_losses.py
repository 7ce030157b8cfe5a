"""tutorialkit.losses: equal to PyTorch's, gradients pass gradcheck, clear errors."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd.gradcheck import GradcheckError

from tutorialkit.losses import (
    HandBinaryCrossEntropy,
    HandCrossEntropy,
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    causal_lm_loss,
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    logsumexp,
    mask_tokens,
    nll_loss,
    perplexity,
    softmax,
)


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)


def test_logsumexp_log_softmax_softmax_match_torch(generator):
    z = 5 * torch.randn(4, 6, 9, generator=generator)
    for dim in (-1, 0, 1):
        assert torch.allclose(logsumexp(z, dim), torch.logsumexp(z, dim), atol=1e-6)
        assert torch.allclose(log_softmax(z, dim), torch.log_softmax(z, dim), atol=1e-6)
        assert torch.allclose(softmax(z, dim), torch.softmax(z, dim), atol=1e-6)


def test_logsumexp_is_stable_where_the_naive_form_is_not():
    z = torch.tensor([[1000.0, 1000.0], [-1000.0, -1000.0], [-math.inf, -math.inf]])
    naive = torch.log(torch.exp(z).sum(-1))
    assert torch.isinf(naive[:2]).all()  # overflow to +inf, underflow to -inf
    ours = logsumexp(z)
    assert torch.allclose(
        ours[:2], torch.tensor([1000 + math.log(2), -1000 + math.log(2)])
    )
    assert ours[2] == -math.inf  # not nan
    assert torch.isfinite(
        cross_entropy(torch.tensor([[1000.0, -1000.0]]), torch.tensor([1]))
    )


def test_logsumexp_gradient_is_softmax_even_with_ties():
    z = torch.tensor([3.0, 3.0, 1.0], requires_grad=True)
    logsumexp(z).backward()
    assert torch.allclose(z.grad, torch.softmax(z.detach(), -1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_nll_match_torch_with_ignored_positions(generator, reduction):
    logits = 3 * torch.randn(4, 7, 5, generator=generator)
    target = torch.randint(5, (4, 7), generator=generator)
    target[0, 4:] = -100
    target[2, :] = -100
    # torch: classes second
    expected = F.cross_entropy(logits.transpose(1, 2), target, reduction=reduction)
    assert torch.allclose(
        cross_entropy(logits, target, reduction=reduction), expected, atol=1e-6
    )
    log_p = torch.log_softmax(logits, -1)
    expected = F.nll_loss(log_p.reshape(-1, 5), target.reshape(-1), reduction=reduction)
    assert torch.allclose(
        nll_loss(log_p, target, reduction=reduction).reshape(expected.shape),
        expected,
        atol=1e-6,
    )


def test_ignored_positions_do_not_count():
    logits = torch.tensor([[2.0, 0.0], [0.0, 5.0], [9.0, -9.0]])
    full = cross_entropy(logits[:2], torch.tensor([0, 1]))
    # value of row 3 irrelevant
    assert torch.allclose(cross_entropy(logits, torch.tensor([0, 1, -100])), full)
    assert torch.allclose(
        cross_entropy(logits, torch.tensor([0, 1, 7]), ignore_index=7), full
    )
    # 0/0, as in torch
    assert torch.isnan(cross_entropy(logits, torch.full((3,), -100)))
    assert torch.isnan(F.cross_entropy(logits, torch.full((3,), -100)))


def test_cross_entropy_grad_matches_autograd_and_passes_gradcheck(generator):
    logits = torch.randn(
        3, 4, 6, dtype=torch.float64, generator=generator, requires_grad=True
    )
    target = torch.randint(6, (3, 4), generator=generator)
    target[1, 2:] = -100
    F.cross_entropy(logits.reshape(-1, 6), target.reshape(-1)).backward()
    assert torch.allclose(
        cross_entropy_grad(logits.detach(), target), logits.grad, atol=1e-12
    )
    assert torch.autograd.gradcheck(HandCrossEntropy.apply, (logits, target))
    assert torch.autograd.gradcheck(
        HandCrossEntropy.apply, (logits, torch.where(target == -100, 0, target), 0)
    )


def test_a_wrong_hand_gradient_fails_gradcheck(generator):
    """gradcheck can fail: forgetting the 1/n of the mean is caught."""

    class Forgot(HandCrossEntropy):
        @staticmethod
        def backward(ctx, grad_output):
            logits, target = ctx.saved_tensors
            return (
                grad_output * cross_entropy_grad(logits, target) * target.numel(),
                None,
                None,
            )

    logits = torch.randn(
        5, 3, dtype=torch.float64, generator=generator, requires_grad=True
    )
    target = torch.randint(3, (5,), generator=generator)
    with pytest.raises(GradcheckError):
        torch.autograd.gradcheck(Forgot.apply, (logits, target))


def test_binary_cross_entropy_forms_match_torch(generator):
    z = (4 * torch.randn(20, dtype=torch.float64, generator=generator)).requires_grad_()
    y = (torch.rand(20, generator=generator, dtype=torch.float64) > 0.5).double()
    p = torch.sigmoid(z.detach())
    assert torch.allclose(
        binary_cross_entropy(p, y), F.binary_cross_entropy(p, y), atol=1e-12
    )
    assert torch.allclose(
        binary_cross_entropy_with_logits(z, y),
        F.binary_cross_entropy_with_logits(z, y),
        atol=1e-12,
    )
    F.binary_cross_entropy_with_logits(z, y).backward()
    assert torch.allclose(binary_cross_entropy_grad(z.detach(), y), z.grad, atol=1e-12)
    assert torch.autograd.gradcheck(HandBinaryCrossEntropy.apply, (z, y))
    # soft labels and "none"
    y_soft = torch.rand(20, generator=generator, dtype=torch.float64)
    assert torch.allclose(
        binary_cross_entropy_with_logits(z, y_soft, reduction="none"),
        F.binary_cross_entropy_with_logits(z, y_soft, reduction="none"),
        atol=1e-12,
    )


def test_binary_cross_entropy_on_probabilities_breaks_where_logits_do_not():
    # sigmoid(40) rounds to exactly 1 in float32
    z, y = torch.tensor([40.0]), torch.tensor([0.0])
    assert torch.isinf(binary_cross_entropy(torch.sigmoid(z), y))
    assert torch.allclose(binary_cross_entropy_with_logits(z, y), torch.tensor(40.0))


def test_causal_lm_loss_matches_transformers(generator):
    from transformers.loss.loss_utils import ForCausalLMLoss

    logits = torch.randn(2, 6, 11, generator=generator)
    ids = torch.randint(11, (2, 6), generator=generator)
    labels = ids.clone()
    labels[1, 4:] = -100  # padding
    assert torch.allclose(
        causal_lm_loss(logits, labels),
        ForCausalLMLoss(logits, labels, vocab_size=11),
        atol=1e-6,
    )
    # the shift by hand: position t predicts token t + 1
    assert torch.allclose(
        causal_lm_loss(logits, labels), cross_entropy(logits[:, :-1], labels[:, 1:])
    )


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    V = 37
    uniform = torch.zeros(3, 8, V)
    ids = torch.randint(V, (3, 8))
    assert perplexity(causal_lm_loss(uniform, ids)) == pytest.approx(V)
    with pytest.raises(ValueError, match=">= 0"):
        perplexity(-1.0)
    with pytest.raises(ValueError, match=">= 0"):
        perplexity(float("nan"))


def test_mask_tokens_follows_the_80_10_10_rule(generator):
    ids = torch.randint(1000, 30000, (400, 128), generator=generator)
    special = torch.zeros_like(ids)
    special[:, 0] = special[:, -1] = 1
    inputs, labels = mask_tokens(
        ids,
        mask_token_id=103,
        vocab_size=30522,
        special_tokens_mask=special,
        generator=generator,
    )
    chosen = labels != -100
    assert not chosen[:, 0].any() and not chosen[:, -1].any()
    assert torch.equal(labels[chosen], ids[chosen])
    # unchosen positions are untouched
    assert torch.equal(inputs[~chosen], ids[~chosen])
    share = chosen.float().mean().item() / (126 / 128)
    masked = (inputs[chosen] == 103).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    assert share == pytest.approx(0.15, abs=0.005)
    assert masked == pytest.approx(0.8, abs=0.01)
    # a random replacement equal to the original is rare
    assert kept == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize(
    "ids, options, error, message",
    [
        pytest.param(
            torch.ones(2, 3, dtype=torch.long),
            {"mlm_probability": 1.5},
            ValueError,
            r"mlm_probability must be in \(0, 1\)",
            id="probability-1.5",
        ),
        pytest.param(
            torch.ones(2, 3), {}, TypeError, "integer token ids", id="float-ids"
        ),
        pytest.param(
            torch.ones(2, 3, dtype=torch.long),
            {"special_tokens_mask": torch.ones(3, 2)},
            ValueError,
            "special_tokens_mask has shape",
            id="special-tokens-mask-shape",
        ),
    ],
)
def test_mask_tokens_rejects_bad_arguments(ids, options, error, message):
    with pytest.raises(error, match=message):
        mask_tokens(ids, mask_token_id=0, vocab_size=5, **options)


@pytest.mark.parametrize(
    "call, error, message",
    [
        pytest.param(
            lambda: cross_entropy(torch.zeros(2, 3), torch.tensor([0, 3])),
            ValueError,
            r"target holds 3 at position \(1,\); expected a class index in \[0, 2\]",
            id="class-too-large",
        ),
        pytest.param(
            lambda: cross_entropy(torch.zeros(2, 3), torch.tensor([-1, 0])),
            ValueError,
            r"target holds -1 at position \(0,\)",
            id="negative-class",
        ),
        pytest.param(
            lambda: cross_entropy(torch.zeros(2, 3), torch.tensor([0.0, 1.0])),
            TypeError,
            "integer class indices",
            id="float-target",
        ),
        pytest.param(
            lambda: cross_entropy(torch.zeros(2, 3, 4), torch.tensor([0, 1])),
            ValueError,
            (
                r"logits of shape \(2, 3, 4\).*need a target of shape \(2, 3\).*found "
                r"target of shape \(2,\)"
            ),
            id="target-shape",
        ),
        pytest.param(
            lambda: cross_entropy(
                torch.zeros(2, 3), torch.tensor([0, 1]), reduction="average"
            ),
            ValueError,
            "reduction must be one of",
            id="reduction",
        ),
        pytest.param(
            lambda: causal_lm_loss(torch.zeros(4, 5), torch.zeros(4, dtype=torch.long)),
            ValueError,
            r"expected logits \(batch, T, V\)",
            id="causal-lm-logits-shape",
        ),
    ],
)
def test_clear_errors_for_bad_targets(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    "loss, p_or_logits, y, error, message",
    [
        pytest.param(
            binary_cross_entropy_with_logits,
            torch.zeros(3),
            torch.zeros(2),
            ValueError,
            "same shape",
            id="shapes",
        ),
        pytest.param(
            binary_cross_entropy_with_logits,
            torch.zeros(2),
            torch.tensor([0, 1]),
            TypeError,
            "float tensor",
            id="integer-y",
        ),
        pytest.param(
            binary_cross_entropy_with_logits,
            torch.zeros(2),
            torch.tensor([0.0, 2.0]),
            ValueError,
            r"y must lie in \[0, 1\]",
            id="y-above-1",
        ),
        pytest.param(
            binary_cross_entropy,
            torch.tensor([1.5]),
            torch.tensor([1.0]),
            ValueError,
            "p must be probabilities",
            id="p-above-1",
        ),
    ],
)
def test_clear_errors_for_bad_binary_inputs(loss, p_or_logits, y, error, message):
    with pytest.raises(error, match=message):
        loss(p_or_logits, y)
