"""Token classification for named-entity recognition: from tagged words to model inputs
and back.

A NER corpus tags *words*; a BERT model reads *word pieces* between special tokens. This
module does the translations in both directions, so that every word is trained on and
predicted exactly once:

* :func:`label_maps` numbers the tags (``O`` first, then ``B-``/``I-`` of each type,
  sorted);
* :func:`align_labels` gives the first piece of each word its word's label and every
  other position (further pieces, ``[CLS]``, ``[SEP]``) the ignored label ``-100``;
* :func:`plan_windows` and :func:`encode_sentences` cut a sentence that has more pieces
  than the model accepts into overlapping windows of whole words, each word *predicted*
  by exactly one window (the one in which it sits nearest the middle);
* :func:`predict_windows` and :func:`merge_windows` run a model over the windows and put
  the predictions back together, one row of label probabilities per word;
  :func:`decode_tags` picks each word's most probable tag, or (:func:`viterbi_decode`)
  the most probable valid IOB2 sequence; :func:`predict_tags` chains everything and
  returns one tag per word;
* :func:`hub_to_sentences` reads a Hugging Face dataset with integer tags (CoNLL-2003)
  into :class:`~tutorialkit.conll.TaggedSentence` records with IOB2 tags.

Padding is left to ``transformers.DataCollatorForTokenClassification``, which pads each
batch to its own longest window and pads the labels with ``-100``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from tutorialkit.conll import (
    TAG_SCHEMES,
    TaggedSentence,
    check_iob2,
    iob1_to_iob2,
    is_valid_iob2,
)
from tutorialkit.losses import IGNORE_INDEX

# --------------------------------------------------------------------------------------
# Tags and their ids
# --------------------------------------------------------------------------------------


def _tags_of(item: TaggedSentence | Sequence[str]) -> Sequence[str]:
    """The tags of a TaggedSentence, or the item itself when it is already a tag
    sequence."""
    return item.tags if isinstance(item, TaggedSentence) else item


def label_maps(
    sentences: Iterable[TaggedSentence | Sequence[str]],
) -> tuple[dict[str, int], dict[int, str]]:
    """Number the tags of a corpus: ``O`` first, then ``B-TYPE``, ``I-TYPE`` for each
    type, sorted.

    ``sentences`` are :class:`~tutorialkit.conll.TaggedSentence` records or plain tag
    sequences. Every type gets both its ``B-`` and its ``I-`` tag, even if one never
    occurs, so the ids do not depend on which split they were computed from, only on the
    set of types. Returns ``(label2id, id2label)``, ready for ``from_pretrained(...,
    label2id=..., id2label=...)``.

    Example:

    >>> label_maps([["B-PER", "I-PER", "O", "B-LOC"]])[0]
    {'O': 0, 'B-LOC': 1, 'I-LOC': 2, 'B-PER': 3, 'I-PER': 4}
    """
    types: set[str] = set()
    count = 0
    for index, item in enumerate(sentences):
        count += 1
        for position, tag in enumerate(_tags_of(item)):
            if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
                where = getattr(item, "source", "") or f"sentence {index}"
                raise ValueError(
                    f"{where}: tag {tag!r} at word {position} is not 'O', 'B-TYPE' or "
                    "'I-TYPE'"
                )
            if tag != "O":
                types.add(tag[2:])
    if count == 0:
        raise ValueError("label_maps needs at least one sentence, found none")
    labels = ["O"] + [
        f"{prefix}-{kind}" for kind in sorted(types) for prefix in ("B", "I")
    ]
    label2id = {label: i for i, label in enumerate(labels)}
    return label2id, {i: label for label, i in label2id.items()}


def tag_ids(sentence: TaggedSentence, label2id: Mapping[str, int]) -> list[int]:
    """The label id of each word's tag; a tag missing from ``label2id`` is an error
    naming it.

    Example:

    >>> tag_ids(TaggedSentence(["Paris"], ["B-LOC"]), {"O": 0, "B-LOC": 1})
    [1]
    """
    unknown = [(i, tag) for i, tag in enumerate(sentence.tags) if tag not in label2id]
    if unknown:
        position, tag = unknown[0]
        where = sentence.source or "sentence"
        raise KeyError(
            f"{where}: unknown tag {tag!r} at word {position} ({len(unknown)} unknown "
            "in this sentence); "
            f"label2id knows {sorted(label2id, key=label2id.get)}: build it with "
            "label_maps() over "
            f"every split, or fix the data"
        )
    return [label2id[tag] for tag in sentence.tags]


# --------------------------------------------------------------------------------------
# Word pieces and labels
# --------------------------------------------------------------------------------------


def align_labels(
    word_ids: Sequence[int | None],
    word_labels: Sequence[int],
    scored: Iterable[int] | None = None,
) -> list[int]:
    """One label per word piece: the word's label on its first piece, ``-100``
    everywhere else.

    ``word_ids`` comes from a fast tokenizer's ``encoding.word_ids()``: for each
    position the index of the word it belongs to, ``None`` for special tokens such as
    ``[CLS]`` and ``[SEP]``. ``word_labels`` holds one label id per word. Only the first
    piece of a word carries its label, so each word counts once in the loss, however
    many pieces it was cut into; further pieces and special tokens get ``-100``, which
    the loss ignores. With ``scored`` (word indices) only those words get a label (the
    words a window predicts, see :func:`encode_sentences`); without it the positions
    must cover exactly ``len(word_labels)`` words.

    >>> align_labels([None, 0, 1, 1, None], [3, 5])
    [-100, 3, 5, -100, -100]
    """
    present = sorted({w for w in word_ids if w is not None})
    if scored is None:
        if present != list(range(len(word_labels))):
            raise ValueError(
                f"labels of a different length than the words: {len(word_labels)} "
                "labels for the "
                f"{len(present)} words in word_ids (indices "
                f"{present[:3]}...{present[-3:]})"
            )
        scored = present
    scored = set(scored)
    if scored and max(scored) >= len(word_labels):
        raise ValueError(
            f"labels of a different length than the words: word {max(scored)} is "
            "scored but there "
            f"are only {len(word_labels)} labels"
        )
    missing = scored - set(present)
    if missing:
        raise ValueError(
            f"words {sorted(missing)} are to be scored but have no piece in word_ids"
        )
    labels, previous = [], None
    for word in word_ids:
        first_piece = word is not None and word != previous
        labels.append(
            word_labels[word] if first_piece and word in scored else IGNORE_INDEX
        )
        previous = word
    return labels


def piece_counts(tokenizer, words: Sequence[str]) -> list[int]:
    """How many word pieces ``tokenizer`` cuts each word into (special tokens not
    counted).

    A fast tokenizer is needed (``word_ids()``). A word can have *zero* pieces: the
    tokenizer removes some characters entirely (a zero-width space, a lone combining
    accent); such a word must be replaced before encoding (see
    :func:`encode_sentences`), or it would silently get no prediction. Usage:
    ``piece_counts(tokenizer, ["Hello", "tokenization"])``; MiniLM's tokenizer cuts the
    first word into one piece and the second into two.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(
            "a fast tokenizer is needed for word_ids(), found "
            f"{type(tokenizer).__name__}"
        )
    encoding = tokenizer(
        list(words), is_split_into_words=True, add_special_tokens=False
    )
    counts = [0] * len(words)
    for word in encoding.word_ids():
        if word is not None:
            counts[word] += 1
    return counts


