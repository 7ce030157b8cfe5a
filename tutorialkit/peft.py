"""Parameter-efficient fine-tuning: freezing helpers and LoRA written from scratch.

LoRA (Hu et al., 2022) keeps a pre-trained linear layer ``y = W0 x + b`` frozen and
learns a low-rank correction: ``y = W0 x + b + (alpha / r) * B A x`` with ``A`` of shape
``(r, d_in)``, ``B`` of shape ``(d_out, r)`` and ``r`` much smaller than ``d_in`` and
``d_out``. ``B`` starts at zero, so the adapted model starts as exactly the pre-trained
one. After training, ``B A`` is folded into ``W0`` and the model is a plain model again,
with no extra cost at inference.

* :class:`LoRALinear`: an ``nn.Linear`` with a LoRA branch; same initialisation and
  forward arithmetic as the ``peft`` library's ``lora.Linear`` (so the two train
  identically);
* :func:`apply_lora` / :func:`merge_lora`: put LoRA layers into a model, and fold them
  back out;
* :func:`lora_weights` / :func:`load_lora_weights`: read the ``(A, B)`` pairs of our
  model or of a ``peft`` model, and copy them into ours;
* :func:`freeze_except`, :func:`unfreeze_top_layers`: the classic alternatives (linear
  probe, top layers only); :func:`count_parameters`, :func:`training_state_bytes`: what
  each method costs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

# where a peft.PeftModel keeps the wrapped transformers model
PEFT_PREFIX = "base_model.model."
PEFT_ADAPTER = "default"  # the adapter name peft uses when none is given


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update: ``base(x) + (alpha/r) B
    A dropout(x)``.

    ``A`` (shape ``(r, in_features)``) starts like an ``nn.Linear`` weight
    (Kaiming-uniform with ``a = sqrt(5)``) and ``B`` (shape ``(out_features, r)``)
    starts at zero, so at initialisation the layer computes exactly what ``base``
    computes. Dropout applies to the input of the LoRA branch only. The base layer's
    weight and bias are frozen (``requires_grad=False``).

    Example:

    >>> LoRALinear(nn.Linear(384, 384), r=8, alpha=16)(torch.randn(2, 384)).shape
    torch.Size([2, 384])
    """

    def __init__(
        self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(
                f"LoRALinear wraps an nn.Linear, found {type(base).__name__}"
            )
        _check_lora_args(r, alpha, dropout)
        self.base = base.requires_grad_(False)
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        weight = base.weight
        self.lora_A = nn.Parameter(
            torch.empty(r, base.in_features, device=weight.device, dtype=weight.dtype)
        )
        self.lora_B = nn.Parameter(
            torch.zeros(base.out_features, r, device=weight.device, dtype=weight.dtype)
        )
        # as nn.Linear (and peft) initialise A
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of shape ``(..., in_features)`` -> ``(..., out_features)``."""
        return (
            self.base(x)
            + F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)
            * self.scaling
        )

    def delta_weight(self) -> torch.Tensor:
        """The update ``(alpha / r) B A`` that LoRA adds to the frozen weight, shape
        ``(out, in)``."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with weight ``W0 + (alpha/r) B A`` (and the base bias):
        same outputs, no branch."""
        base = self.base
        linear = nn.Linear(
            base.in_features,
            base.out_features,
            bias=base.bias is not None,
            device=base.weight.device,
            dtype=base.weight.dtype,
        )
        with torch.no_grad():
            linear.weight.copy_(base.weight + self.delta_weight())
            if base.bias is not None:
                linear.bias.copy_(base.bias)
        return linear.requires_grad_(False)

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scaling={self.scaling:g}"


def _check_lora_args(r: int, alpha: float, dropout: float) -> None:
    """Raise a ValueError naming every bad LoRA hyper-parameter."""
    problems = []
    if isinstance(r, bool) or not isinstance(r, int) or r <= 0:
        problems.append(f"r (the rank) must be a whole number >= 1, found {r!r}")
    if not alpha > 0:
        problems.append(f"alpha must be > 0, found {alpha!r}")
    if not 0 <= dropout < 1:
        problems.append(f"dropout must be in [0, 1), found {dropout!r}")
    if problems:
        raise ValueError("bad LoRA settings: " + "; ".join(problems))


def _matches(name: str, key: str) -> bool:
    """True when ``key`` is the module path ``name`` or its last dotted components
    (peft's rule)."""
    return name == key or name.endswith(f".{key}")


def _inside(name: str, key: str) -> bool:
    """True when ``name`` is the module ``key`` (matched as by :func:`_matches`) or is
    inside it."""
    return re.match(rf"(^|.*\.){re.escape(key)}($|\..*)", name) is not None


def _linear_names(model: nn.Module) -> list[str]:
    """The distinct last names of the Linear layers of ``model``: what target_modules
    can name."""
    return sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, m in model.named_modules()
            if isinstance(m, nn.Linear)
        }
    )


