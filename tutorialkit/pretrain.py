"""Pre-training a small BERT from scratch with the masked-LM objective, on characters.

An English model's vocabulary has few Chinese characters, so most of a Chinese text
becomes ``[UNK]``. This module builds what a Chinese model needs instead, small enough
for a CPU:

* :func:`unknown_rate` measures how much of a text a tokenizer maps to ``[UNK]``;
* :func:`build_vocab` and :func:`char_tokenizer` make a character vocabulary (a
  ``vocab.txt`` with BERT's special tokens first) and load it as a real ``transformers``
  BERT tokenizer, so ``word_ids()`` and the NER code of :mod:`tutorialkit.ner` work
  unchanged;
* :func:`tiny_bert_config` sizes a small ``BertConfig`` for that vocabulary, and
  :class:`MaskedPositionsMLM` is ``BertForMaskedLM`` that, in training, maps only the
  masked positions to the vocabulary (the same loss, for a fraction of the arithmetic);
* :func:`mlm_blocks` packs sentences into fixed-length blocks, and
  :class:`MaskedLMCollator` pads them and masks 15% of the characters with
  :func:`tutorialkit.losses.mask_tokens` (BERT's 80/10/10), ready for
  :func:`tutorialkit.train.train`;
* :func:`masked_accuracy` scores a masked-LM model on fixed, already-masked batches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import BertForMaskedLM
from transformers.modeling_outputs import MaskedLMOutput

from tutorialkit.losses import IGNORE_INDEX, mask_tokens

# BERT's, first in vocab.txt
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def unknown_words(tokenizer, sentences: Sequence[Sequence[str]]) -> list[list[bool]]:
    """For each word of each pre-split sentence: does the tokenizer lose it (``[UNK]``
    or no piece)?

    A word counts as unknown when any of its pieces is the unknown token, or when the
    tokenizer drops it entirely. Chinese text is split into characters, one "word" per
    character, as the NER corpora do. Usage: ``unknown_words(tok, [["中", "a"]])``; an
    English tokenizer without 中 flags it and not ``a``.
    """
    if not sentences:
        return []
    encoding = tokenizer(
        [list(s) for s in sentences], is_split_into_words=True, add_special_tokens=False
    )
    flags = []
    for index, sentence in enumerate(sentences):
        has_piece, has_unk = [False] * len(sentence), [False] * len(sentence)
        for word, piece in zip(encoding.word_ids(index), encoding["input_ids"][index]):
            if word is not None:
                has_piece[word] = True
                has_unk[word] |= piece == tokenizer.unk_token_id
        flags.append([unk or not piece for piece, unk in zip(has_piece, has_unk)])
    return flags


def unknown_rate(tokenizer, sentences: Sequence[Sequence[str]]) -> float:
    """Share of the words (characters, for Chinese) of pre-split sentences that become
    ``[UNK]``.

    Usage: ``unknown_rate(tok, [s.tokens for s in load_peoples_daily(limit=100)])``.
    """
    flags = [f for sentence in unknown_words(tokenizer, sentences) for f in sentence]
    if not flags:
        raise ValueError("unknown_rate needs at least one word, found none")
    return sum(flags) / len(flags)


def build_vocab(texts: Iterable[Sequence[str]], min_count: int = 2) -> list[str]:
    """A character vocabulary: BERT's special tokens, then every character seen
    ``min_count`` times.

    ``texts`` are strings or lists of characters. Characters come most frequent first
    (ties in code-point order), so the ids are reproducible; whitespace is never a token
    (BERT's pre-tokenizer splits on it).

    Example:

    >>> build_vocab(["人民日报", "人民"], min_count=2)
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '人', '民']
    """
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, found {min_count}")
    counts = Counter(ch for text in texts for ch in text)
    if not counts:
        raise ValueError("build_vocab needs some text, found none")
    kept = sorted(
        (
            ch
            for ch, n in counts.items()
            if n >= min_count and not ch.isspace() and ch not in SPECIAL_TOKENS
        ),
        key=lambda ch: (-counts[ch], ch),
    )
    return list(SPECIAL_TOKENS) + kept


def char_tokenizer(
    vocab: Sequence[str], folder: str | Path, *, model_max_length: int = 128
):
    """Write ``vocab`` to ``folder/vocab.txt`` and return it as a ``transformers`` BERT
    tokenizer.

    The tokenizer is the standard (fast) ``BertTokenizer``, not lower-casing: it puts
    every Chinese character in a word of its own, looks it up, and maps a character
    missing from ``vocab`` to ``[UNK]``. It is saved in ``folder`` (with
    ``tokenizer_config.json``), so ``AutoTokenizer.from_pretrained(folder)`` loads it
    again. ``vocab`` must start with :data:`SPECIAL_TOKENS`. Usage, with ``vocab =
    build_vocab(texts)``: ``char_tokenizer(vocab, "zh-bert").tokenize("人民")``, which
    cuts the text into its two characters.
    """
    from transformers import BertTokenizer

    if tuple(vocab[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
        raise ValueError(
            f"vocab must start with {list(SPECIAL_TOKENS)}, found "
            f"{list(vocab[: len(SPECIAL_TOKENS)])}"
        )
    bad = [token for token in vocab if not token or any(ch.isspace() for ch in token)]
    if bad or len(set(vocab)) != len(vocab):
        problem = (
            f"tokens with whitespace or empty: {bad[:5]}" if bad else "duplicate tokens"
        )
        raise ValueError(f"vocab.txt has one token per line: {problem}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text(
        "".join(f"{token}\n" for token in vocab), encoding="utf-8"
    )
    tokenizer = BertTokenizer(
        vocab={token: i for i, token in enumerate(vocab)},
        do_lower_case=False,
        tokenize_chinese_chars=True,
        model_max_length=model_max_length,
    )
    tokenizer.save_pretrained(folder)
    return tokenizer


def tiny_bert_config(
    tokenizer,
    *,
    layers: int = 2,
    hidden: int = 128,
    heads: int = 2,
    max_length: int = 128,
    dropout: float = 0.1,
    **overrides,
):
    """A small ``BertConfig`` for ``tokenizer``'s vocabulary: BERT's shape, scaled down.

    The feed-forward layer is ``4 * hidden`` wide as in BERT; ``max_length`` positions
    get an embedding. Extra keyword arguments go to ``BertConfig`` (e.g.
    ``num_labels=7``). Usage: ``BertForMaskedLM(tiny_bert_config(tok, layers=4,
    hidden=256, heads=4))``.
    """
    from transformers import BertConfig

    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads})")
    return BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        max_position_embeddings=max_length,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        pad_token_id=tokenizer.pad_token_id,
        **overrides,
    )


class MaskedPositionsMLM(BertForMaskedLM):
    """``BertForMaskedLM`` that projects to the vocabulary only the positions it scores.

    The masked-LM loss looks at the ~15% of positions whose label is not ``-100``, but
    ``BertForMaskedLM`` maps every position to the vocabulary first: for a small model
    with a few thousand characters, that output layer is most of the arithmetic of a
    step. Given ``labels``, this model runs the encoder, picks the scored positions, and
    applies the same output layer (``self.cls``) to them alone: the loss, and so the
    gradients, are ``BertForMaskedLM``'s (up to rounding), and ``logits`` holds one row
    per scored position, in order. Without ``labels`` it is ``BertForMaskedLM`` (logits
    for every position). Its weights and ``save_pretrained`` files are
    ``BertForMaskedLM``'s. Usage: ``MaskedPositionsMLM(tiny_bert_config(tok))``.
    """

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> MaskedLMOutput:
        """The loss at the scored positions and their logits, given ``labels``;
        ``BertForMaskedLM``'s output for every position without them."""
        if labels is None:
            return super().forward(
                input_ids=input_ids, attention_mask=attention_mask, **kwargs
            )
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, **kwargs
        ).last_hidden_state
        scored = labels != IGNORE_INDEX
        logits = self.cls(hidden[scored])  # (scored positions, vocabulary)
        loss = torch.nn.functional.cross_entropy(logits, labels[scored])
        return MaskedLMOutput(loss=loss, logits=logits)


