"""Optimisation for fine-tuning, from scratch: AdamW, parameter groups, schedules,
gradient clipping.

* :class:`AdamW`: Adam with decoupled weight decay (Loshchilov and Hutter), as a
  ``torch.optim.Optimizer`` written to be read; it matches ``torch.optim.AdamW`` step
  for step;
* :func:`param_groups`: weights that decay, and biases and normalisation weights that do
  not; :func:`layerwise_param_groups`: the same, each layer with its own learning rate
  (layer-wise, or discriminative, rates);
* learning-rate schedules as pure functions of the step (:func:`constant_schedule`,
  :func:`linear_schedule`, :func:`cosine_schedule`), turned into a multiplier function
  by :func:`lr_lambda` and into a ``torch.optim.lr_scheduler.LambdaLR`` by
  :func:`lr_scheduler`;
* :func:`clip_grad_norm`: clip all gradients together by their global L2 norm;
* :func:`lr_range_test`: the learning-rate range test (Smith), loss against a learning
  rate that grows at every step.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

# Layers whose weights are a per-feature scale (and shift): pulling them towards 0 is
# not regularisation, it switches features off. Modules of other libraries whose class
# name ends in "Norm" (LlamaRMSNorm, T5LayerNorm, ...) are treated the same way.
NORM_LAYERS = (nn.LayerNorm, nn.RMSNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)


class AdamW(torch.optim.Optimizer):
    """AdamW, written to be read: per-parameter moments ``m`` and ``v``, bias
    correction, decoupled decay.

    For each parameter ``theta`` with gradient ``g`` at step ``t`` (starting at 1): ``m
    = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, ``m_hat = m / (1 - b1^t)``,
    ``v_hat = v / (1 - b2^t)``, then ``theta <- theta - lr * wd * theta - lr * m_hat /
    (sqrt(v_hat) + eps)``. The decay term does not go through ``m`` and ``v``: that is
    the "decoupled" of AdamW. The arithmetic is done in the same order as in
    ``torch.optim.AdamW`` (its for-loop version), so that the two agree to the last bit.
    Defaults are those of ``torch.optim.AdamW``. Each parameter group may set its own
    ``lr``, ``betas``, ``eps`` and ``weight_decay`` (see :func:`param_groups`). Usage:
    ``AdamW(param_groups(model, 0.01), lr=2e-5)``.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        if not lr >= 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas}")
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        super().__init__(
            params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        )

    @torch.no_grad()
    def step(
        self, closure: Callable[[], torch.Tensor] | None = None
    ) -> torch.Tensor | None:
        """Update every parameter that has a gradient; ``closure`` (optional) recomputes
        the loss first."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps, weight_decay = (
                group["lr"],
                group["betas"],
                group["eps"],
                group["weight_decay"],
            )
            for theta in group["params"]:
                if theta.grad is None:
                    continue
                g = theta.grad
                if g.is_sparse:
                    raise RuntimeError("AdamW does not support sparse gradients")
                state = self.state[theta]
                if not state:  # first step of this parameter
                    state["step"] = 0
                    state["m"] = torch.zeros_like(
                        theta, memory_format=torch.preserve_format
                    )
                    state["v"] = torch.zeros_like(
                        theta, memory_format=torch.preserve_format
                    )
                state["step"] += 1
                t, m, v = state["step"], state["m"], state["v"]

                # m = b1 m + (1 - b1) g: running mean of the gradient
                m.lerp_(g, 1 - beta1)
                # v = b2 v + (1 - b2) g^2: of its square
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                # m and v started at 0: m_hat = m / bias1, v_hat = v / bias2
                bias1, bias2 = 1 - beta1**t, 1 - beta2**t

                # decoupled weight decay, on theta_{t-1}
                theta.mul_(1 - lr * weight_decay)
                denom = v.sqrt() / bias2**0.5 + eps  # sqrt(v_hat) + eps
                # theta -= lr * m_hat / (sqrt(v_hat) + eps)
                theta.addcdiv_(m, denom, value=-lr / bias1)
        return loss


def _is_norm_layer(module: nn.Module) -> bool:
    return isinstance(module, NORM_LAYERS) or type(module).__name__.endswith("Norm")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Split the trainable parameters of ``model`` into a group that decays and one that
    does not.

    Biases and the weights of normalisation layers (LayerNorm, including BERT's
    embedding LayerNorm; RMSNorm; BatchNorm; GroupNorm) get ``weight_decay=0``; every
    other weight gets ``weight_decay``. Frozen parameters (``requires_grad=False``) are
    left out, and a parameter shared by two modules is listed once. Parameters are given
    as ``(name, tensor)`` pairs, so the optimizer keeps their names in
    ``param_groups[i]["param_names"]``. Empty groups are dropped. Works with any
    ``torch.optim`` optimizer. Usage: ``torch.optim.AdamW(param_groups(model, 0.01),
    lr=2e-5)``.

    Example (the Linear layer's weight decays; its bias and the LayerNorm do not):

    >>> groups = param_groups(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)), 0.01)
    >>> [[name for name, _ in group["params"]] for group in groups]
    [['0.weight'], ['0.bias', '1.weight', '1.bias']]
    """
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    decay, no_decay, seen = [], [], set()
    for module_name, module in model.named_modules():
        for name, parameter in module.named_parameters(recurse=False):
            if not parameter.requires_grad or parameter in seen:
                continue
            seen.add(parameter)
            full_name = f"{module_name}.{name}" if module_name else name
            exempt = name == "bias" or _is_norm_layer(module)
            (no_decay if exempt else decay).append((full_name, parameter))
    if not decay and not no_decay:
        raise ValueError(
            f"{type(model).__name__} has no trainable parameters (all have "
            "requires_grad=False)"
        )
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]