def freeze_except(model: nn.Module, patterns: Iterable[str]) -> list[str]:
    """Freeze every parameter except those inside a module named by one of ``patterns``;
    return their names.

    A pattern names a module by its path or its last components (``"classifier"``,
    ``"encoder.layer.5"``), as peft's ``modules_to_save`` does. A pattern that matches
    no parameter is an error (a typo would otherwise freeze the whole model silently).

    Example:

    >>> model = nn.ModuleDict({"body": nn.Linear(4, 4), "classifier": nn.Linear(4, 2)})
    >>> freeze_except(model, ["classifier"])
    ['classifier.weight', 'classifier.bias']
    """
    patterns = list(patterns)
    names = [name for name, _ in model.named_parameters()]
    unmatched = [p for p in patterns if not any(_inside(name, p) for name in names)]
    if unmatched:
        modules = sorted(
            {re.sub(r"\.\d+(\.|$)", r".N\1", name.rsplit(".", 1)[0]) for name in names}
        )
        raise ValueError(
            f"no parameter of {type(model).__name__} lies in a module named "
            f"{unmatched}; "
            "its modules with parameters are (N: any layer number): "
            f"{', '.join(modules)}"
        )
    trainable = []
    for name, parameter in model.named_parameters():
        keep = any(_inside(name, p) for p in patterns)
        parameter.requires_grad_(keep)
        if keep:
            trainable.append(name)
    return trainable


def transformer_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The stack of transformer blocks of ``model``: its longest ``nn.ModuleList``, and
    that list's path.

    Works for BERT (``bert.encoder.layer``), GPT-2 (``transformer.h``), Llama
    (``model.layers``).

    Example:

    >>> layers = nn.ModuleList(nn.Linear(4, 4) for _ in range(3))
    >>> transformer_layers(nn.ModuleDict({"layer": layers, "head": nn.Linear(4, 2)}))[0]
    'layer'
    """
    lists = [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, nn.ModuleList) and len(m) > 0
    ]
    if not lists:
        raise ValueError(f"{type(model).__name__} has no nn.ModuleList of layers")
    return max(lists, key=lambda item: len(item[1]))


def unfreeze_top_layers(
    model: nn.Module, k: int, train_modules: Iterable[str] = ("classifier",)
) -> list[str]:
    """Freeze everything except the top ``k`` transformer blocks and ``train_modules``;
    return the trainable names.

    ``k=0`` is a linear probe of the frozen encoder (only ``train_modules`` learn);
    ``k`` equal to the number of blocks trains every block, but not the embeddings.
    Usage, for a BERT classifier: ``unfreeze_top_layers(model, 2, ("pooler",
    "classifier"))``.

    Example:

    >>> layers = nn.ModuleList(nn.Linear(4, 4) for _ in range(3))
    >>> model = nn.ModuleDict({"layer": layers, "classifier": nn.Linear(4, 2)})
    >>> unfreeze_top_layers(model, 1)
    ['layer.2.weight', 'layer.2.bias', 'classifier.weight', 'classifier.bias']
    """
    path, layers = transformer_layers(model)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= len(layers):
        raise ValueError(
            f"k must be a whole number from 0 to {len(layers)} (the blocks in "
            f"{path}), found {k!r}"
        )
    top = [f"{path}.{i}" for i in range(len(layers) - k, len(layers))]
    return freeze_except(model, [*top, *train_modules])


def apply_lora(
    model: nn.Module,
    r: int,
    alpha: float,
    target_modules: Sequence[str] = ("query", "value"),
    dropout: float = 0.0,
    train_modules: Sequence[str] = ("classifier",),
) -> list[str]:
    """Replace, in place, every ``nn.Linear`` named by ``target_modules`` with a
    :class:`LoRALinear`.

    Everything else is frozen except the LoRA matrices and the modules named by
    ``train_modules`` (the new task head, which has no pre-trained weights to keep).
    Names match as in peft: a module matches ``"query"`` when its path is ``"query"`` or
    ends with ``".query"``. Returns the paths of the replaced layers; no match is an
    error that lists the Linear layers there are. On a BERT model, ``apply_lora(model,
    r=8, alpha=16)`` replaces ``"bert.encoder.layer.0.attention.self.query"`` and the
    other queries and values.

    Example:

    >>> model = nn.ModuleDict({"query": nn.Linear(4, 4), "value": nn.Linear(4, 4)})
    >>> apply_lora(model, r=2, alpha=4, train_modules=())
    ['query', 'value']
    """
    _check_lora_args(r, alpha, dropout)
    if isinstance(target_modules, str):
        raise TypeError(
            "target_modules must be a list of names, found the string "
            f"{target_modules!r}"
        )
    targets = [
        (name, m)
        for name, m in model.named_modules()
        if name and any(_matches(name, key) for key in target_modules)
    ]
    if not targets:
        raise ValueError(
            f"no module of {type(model).__name__} is named {list(target_modules)}; "
            f"its Linear layers are named: {_linear_names(model)}"
        )
    not_linear = [
        f"{name} ({type(m).__name__})"
        for name, m in targets
        if not isinstance(m, nn.Linear)
    ]
    if not_linear:
        raise TypeError(
            f"LoRA adapts nn.Linear layers only; target_modules={list(target_modules)} "
            f"also matches {not_linear}"
        )
    if train_modules:
        freeze_except(model, train_modules)
    else:
        model.requires_grad_(False)
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(linear, r, alpha, dropout))
    return [name for name, _ in targets]


def merge_lora(model: nn.Module) -> int:
    """Fold every :class:`LoRALinear` of ``model`` into a plain ``nn.Linear``, in place;
    return how many.

    The merged layer computes ``(W0 + (alpha/r) B A) x + b``: the same outputs as
    before, with no extra matrix products at inference.

    Example:

    >>> model = nn.ModuleDict({"query": nn.Linear(4, 4), "value": nn.Linear(4, 4)})
    >>> adapted = apply_lora(model, r=2, alpha=4, train_modules=())
    >>> merge_lora(model), type(model["query"]).__name__
    (2, 'Linear')
    """
    lora_layers = [
        (name, m) for name, m in model.named_modules() if isinstance(m, LoRALinear)
    ]
    for name, layer in lora_layers:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, layer.merged())
    return len(lora_layers)


def lora_weights(model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The ``(A, B)`` pair of every LoRA layer, by the layer's path in the transformers
    model.

    Reads our :class:`LoRALinear` layers and the ``peft`` library's LoRA layers (adapter
    ``"default"``; the ``base_model.model.`` prefix of a ``PeftModel`` is dropped), so
    that the two can be compared or copied.

    Example (``A`` is ``(r, in_features)``, ``B`` is ``(out_features, r)``):

    >>> model = nn.ModuleDict({"query": nn.Linear(4, 3)})
    >>> adapted = apply_lora(model, r=2, alpha=4, train_modules=())
    >>> [tensor.shape for tensor in lora_weights(model)["query"]]
    [torch.Size([2, 4]), torch.Size([3, 2])]
    """
    pairs = {}
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            pairs[name] = (module.lora_A, module.lora_B)
        elif (
            isinstance(getattr(module, "lora_A", None), nn.ModuleDict)
            and PEFT_ADAPTER in module.lora_A
        ):
            pairs[name.removeprefix(PEFT_PREFIX)] = (
                module.lora_A[PEFT_ADAPTER].weight,
                module.lora_B[PEFT_ADAPTER].weight,
            )
    return pairs