def mlm_blocks(
    sentences: Iterable[Sequence[str]], tokenizer, block_size: int = 128
) -> list[list[int]]:
    """Pack pre-split sentences into ``[CLS] ... [SEP]`` blocks of ``block_size`` ids
    for pre-training.

    The sentences' pieces are concatenated in order and cut every ``block_size - 2``
    pieces (a block may cross a sentence boundary, as in RoBERTa's pre-training); only
    the last block is shorter. Packing wastes no computation on padding. Usage:
    ``mlm_blocks([list("人民日报")], tok, block_size=4)`` makes two blocks, the ids of
    ``[CLS] 人 民 [SEP]`` and of ``[CLS] 日 报 [SEP]``.
    """
    if block_size < 3:
        raise ValueError(
            "block_size must leave room for [CLS], [SEP] and one piece, found "
            f"{block_size}"
        )
    sentences = [list(s) for s in sentences if len(s)]
    if not sentences:
        raise ValueError("mlm_blocks needs at least one non-empty sentence")
    encoding = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
    stream = [i for ids in encoding["input_ids"] for i in ids]
    size = block_size - 2
    return [
        [tokenizer.cls_token_id, *stream[k : k + size], tokenizer.sep_token_id]
        for k in range(0, len(stream), size)
    ]


@dataclass
class MaskedLMCollator:
    """Batches of id lists for masked-LM training: pad, then mask as BERT does.

    Returns ``input_ids`` (corrupted by :func:`~tutorialkit.losses.mask_tokens`: of the
    chosen ``mlm_probability`` share of positions, 80% ``[MASK]``, 10% a random token,
    10% unchanged), ``attention_mask`` (0 on padding) and ``labels`` (the original id at
    chosen positions, ``-100`` elsewhere), all ``(batch, longest)``. Special tokens
    (``[CLS]``, ``[SEP]``, ``[PAD]``, ``[UNK]``) are never chosen. With a ``generator``
    the masks are reproducible. Usage: ``DataLoader(blocks, batch_size=32,
    shuffle=True, collate_fn=MaskedLMCollator(tok))``.
    """

    tokenizer: object
    mlm_probability: float = 0.15
    generator: torch.Generator | None = None

    def __call__(self, examples: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        """Pad ``examples`` (lists of ids) to the longest and mask them."""
        if not examples:
            raise ValueError(
                "MaskedLMCollator: expected at least one example, found none"
            )
        longest = max(len(e) for e in examples)
        ids = torch.full(
            (len(examples), longest), self.tokenizer.pad_token_id, dtype=torch.long
        )
        attention = torch.zeros_like(ids)
        for row, example in enumerate(examples):
            ids[row, : len(example)] = torch.as_tensor(list(example), dtype=torch.long)
            attention[row, : len(example)] = 1
        special = torch.isin(ids, torch.tensor(self.tokenizer.all_special_ids)) | (
            attention == 0
        )
        inputs, labels = mask_tokens(
            ids,
            mask_token_id=self.tokenizer.mask_token_id,
            vocab_size=len(self.tokenizer),
            special_tokens_mask=special,
            mlm_probability=self.mlm_probability,
            generator=self.generator,
        )
        return {"input_ids": inputs, "attention_mask": attention, "labels": labels}


@torch.no_grad()
def masked_accuracy(
    model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]]
) -> dict[str, float]:
    """Masked-LM loss and accuracy of ``model`` at the chosen positions (``labels !=
    -100``) of ``batches``.

    Both are means over all chosen positions of all batches (not means of batch means).
    Pass batches masked once and kept (e.g. made with a seeded
    :class:`MaskedLMCollator`) so that every evaluation scores the same positions. The
    model is left in the mode it was in. Usage: ``masked_accuracy(model,
    eval_batches)``, a dict ``{"mlm_loss": ..., "mlm_accuracy": ...}``.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total_loss, correct, count = 0.0, 0, 0
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits
        chosen = batch["labels"] != IGNORE_INDEX
        targets = batch["labels"][chosen]
        chosen_logits = logits[chosen].float()
        total_loss += torch.nn.functional.cross_entropy(
            chosen_logits, targets, reduction="sum"
        ).item()
        correct += int((chosen_logits.argmax(dim=-1) == targets).sum())
        count += int(chosen.sum())
    model.train(was_training)
    if count == 0:
        raise ValueError(
            "masked_accuracy: the batches have no masked position (labels are all -100)"
        )
    return {"mlm_loss": total_loss / count, "mlm_accuracy": correct / count}
