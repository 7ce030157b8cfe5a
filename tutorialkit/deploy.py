"""Deployment: a fine-tuned model as one folder, loaded back in a fresh process, and
timed.

A *bundle* is a folder holding everything inference needs and nothing else:

* ``model.safetensors`` and ``config.json`` (with the label names,
  ``id2label``/``label2id``), written by ``model.save_pretrained``;
* the tokenizer's files, written by ``tokenizer.save_pretrained``;
* ``tutorialkit.json``: the task (``"ner"`` or ``"classify"``), the ``max_length`` the
  model was trained with, the labels in id order and the version of ``tutorialkit`` that
  wrote it.

:func:`save_bundle` writes one, :func:`load_bundle` reads it back into a :class:`Bundle`
whose :meth:`Bundle.pipeline` is the :class:`~tutorialkit.apps.NerPipeline` or
:class:`~tutorialkit.apps.SentimentPipeline` of its task, and :func:`measure_throughput`
measures the latency and throughput of a pipeline at several batch sizes on this
machine.
"""

from __future__ import annotations

import json
import statistics
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

import tutorialkit
from tutorialkit.apps import NerPipeline, SentimentPipeline
from tutorialkit.env import cpu_has_int8_dot, pick_device
from tutorialkit.resources import load_model, load_tokenizer

BUNDLE_FILE = "tutorialkit.json"
TASKS = ("ner", "classify")
# save_pretrained writes one file, or an index and shards for a large model
WEIGHTS_FILES = ("model.safetensors", "model.safetensors.index.json")


class BundleError(ValueError):
    """A folder is not a bundle written by :func:`save_bundle`; the message names the
    folder and what is missing."""


def _check_task(task: str) -> None:
    """ValueError unless ``task`` is one of :data:`TASKS`."""
    if task not in TASKS:
        raise ValueError(
            f"task must be one of {TASKS} ('ner': token classification, "
            f"'classify': text classification), found {task!r}"
        )


def _auto_class(task: str):
    """The transformers Auto class with the head of ``task``."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )

    return (
        AutoModelForTokenClassification
        if task == "ner"
        else AutoModelForSequenceClassification
    )


def save_bundle(
    model: torch.nn.Module, tokenizer, folder: str | Path, *, task: str, max_length: int
) -> Path:
    """Write a fine-tuned model, its tokenizer and ``tutorialkit.json`` into ``folder``;
    return its path.

    The model's weights go to safetensors (no pickled code runs when they are loaded)
    and its ``config.json`` keeps the label names; ``tutorialkit.json`` records the
    ``task`` ("ner" or "classify"), the ``max_length`` in word pieces used in training,
    so that inference cuts texts the same way, and the labels in id order. Usage:
    ``save_bundle(model, tokenizer, "runs/wnut-bundle", task="ner", max_length=128)``.
    """
    _check_task(task)
    if (
        not isinstance(max_length, int)
        or isinstance(max_length, bool)
        or max_length < 2
    ):
        raise ValueError(
            "max_length must be a whole number of word pieces >= 2, found "
            f"{max_length!r}"
        )
    id2label = {int(i): label for i, label in model.config.id2label.items()}
    if sorted(id2label) != list(range(model.config.num_labels)):
        raise ValueError(
            "model.config.id2label must name the labels "
            f"0..{model.config.num_labels - 1}, "
            f"found ids {sorted(id2label)}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    metadata = {
        "task": task,
        "max_length": max_length,
        "labels": [id2label[i] for i in sorted(id2label)],
        "tutorialkit": tutorialkit.__version__,
    }
    (folder / BUNDLE_FILE).write_text(
        json.dumps(metadata, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return folder


@dataclass(frozen=True)
class Bundle:
    """A bundle loaded by :func:`load_bundle`: the model (eval mode), its tokenizer and
    what it was trained for.

    ``task`` is "ner" or "classify"; ``max_length`` the word-piece limit it was trained
    with; ``id2label`` the label of each output id. Usage:
    ``load_bundle("runs/wnut-bundle").pipeline()(["Hi Bob"])``.
    """

    model: torch.nn.Module
    tokenizer: object
    task: str
    max_length: int
    id2label: dict[int, str]

    def pipeline(self, batch_size: int = 32) -> NerPipeline | SentimentPipeline:
        """The inference pipeline of the task: a NerPipeline ("ner") or a
        SentimentPipeline ("classify")."""
        kind = NerPipeline if self.task == "ner" else SentimentPipeline
        return kind(
            self.model,
            self.tokenizer,
            self.id2label,
            batch_size=batch_size,
            max_length=self.max_length,
        )


def _read_metadata(folder: Path) -> dict:
    """Read and check ``tutorialkit.json`` and the files next to it, or raise
    BundleError saying what is missing."""
    if not folder.is_dir():
        raise BundleError(
            f"{folder}: no such folder: expected a bundle written by save_bundle "
            f"(or by `python -m tutorialkit train`)"
        )
    if not (folder / BUNDLE_FILE).is_file():
        raise BundleError(
            f"{folder} is not a tutorialkit bundle: it has no {BUNDLE_FILE} (expected "
            "a folder "
            f"written by save_bundle or by `python -m tutorialkit train`)"
        )
    missing = (
        []
        if any((folder / name).is_file() for name in WEIGHTS_FILES)
        else [" or ".join(WEIGHTS_FILES)]
    )
    missing += [] if (folder / "config.json").is_file() else ["config.json"]
    if missing:
        raise BundleError(
            f"{folder} is an incomplete bundle: missing {', '.join(missing)} "
            f"(written by model.save_pretrained in save_bundle)"
        )
    try:
        metadata = json.loads((folder / BUNDLE_FILE).read_text(encoding="utf-8"))
        _check_task(metadata["task"])
        labels, max_length = list(metadata["labels"]), int(metadata["max_length"])
    except (ValueError, KeyError, TypeError) as error:
        raise BundleError(
            f"{folder / BUNDLE_FILE}: expected JSON with 'task' "
            f"({' or '.join(TASKS)}), "
            f"'max_length' and 'labels', found a problem: {error!r}"
        ) from error
    return {"task": metadata["task"], "max_length": max_length, "labels": labels}


def load_bundle(
    folder: str | Path, device: torch.device | str | None = None, *, int8: bool = False
) -> Bundle:
    """Load a folder written by :func:`save_bundle`: float32 weights, eval mode, on
    ``device``; with ``int8=True`` its linear layers are quantised
    (:func:`quantize_int8`), the files stay float32.

    ``device=None`` picks the best available (:func:`tutorialkit.env.pick_device`). The
    model is loaded with the Auto class of its task (token or sequence classification)
    and an explicit float32 dtype (transformers 5 would otherwise keep the dtype it was
    saved in). A folder that is not a complete bundle raises :class:`BundleError` naming
    the folder and the missing file. Usage: ``bundle =
    load_bundle("runs/wnut-bundle"); bundle.pipeline()(["Obama visited Paris"])``.
    """
    folder = Path(folder)
    metadata = _read_metadata(folder)
    model = load_model(
        str(folder),
        _auto_class(metadata["task"]),
        device=pick_device(device),
        dtype=torch.float32,
    )
    model.eval()
    if int8:
        quantize_int8(model)
    id2label = dict(enumerate(metadata["labels"]))
    saved = {int(i): label for i, label in model.config.id2label.items()}
    if saved != id2label:
        raise BundleError(
            f"{folder}: the labels of {BUNDLE_FILE} {metadata['labels']} differ from "
            "those of "
            f"config.json {[saved[i] for i in sorted(saved)]}: the bundle was changed "
            "by hand"
        )
    return Bundle(
        model,
        load_tokenizer(str(folder)),
        metadata["task"],
        metadata["max_length"],
        id2label,
    )


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Quantise every ``nn.Linear`` of ``model`` to int8 in place, for inference; return
    the model.

    Dynamic quantisation with torchao: each weight matrix is stored as int8 with one
    float scale per output row (a quarter of float32's bytes), and each input is
    quantised on the fly, one scale per token, so that the matrix product runs on int8
    numbers with int32 sums and is scaled back to float. Embeddings, layer norms and
    softmax stay in float. Faster than float32 only where the CPU multiplies int8
    natively (:func:`tutorialkit.env.cpu_has_int8_dot`; a warning says when it does
    not). Needs ``pip install torchao``. Usage:
    ``quantize_int8(bundle.model)``, or ``load_bundle(folder, int8=True)``.
    """
    try:
        from torchao.quantization import (
            Int8DynamicActivationInt8WeightConfig,
            quantize_,
        )
    except ImportError as error:
        raise ImportError(
            "int8 quantisation needs the torchao package: pip install torchao"
        ) from error
    on_cpu = next(model.parameters()).device.type == "cpu"
    if on_cpu and cpu_has_int8_dot() is False:
        warnings.warn(
            "this CPU has no int8 dot-product instructions (VNNI or AMX): torch's int8 "
            "matrix product falls back to a slow loop on it, so the int8 model answers "
            "many times slower than float32 (about 20 times on an AVX2 processor); it "
            "still takes a quarter of the memory",
            stacklevel=2,
        )
    quantize_(model, Int8DynamicActivationInt8WeightConfig())
    return model


