"""Sentence and token vectors from an encoder: the representations that fine-tuning
starts from."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the token vectors of each sequence, ignoring padding.

    ``hidden`` is (batch, seq, d), ``attention_mask`` is (batch, seq) with 1 for real
    tokens. Returns (batch, d).

    Example (the third token is padding):

    >>> hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]])
    >>> mean_pool(hidden, torch.tensor([[1, 1, 0]]))
    tensor([[2., 3.]])
    """
    if hidden.shape[:2] != attention_mask.shape:
        raise ValueError(
            f"hidden is {tuple(hidden.shape)} but attention_mask is "
            f"{tuple(attention_mask.shape)}; "
            "expected (batch, seq, d) and (batch, seq)"
        )
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


@torch.no_grad()
def embed_texts(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int = 128,
    device: torch.device | str | None = None,
    sort_by_length: bool = True,
    progress: bool = True,
) -> torch.Tensor:
    """Mean-pooled last-layer vectors of ``texts``, computed in batches: a (len(texts),
    d) CPU tensor.

    Each batch is padded only to its own longest text (dynamic padding), and texts
    longer than ``max_length`` tokens are truncated. With ``sort_by_length`` the texts
    are fed shortest first, so that each batch holds texts of similar length and little
    padding; the rows of the result are in the order of ``texts`` either way. Usage:
    ``embed_texts(model, tok, ["good", "bad"])``, one 384-dimensional row per text with
    MiniLM.
    """
    if isinstance(texts, str):
        raise TypeError(
            "embed_texts expects a sequence of texts, got a single str; wrap it in "
            "a list"
        )
    texts = list(texts)
    device = (
        torch.device(device) if device is not None else next(model.parameters()).device
    )
    order = list(range(len(texts)))
    if sort_by_length and texts:
        lengths = [
            len(ids)
            for ids in tokenizer(texts, truncation=True, max_length=max_length)[
                "input_ids"
            ]
        ]
        order.sort(key=lengths.__getitem__)
    model.eval()
    vectors = torch.empty(len(texts), model.config.hidden_size)
    starts = range(0, len(texts), batch_size)
    for start in tqdm(starts, desc="embed_texts", unit="batch", disable=not progress):
        rows = order[start : start + batch_size]
        batch = tokenizer(
            [texts[i] for i in rows],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        hidden = model(**batch).last_hidden_state
        vectors[rows] = mean_pool(hidden, batch["attention_mask"]).float().cpu()
    return vectors
