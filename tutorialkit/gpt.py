"""A small GPT (decoder-only Transformer) in one readable file, with a KV cache and the
usual decoders.

A GPT is a stack of Transformer blocks whose self-attention is *causal*: position ``t``
sees the tokens ``1..t`` and never the ones after, so the model can be trained on every
position of a text at once to predict the next token (the autoregressive loss,
:func:`tutorialkit.losses.causal_lm_loss`) and then generate text one token at a time.
The pieces come from :mod:`tutorialkit.attention`
(:class:`~tutorialkit.attention.MultiHeadAttention`,
:class:`~tutorialkit.attention.FeedForward`,
:func:`~tutorialkit.attention.scaled_dot_product_attention`); this module adds:

- :class:`GPTConfig`, the sizes, and :class:`GPT`: token + learned position embeddings,
  pre-LayerNorm blocks as in GPT-2 (:class:`GPTBlock`), a final LayerNorm, and an output
  layer *tied* to the input embedding (one ``V x d_model`` matrix reads tokens in and
  scores them out);
- a KV cache: during generation each block keeps the keys and values of the tokens
  already seen, so a new token costs one row of attention instead of a whole forward
  pass;
- :func:`generate` with greedy decoding, temperature, top-k and top-p (nucleus) sampling
  (:func:`filter_logits`), with or without the cache;
- :class:`CharTokenizer`, a character vocabulary with special tokens (``<pad> <unk> <s>
  </s>`` and any control tokens such as ``<pos>``), enough for the small models of
  chapter 10;
- :func:`token_log_probs`, the log-probability the model gives to each actual next
  token.
- :func:`model_device`: every tensor fed to a model goes to its device (``generate``,
  ``token_log_probs`` and ``CharTokenizer.batch(..., device=)`` follow it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from tutorialkit.attention import (
    FeedForward,
    MultiHeadAttention,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)
from tutorialkit.losses import IGNORE_INDEX, causal_lm_loss, log_softmax

# per block: keys and values, each (batch, h, n_seen, d_k)
KVCache = list[tuple[torch.Tensor, torch.Tensor]]


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's parameters: where every tensor fed to it must be.

    Example:

    >>> model_device(GPT(GPTConfig(vocab_size=10)))
    device(type='cpu')
    """
    try:
        return next(model.parameters()).device
    except StopIteration:
        raise ValueError(
            f"{type(model).__name__} has no parameters, so it has no device"
        ) from None