def _synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that the clock measures it (a no-op
    elsewhere)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_throughput(
    pipeline: NerPipeline | SentimentPipeline,
    texts: Sequence[str],
    batch_sizes: Sequence[int] = (1, 8, 32),
    repeats: int = 3,
) -> list[dict]:
    """Time a pipeline over ``texts`` at each batch size: latency per text and per
    batch, and throughput.

    For each batch size the pipeline runs once untimed (warm-up: memory allocation,
    kernel selection), then ``repeats`` timed runs over all the texts
    (``time.perf_counter``, after a CUDA synchronisation on a GPU). Returns one dict per
    batch size with ``batch_size``, ``texts``, ``repeats``, ``seconds`` (median run),
    ``ms_per_text`` (median run time / texts), ``ms_per_batch`` (median run time /
    batches: what one request waits when it is served in a full batch) and
    ``texts_per_s``. The pipeline's ``batch_size`` is restored afterwards. Usage:
    ``pd.DataFrame(measure_throughput(bundle.pipeline(), texts))``.
    """
    texts = list(texts)
    if not texts:
        raise ValueError("expected at least one text to time, found none")
    if repeats < 1 or any(b < 1 for b in batch_sizes) or not batch_sizes:
        raise ValueError(
            f"expected repeats >= 1 and batch sizes >= 1, found {repeats} and "
            f"{tuple(batch_sizes)}"
        )
    device = next(pipeline.model.parameters()).device
    original = pipeline.batch_size
    results = []
    try:
        for batch_size in batch_sizes:
            pipeline.batch_size = batch_size
            pipeline(texts)  # warm-up
            times = []
            for _ in range(repeats):
                _synchronize(device)
                start = time.perf_counter()
                pipeline(texts)
                _synchronize(device)
                times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            batches = -(-len(texts) // batch_size)
            results.append(
                {
                    "batch_size": batch_size,
                    "texts": len(texts),
                    "repeats": repeats,
                    "seconds": seconds,
                    "ms_per_text": 1000 * seconds / len(texts),
                    "ms_per_batch": 1000 * seconds / batches,
                    "texts_per_s": len(texts) / seconds,
                }
            )
    finally:
        pipeline.batch_size = original
    return results
