"""Inference pipelines: what a fine-tuned model looks like to the people who use it.

:class:`SentimentPipeline` turns raw texts into one label and a probability per label
each (:class:`Sentiment`), in batches of texts of similar length; texts longer than the
model's limit are cut by :func:`tutorialkit.classify.truncate_pieces`, keeping the start
or the start and the end.

:class:`NerPipeline` turns raw text into entity spans with character offsets. Raw text
was never split into words, so the pipeline splits it by a simple, documented rule
(:func:`split_words`), then runs the same code path as training and evaluation
(:func:`tutorialkit.ner.encode_sentences`, windows for long texts,
:func:`tutorialkit.ner.predict_windows`), decodes the tags into entities
(:func:`tutorialkit.metrics.entity_spans`) and maps each entity back to the characters
it came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from tutorialkit.classify import encode_texts
from tutorialkit.metrics import entity_spans
from tutorialkit.ner import encode_sentences, merge_windows, predict_windows

# A word is a run of letters, digits and underscores, or any single other character that
# is not a space: "Don't panic!" -> Don, ', t, panic, !
WORD_PATTERN = re.compile(r"\w+|[^\w\s]")


def split_words(
    text: str, pattern: re.Pattern = WORD_PATTERN
) -> list[tuple[str, int, int]]:
    """Split raw text into ``(word, start, end)`` triples, ``text[start:end] == word``.

    The default rule (:data:`WORD_PATTERN`, ``\\w+|[^\\w\\s]``) keeps runs of letters
    and digits together and makes every other visible character a word of its own;
    whitespace of any kind and length separates words and is never part of one. It is
    close to, but not the same as, the tokenisation of the training corpus ("@user"
    becomes "@", "user"); pass another ``pattern`` to match a corpus more closely.
    Example: ``split_words("Hi  Bob!")`` -> ``[("Hi", 0, 2), ("Bob", 4, 7), ("!", 7,
    8)]``.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a str, found {type(text).__name__}")
    return [(m.group(), m.start(), m.end()) for m in pattern.finditer(text)]


@dataclass(frozen=True)
class Entity:
    """An entity found in a text: ``text[start:end] == entity.text``.

    ``score`` is the mean, over the entity's words, of the probability the model gave to
    the tag it chose. Example: ``Entity("Paris", "LOC", 10, 15, 0.97)``.
    """

    text: str
    label: str
    start: int
    end: int
    score: float