@dataclass
class GPTConfig:
    """The sizes of a :class:`GPT`. ``block_size`` is the context: the most tokens the
    model can see.

    Example (``d_ff=None`` means ``4 * d_model``):

    >>> GPTConfig(vocab_size=3000, block_size=128, n_layer=2, d_model=64).d_ff
    256
    """

    vocab_size: int
    block_size: int = 128
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 128
    d_ff: int | None = None  # None: 4 * d_model
    dropout: float = 0.1

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"GPTConfig.{name}: expected a positive int, found {value!r}"
                )
        if self.d_model % self.n_head:
            raise ValueError(
                f"GPTConfig: d_model={self.d_model} must be divisible by "
                f"n_head={self.n_head}"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(
                "GPTConfig.dropout: expected a probability in [0, 1), found "
                f"{self.dropout}"
            )
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model


class GPTBlock(nn.Module):
    """One decoder block, pre-LayerNorm as in GPT-2: ``x + Attn(LN(x))``, then ``x +
    FFN(LN(x))``.

    Without a cache the attention is :class:`~tutorialkit.attention.MultiHeadAttention`
    with ``causal=True``. With a cache (:meth:`forward` given ``past``) the new tokens'
    queries attend to the cached keys/values followed by their own, through the same
    projections ``w_q, w_k, w_v, w_o``; the causal mask, aligned with the last keys,
    lets each new token see the cache and the new tokens up to itself, so one token
    (generation) or many (a long prompt fed in chunks) may follow the cache.

    Example:

    >>> GPTBlock(GPTConfig(vocab_size=10))(torch.randn(2, 5, 128))[0].shape
    torch.Size([2, 5, 128])
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.norm_1 = nn.LayerNorm(config.d_model)
        self.attention = MultiHeadAttention(config.d_model, config.n_head)
        self.norm_2 = nn.LayerNorm(config.d_model)
        self.ffn = FeedForward(config.d_model, config.d_ff)
        self.dropout = nn.Dropout(config.dropout)

    def _attend_cached(
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Attention of the new positions ``x`` (batch, n_new, d) to the cache plus
        themselves."""
        mha = self.attention
        k_new, v_new = split_heads(mha.w_k(x), mha.h), split_heads(mha.w_v(x), mha.h)
        # (batch, h, n_seen + n_new, d_k)
        k = k_new if past is None else torch.cat([past[0], k_new], dim=2)
        v = v_new if past is None else torch.cat([past[1], v_new], dim=2)
        q = split_heads(mha.w_q(x), mha.h)  # (batch, h, n_new, d_k)
        # causal_mask aligns the new queries with the *last* keys: each sees the cache
        # and the new tokens up to itself
        heads, _ = scaled_dot_product_attention(q, k, v, causal=True)
        return mha.w_o(merge_heads(heads)), (k, v)

    def forward(
        self,
        x: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
        *,
        use_cache: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """Map ``x`` (batch, n, d_model) to (batch, n, d_model); return the updated
        (keys, values) if caching."""
        normed = self.norm_1(x)
        if use_cache or past is not None:
            attended, present = self._attend_cached(normed, past)
        else:
            attended, present = self.attention(normed, causal=True)[0], None
        x = x + self.dropout(attended)
        x = x + self.dropout(self.ffn(self.norm_2(x)))
        return x, present


class GPT(nn.Module):
    """A decoder-only Transformer language model: ``forward(input_ids, labels)`` ->
    ``{"loss", "logits"}``.

    ``logits[b, t]`` scores the token that follows ``input_ids[b, :t + 1]``. With
    ``labels`` (the ids themselves, ``-100`` at padding) the output also holds the
    next-token cross-entropy (:func:`~tutorialkit.losses.causal_lm_loss`, which does the
    shift), so :func:`tutorialkit.train.train` trains it like any other model. The
    output layer shares its weight with the token embedding.

    Example:

    >>> model = GPT(GPTConfig(vocab_size=50))
    >>> model(torch.zeros(2, 7, dtype=torch.long))["logits"].shape
    torch.Size([2, 7, 50])
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = nn.Embedding(config.block_size, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(GPTBlock(config) for _ in range(config.n_layer))
        self.norm = nn.LayerNorm(config.d_model)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        # tied: the same V x d_model matrix
        self.lm_head.weight = self.token_embedding.weight

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """GPT-2's initialisation: normal(0, 0.02) weights, zero biases."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        past: KVCache | None = None,
        use_cache: bool = False,
    ) -> dict:
        """Logits (batch, n, V) for ``input_ids`` (batch, n); plus ``loss`` given
        labels, ``past`` if caching.

        ``past`` is the cache returned by an earlier call: ``input_ids`` then continue
        those tokens.
        """
        if input_ids.dim() != 2 or input_ids.dtype.is_floating_point:
            raise ValueError(
                f"input_ids: expected integer token ids shaped (batch, n), found "
                f"{input_ids.dtype} {tuple(input_ids.shape)}"
            )
        n_seen = 0 if past is None else past[0][0].shape[2]
        n = input_ids.shape[1]
        if n_seen + n > self.config.block_size:
            raise ValueError(
                f"context too long: {n_seen} cached + {n} new = {n_seen + n} tokens, "
                "but the model was built "
                f"with block_size={self.config.block_size} positions; truncate the "
                "input or keep only its last "
                f"{self.config.block_size} tokens"
            )
        positions = torch.arange(n_seen, n_seen + n, device=input_ids.device)
        x = self.dropout(
            self.token_embedding(input_ids) + self.position_embedding(positions)
        )
        present: KVCache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if past is None else past[i], use_cache=use_cache)
            present.append(kv)
        logits = self.lm_head(self.norm(x))
        output = {"logits": logits}
        if labels is not None:
            output["loss"] = causal_lm_loss(logits, labels)
        if use_cache:
            output["past"] = present
        return output


