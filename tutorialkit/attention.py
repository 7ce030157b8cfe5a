"""Attention and the Transformer encoder block, from scratch in plain PyTorch.

Everything here follows *Attention Is All You Need* (Vaswani et al., 2017) and uses its
names: queries, keys and values ``q, k, v``, the key size ``d_k``, the number of heads
``h``, the projections ``w_q, w_k, w_v, w_o``. Shapes are written ``(batch, h, n,
d_k)``: ``n`` tokens, each a ``d_k``-vector, in each of ``h`` heads. Chapter 2 derives
every function and checks it against
``torch.nn.functional.scaled_dot_product_attention`` and against the layers of a real
pretrained BERT from ``transformers``:

- :func:`scaled_dot_product_attention`, with an optional padding mask and causal mask;
- :func:`causal_mask`, :func:`split_heads`, :func:`merge_heads`;
- :class:`MultiHeadAttention` (self-attention, or cross-attention when given a
  ``memory``);
- :func:`sinusoidal_positions`, the fixed positional encoding of the original
  Transformer;
- :class:`FeedForward` and :class:`EncoderBlock` (post-LayerNorm, as in BERT), and
  :func:`from_bert_layer`, which loads the weights of a Hugging Face ``BertLayer`` into
  one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# BERT uses the exact (erf) GELU; the 2017 paper ReLU
ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu}


def _shape(shape) -> str:
    """Write a shape as "(2, 5, 8)"; None stands for any size and is written "*"."""
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"


def _expect(name: str, tensor: torch.Tensor, expected: tuple, why: str) -> None:
    """Raise a ValueError naming the expected and the found shape of ``tensor`` when
    they differ."""
    found = tuple(tensor.shape)
    if len(found) != len(expected) or any(
        e is not None and e != f for e, f in zip(expected, found)
    ):
        raise ValueError(
            f"{name}: expected shape {_shape(expected)} ({why}), found {_shape(found)}"
        )


def causal_mask(
    n_q: int, n_k: int | None = None, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Boolean ``(n_q, n_k)`` mask that is True where query ``i`` may look at key ``j``.

    This is the mask of masked (causal) self-attention in a decoder: a position sees
    itself and the positions before it, never the ones after. The ``n_q`` queries are
    the *last* ``n_q`` of the ``n_k`` positions (the triangle is aligned bottom-right),
    so query ``i`` sits at position ``i + n_k - n_q`` and sees the keys ``j <= i + n_k -
    n_q``. With ``n_q == n_k`` (the default) that is ``j <= i``; with fewer queries than
    keys it is what a KV cache needs: the new tokens follow the cached ones and see all
    of them. (PyTorch's ``is_causal=True`` aligns the triangle top-left instead, which
    differs only when ``n_q != n_k``.)

    Example:

    >>> causal_mask(3).int()
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]], dtype=torch.int32)
    >>> causal_mask(2, 4).int()
    tensor([[1, 1, 1, 0],
            [1, 1, 1, 1]], dtype=torch.int32)
    """
    n_k = n_q if n_k is None else n_k
    if n_q > n_k:
        raise ValueError(
            f"causal_mask: expected at most as many queries as keys, found n_q={n_q} "
            f"> n_k={n_k}"
        )
    return torch.ones(n_q, n_k, dtype=torch.bool, device=device).tril(
        diagonal=n_k - n_q
    )


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    padding_mask: torch.Tensor | None = None,
    causal: bool = False,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q k^T / sqrt(d_k)) v``: each query's output is an average of the
    values.

    Shapes: ``q`` is ``(..., n_q, d_k)``, ``k`` is ``(..., n_k, d_k)``, ``v`` is ``(...,
    n_k, d_v)`` with the same leading dimensions ``...`` (e.g. ``(batch, h)``).
    Self-attention passes the same sequence for all three; cross-attention takes ``q``
    from one sequence and ``k, v`` from another. ``padding_mask`` is ``(batch, n_k)``,
    1/True for real tokens and 0/False for padding (the ``attention_mask`` of a Hugging
    Face tokenizer): no query looks at a padding key. ``causal=True`` hides the keys
    after each query's own position (:func:`causal_mask`: key ``j`` from query ``i``
    when ``j > i`` in self-attention). ``mask``, booleans broadcastable to ``(..., n_q,
    n_k)``, hides any other pattern (True: the query may see the key; e.g. one example
    per block of a packed row); the three combine. A hidden score is set to the lowest
    finite number of the dtype, so its weight is exactly 0; a query that can see no key
    at all gets equal weights on every key instead of NaNs (its output is meaningless
    and is ignored downstream, as in ``transformers``). Returns ``(output (..., n_q,
    d_v), weights (..., n_q, n_k))``.

    Example:

    >>> x = torch.randn(2, 5, 8)
    >>> output, weights = scaled_dot_product_attention(x, x, x)
    >>> output.shape, weights.sum(-1).allclose(torch.ones(2, 5))
    (torch.Size([2, 5, 8]), True)
    """
    if q.dim() < 2 or k.dim() != q.dim() or v.dim() != q.dim():
        raise ValueError(
            f"q, k, v: expected tensors of equal rank >= 2, shaped (..., n, d), found "
            f"{_shape(q.shape)}, {_shape(k.shape)}, {_shape(v.shape)}"
        )
    *lead, n_q, d_k = q.shape
    n_k = k.shape[-2]
    _expect(
        "k",
        k,
        (*lead, None, d_k),
        f"the leading dimensions and d_k of q {_shape(q.shape)}",
    )
    _expect(
        "v",
        v,
        (*lead, n_k, None),
        f"one value for each of the n_k={n_k} keys of k {_shape(k.shape)}",
    )
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(
            f"q, k, v: expected one dtype, found {q.dtype}, {k.dtype}, {v.dtype}"
        )

    # (..., n_q, n_k): how well each key fits each query
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    # (..., n_q, n_k) booleans, broadcast: which keys each query may look at
    visible = None
    if padding_mask is not None:
        if q.dim() < 3:
            raise ValueError(
                f"padding_mask needs a batch dimension in q, found q {_shape(q.shape)}"
            )
        _expect(
            "padding_mask",
            padding_mask,
            (lead[0], n_k),
            "(batch, n_k): 1 for a real token, 0 for padding",
        )
        visible = padding_mask.bool().reshape(lead[0], *[1] * (q.dim() - 2), n_k)
    if causal:
        future_hidden = causal_mask(n_q, n_k, device=q.device)
        visible = future_hidden if visible is None else visible & future_hidden
    if mask is not None:
        visible = mask if visible is None else visible & mask
    if visible is not None:
        scores = scores.masked_fill(~visible, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)  # each row sums to 1
    return weights @ v, weights


def split_heads(x: torch.Tensor, h: int) -> torch.Tensor:
    """Cut the last dimension into ``h`` heads: ``(batch, n, h * d_k)`` -> ``(batch, h,
    n, d_k)``.

    Head ``i`` gets features ``i * d_k`` to ``(i + 1) * d_k - 1``, the same slices that
    the head weights ``W_i^Q, W_i^K, W_i^V`` of the paper produce when stacked into one
    matrix.

    Example:

    >>> split_heads(torch.zeros(2, 5, 384), 12).shape
    torch.Size([2, 12, 5, 32])
    """
    if x.dim() != 3 or x.shape[-1] % h:
        raise ValueError(
            f"split_heads: expected (batch, n, d) with d divisible by h={h}, found "
            f"{_shape(x.shape)}"
        )
    batch, n, d = x.shape
    return x.view(batch, n, h, d // h).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Concatenate the heads again: ``(batch, h, n, d_k)`` -> ``(batch, n, h * d_k)``.

    The inverse of :func:`split_heads`: ``merge_heads(split_heads(x, h))`` equals ``x``.

    Example:

    >>> merge_heads(torch.zeros(2, 12, 5, 32)).shape
    torch.Size([2, 5, 384])
    """
    if x.dim() != 4:
        raise ValueError(
            f"merge_heads: expected (batch, h, n, d_k), found {_shape(x.shape)}"
        )
    batch, h, n, d_k = x.shape
    return x.transpose(1, 2).reshape(batch, n, h * d_k)