class NerPipeline:
    """Raw texts in, entity spans with character offsets out, in batches, on any device.

    ``model`` is a token-classification model (``AutoModelForTokenClassification``)
    trained with the labels of ``id2label``; ``device=None`` leaves it where it is,
    otherwise it is moved there. Texts longer than ``max_length`` pieces are cut into
    windows, so no word goes unread. Pass the ``max_length`` the model was trained with,
    so that inference reads the windows training did (and that evaluation with
    :func:`~tutorialkit.ner.predict_tags` did); the default, the model's position limit
    (512 for a BERT), gives windows longer than a model fine-tuned on shorter ones has
    seen. ``strict`` decodes tags as :func:`~tutorialkit.metrics.entity_spans` does.
    Example: ``NerPipeline(model, tokenizer, id2label)(["Obama visited Paris."])`` ->
    ``[[Entity("Obama", "PER", 0, 5, 0.98), Entity("Paris", "LOC", 14, 19, 0.97)]]``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        id2label: Mapping[int, str],
        device: torch.device | str | None = None,
        batch_size: int = 32,
        *,
        max_length: int | None = None,
        stride: int = 16,
        pattern: re.Pattern = WORD_PATTERN,
        strict: bool = False,
    ) -> None:
        self.id2label = _prepare(model, id2label, device, batch_size)
        if max_length is None:
            max_length = _default_max_length(model, tokenizer)
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.max_length, self.stride, self.pattern, self.strict = (
            max_length,
            stride,
            pattern,
            strict,
        )

    def __call__(self, texts: list[str]) -> list[list[Entity]]:
        """The entities of each text, in text order; a text without words has none."""
        _check_texts(texts)
        words = [split_words(text, self.pattern) for text in texts]
        has_words = [i for i, w in enumerate(words) if w]
        found: list[list[Entity]] = [[] for _ in texts]
        if not has_words:
            return found
        windows = encode_sentences(
            [[w for w, _, _ in words[i]] for i in has_words],
            self.tokenizer,
            max_length=self.max_length,
            stride=self.stride,
        )
        rows = predict_windows(
            self.model, self.tokenizer, windows, batch_size=self.batch_size
        )
        for i, probabilities in zip(has_words, merge_windows(windows, rows)):
            confidence, best = probabilities.max(dim=-1)
            tags = [self.id2label[int(j)] for j in best]
            for label, start, end in entity_spans(tags, strict=self.strict):
                first, last = words[i][start][1], words[i][end - 1][2]
                score = float(confidence[start:end].mean())
                found[i].append(Entity(texts[i][first:last], label, first, last, score))
        return found


# --------------------------------------------------------------------------------------
# Sentence classification: sentiment
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentiment:
    """A classifier's answer for one text: the most probable label and every label's
    probability.

    Example: ``Sentiment("positive", {"negative": 0.03, "neutral": 0.07, "positive":
    0.90}).score`` -> ``0.90``.
    """

    label: str
    probabilities: dict[str, float]

    @property
    def score(self) -> float:
        """The probability of the chosen label."""
        return self.probabilities[self.label]


class SentimentPipeline:
    """Raw texts in, a :class:`Sentiment` (label and probabilities) per text out,
    batched, in input order.

    ``model`` is a sequence-classification model
    (``AutoModelForSequenceClassification``, or any module whose output has ``.logits``
    of shape (batch, labels)) trained with the labels of ``id2label``; ``device=None``
    leaves it where it is. Texts are sorted by length so that each batch pads little,
    and the answers are put back in the order of the input. Texts longer than
    ``max_length`` pieces (default: the model's position limit) are cut by
    :func:`tutorialkit.classify.encode_texts`: their start is kept (``head=None``) or
    their first ``head`` and last pieces.

    Bad input is an error, never a silent guess: a single ``str`` instead of a list and
    a text that is not a ``str`` raise TypeError; an empty or whitespace-only text
    raises ValueError with its index (a classifier always answers *some* label, and a
    confident label for no text at all would mislead whoever reads it). Example:
    ``SentimentPipeline(model, tokenizer, {0: "negative", 1: "positive"})(["great
    film"])`` -> ``[Sentiment("positive", {"negative": 0.04, "positive": 0.96})]``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        id2label: Mapping[int, str],
        device: torch.device | str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        *,
        head: int | None = None,
    ) -> None:
        self.id2label = _prepare(model, id2label, device, batch_size)
        self.max_length = (
            _default_max_length(model, tokenizer) if max_length is None else max_length
        )
        budget = self.max_length - tokenizer.num_special_tokens_to_add(pair=False)
        if head is not None and not 0 <= head <= budget:
            raise ValueError(
                f"head must leave room for the special tokens: 0 <= head <= {budget}, "
                f"found {head}"
            )
        self.model, self.tokenizer, self.batch_size, self.head = (
            model,
            tokenizer,
            batch_size,
            head,
        )

    def __call__(self, texts: list[str]) -> list[Sentiment]:
        """The label and the probabilities of each text, in text order."""
        _check_texts(texts)
        for i, text in enumerate(texts):
            if not text.strip():
                raise ValueError(
                    f"text {i} is empty or only whitespace: there is nothing to "
                    "classify"
                )
        ids = encode_texts(texts, self.tokenizer, self.max_length, self.head)
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        probabilities = torch.empty(len(texts), len(self.id2label))
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for start in range(0, len(order), self.batch_size):
                    chosen = order[start : start + self.batch_size]
                    batch = self.tokenizer.pad(
                        {"input_ids": [ids[i] for i in chosen]}, return_tensors="pt"
                    )
                    logits = self.model(
                        input_ids=batch["input_ids"].to(device),
                        attention_mask=batch["attention_mask"].to(device),
                    ).logits
                    probabilities[chosen] = torch.softmax(logits.float(), dim=-1).cpu()
        finally:
            self.model.train(was_training)
        labels = [self.id2label[i] for i in range(len(self.id2label))]
        return [
            Sentiment(labels[int(row.argmax())], dict(zip(labels, row.tolist())))
            for row in probabilities
        ]


def _check_texts(texts: object) -> None:
    """TypeError unless ``texts`` is a list or tuple of str (a single str is the usual
    mistake)."""
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise TypeError(
            f"expected a list of texts, found {type(texts).__name__}"
            + (": wrap a single text in a list" if isinstance(texts, str) else "")
        )
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i}: expected a str, found {type(text).__name__}")


def _prepare(
    model: torch.nn.Module, id2label: Mapping[int, str], device, batch_size: int
) -> dict[int, str]:
    """What both pipelines check and do first; returns ``id2label`` with int keys.

    ``id2label`` must name the labels 0..K-1, K being the model's ``config.num_labels``
    when it has one; ``batch_size`` must be >= 1; the model moves to ``device`` unless
    it is None.
    """
    checked = {int(i): label for i, label in id2label.items()}
    n_labels = getattr(getattr(model, "config", None), "num_labels", None)
    if n_labels is None:
        if sorted(checked) != list(range(len(checked))):
            raise ValueError(
                f"id2label must map the ids 0..{len(checked) - 1} to labels, found "
                f"ids {sorted(checked)}"
            )
    elif sorted(checked) != list(range(n_labels)):
        raise ValueError(
            f"id2label must name the model's {n_labels} labels 0..{n_labels - 1}, "
            f"found ids {sorted(checked)}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, found {batch_size}")
    if device is not None:
        model.to(device)
    return checked


def _default_max_length(model: torch.nn.Module, tokenizer) -> int:
    """The smaller of the model's position limit and the tokenizer's maximum length."""
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    limits = [positions, tokenizer.model_max_length]
    return min(limit for limit in limits if isinstance(limit, int) and limit > 0)