@torch.no_grad()
def token_log_probs(
    model: nn.Module, input_ids: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """``log p(x_{t+1} | x_1..x_t)`` for every position that has a next token: (batch, n
    - 1).

    Positions whose next label is ``-100`` (padding) hold 0. Summing these and dividing
    by the number of counted tokens gives minus the mean loss; ``exp`` of minus that is
    the perplexity. ``input_ids`` and ``labels`` go to the model's device; the result is
    on that device. No gradient is kept (evaluation); :func:`next_token_log_probs` is
    the same with the graph. The mean over the counted tokens is
    ``token_log_probs(model, ids, labels).sum() / (labels[:, 1:] != -100).sum()``.

    Example:

    >>> model = GPT(GPTConfig(vocab_size=10))
    >>> ids = torch.tensor([[2, 5, 6, 3]])
    >>> token_log_probs(model, ids, ids).shape
    torch.Size([1, 3])
    """
    return next_token_log_probs(model, input_ids, labels)


def next_token_log_probs(
    model: nn.Module, input_ids: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """:func:`token_log_probs` with the autograd graph kept, so that a loss built on it
    trains the model."""
    device = model_device(model)
    logits = model(input_ids=input_ids.to(device))["logits"][:, :-1]
    target = labels.to(device)[:, 1:]
    counted = target != IGNORE_INDEX
    picked = (
        log_softmax(logits.float())
        .gather(-1, target.where(counted, 0).unsqueeze(-1))
        .squeeze(-1)
    )
    return torch.where(counted, picked, torch.zeros_like(picked))


def filter_logits(
    logits: torch.Tensor, *, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Keep the ``top_k`` highest logits and/or the smallest set whose probability
    reaches ``top_p``.

    The other entries become ``-inf`` (probability 0 after softmax). Top-p (nucleus
    sampling) keeps the most likely tokens in order until their cumulative probability
    reaches ``top_p``; the most likely token is always kept. ``logits`` is (..., V).

    Example:

    >>> filter_logits(torch.tensor([3.0, 2.0, 1.0]), top_k=2)
    tensor([3., 2., -inf])
    """
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k: expected an int >= 1, found {top_k}")
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p: expected a probability in (0, 1], found {top_p}")
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # the mass before it already reaches p
        drop_sorted = cumulative - sorted_logits.softmax(dim=-1) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@torch.no_grad()
def generate(
    model: nn.Module,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    use_cache: bool = True,
    eos_id: int | None = None,
    suppress: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Continue ``input_ids`` (batch, n) by ``max_new_tokens`` tokens; returns (batch, n
    + new).

    Each step takes the logits of the last position, divides them by ``temperature``
    (below 1: sharper, above 1: flatter), keeps the ``top_k``/``top_p`` candidates
    (:func:`filter_logits`) and samples one token with ``generator``; ``greedy=True``
    takes the most likely token instead. ``use_cache=True`` feeds only the new token to
    a :class:`GPT` together with its KV cache; ``use_cache=False`` runs the whole
    sequence again at every step (any model whose output has ``["logits"]``, e.g. a
    transformers ``AutoModelForCausalLM``). Token ids in ``suppress`` (e.g. ``<unk>``,
    ``<pad>``) are never produced. Once every row has produced ``eos_id``, generation
    stops early. ``input_ids`` go to the model's device, and so does the result;
    sampling draws on the device of ``generator`` (a CPU generator gives the same draws
    whatever the model's device).

    Example:

    >>> model = GPT(GPTConfig(vocab_size=10))
    >>> generate(model, torch.tensor([[2, 5]]), 3, greedy=True).shape
    torch.Size([1, 5])
    """
    if temperature <= 0:
        raise ValueError(
            "temperature: expected > 0 (use greedy=True for the limit 0), found "
            f"{temperature}"
        )
    block_size = getattr(getattr(model, "config", None), "block_size", None)
    if block_size is not None and input_ids.shape[1] + max_new_tokens > block_size:
        raise ValueError(
            f"context too long: a prompt of {input_ids.shape[1]} tokens + "
            f"{max_new_tokens} new tokens exceeds "
            f"the model's block_size={block_size}"
        )
    was_training = model.training
    model.eval()
    device = model_device(model)
    ids, past = input_ids.to(device), None
    finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=device)
    for _ in range(max_new_tokens):
        if use_cache:
            output = model(
                ids if past is None else ids[:, -1:], past=past, use_cache=True
            )
            past = output["past"]
        else:
            output = model(input_ids=ids)
        logits = output["logits"][:, -1, :].float()
        if suppress:
            logits[:, list(suppress)] = float("-inf")
        if greedy:
            next_id = logits.argmax(dim=-1, keepdim=True)
        else:
            logits = filter_logits(logits / temperature, top_k=top_k, top_p=top_p)
            probs = logits.softmax(dim=-1)
            # draw where the generator lives, then come back to the model's device
            if generator is not None:
                probs = probs.to(generator.device)
            next_id = torch.multinomial(probs, 1, generator=generator).to(device)
        if eos_id is not None:
            next_id = next_id.masked_fill(finished.unsqueeze(1), eos_id)
            finished |= next_id.squeeze(1) == eos_id
        ids = torch.cat([ids, next_id], dim=1)
        if eos_id is not None and finished.all():
            break
    model.train(was_training)
    return ids


class CharTokenizer:
    """Characters as tokens: every character seen at least ``min_count`` times, plus
    special tokens.

    ``max_size`` (optional) keeps only that many tokens in all, the most frequent
    characters first: the output layer of a language model costs ``V x d_model``, so a
    small ``V`` is a fast model. ``always`` are ordinary tokens kept whatever their
    count (the words of an instruction template, say), within ``max_size``.

    The ids are ``<pad>=0, <unk>=1, <s>=2, </s>=3``, then the ``extra`` specials (e.g.
    control tokens ``"<pos>", "<neg>"``), then the characters in sorted order. Unknown
    characters map to ``<unk>``.

    Example (``<s> a b </s>``):

    >>> CharTokenizer(["abba"]).encode("ab")
    [2, 4, 5, 3]
    """

    SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")

    def __init__(
        self,
        texts: Iterable[str],
        *,
        min_count: int = 1,
        max_size: int | None = None,
        extra: Sequence[str] = (),
        always: Sequence[str] = (),
    ):
        counts = Counter(ch for text in texts for ch in text)
        specials = list(self.SPECIALS) + [s for s in extra if s not in self.SPECIALS]
        forced = [t for t in dict.fromkeys(always) if t not in specials]
        kept = forced + [
            ch
            for ch, n in counts.most_common()
            if n >= min_count and ch not in specials and ch not in forced
        ]
        if max_size is not None:
            if max_size <= len(specials):
                raise ValueError(
                    f"max_size: expected more than the {len(specials)} special "
                    f"tokens, found {max_size}"
                )
            if max_size < len(specials) + len(forced):
                raise ValueError(
                    f"max_size: expected room for the {len(specials)} special and "
                    f"{len(forced)} always-kept tokens, found {max_size}"
                )
            kept = kept[: max_size - len(specials)]
        self.itos = specials + sorted(kept)
        self.stoi = {token: i for i, token in enumerate(self.itos)}
        self.n_special = len(specials)
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = range(4)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(
        self, text: str, *, prefix: Sequence[str] = ("<s>",), eos: bool = True
    ) -> list[int]:
        """Ids of the special tokens in ``prefix``, then of each character, then
        ``</s>`` if ``eos``."""
        unknown = [
            token
            for token in prefix
            if token not in self.stoi or self.stoi[token] >= self.n_special
        ]
        if unknown:
            raise KeyError(
                f"prefix: expected special tokens from {self.itos[: self.n_special]}, "
                f"found {unknown}"
            )
        ids = [self.stoi[token] for token in prefix] + [
            self.stoi.get(ch, self.unk_id) for ch in text
        ]
        return ids + [self.eos_id] if eos else ids

    def decode(
        self, ids: Iterable[int], *, skip_special: bool = True, stop_at_eos: bool = True
    ) -> str:
        """The text of ``ids``; stops at the first ``</s>`` and leaves out special
        tokens by default."""
        pieces = []
        for i in (int(i) for i in ids):
            if stop_at_eos and i == self.eos_id:
                break
            if not (skip_special and i < self.n_special and i != self.unk_id):
                pieces.append(self.itos[i])
        return "".join(pieces)

    def batch(
        self,
        sequences: Sequence[Sequence[int]],
        max_length: int,
        *,
        device: torch.device | str = "cpu",
    ) -> dict[str, torch.Tensor]:
        """Right-pad id lists (cut to ``max_length``) into ``{"input_ids", "labels"}``,
        labels -100 at padding.

        Right padding needs no attention mask in a causal model: no real token looks at
        a later pad. The tensors are on ``device`` (pass the model's:
        :func:`model_device`).

        Example:

        >>> tok = CharTokenizer(["abba"])
        >>> tok.batch([[2, 5, 3], [2, 3]], 8, device="cpu")["labels"]
        tensor([[   2,    5,    3],
                [   2,    3, -100]])
        """
        if not sequences:
            raise ValueError("batch: expected at least one sequence, found none")
        cut = [list(s)[:max_length] for s in sequences]
        ids = torch.full((len(cut), max(map(len, cut))), self.pad_id, dtype=torch.long)
        for i, seq in enumerate(cut):
            ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        ids = ids.to(device)
        return {
            "input_ids": ids,
            "labels": ids.masked_fill(ids == self.pad_id, IGNORE_INDEX),
        }
