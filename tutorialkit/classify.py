"""Sentence classification: the training encoders and the prediction loop.

The counterpart of :mod:`tutorialkit.ner` for one label per text. :func:`encode_texts`
turns texts into word-piece ids, cut to the model's length by :func:`truncate_pieces`
(the start, or the start and the end); :func:`encode_labeled` adds the class index for
training; :func:`predict_logits` runs a classifier over a labelled ``DataLoader``.
Training and inference (:class:`tutorialkit.apps.SentimentPipeline`) cut texts with the
same function, so the model is scored on what its users will send it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tutorialkit.data import LabeledText
from tutorialkit.gpt import model_device


def truncate_pieces(pieces: list, budget: int, head: int | None = None) -> list:
    """Keep at most ``budget`` word pieces of a text, from its start or from both of its
    ends.

    ``head=None`` keeps the first ``budget`` pieces (what ``truncation=True`` does).
    ``head=h`` keeps the first ``h`` pieces and the last ``budget - h``: a review often
    states its verdict at the end, which plain truncation throws away. A text that fits
    is returned unchanged. Example:

    >>> truncate_pieces(list(range(10)), 4, head=1)
    [0, 7, 8, 9]
    """
    if budget < 1:
        raise ValueError(f"budget must be >= 1 word piece, found {budget}")
    if head is not None and not 0 <= head <= budget:
        raise ValueError(
            f"head must be between 0 and the budget ({budget}), found {head}"
        )
    if len(pieces) <= budget:
        return list(pieces)
    if head is None:
        return list(pieces[:budget])
    tail = budget - head
    return list(pieces[:head]) + (list(pieces[-tail:]) if tail else [])


def encode_texts(
    texts: list[str], tokenizer, max_length: int, head: int | None = None
) -> list[list[int]]:
    """Word-piece ids of each text with the tokenizer's special tokens, at most
    ``max_length`` in all.

    The special tokens ([CLS] ... [SEP] for BERT) are kept in place; the pieces between
    them are cut by :func:`truncate_pieces` (``head=None``: keep the start; ``head=h``:
    the first ``h`` and the last ones). With ``head=None`` the ids equal
    ``tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]``. Usage:
    ``encode_texts(["a long review ..."], tokenizer, 128, head=32)``.
    """
    if not texts:
        return []
    # no truncation yet
    encoded = tokenizer(list(texts), return_special_tokens_mask=True, verbose=False)
    result = []
    for ids, special in zip(encoded["input_ids"], encoded["special_tokens_mask"]):
        content = [i for i, s in enumerate(special) if not s]
        if not content:
            result.append(list(ids))
            continue
        first, last = content[0], content[-1] + 1
        budget = max_length - (len(ids) - (last - first))
        if budget < 1:
            raise ValueError(
                f"max_length {max_length} leaves no room for text besides the special "
                "tokens"
            )
        result.append(
            list(ids[:first])
            + truncate_pieces(ids[first:last], budget, head)
            + list(ids[last:])
        )
    return result


def encode_labeled(
    rows: Sequence[LabeledText],
    tokenizer,
    labels: Sequence[str],
    max_length: int,
    head: int | None = None,
) -> list[dict]:
    """Training features of labelled texts: ``input_ids``, ``attention_mask`` and the
    class index ``labels``.

    The ids are those of :func:`encode_texts` (so training cuts texts exactly as
    :class:`~tutorialkit.apps.SentimentPipeline` does at inference), unpadded: a
    collator such as ``DataCollatorWithPadding`` pads each batch. The class index of a
    row is the position of its label in ``labels``; a label that is not there raises
    ValueError naming the row's source. With BERT's uncased tokenizer,
    ``encode_labeled([LabeledText("great film", "pos")], tokenizer, ["neg", "pos"],
    64)`` is ``[{"input_ids": [101, 2307, 2143, 102], "attention_mask": [1, 1, 1, 1],
    "labels": 1}]``.
    """
    index = {label: i for i, label in enumerate(labels)}
    unknown = next((row for row in rows if row.label not in index), None)
    if unknown is not None:
        raise ValueError(
            f"{unknown.source or 'a row'}: label {unknown.label!r} is not one of "
            f"{list(labels)}"
        )
    ids = encode_texts([row.text for row in rows], tokenizer, max_length, head)
    return [
        {"input_ids": i, "attention_mask": [1] * len(i), "labels": index[row.label]}
        for i, row in zip(ids, rows)
    ]


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, loader: torch.utils.data.DataLoader
) -> tuple[np.ndarray, torch.Tensor]:
    """The gold classes and the logits of every example of ``loader``, in loader order.

    Each batch holds ``input_ids``, ``attention_mask`` and ``labels`` (what
    :func:`encode_labeled` and a padding collator give); the model runs in eval mode
    (no dropout) and is left in the mode it was in. Returns a NumPy array of class
    indices (n,) and a float32 CPU tensor of logits (n, classes), ready for
    :func:`tutorialkit.metrics.classification_report` and a loss.
    """
    was_training, device = model.training, model_device(model)
    model.eval()
    labels, logits = [], []
    for batch in loader:
        output = model(
            input_ids=batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
        )
        logits.append(output.logits.float().cpu())
        labels.append(batch["labels"].cpu())
    model.train(was_training)
    return torch.cat(labels).numpy(), torch.cat(logits)
