"""One training run of a tiny BERT tagger for tests/test_distributed.py, launched by
torchrun with one or several processes (or run alone).

Fixed data (24 sentences of 3 to 11 tokens, so the ranks' shares hold different numbers
of labelled tokens), a shuffled loader with batches of --batch, dropout off (dropout
draws different masks on different ranks, so only without it can one process and two
give the same weights). Every rank writes its final weights to
OUT/final-rank<r>.safetensors and the names of the files the loop wrote to
OUT/writes-rank<r>.txt. --kill-at N: rank 0 kills itself with SIGKILL when it
evaluates at step N.
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.utils.data import DataLoader
from transformers import BertConfig, BertForTokenClassification

from tutorialkit import checkpoint, distributed
from tutorialkit.train import TrainConfig, train

N_LABELS = 5


def sentences(n: int = 24, seed: int = 0) -> list[dict]:
    """n sentences of random tokens and tags; about one tag in five is -100."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        length = int(torch.randint(3, 12, (), generator=generator))
        tags = torch.randint(0, N_LABELS, (length,), generator=generator)
        tags[torch.rand(length, generator=generator) < 0.2] = -100
        ids = torch.randint(5, 100, (length,), generator=generator)
        rows.append({"input_ids": ids, "labels": tags})
    return rows


def collate(rows: list[dict]) -> dict:
    """Pad to the longest sentence: id 0 and label -100, attention mask 0."""
    width = max(len(r["input_ids"]) for r in rows)
    batch = {
        "input_ids": torch.zeros(len(rows), width, dtype=torch.long),
        "attention_mask": torch.zeros(len(rows), width, dtype=torch.long),
        "labels": torch.full((len(rows), width), -100),
    }
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        batch["input_ids"][i, :n] = row["input_ids"]
        batch["attention_mask"][i, :n] = 1
        batch["labels"][i, :n] = row["labels"]
    return batch


def tiny_tagger() -> BertForTokenClassification:
    """A 2-layer BERT of width 32 with a 5-tag head, random weights of seed 0."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=N_LABELS,
    )
    return BertForTokenClassification(config)


def record_writes(out: Path) -> None:
    """Note in OUT/writes-rank<r>.txt every file the loop's checkpoints write."""
    log = out / f"writes-rank{distributed.rank()}.txt"
    log.write_text("")

    def noting(write):
        def wrapper(*args, **kwargs):
            with log.open("a") as f:
                paths = [str(a) for a in args if isinstance(a, str | Path)]
                f.write(f"{write.__name__} {' '.join(paths)}\n")
            return write(*args, **kwargs)

        return wrapper

    checkpoint.save_checkpoint = noting(checkpoint.save_checkpoint)
    checkpoint.save_weights = noting(checkpoint.save_weights)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--accum", type=int, default=1)
    parser.add_argument("--checkpoints", action="store_true")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--kill-at", type=int)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    record_writes(args.out)
    model = tiny_tagger()
    torch.manual_seed(1)
    loader = DataLoader(
        sentences(), batch_size=args.batch, shuffle=True, collate_fn=collate
    )

    def evaluate(model) -> dict:
        step = evaluate.calls = getattr(evaluate, "calls", 0) + 1
        if args.kill_at is not None and 2 * step >= args.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        with torch.no_grad():
            return {"loss": float(model(**collate(sentences(6, seed=1))).loss)}

    config = TrainConfig(
        lr=1e-3,
        epochs=args.epochs,
        warmup=2,
        grad_accum_steps=args.accum,
        eval_every=2,
        metric="loss",
        mode="min",
        restore_best=False,
        output_dir=str(args.out / "run") if args.checkpoints else None,
        save_every=1 if args.checkpoints else None,
        device="cpu",
        amp="off",  # float32: the weights of one and two processes are compared
        progress=False,
    )
    history = train(model, loader, config, evaluate, resume=args.resume)
    weights = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(args.out / f"final-rank{distributed.rank()}.safetensors"))
    (args.out / f"losses-rank{distributed.rank()}.txt").write_text(
        "\n".join(f"{r['loss']:.8f}" for r in history.train)
    )


if __name__ == "__main__":
    main()