class MultiHeadAttention(nn.Module):
    """``h`` attention heads side by side: project, split, attend, concatenate, project.

    ``MultiHead(X, M) = Concat(head_1, ..., head_h) W^O`` with ``head_i = Attention(X
    W_i^Q, M W_i^K, M W_i^V)``. For self-attention the memory ``M`` is ``X`` itself; for
    encoder-decoder cross-attention ``X`` is the decoder's sequence and ``M`` the
    encoder's output. The ``h`` matrices ``W_i^Q`` (``d_model x d_k`` each) are stored
    side by side as one ``d_model x d_model`` linear layer ``w_q``, likewise ``w_k,
    w_v``; ``d_k = d_model / h``.

    Example:

    >>> MultiHeadAttention(384, 12)(torch.randn(2, 5, 384))[0].shape
    torch.Size([2, 5, 384])
    """

    def __init__(self, d_model: int, h: int, *, bias: bool = True):
        super().__init__()
        if d_model % h:
            raise ValueError(
                f"d_model={d_model} must be divisible by the number of heads h={h}"
            )
        self.d_model, self.h, self.d_k = d_model, h, d_model // h
        self.w_q = nn.Linear(d_model, d_model, bias=bias)
        self.w_k = nn.Linear(d_model, d_model, bias=bias)
        self.w_v = nn.Linear(d_model, d_model, bias=bias)
        self.w_o = nn.Linear(d_model, d_model, bias=bias)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        *,
        padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from ``x`` (batch, n_q, d_model) to ``memory`` (batch, n_k, d_model;
        default ``x``).

        ``padding_mask`` (batch, n_k) marks the real tokens of ``memory``; ``causal``
        and ``mask`` are those of :func:`scaled_dot_product_attention`. Returns the
        output (batch, n_q, d_model) and the weights of every head (batch, h, n_q, n_k).
        """
        memory = x if memory is None else memory
        _expect(
            "x", x, (None, None, self.d_model), f"(batch, n_q, d_model={self.d_model})"
        )
        _expect(
            "memory",
            memory,
            (x.shape[0], None, self.d_model),
            f"(batch={x.shape[0]}, n_k, d_model={self.d_model})",
        )
        q = split_heads(self.w_q(x), self.h)  # (batch, h, n_q, d_k)
        k = split_heads(self.w_k(memory), self.h)  # (batch, h, n_k, d_k)
        v = split_heads(self.w_v(memory), self.h)  # (batch, h, n_k, d_k)
        heads, weights = scaled_dot_product_attention(
            q, k, v, padding_mask=padding_mask, causal=causal, mask=mask
        )
        return self.w_o(merge_heads(heads)), weights


def sinusoidal_positions(
    n: int,
    d: int,
    *,
    base: float = 10000.0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The fixed positional encoding of the original Transformer, an ``(n, d)`` tensor.

    ``PE[pos, 2i] = sin(pos * w_i)`` and ``PE[pos, 2i+1] = cos(pos * w_i)`` with
    frequencies ``w_i = base^(-2i/d)``, from one turn per 2*pi positions (``i = 0``)
    down to one per ``2*pi*base`` positions. Computed in float64, then cast to
    ``dtype``. ``d`` must be even.

    Example (position 0 is ``sin 0 = 0`` and ``cos 0 = 1`` at every frequency):

    >>> sinusoidal_positions(1, 4)
    tensor([[0., 1., 0., 1.]])
    """
    if d % 2 or d <= 0 or n < 0:
        raise ValueError(
            "sinusoidal_positions: expected n >= 0 and an even d > 0 (sin/cos "
            f"pairs), found n={n}, d={d}"
        )
    # (n, 1)
    position = torch.arange(n, dtype=torch.float64, device=device).unsqueeze(1)
    # (d/2,): w_i
    frequency = base ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
    angle = position * frequency  # (n, d/2)
    # interleave: sin, cos, sin, cos...
    pe = torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(n, d)
    return pe.to(dtype)