# The index of a block in the usual stacks: BERT's encoder.layer.3, Llama's
# model.layers.3, GPT-2's transformer.h.3, the book's GPT's blocks.3.
BLOCK_INDEX = re.compile(r"(?:^|\.)(?:layer|layers|h|blocks)\.(\d+)\.")
EMBEDDING_NAME = re.compile(r"embed|(?:^|\.)(?:wte|wpe)\.")


def layer_depth(name: str, n_layers: int) -> int:
    """How deep the parameter ``name`` sits: 0 for the embeddings, ``i + 1`` for block
    ``i``, ``n_layers + 1`` for what comes after the last block (pooler, head).

    >>> [layer_depth(n, 12) for n in ["bert.embeddings.word_embeddings.weight",
    ...     "bert.encoder.layer.3.output.dense.weight", "classifier.bias"]]
    [0, 4, 13]
    """
    block = BLOCK_INDEX.search(name)
    if block:
        return int(block.group(1)) + 1
    return 0 if EMBEDDING_NAME.search(name) else n_layers + 1


def layerwise_param_groups(
    model: nn.Module, weight_decay: float, lr: float, layer_decay: float
) -> list[dict]:
    """:func:`param_groups`, split further by depth, the learning rate shrinking by
    ``layer_decay`` per layer from the head down.

    A parameter at depth ``d`` (see :func:`layer_depth`; the head is at ``L + 1`` for a
    stack of ``L`` blocks) gets ``lr * layer_decay ** (L + 1 - d)``: the head trains at
    ``lr``, the last block at ``lr * layer_decay``, the embeddings at ``lr *
    layer_decay ** (L + 1)``. The lower layers hold the most general features and
    need the smallest change (Howard and Ruder's discriminative fine-tuning; "layer-wise
    learning-rate decay" in the BERT and ELECTRA recipes). Each group records its
    ``depth``. A schedule (:func:`lr_scheduler`) multiplies every group's rate by the
    same factor, so the ratios hold throughout. ``layer_decay=1`` gives one rate
    everywhere.

    >>> bert = nn.Module()
    >>> bert.embed = nn.Embedding(5, 2)
    >>> bert.layer = nn.ModuleList(nn.Linear(2, 2, bias=False) for _ in range(2))
    >>> bert.head = nn.Linear(2, 1, bias=False)
    >>> groups = layerwise_param_groups(bert, 0.01, lr=1.0, layer_decay=0.5)
    >>> [(g["depth"], g["lr"]) for g in groups]
    [(0, 0.125), (1, 0.25), (2, 0.5), (3, 1.0)]
    """
    if not 0 < layer_decay <= 1:
        raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay}")
    groups = param_groups(model, weight_decay)
    names = [name for group in groups for name, _ in group["params"]]
    blocks = [int(m.group(1)) for m in map(BLOCK_INDEX.search, names) if m]
    if not blocks:
        raise ValueError(
            f"no numbered blocks in the parameter names of {type(model).__name__} "
            f"(e.g. {names[0]!r}): layer-wise rates need a stack named like "
            "'encoder.layer.0', 'layers.0', 'h.0' or 'blocks.0'"
        )
    n_layers = max(blocks) + 1
    split = []
    for group in groups:
        by_depth: dict[int, list] = {}
        for name, parameter in group["params"]:
            by_depth.setdefault(layer_depth(name, n_layers), []).append(
                (name, parameter)
            )
        for depth, params in sorted(by_depth.items()):
            scale = layer_decay ** (n_layers + 1 - depth)
            split.append({**group, "params": params, "lr": lr * scale, "depth": depth})
    return sorted(split, key=lambda group: group["depth"])