def load_lora_weights(
    model: nn.Module, pairs: dict[str, tuple[torch.Tensor, torch.Tensor]]
) -> None:
    """Copy ``(A, B)`` pairs (from :func:`lora_weights`) into the :class:`LoRALinear`
    layers of ``model``.

    The layers must be the same, with the same shapes: a missing or extra layer is an
    error. Usage: ``load_lora_weights(ours, lora_weights(peft_model))``.
    """
    ours = {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}
    if set(ours) != set(pairs):
        raise ValueError(
            f"LoRA layers differ: only in the model {sorted(set(ours) - set(pairs))}, "
            f"only in the weights {sorted(set(pairs) - set(ours))}"
        )
    with torch.no_grad():
        for name, (a, b) in pairs.items():
            layer = ours[name]
            if a.shape != layer.lora_A.shape or b.shape != layer.lora_B.shape:
                raise ValueError(
                    f"{name}: expected A {tuple(layer.lora_A.shape)} and B "
                    f"{tuple(layer.lora_B.shape)}, "
                    f"found {tuple(a.shape)} and {tuple(b.shape)}"
                )
            layer.lora_A.copy_(a)
            layer.lora_B.copy_(b)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) numbers of parameters of ``model``, each shared tensor counted
    once.

    Example:

    >>> count_parameters(nn.Linear(3, 2))
    (8, 8)
    """
    unique = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in unique if p.requires_grad), sum(
        p.numel() for p in unique
    )


def training_state_bytes(model: nn.Module, optimizer_slots: int = 2) -> int:
    """Bytes of what training keeps besides activations: all weights, plus a gradient
    and AdamW's moments per trainable one.

    Every parameter is stored once; each trainable parameter also has a gradient and
    ``optimizer_slots`` optimiser tensors of its size (2 for Adam and AdamW: ``m`` and
    ``v``). Activations are not counted: they depend on the batch, not on which weights
    train.

    Example (8 float32 numbers, 4 copies):

    >>> training_state_bytes(nn.Linear(3, 2))
    128
    """
    unique = {id(p): p for p in model.parameters()}.values()
    weights = sum(p.numel() * p.element_size() for p in unique)
    extra = sum(p.numel() * p.element_size() for p in unique if p.requires_grad) * (
        1 + optimizer_slots
    )
    return weights + extra
