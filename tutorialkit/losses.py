"""The losses of fine-tuning, written from scratch and checked against PyTorch.

Every loss in this module is a cross-entropy in disguise: the negative log of the
probability that the model gives to the right answer, averaged over the positions that
count.

* :func:`logsumexp`, :func:`log_softmax`, :func:`softmax`: the numerically stable
  building blocks;
* :func:`binary_cross_entropy` (on probabilities, the textbook form) and
  :func:`binary_cross_entropy_with_logits` (the stable form used in practice);
* :func:`nll_loss` and :func:`cross_entropy` for ``K`` classes, with ignored positions;
* :func:`causal_lm_loss` (next-token prediction), :func:`perplexity`, and
  :func:`mask_tokens`, which builds the inputs and targets of BERT's
  masked-language-model loss;
* :func:`cross_entropy_grad` and :func:`binary_cross_entropy_grad`: the gradients
  derived by hand, and :class:`HandCrossEntropy` / :class:`HandBinaryCrossEntropy`,
  autograd functions whose backward pass *is* that hand-derived gradient, so that
  ``torch.autograd.gradcheck`` can test the derivation.

Conventions. Logits keep the class dimension **last**, ``(..., K)``, as a model returns
them, and targets are integer class indices of shape ``(...)``.
(``torch.nn.functional.cross_entropy`` wants the class dimension *second*, ``(N, K, d1,
...)``: flatten to ``(N, K)`` before calling it.) A position whose target is
``ignore_index`` (``-100``, as in PyTorch and transformers) adds nothing to the loss and
does not count in the mean.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------------------
# Stable building blocks
# --------------------------------------------------------------------------------------


def logsumexp(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log(sum(exp(z)))`` along ``dim``, computed without overflow: ``m +
    log(sum(exp(z - m)))``.

    ``m`` is the largest entry, so every ``exp`` argument is <= 0 and the largest term
    is exactly 1. ``m`` is detached: the two ``m`` terms cancel, so it carries no
    gradient of its own. Shapes: ``z`` (..., K) -> (...).

    Example (``log(2 e^1000) = 1000 + log 2``, where ``exp(1000)`` alone overflows):

    >>> logsumexp(torch.tensor([1000.0, 1000.0]))
    tensor(1000.6932)
    >>> torch.tensor(1000.0).exp()
    tensor(inf)
    """
    m = z.detach().amax(dim=dim, keepdim=True)
    # a row of -inf gives -inf, not nan
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return (m + torch.log(torch.exp(z - m).sum(dim=dim, keepdim=True))).squeeze(dim)


def log_softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log softmax(z) = z - logsumexp(z)`` along ``dim``: log-probabilities, same
    shape as ``z``.

    Example:

    >>> log_softmax(torch.zeros(4)).exp()
    tensor([0.2500, 0.2500, 0.2500, 0.2500])
    """
    return z - logsumexp(z, dim=dim).unsqueeze(dim)


def softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``exp(z_k) / sum_j exp(z_j)`` along ``dim``, via :func:`log_softmax`:
    probabilities, same shape as ``z``.

    Example:

    >>> softmax(torch.tensor([0.0, math.log(3.0)]))
    tensor([0.2500, 0.7500])
    """
    return torch.exp(log_softmax(z, dim=dim))


# --------------------------------------------------------------------------------------
# Argument checks (shared by the losses below)
# --------------------------------------------------------------------------------------


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_class_targets(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int, what: str = "logits"
) -> None:
    """Raise a clear error unless target holds one class index (or ignore_index) per row
    of logits."""
    if logits.dim() < 1:
        raise ValueError(f"{what} must have a class dimension (last), got a scalar")
    if (
        target.dtype.is_floating_point
        or target.dtype == torch.bool
        or target.is_complex()
    ):
        raise TypeError(
            "target must hold integer class indices (torch.long), found dtype "
            f"{target.dtype}; "
            "for probabilities or 0/1 floats use binary_cross_entropy_with_logits"
        )
    if tuple(target.shape) != tuple(logits.shape[:-1]):
        raise ValueError(
            f"{what} of shape {tuple(logits.shape)} (class dimension last, "
            f"K={logits.shape[-1]}) need a target of "
            f"shape {tuple(logits.shape[:-1])}, one class index per row; found target "
            f"of shape {tuple(target.shape)}"
        )
    K = logits.shape[-1]
    bad = (target != ignore_index) & ((target < 0) | (target >= K))
    if bad.any():
        where = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"target holds {int(target[where])} at position {where}; expected a class "
            "index in "
            f"[0, {K - 1}] or ignore_index={ignore_index}"
        )