# --------------------------------------------------------------------------------------
# Learning-rate schedules: pure functions step -> multiplier of the base learning rate
# --------------------------------------------------------------------------------------


def _check_steps(step: int, warmup_steps: int, total_steps: int | None) -> None:
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if total_steps is not None:
        if total_steps <= 0:
            raise ValueError(f"total_steps must be > 0, got {total_steps}")
        if warmup_steps > total_steps:
            raise ValueError(
                f"warmup_steps ({warmup_steps}) must not exceed total_steps "
                f"({total_steps})"
            )


def constant_schedule(step: int, warmup_steps: int = 0) -> float:
    """Multiplier ``step / warmup_steps`` during the warmup, then 1.

    Example:

    >>> [constant_schedule(s, warmup_steps=2) for s in range(4)]
    [0.0, 0.5, 1.0, 1.0]
    """
    _check_steps(step, warmup_steps, None)
    if step < warmup_steps:
        return step / warmup_steps
    return 1.0


def linear_schedule(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier rising linearly from 0 to 1 over ``warmup_steps``, then falling
    linearly to 0 at ``total_steps``.

    It stays 0 after ``total_steps``. Same values as transformers'
    ``get_linear_schedule_with_warmup``.

    Example:

    >>> [linear_schedule(s, 2, 6) for s in range(7)]
    [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]
    """
    _check_steps(step, warmup_steps, total_steps)
    if step < warmup_steps:
        return step / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def cosine_schedule(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier rising linearly over ``warmup_steps``, then following half a cosine
    from 1 down to 0.

    After the warmup, with ``progress`` going from 0 to 1: ``0.5 * (1 + cos(pi *
    progress))``; it stays 0 after ``total_steps``. Same values as transformers'
    ``get_cosine_schedule_with_warmup`` up to ``total_steps``.

    Example (a quarter of the way down: ``0.5 (1 + cos(pi/4))``):

    >>> round(cosine_schedule(3, 2, 6), 4)
    0.8536
    """
    _check_steps(step, warmup_steps, total_steps)
    if step < warmup_steps:
        return step / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": constant_schedule,
    "linear": linear_schedule,
    "cosine": cosine_schedule,
}


def lr_lambda(
    name: str, *, warmup_steps: int = 0, total_steps: int | None = None
) -> Callable[[int], float]:
    """The schedule ``name`` (constant, linear or cosine) as a one-argument function
    ``step -> multiplier``.

    ``total_steps`` is required by "linear" and "cosine". The arguments are checked now,
    not at the first step.

    Example:

    >>> lr_lambda("linear", warmup_steps=10, total_steps=100)(55)
    0.5
    """
    if name not in SCHEDULES:
        raise ValueError(
            f"unknown schedule {name!r}; expected one of {sorted(SCHEDULES)}"
        )
    if name == "constant":
        if total_steps is not None:
            _check_steps(0, warmup_steps, total_steps)
        function = partial(constant_schedule, warmup_steps=warmup_steps)
    else:
        if total_steps is None:
            raise ValueError(
                f"the {name!r} schedule decays to 0 at total_steps: give total_steps"
            )
        function = partial(
            SCHEDULES[name], warmup_steps=warmup_steps, total_steps=total_steps
        )
    function(0)  # raises now if an argument is out of range
    return function