class FeedForward(nn.Module):
    """The position-wise feed-forward network: ``FFN(x) = act(x W_1 + b_1) W_2 + b_2``.

    Applied to every position separately (the same weights for all), ``d_model -> d_ff
    -> d_model``, usually ``d_ff = 4 d_model``. ``activation`` is ``"gelu"`` (BERT, GPT)
    or ``"relu"`` (2017 paper): without it the two layers would collapse into one linear
    map.

    Example:

    >>> FeedForward(384, 1536)(torch.randn(2, 5, 384)).shape
    torch.Size([2, 5, 384])
    """

    def __init__(self, d_model: int, d_ff: int, *, activation: str = "gelu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; expected one of "
                f"{sorted(ACTIVATIONS)}"
            )
        self.activation = activation
        self.w_1 = nn.Linear(d_model, d_ff)
        self.w_2 = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (..., d_model) to (..., d_model), position by position."""
        return self.w_2(ACTIVATIONS[self.activation](self.w_1(x)))


class EncoderBlock(nn.Module):
    """One Transformer encoder layer, post-LayerNorm as in the 2017 paper and BERT.

    ``x = LayerNorm(x + MultiHead(x))`` then ``x = LayerNorm(x + FFN(x))``, with dropout
    on each sub-layer's output before the residual addition (active in training mode
    only). With ``causal=True`` in :meth:`forward` it is the block of a decoder-only
    model such as GPT (which, from GPT-2 on, moves the LayerNorm before each sub-layer).
    BERT also drops out attention weights during training; this block does not.

    Example:

    >>> EncoderBlock(384, 12, 1536)(torch.randn(2, 5, 384))[0].shape
    torch.Size([2, 5, 384])
    """

    def __init__(
        self,
        d_model: int,
        h: int,
        d_ff: int,
        *,
        dropout: float = 0.0,
        activation: str = "gelu",
        eps: float = 1e-5,
    ):
        super().__init__()
        self.attention = MultiHeadAttention(d_model, h)
        self.norm_1 = nn.LayerNorm(d_model, eps=eps)
        self.ffn = FeedForward(d_model, d_ff, activation=activation)
        self.norm_2 = nn.LayerNorm(d_model, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        *,
        padding_mask: torch.Tensor | None = None,
        causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Map ``x`` (batch, n, d_model) to (batch, n, d_model); also return the
        attention weights."""
        attended, weights = self.attention(x, padding_mask=padding_mask, causal=causal)
        # residual connection, then LayerNorm
        x = self.norm_1(x + self.dropout(attended))
        x = self.norm_2(x + self.dropout(self.ffn(x)))
        return x, weights


