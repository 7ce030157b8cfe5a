"""Inference pipelines: what a fine-tuned model looks like to the people who use it.

:class:`NerPipeline` turns raw text into entity spans with character offsets. Raw text was never
split into words, so the pipeline splits it by a simple, documented rule (:func:`split_words`),
then runs the same code path as training and evaluation (:func:`tutorialkit.ner.encode_sentences`,
windows for long texts, :func:`tutorialkit.ner.predict_windows`), decodes the tags into entities
(:func:`tutorialkit.metrics.entity_spans`) and maps each entity back to the characters it
came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from tutorialkit.metrics import entity_spans
from tutorialkit.ner import encode_sentences, merge_windows, predict_windows

# A word is a run of letters, digits and underscores, or any single other character that is not
# a space: "Don't panic!" -> Don, ', t, panic, !
WORD_PATTERN = re.compile(r"\w+|[^\w\s]")


def split_words(text: str, pattern: re.Pattern = WORD_PATTERN) -> list[tuple[str, int, int]]:
    """Split raw text into ``(word, start, end)`` triples, ``text[start:end] == word``.

    The default rule (:data:`WORD_PATTERN`, ``\\w+|[^\\w\\s]``) keeps runs of letters and digits
    together and makes every other visible character a word of its own; whitespace of any kind and
    length separates words and is never part of one. It is close to, but not the same as, the
    tokenisation of the training corpus ("@user" becomes "@", "user"); pass another ``pattern``
    to match a corpus more closely.
    Example: ``split_words("Hi  Bob!")`` -> ``[("Hi", 0, 2), ("Bob", 4, 7), ("!", 7, 8)]``.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a str, found {type(text).__name__}")
    return [(m.group(), m.start(), m.end()) for m in pattern.finditer(text)]


@dataclass(frozen=True)
class Entity:
    """An entity found in a text: ``text[start:end] == entity.text``.

    ``score`` is the mean, over the entity's words, of the probability the model gave to the tag
    it chose. Example: ``Entity("Paris", "LOC", 10, 15, 0.97)``.
    """

    text: str
    label: str
    start: int
    end: int
    score: float


class NerPipeline:
    """Raw texts in, entity spans with character offsets out, in batches, on any device.

    ``model`` is a token-classification model (``AutoModelForTokenClassification``) trained with
    the labels of ``id2label``; ``device=None`` leaves it where it is, otherwise it is moved there.
    Texts longer than ``max_length`` pieces (default: the model's position limit) are cut into
    windows, so no word goes unread. ``strict`` decodes tags as :func:`~tutorialkit.metrics.entity_spans`
    does. Example: ``NerPipeline(model, tokenizer, id2label)(["Obama visited Paris."])`` ->
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
        self.id2label = {int(i): label for i, label in id2label.items()}
        n_labels = getattr(getattr(model, "config", None), "num_labels", None)
        if n_labels is not None and sorted(self.id2label) != list(range(n_labels)):
            raise ValueError(
                f"id2label must name the model's {n_labels} labels 0..{n_labels - 1}, found ids {sorted(self.id2label)}"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, found {batch_size}")
        if device is not None:
            model.to(device)
        if max_length is None:
            positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
            limits = [positions, tokenizer.model_max_length]
            max_length = min(limit for limit in limits if isinstance(limit, int) and limit > 0)
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.max_length, self.stride, self.pattern, self.strict = max_length, stride, pattern, strict

    def __call__(self, texts: list[str]) -> list[list[Entity]]:
        """The entities of each text, in text order; a text without words has none."""
        if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
            raise TypeError(f"expected a list of texts, found {type(texts).__name__}" +
                            (": wrap a single text in a list" if isinstance(texts, str) else ""))
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i}: expected a str, found {type(text).__name__}")
        words = [split_words(text, self.pattern) for text in texts]
        has_words = [i for i, w in enumerate(words) if w]
        found: list[list[Entity]] = [[] for _ in texts]
        if not has_words:
            return found
        windows = encode_sentences([[w for w, _, _ in words[i]] for i in has_words], self.tokenizer,
                                   max_length=self.max_length, stride=self.stride)
        rows = predict_windows(self.model, self.tokenizer, windows, batch_size=self.batch_size)
        for i, probabilities in zip(has_words, merge_windows(windows, rows)):
            confidence, best = probabilities.max(dim=-1)
            tags = [self.id2label[int(j)] for j in best]
            for label, start, end in entity_spans(tags, strict=self.strict):
                first, last = words[i][start][1], words[i][end - 1][2]
                score = float(confidence[start:end].mean())
                found[i].append(Entity(texts[i][first:last], label, first, last, score))
        return found