def lr_scheduler(
    optimizer: torch.optim.Optimizer,
    name: str,
    *,
    warmup_steps: int = 0,
    total_steps: int | None = None,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` that multiplies every group's base learning rate by the schedule
    ``name``.

    Call ``scheduler.step()`` after each ``optimizer.step()``. Usage:
    ``lr_scheduler(opt, "cosine", warmup_steps=10, total_steps=100)``.
    """
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(name, warmup_steps=warmup_steps, total_steps=total_steps)
    )


# --------------------------------------------------------------------------------------
# Gradient clipping
# --------------------------------------------------------------------------------------


@torch.no_grad()
def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients by one factor so that their global L2 norm is at most
    ``max_norm``.

    The global norm treats every gradient as part of one long vector: ``||g|| =
    sqrt(sum_i ||g_i||^2)``. If it exceeds ``max_norm``, every gradient is multiplied by
    ``max_norm / (||g|| + 1e-6)``; the direction of the update is unchanged. Returns the
    norm *before* clipping (worth logging). A nan or inf norm makes every gradient nan,
    as in ``torch.nn.utils.clip_grad_norm_``. Usage:
    ``clip_grad_norm(model.parameters(), 1.0)``.

    Example (a gradient of norm 5 scaled down to norm 1):

    >>> w = torch.zeros(2, requires_grad=True)
    >>> w.grad = torch.tensor([3.0, 4.0])
    >>> clip_grad_norm([w], 1.0), w.grad
    (tensor(5.), tensor([0.6000, 0.8000]))
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    # sqrt(sum_i ||g_i||^2) is the norm of the vector of per-tensor norms
    norms = [torch.linalg.vector_norm(g, dtype=torch.float32) for g in grads]
    total_norm = torch.linalg.vector_norm(torch.stack(norms))
    scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale.to(g.device, g.dtype))
    return total_norm


# --------------------------------------------------------------------------------------
# The learning-rate range test
# --------------------------------------------------------------------------------------


@dataclass
class RangeTest:
    """The learning rates tried, the loss at each, and its running average."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]

    @property
    def best_lr(self) -> float:
        """The learning rate at the lowest smoothed loss."""
        return self.lrs[min(range(len(self.smoothed)), key=self.smoothed.__getitem__)]

    @property
    def suggestion(self) -> float:
        """A tenth of :attr:`best_lr`: where the loss still fell fast, short of the
        rates where it stopped falling (the usual reading of the plot)."""
        return self.best_lr / 10


def lr_range_test(
    model: nn.Module,
    batches: Iterable,
    make_optimizer: Callable[[Iterable], torch.optim.Optimizer],
    *,
    lr_min: float = 1e-7,
    lr_max: float = 1.0,
    steps: int = 100,
    beta: float = 0.9,
    stop_factor: float = 4.0,
    loss_fn: Callable[[nn.Module, object], torch.Tensor] | None = None,
) -> RangeTest:
    """Train a copy of ``model`` for up to ``steps`` steps, the learning rate growing
    geometrically from ``lr_min`` to ``lr_max``, and record the loss at each rate.

    Smith's test ("Cyclical learning rates", 2017): the loss first does not move (the
    rate is too small), then falls, then rises as the rate becomes too large. One short
    run maps out all three. ``batches`` is cycled if it has fewer than ``steps``
    batches; ``make_optimizer(parameters)`` builds the optimizer (its ``lr`` is
    overwritten at each step). The smoothed loss is a bias-corrected running average
    (weight ``beta`` on the past); the run stops once it exceeds ``stop_factor`` times
    its minimum. ``loss_fn(model, batch)`` defaults to ``model(**batch).loss``. The
    model passed in is not changed.
    """
    if not 0 < lr_min < lr_max:
        raise ValueError(f"need 0 < lr_min < lr_max, got {lr_min} and {lr_max}")
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    loss_fn = loss_fn or (lambda m, batch: m(**batch).loss)
    model = copy.deepcopy(model).train()
    optimizer = make_optimizer(p for p in model.parameters() if p.requires_grad)
    growth = (lr_max / lr_min) ** (1 / (steps - 1))
    result, average = RangeTest([], [], []), 0.0
    for step, batch in zip(range(steps), itertools.cycle(batches)):
        lr = lr_min * growth**step
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = loss_fn(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        value = loss.item()
        average = beta * average + (1 - beta) * value
        result.lrs.append(lr)
        result.losses.append(value)
        result.smoothed.append(average / (1 - beta ** (step + 1)))
        if not math.isfinite(value) or result.smoothed[-1] > stop_factor * min(
            result.smoothed
        ):
            break
    return result