# --------------------------------------------------------------------------------------
# Windows for long sentences
# --------------------------------------------------------------------------------------


def plan_windows(
    counts: Sequence[int], budget: int, stride: int
) -> list[tuple[int, int, int, int]]:
    """Cut a sentence into windows of whole words: ``(start, end, first, last)`` for
    each window.

    ``counts[i]`` is the number of pieces of word ``i``; ``budget`` the pieces a window
    may hold (the model's limit minus its special tokens); ``stride`` how many pieces of
    context two consecutive windows may share. Window ``k`` holds words ``[start,
    end)``: as many whole words as fit; the next window starts up to ``stride`` pieces
    (whole words) before the previous one ended, later when needed so that it reaches at
    least one new word, and always at least one word later than the previous window.
    Each overlap is split in the middle: window ``k`` *predicts* words ``[first,
    last)``, so every word is predicted by exactly one window, the one where it has
    context on both sides. A word longer than ``budget`` is counted as ``budget``
    pieces: it is truncated, and its first piece, which carries the prediction, kept.

    >>> plan_windows([1, 1, 1, 1, 1], budget=3, stride=1)
    [(0, 3, 0, 2), (2, 5, 2, 5)]
    """
    if budget < 1:
        raise ValueError(f"budget must be at least one piece, found {budget}")
    if not 0 <= stride < budget:
        raise ValueError(
            f"stride must be in [0, budget) = [0, {budget}), found {stride}"
        )
    if not counts:
        raise ValueError("cannot plan windows for an empty sentence")
    if min(counts) < 1:
        raise ValueError(
            f"every word needs at least one piece, found counts {list(counts)}"
        )
    counts = [min(c, budget) for c in counts]
    n, spans, start = len(counts), [], 0
    while True:
        end, used = start, 0
        while end < n and used + counts[end] <= budget:
            used += counts[end]
            end += 1
        spans.append((start, end))
        if end == n:
            break
        # step back over whole words while they fit in the stride, and leave room for
        # word `end`
        next_start, shared = end, 0
        while (
            next_start - 1 > start
            and shared + counts[next_start - 1] <= stride
            and shared + counts[next_start - 1] + counts[end] <= budget
        ):
            next_start -= 1
            shared += counts[next_start]
        start = next_start
    # window k predicts [b_k, b_{k+1}): the middle of each overlap is the border. Starts
    # and ends both strictly increase, so each window predicts at least one word.
    borders = (
        [0] + [(spans[k][0] + spans[k - 1][1]) // 2 for k in range(1, len(spans))] + [n]
    )
    return [(s, e, borders[k], borders[k + 1]) for k, (s, e) in enumerate(spans)]


@dataclass(frozen=True)
class Window:
    """One model input: a run of whole words of one sentence, and which of them it
    predicts.

    ``input_ids`` and ``word_ids`` have one entry per position (``word_ids`` holds the
    index of the word *in the sentence*, ``None`` for special tokens); ``labels`` (or
    None without tags) carries the label of the first piece of each word in ``[first,
    last)`` and ``-100`` elsewhere, so context words shared with a neighbouring window
    are neither trained on nor scored twice. :meth:`features` is what the collator
    pads.

    Example (a window of a whole two-word sentence, between ``[CLS]`` and ``[SEP]``):

    >>> window = Window(sentence=0, n_words=2, start=0, end=2, first=0, last=2,
    ...                 input_ids=(101, 7, 8, 102), word_ids=(None, 0, 1, None))
    >>> window.features()
    {'input_ids': [101, 7, 8, 102], 'attention_mask': [1, 1, 1, 1]}
    """

    sentence: int  # index of the sentence in the encoded list
    n_words: int  # words in the whole sentence
    start: int  # the window holds words [start, end) ...
    end: int
    first: int  # ... and predicts words [first, last)
    last: int
    input_ids: tuple[int, ...]
    word_ids: tuple[int | None, ...]
    labels: tuple[int, ...] | None = None

    @property
    def positions(self) -> list[int]:
        """Position of the first piece of each predicted word, in word order."""
        found: dict[int, int] = {}
        for position, word in enumerate(self.word_ids):
            if word is not None and self.first <= word < self.last:
                found.setdefault(word, position)
        return [found[word] for word in range(self.first, self.last)]

    def features(self) -> dict[str, list[int]]:
        """``input_ids``, ``attention_mask`` and (with tags) ``labels``: one example for
        the collator."""
        features = {
            "input_ids": list(self.input_ids),
            "attention_mask": [1] * len(self.input_ids),
        }
        if self.labels is not None:
            features["labels"] = list(self.labels)
        return features


def _words_of(item: TaggedSentence | Sequence[str], index: int) -> list[str]:
    """The words of a sentence (TaggedSentence or a list of strings), checked."""
    if isinstance(item, TaggedSentence):
        return list(item.tokens)
    if isinstance(item, str) or not isinstance(item, Sequence):
        raise TypeError(
            f"sentence {index}: expected a TaggedSentence or a list of words, found "
            f"{type(item).__name__}"
            + (" (a str: split it into words first)" if isinstance(item, str) else "")
        )
    if not item:
        raise ValueError(
            f"sentence {index}: expected at least one word, found an empty sentence"
        )
    bad = [w for w in item if not isinstance(w, str) or not w]
    if bad:
        raise TypeError(
            f"sentence {index}: every word must be a non-empty str, found {bad[0]!r}"
        )
    return list(item)


def encode_sentences(
    sentences: Sequence[TaggedSentence | Sequence[str]],
    tokenizer,
    label2id: Mapping[str, int] | None = None,
    *,
    max_length: int = 128,
    stride: int = 16,
) -> list[Window]:
    """Tokenise pre-split sentences into :class:`Window` inputs of at most
    ``max_length`` positions.

    Each sentence is a :class:`~tutorialkit.conll.TaggedSentence` or a list of words
    (inference). With ``label2id`` the sentences must be TaggedSentences and their tags
    become labels (:func:`tag_ids`, :func:`align_labels`). A sentence whose pieces fit
    in ``max_length`` (special tokens included) is one window; a longer one is cut by
    :func:`plan_windows`, sharing up to ``stride`` pieces of context between neighbours.
    A word that the tokenizer reduces to no piece at all is replaced by the unknown
    token, so that it still gets a prediction. Usage: ``encode_sentences(train,
    tokenizer, label2id, max_length=64)``.
    """
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    if budget < 1:
        raise ValueError(
            f"max_length={max_length} leaves no room for words after the special tokens"
        )
    if not 0 <= stride < budget:
        raise ValueError(
            f"stride must be in [0, {budget}) for max_length={max_length}, found "
            f"{stride}"
        )
    windows = []
    for index, item in enumerate(sentences):
        labels = None if label2id is None else _sentence_labels(item, index, label2id)
        words, counts = _words_with_pieces(tokenizer, _words_of(item, index), index)
        for start, end, first, last in plan_windows(counts, budget, stride):
            encoding = tokenizer(
                words[start:end],
                is_split_into_words=True,
                truncation=True,
                max_length=max_length,
            )
            word_ids = tuple(
                None if w is None else w + start for w in encoding.word_ids()
            )
            aligned = (
                None
                if labels is None
                else tuple(align_labels(word_ids, labels, range(first, last)))
            )
            windows.append(
                Window(
                    index,
                    len(words),
                    start,
                    end,
                    first,
                    last,
                    tuple(encoding["input_ids"]),
                    word_ids,
                    aligned,
                )
            )
    return windows


def _sentence_labels(item, index: int, label2id: Mapping[str, int]) -> list[int]:
    """The label ids of a training sentence (it must have tags)."""
    if not isinstance(item, TaggedSentence):
        raise TypeError(
            f"sentence {index}: label2id needs TaggedSentences (words and tags), found "
            f"{type(item).__name__}"
        )
    return tag_ids(item, label2id)


def _words_with_pieces(
    tokenizer, words: list[str], index: int
) -> tuple[list[str], list[int]]:
    """The words and their piece counts, a word with no piece replaced by the unknown
    token (so that it still gets a prediction)."""
    counts = piece_counts(tokenizer, words)
    if 0 not in counts:
        return words, counts
    if tokenizer.unk_token is None:
        empty = [w for w, c in zip(words, counts) if not c]
        raise ValueError(
            f"sentence {index}: words {empty} have no piece, and the tokenizer no "
            "unknown token"
        )
    words = [w if c else tokenizer.unk_token for w, c in zip(words, counts)]
    return words, [max(c, 1) for c in counts]


# --------------------------------------------------------------------------------------
# Predictions: windows in, one row per word out
# --------------------------------------------------------------------------------------


@torch.no_grad()
def predict_windows(
    model: torch.nn.Module,
    tokenizer,
    windows: Sequence[Window],
    *,
    batch_size: int = 32,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> list[torch.Tensor]:
    """Label probabilities of the words each window predicts: one ``(last - first,
    n_labels)`` tensor per window.

    Windows are fed shortest first, so that each batch is padded (by
    ``DataCollatorForTokenClassification``) to similar lengths; results come back in the
    order of ``windows``, on the CPU, as float32. A word's prediction is read at its
    first piece, the position that carried its label in training. ``device=None`` uses
    the model's device; the model is put in eval mode and left in the mode it was in.
    Usage: ``probs = predict_windows(model, tokenizer, encode_sentences(words,
    tokenizer))``.
    """
    from transformers import DataCollatorForTokenClassification

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, found {batch_size}")
    device = (
        torch.device(device) if device is not None else next(model.parameters()).device
    )
    collate = DataCollatorForTokenClassification(tokenizer)
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
    results: list[torch.Tensor | None] = [None] * len(windows)
    was_training = model.training
    model.eval()
    try:
        for begin in tqdm(
            range(0, len(order), batch_size),
            desc="predict",
            unit="batch",
            disable=not progress,
        ):
            chosen = order[begin : begin + batch_size]
            batch = collate(
                [
                    {k: v for k, v in windows[i].features().items() if k != "labels"}
                    for i in chosen
                ]
            )
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
            probabilities = logits.float().softmax(dim=-1).cpu()
            for row, i in enumerate(chosen):
                results[i] = probabilities[row, windows[i].positions]
    finally:
        model.train(was_training)
    return results


def merge_windows(
    windows: Sequence[Window], window_rows: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """Put the rows of :func:`predict_windows` back into sentences: one ``(n_words,
    n_labels)`` tensor each.

    Checks that every word of every sentence was predicted by exactly one window, so
    that no word is silently dropped from an evaluation (or counted twice). Sentences
    are numbered as in :func:`encode_sentences`. Usage: ``merge_windows(windows,
    predict_windows(model, tok, windows))``.
    """
    if len(windows) != len(window_rows):
        raise ValueError(f"{len(windows)} windows but {len(window_rows)} predictions")
    n_sentences = 1 + max((w.sentence for w in windows), default=-1)
    merged: list[list[torch.Tensor | None]] = [[] for _ in range(n_sentences)]
    for window, rows in zip(windows, window_rows):
        if len(rows) != window.last - window.first:
            expected = window.last - window.first
            raise ValueError(
                f"sentence {window.sentence}: a window predicts {expected} words, got "
                f"{len(rows)} rows"
            )
        words = merged[window.sentence]
        if not words:
            words.extend([None] * window.n_words)
        for offset, row in enumerate(rows):
            word = window.first + offset
            if words[word] is not None:
                raise ValueError(
                    f"sentence {window.sentence}: word {word} is predicted by two "
                    "windows"
                )
            words[word] = row
    for index, words in enumerate(merged):
        missing = [i for i, row in enumerate(words) if row is None]
        if not words or missing:
            raise ValueError(
                f"sentence {index}: words {missing or 'all'} are predicted by no window"
            )
    return [torch.stack(words) for words in merged]


def predict_tags(
    model: torch.nn.Module,
    tokenizer,
    sentences: Sequence[TaggedSentence | Sequence[str]],
    id2label: Mapping[int, str],
    *,
    max_length: int = 128,
    stride: int = 16,
    batch_size: int = 32,
    device: torch.device | str | None = None,
    progress: bool = False,
    constrained: bool = False,
) -> list[list[str]]:
    """One predicted tag per word of each sentence, from the label probabilities at its
    first piece.

    Chains :func:`encode_sentences`, :func:`predict_windows`, :func:`merge_windows` and
    :func:`decode_tags` (the most probable tag of each word, or with ``constrained`` the
    most probable valid IOB2 sequence); the tags of TaggedSentences are ignored.
    Usage: ``predict_tags(model, tok, test, id2label)``, a list of tags such as
    ``["O", "B-person", ...]`` for each sentence.
    """
    windows = encode_sentences(
        sentences, tokenizer, max_length=max_length, stride=stride
    )
    rows = predict_windows(
        model,
        tokenizer,
        windows,
        batch_size=batch_size,
        device=device,
        progress=progress,
    )
    return decode_tags(merge_windows(windows, rows), id2label, constrained=constrained)


# --------------------------------------------------------------------------------------
# Decoding: each word's best tag, or the best valid sequence
# --------------------------------------------------------------------------------------


def iob2_transitions(id2label: Mapping[int, str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Which tag may follow which in IOB2, and which may start a sentence.

    ``allowed[i, j]`` is True when tag ``j`` may follow tag ``i``: an ``I-X`` only
    continues an entity of the same type (after ``B-X`` or ``I-X``); every other tag may
    follow anything. ``start[j]`` is False for the ``I-`` tags. These are the hard
    constraints a CRF layer learns as transition scores.
    """
    tags = [id2label[i] for i in range(len(id2label))]

    def may_follow(previous: str, tag: str) -> bool:
        return not tag.startswith("I-") or (
            previous[:2] in ("B-", "I-") and previous[2:] == tag[2:]
        )

    allowed = torch.tensor(
        [[may_follow(previous, tag) for tag in tags] for previous in tags]
    )
    start = torch.tensor([not tag.startswith("I-") for tag in tags])
    return allowed, start


def viterbi_decode(
    log_probs: torch.Tensor, allowed: torch.Tensor, start: torch.Tensor
) -> list[int]:
    """The sequence of tag ids with the largest sum of ``log_probs`` (words x tags)
    among the allowed ones.

    Dynamic programming: ``score[j]`` is the best total of a valid sequence of the words
    so far that ends in tag ``j``; one step adds the next word's log-probability to the
    best allowed predecessor, and the back-pointers give the sequence. Cost: words x
    tags x tags.
    """
    blocked = torch.zeros(allowed.shape).masked_fill(~allowed, -torch.inf)
    score = log_probs[0].float() + torch.zeros(start.shape).masked_fill(
        ~start, -torch.inf
    )
    back = []
    for word in log_probs[1:]:
        # for each tag, its best predecessor
        best, previous = (score[:, None] + blocked).max(dim=0)
        back.append(previous)
        score = best + word.float()
    path = [int(score.argmax())]
    for previous in reversed(back):
        path.append(int(previous[path[-1]]))
    return path[::-1]


def decode_tags(
    word_probabilities: Sequence[torch.Tensor],
    id2label: Mapping[int, str],
    *,
    constrained: bool = False,
) -> list[list[str]]:
    """Tags from each sentence's (words x tags) probabilities: per-word arg-max, or
    constrained Viterbi.

    The arg-max may produce ``O I-X``, which IOB2 forbids; ``constrained=True`` returns
    the most probable sequence that obeys :func:`iob2_transitions` instead.
    """
    if not constrained:
        return [
            [id2label[int(i)] for i in rows.argmax(dim=-1)]
            for rows in word_probabilities
        ]
    allowed, start = iob2_transitions(id2label)
    # log 0 would be -inf
    log_probs = [rows.clamp_min(1e-12).log() for rows in word_probabilities]
    return [
        [id2label[i] for i in viterbi_decode(rows, allowed, start)]
        for rows in log_probs
    ]


# --------------------------------------------------------------------------------------
# Hub datasets with integer tags
# --------------------------------------------------------------------------------------


def hub_to_sentences(
    dataset,
    *,
    tokens_column: str = "tokens",
    tags_column: str = "ner_tags",
    scheme: str = "auto",
) -> list[TaggedSentence]:
    """Turn a Hugging Face ``datasets.Dataset`` of tokens and tags into IOB2
    TaggedSentences.

    Integer tags are named with the dataset's own ``ClassLabel`` names (never with a
    hand-typed list: repositories of the same corpus number the tags differently).
    ``scheme`` says how the tags are written: ``"iob2"`` (checked), ``"iob1"``
    (converted with :func:`~tutorialkit.conll.iob1_to_iob2`) or ``"auto"`` (IOB2 if
    every sentence is valid IOB2, else IOB1). ``-DOCSTART-`` rows are document
    separators and are left out; empty rows are left out with a warning that counts
    them. Usage: ``hub_to_sentences(load_hub_dataset("conll2003")["test"])``.
    """
    if scheme not in TAG_SCHEMES:
        raise ValueError(
            f"unknown tag scheme {scheme!r}: expected one of {', '.join(TAG_SCHEMES)}"
        )
    feature = dataset.features[tags_column]
    names = getattr(getattr(feature, "feature", None), "names", None)
    rows, empty = [], 0
    for index, row in enumerate(dataset):
        tokens, tags = list(row[tokens_column]), list(row[tags_column])
        if not tokens:
            empty += 1
            continue
        if tokens == ["-DOCSTART-"]:
            continue
        if names is not None:
            tags = [names[t] for t in tags]
        rows.append((tokens, tags, f"row {index}"))
    if empty:
        warnings.warn(
            f"hub_to_sentences: left out {empty} rows with no tokens", stacklevel=2
        )
    if scheme == "auto":
        scheme = "iob2" if all(is_valid_iob2(tags) for _, tags, _ in rows) else "iob1"
    sentences = []
    for tokens, tags, source in rows:
        try:
            if scheme == "iob2":
                check_iob2(tags)
            else:
                tags = iob1_to_iob2(tags)
        except ValueError as error:
            raise ValueError(f"{source}: {error} (scheme {scheme!r})") from error
        sentences.append(TaggedSentence(tokens, tags, source=source))
    return sentences
