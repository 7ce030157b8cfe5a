"""Optimisation for fine-tuning, from scratch: AdamW, parameter groups, schedules,
gradient clipping.

* :class:`AdamW`: Adam with decoupled weight decay (Loshchilov and Hutter), as a
  ``torch.optim.Optimizer`` written to be read; it matches ``torch.optim.AdamW`` step
  for step;
* :func:`param_groups`: weights that decay, and biases and normalisation weights that do
  not;
* learning-rate schedules as pure functions of the step (:func:`constant_schedule`,
  :func:`linear_schedule`, :func:`cosine_schedule`), turned into a multiplier function
  by :func:`lr_lambda` and into a ``torch.optim.lr_scheduler.LambdaLR`` by
  :func:`lr_scheduler`;
* :func:`clip_grad_norm`: clip all gradients together by their global L2 norm.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
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
    total_norm = torch.sqrt(sum(g.float().pow(2).sum() for g in grads))
    scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale.to(g.device, g.dtype))
    return total_norm