@torch.no_grad()
def from_bert_layer(layer: nn.Module, *, activation: str = "gelu") -> EncoderBlock:
    """A new :class:`EncoderBlock` holding a copy of the weights of a Hugging Face
    ``BertLayer``.

    The map from BERT's names to the paper's: ``attention.self.{query,key,value}`` ->
    ``w_q, w_k, w_v``; ``attention.output.dense`` -> ``w_o``;
    ``attention.output.LayerNorm`` -> ``norm_1``; ``intermediate.dense`` -> ``ffn.w_1``;
    ``output.dense`` -> ``ffn.w_2``; ``output.LayerNorm`` -> ``norm_2``. Sizes,
    LayerNorm epsilon, dropout, device and dtype are read from the layer; ``activation``
    must match the model's ``config.hidden_act`` (``"gelu"`` for BERT). Usage, for a
    ``BertModel`` ``bert``: ``from_bert_layer(bert.encoder.layer[0])``.
    """
    attention, attention_out = layer.attention.self, layer.attention.output
    reference = attention.query.weight
    block = EncoderBlock(
        attention.query.in_features,
        attention.num_attention_heads,
        layer.intermediate.dense.out_features,
        dropout=attention_out.dropout.p,
        activation=activation,
        eps=attention_out.LayerNorm.eps,
    ).to(device=reference.device, dtype=reference.dtype)
    block.norm_2.eps = layer.output.LayerNorm.eps
    pairs = [
        (block.attention.w_q, attention.query),
        (block.attention.w_k, attention.key),
        (block.attention.w_v, attention.value),
        (block.attention.w_o, attention_out.dense),
        (block.norm_1, attention_out.LayerNorm),
        (block.ffn.w_1, layer.intermediate.dense),
        (block.ffn.w_2, layer.output.dense),
        (block.norm_2, layer.output.LayerNorm),
    ]
    for ours, theirs in pairs:
        ours.load_state_dict(theirs.state_dict())
    return block.train(layer.training)