def _reduce(
    losses: torch.Tensor, counted: torch.Tensor, reduction: str
) -> torch.Tensor:
    """Mean over the counted positions (0/0 = nan if none counts, as in PyTorch), sum,
    or none."""
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / counted.sum()


# --------------------------------------------------------------------------------------
# Two classes
# --------------------------------------------------------------------------------------


def _check_binary(name: str, x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)} but y has shape {tuple(y.shape)}; "
            "expected the same shape"
        )
    if not y.dtype.is_floating_point:
        raise TypeError(
            "y must be a float tensor of 0/1 (or soft) labels, found dtype "
            f"{y.dtype}; use y.float()"
        )
    if ((y < 0) | (y > 1)).any():
        raise ValueError(
            f"y must lie in [0, 1], found values from {y.min().item()} to "
            f"{y.max().item()}"
        )


def binary_cross_entropy(
    p: torch.Tensor, y: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    """``-[y log p + (1 - y) log(1 - p)]`` on probabilities ``p`` (the textbook
    form).

    ``p`` and ``y`` have the same shape; ``y`` holds 0/1 (or soft) labels. Fragile:
    ``p`` that rounded to exactly 0 or 1 gives ``inf`` (PyTorch's version clamps the log
    at -100); prefer :func:`binary_cross_entropy_with_logits`.

    Example (``-log 0.8``):

    >>> binary_cross_entropy(torch.tensor([0.8]), torch.tensor([1.0]))
    tensor(0.2231)
    """
    _check_reduction(reduction)
    _check_binary("p", p, y)
    if ((p < 0) | (p > 1)).any():
        raise ValueError(
            f"p must be probabilities in [0, 1], found values from {p.min().item()} "
            f"to {p.max().item()}; "
            "for raw scores use binary_cross_entropy_with_logits"
        )
    losses = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
    return _reduce(losses, torch.ones_like(losses), reduction)


def binary_cross_entropy_with_logits(
    z: torch.Tensor, y: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    """Binary cross-entropy of labels ``y`` given logits ``z`` (``p = sigmoid(z)``), in
    the stable form.

    ``-[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] = softplus(z) - y z``, and
    ``softplus(z) = log(1 + e^z) = max(z, 0) + log(1 + e^(-|z|))`` never exponentiates a
    positive number. ``z`` and ``y`` have the same shape.

    Example (``p = sigmoid(0) = 0.5``, so the loss is ``log 2``):

    >>> binary_cross_entropy_with_logits(torch.tensor([0.0]), torch.tensor([1.0]))
    tensor(0.6931)
    """
    _check_reduction(reduction)
    _check_binary("z", z, y)
    losses = torch.clamp(z, min=0) + torch.log1p(torch.exp(-z.abs())) - y * z
    return _reduce(losses, torch.ones_like(losses), reduction)


def binary_cross_entropy_grad(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The hand-derived gradient of the *mean* binary cross-entropy: ``(sigmoid(z) - y)
    / N``.

    Same shape as ``z``; ``N = z.numel()``.

    Example:

    >>> binary_cross_entropy_grad(torch.tensor([0.0]), torch.tensor([1.0]))
    tensor([-0.5000])
    """
    _check_binary("z", z, y)
    return (torch.sigmoid(z) - y) / z.numel()


# --------------------------------------------------------------------------------------
# K classes, with ignored positions
# --------------------------------------------------------------------------------------


def nll_loss(
    log_probs: torch.Tensor,
    target: torch.Tensor,
    *,
    ignore_index: int = IGNORE_INDEX,
    reduction: str = "mean",
) -> torch.Tensor:
    """Negative log-likelihood: ``-log p(target)``, averaged over the positions that are
    not ignored.

    ``log_probs`` (..., K) are log-probabilities (e.g. from :func:`log_softmax`);
    ``target`` (...) holds class indices or ``ignore_index``. ``reduction="none"``
    returns the per-position losses, 0 where ignored.

    Example (``-log 0.75``):

    >>> nll_loss(torch.log(torch.tensor([[0.25, 0.75]])), torch.tensor([1]))
    tensor(0.2877)
    """
    _check_reduction(reduction)
    _check_class_targets(log_probs, target, ignore_index, what="log_probs")
    counted = target != ignore_index
    # log p_y
    picked = log_probs.gather(-1, target.where(counted, 0).unsqueeze(-1)).squeeze(-1)
    losses = torch.where(counted, -picked, torch.zeros_like(picked))
    return _reduce(losses, counted, reduction)


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    ignore_index: int = IGNORE_INDEX,
    reduction: str = "mean",
) -> torch.Tensor:
    """Softmax cross-entropy: ``logsumexp(z) - z_y`` per position, averaged over the
    positions that count.

    ``logits`` (..., K), class dimension last; ``target`` (...) holds class indices, or
    ``ignore_index`` (-100) where a position must not count: padding, word pieces after
    the first of a word, tokens that were not masked. It is :func:`nll_loss` of
    :func:`log_softmax`.

    Example (equal logits over 4 classes give ``log 4``; the second row is ignored):

    >>> cross_entropy(torch.zeros(2, 4), torch.tensor([3, -100]))
    tensor(1.3863)
    """
    # errors name the logits, not their log-softmax
    _check_class_targets(logits, target, ignore_index)
    return nll_loss(
        log_softmax(logits), target, ignore_index=ignore_index, reduction=reduction
    )


def cross_entropy_grad(
    logits: torch.Tensor, target: torch.Tensor, *, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """The hand-derived gradient of the mean :func:`cross_entropy`: ``(softmax(z) -
    onehot(y)) / n``.

    ``n`` is the number of positions that count; the rows of ignored positions are 0.
    Same shape as ``logits``.

    Example:

    >>> cross_entropy_grad(torch.zeros(1, 2), torch.tensor([0]))
    tensor([[-0.5000,  0.5000]])
    """
    _check_class_targets(logits, target, ignore_index)
    counted = target != ignore_index
    p = softmax(logits)
    y = F.one_hot(target.where(counted, 0), num_classes=logits.shape[-1]).to(p.dtype)
    return (p - y) * counted.unsqueeze(-1) / counted.sum()


class HandCrossEntropy(torch.autograd.Function):
    """:func:`cross_entropy` (mean) whose backward pass is the hand-derived
    :func:`cross_entropy_grad`.

    Autograd never differentiates the forward pass: it calls :meth:`backward`. So
    ``torch.autograd.gradcheck(HandCrossEntropy.apply, (logits, target))`` (in float64)
    compares the derivation ``p - y`` with finite differences of the loss.

    Example:

    >>> logits = torch.zeros(1, 2, requires_grad=True)
    >>> HandCrossEntropy.apply(logits, torch.tensor([0])).backward()
    >>> logits.grad
    tensor([[-0.5000,  0.5000]])
    """

    @staticmethod
    def forward(
        ctx,
        logits: torch.Tensor,
        target: torch.Tensor,
        ignore_index: int = IGNORE_INDEX,
    ) -> torch.Tensor:
        """Compute the mean cross-entropy and keep what the backward pass needs."""
        ctx.save_for_backward(logits, target)
        ctx.ignore_index = ignore_index
        return cross_entropy(logits, target, ignore_index=ignore_index)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        """Chain rule: upstream gradient times (p - y) / n; targets and ignore_index get
        no gradient."""
        logits, target = ctx.saved_tensors
        return (
            grad_output
            * cross_entropy_grad(logits, target, ignore_index=ctx.ignore_index),
            None,
            None,
        )


class HandBinaryCrossEntropy(torch.autograd.Function):
    """:func:`binary_cross_entropy_with_logits` (mean) whose backward pass is
    :func:`binary_cross_entropy_grad`.

    Usage: ``torch.autograd.gradcheck(HandBinaryCrossEntropy.apply, (z, y))`` with
    float64 ``z`` checks the derivation.

    Example:

    >>> z = torch.zeros(2, requires_grad=True)
    >>> HandBinaryCrossEntropy.apply(z, torch.tensor([1.0, 0.0])).backward()
    >>> z.grad
    tensor([-0.2500,  0.2500])
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Compute the mean binary cross-entropy and keep what the backward pass
        needs."""
        ctx.save_for_backward(z, y)
        return binary_cross_entropy_with_logits(z, y)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        """Chain rule: upstream gradient times (sigmoid(z) - y) / N; the labels get no
        gradient."""
        z, y = ctx.saved_tensors
        return grad_output * binary_cross_entropy_grad(z, y), None


# --------------------------------------------------------------------------------------
# Language-model losses
# --------------------------------------------------------------------------------------


def causal_lm_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    ignore_index: int = IGNORE_INDEX,
    reduction: str = "mean",
) -> torch.Tensor:
    """Next-token cross-entropy: the logits at position ``t`` are scored against the
    token at ``t + 1``.

    ``logits`` (batch, T, V) and ``labels`` (batch, T) are aligned as transformers
    aligns them: ``labels`` is the input ids themselves, with ``ignore_index`` at
    padding. The shift is done here: the last logit (nothing to predict) and the first
    label (nothing predicts it) are dropped. Usage: ``causal_lm_loss(model(ids),
    ids.masked_fill(mask == 0, -100))``.

    Example (equal logits over 10 tokens give ``log 10``):

    >>> causal_lm_loss(torch.zeros(1, 4, 10), torch.tensor([[2, 5, 6, -100]]))
    tensor(2.3026)
    """
    if logits.dim() != 3 or labels.dim() != 2:
        raise ValueError(
            f"expected logits (batch, T, V) and labels (batch, T), "
            f"found {tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    return cross_entropy(
        logits[:, :-1], labels[:, 1:], ignore_index=ignore_index, reduction=reduction
    )


def perplexity(mean_nll: float | torch.Tensor) -> float:
    """``exp`` of a mean negative log-likelihood in nats per token: the model's
    "effective branching factor".

    A model that spreads its probability evenly over ``V`` tokens has perplexity ``V``.

    Example:

    >>> round(perplexity(math.log(50)), 6)
    50.0
    """
    value = float(mean_nll)
    if math.isnan(value) or value < 0:
        raise ValueError(
            f"perplexity needs a mean negative log-likelihood >= 0, got {value}"
        )
    return math.exp(value)


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    mask_token_id: int,
    vocab_size: int,
    special_tokens_mask: torch.Tensor | None = None,
    mlm_probability: float = 0.15,
    generator: torch.Generator | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: choose ``mlm_probability`` of the positions to predict; corrupt
    them 80/10/10.

    Of the chosen positions, 80% become ``[MASK]``, 10% a random token and 10% stay as
    they were (so the model cannot learn that only ``[MASK]`` positions matter).
    Positions where ``special_tokens_mask`` (same shape, 1 = [CLS], [SEP], padding) is
    set are never chosen. Returns ``(inputs, labels)``: the corrupted ids, and the
    original ids at the chosen positions with ``ignore_index`` everywhere else. The
    masked-LM loss is then :func:`cross_entropy` of the model's logits on ``inputs``
    against ``labels``.

    Example (the positions that are not predicted keep their ids):

    >>> ids, g = torch.arange(5, 105).view(2, 50), torch.Generator().manual_seed(0)
    >>> inputs, labels = mask_tokens(ids, mask_token_id=4, vocab_size=200, generator=g)
    >>> torch.equal(inputs[labels == -100], ids[labels == -100])
    True
    """
    if not 0 < mlm_probability < 1:
        raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}")
    if input_ids.dtype.is_floating_point:
        raise TypeError(
            f"input_ids must be integer token ids, found dtype {input_ids.dtype}"
        )
    if special_tokens_mask is not None and special_tokens_mask.shape != input_ids.shape:
        raise ValueError(
            f"special_tokens_mask has shape {tuple(special_tokens_mask.shape)}, "
            f"expected the shape of input_ids {tuple(input_ids.shape)}"
        )

    def coin(p: float) -> torch.Tensor:  # independent Bernoulli(p) per position
        return (
            torch.rand(input_ids.shape, generator=generator, device=input_ids.device)
            < p
        )

    chosen = coin(mlm_probability)
    if special_tokens_mask is not None:
        chosen &= ~special_tokens_mask.bool()
    labels = input_ids.masked_fill(~chosen, ignore_index)
    to_mask = chosen & coin(0.8)
    to_random = chosen & ~to_mask & coin(0.5)  # half of the remaining 20%
    random_ids = torch.randint(
        vocab_size, input_ids.shape, generator=generator, device=input_ids.device
    )
    inputs = input_ids.masked_fill(to_mask, mask_token_id)
    inputs = torch.where(to_random, random_ids, inputs)
    return inputs, labels
