"""Inference speed: tutorialkit's pipelines against transformers.pipeline on one bundle.

Give it a bundle written by ``python -m tutorialkit train`` (ner or classify) and, if
you like, a file of texts (one per line; default: tweets from the packaged corpus). Both
runners answer the same texts with the same model: tutorialkit's NerPipeline or
SentimentPipeline (in float32; where the processor computes in bfloat16 natively, in
bfloat16 autocast and with every weight stored in bfloat16; and with int8 linear layers:
``load_bundle(..., int8=True)``), and
``transformers.pipeline`` ("token-classification" with the aggregation strategies
"first" and "simple", or "text-classification"). Each run prints one JSON line:

    {"runner": "tutorialkit", "dtype": "float32", "batch_size": 32, "texts": 600,
     "texts_per_s": ..., "entities": ..., "agreement": ...}

``agreement`` is the share of texts whose answer equals tutorialkit's float32 answer
(ner: the same set of (start, end, label) spans; classify: the same label).

Examples::

    python -m tutorialkit train ner --train "$WNUT" --model minilm --out runs/wnut16 \
        --epochs 1 --lr 3e-4
    python benchmarks/inference.py --bundle runs/wnut16
    python benchmarks/inference.py --bundle runs/sst2 --texts sentences.txt --n 2000
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from transformers import pipeline

from tutorialkit.deploy import load_bundle
from tutorialkit.env import cpu_has_bf16_dot, pick_device
from tutorialkit.resources import load_tweets


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: the bundle, the texts, the batch sizes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", required=True, type=Path, help="from train")
    parser.add_argument(
        "--texts", type=Path, help="one text per line (default: tweets)"
    )
    parser.add_argument("--n", type=int, default=600, help="texts (default: 600)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--device", help="cpu, cuda (default: the best available)")
    return parser.parse_args(argv)


WARMUP_TEXTS = 64  # answered once, untimed, before each timed run


def read_texts(path: Path | None, n: int) -> list[str]:
    """The first n non-blank lines of path, or the first n packaged tweets."""
    if path is None:
        return [row.text for row in load_tweets(verbose=False)[:n]]
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip()][:n]


def native_bf16(device: torch.device) -> bool:
    """Whether the device multiplies bfloat16 matrices in hardware (AVX-512 BF16 or
    AMX on a CPU; Ampere or newer on CUDA)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and bool(cpu_has_bf16_dot())


def ours(bundle, texts: list[str], batch_size: int, dtype: torch.dtype) -> list:
    """tutorialkit's answers, as comparable values: span sets (ner) or labels."""
    pipe = bundle.pipeline(batch_size=batch_size)
    device = next(bundle.model.parameters()).device
    cast = (
        torch.autocast(device.type, dtype=dtype)
        if dtype != torch.float32
        else nullcontext()
    )
    with cast:
        answers = pipe(texts)
    if bundle.task == "ner":
        return [{(e.start, e.end, e.label) for e in found} for found in answers]
    return [answer.label for answer in answers]


def theirs(bundle, texts: list[str], batch_size: int, aggregation: str | None) -> list:
    """transformers.pipeline's answers on the same model, as comparable values."""
    device = next(bundle.model.parameters()).device
    task, options = (
        ("token-classification", {"aggregation_strategy": aggregation})
        if bundle.task == "ner"
        else (
            "text-classification",
            {"truncation": True, "max_length": bundle.max_length},
        )
    )
    pipe = pipeline(
        task, model=bundle.model, tokenizer=bundle.tokenizer, device=device, **options
    )
    answers = pipe(texts, batch_size=batch_size)
    if bundle.task == "ner":
        return [
            {(e["start"], e["end"], e["entity_group"]) for e in found}
            for found in answers
        ]
    return [answer["label"] for answer in answers]


def runners(
    bundle, int8_bundle, bf16_bundle, device: torch.device
) -> dict[tuple[str, str], object]:
    """(runner, dtype) -> a function of (texts, batch_size) that returns the answers.

    ``bf16_bundle`` (weights stored in bfloat16) is None where bfloat16 is not native.
    """
    found = {("tutorialkit", "float32"): lambda t, b: ours(bundle, t, b, torch.float32)}
    if bf16_bundle is not None:
        found["tutorialkit", "bfloat16"] = lambda t, b: ours(
            bundle, t, b, torch.bfloat16
        )
        found["tutorialkit", "bfloat16 weights"] = lambda t, b: ours(
            bf16_bundle, t, b, torch.float32
        )
    found["tutorialkit", "int8"] = lambda t, b: ours(int8_bundle, t, b, torch.float32)
    for strategy in ["first", "simple"] if bundle.task == "ner" else [None]:
        name = f"transformers ({strategy})" if strategy else "transformers"
        found[name, "float32"] = lambda t, b, s=strategy: theirs(bundle, t, b, s)
    return found


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = pick_device(args.device)
    bundle = load_bundle(args.bundle, device=device)
    int8_bundle = load_bundle(args.bundle, device=device, int8=True)
    bf16_bundle = None
    if native_bf16(device):  # every weight in bfloat16: no casts at each call
        bf16_bundle = load_bundle(args.bundle, device=device)
        bf16_bundle.model.to(torch.bfloat16)
    texts = read_texts(args.texts, args.n)
    # no_grad, as the pipelines use, not inference_mode: under inference_mode bfloat16
    # autocast at batch 1 measured 49 texts/s against 87 under no_grad (AMX, 300 tweets)
    with torch.no_grad():
        for batch_size in args.batch_sizes:
            reference = None  # tutorialkit's float32 answers, the first runner's
            found = runners(bundle, int8_bundle, bf16_bundle, device)
            for (runner, dtype), answer in found.items():
                # oneDNN builds its kernels once per shape: warm up on many lengths
                answer(texts[:WARMUP_TEXTS], batch_size)
                start = time.perf_counter()
                answers = answer(texts, batch_size)
                seconds = time.perf_counter() - start
                reference = reference or answers
                same = sum(a == b for a, b in zip(answers, reference)) / len(texts)
                record = {
                    "runner": runner,
                    "dtype": dtype,
                    "task": bundle.task,
                    "batch_size": batch_size,
                    "texts": len(texts),
                    "texts_per_s": round(len(texts) / seconds, 1),
                    "agreement": round(same, 4),
                    "device": str(device),
                }
                if bundle.task == "ner":
                    record["entities"] = sum(len(found) for found in answers)
                print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
