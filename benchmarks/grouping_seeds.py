"""Chapter 5's fine-tune over several seeds, on random or length-grouped batches.

Length-grouped batches compute fewer padded positions, but they also change which texts
share a batch, and a run of one short epoch can feel that. This runs the chapter's
recipe (its data, model, hyper-parameters and validation) once per seed and prints one
JSON line per run: the test macro-F1, the untrained head's, the training seconds and the
validation macro-F1 at each evaluation. The quick profile's sizes are the default
(``TUTORIALKIT_PROFILE`` picks another).

    OMP_NUM_THREADS=1 python benchmarks/grouping_seeds.py --batches random --seeds 0 1 2
    OMP_NUM_THREADS=1 python benchmarks/grouping_seeds.py --batches grouped --group 4
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding

from tutorialkit.batching import LengthGroupedBatches
from tutorialkit.classify import encode_labeled, predict_logits
from tutorialkit.env import setup
from tutorialkit.metrics import classification_report
from tutorialkit.plan import load_splits, plan
from tutorialkit.resources import load_model, load_tokenizer
from tutorialkit.train import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", choices=("random", "grouped"), default="random")
    parser.add_argument("--group", type=int, default=8, help="batches sorted together")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()

    rt = setup()
    # Chapter 5's plan (the entries this script uses)
    P = plan(
        rt,
        "05_finetuning_recipe",
        "sentiment",
        n_texts=(1_000, None, 200),
        max_length=64,
        epochs=(1, 2, 1),
        batch=(16, 32, 16),
        lr=(2e-4, 3e-5, 2e-4),
    )
    splits = load_splits(P.data, seed=rt.seed, n=P.n_texts, fractions=(0.6, 0.1, 0.3))
    labels = splits.labels
    tokenizer = load_tokenizer(P.model)
    train_data, val_data, test_data = (
        encode_labeled(part, tokenizer, labels, P.max_length)
        for part in (splits.train, splits.validation, splits.test)
    )
    collate = DataCollatorWithPadding(tokenizer)

    def sorted_loader(data: list[dict]) -> DataLoader:
        by_length = sorted(data, key=lambda e: len(e["input_ids"]))
        return DataLoader(by_length, batch_size=2 * P.batch, collate_fn=collate)

    val_loader, test_loader = sorted_loader(val_data), sorted_loader(test_data)

    def f1_and_loss(loader: DataLoader, model: torch.nn.Module) -> tuple[float, float]:
        """Macro-F1 and mean cross-entropy of model on loader's texts."""
        y, logits = predict_logits(model, loader)
        loss = F.cross_entropy(logits, torch.from_numpy(y)).item()
        report = classification_report(y, logits.argmax(-1).numpy(), range(len(labels)))
        return report.summary()["macro_f1"], loss

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        f1, loss = f1_and_loss(val_loader, model)
        return {"macro_f1": f1, "loss": loss}

    for seed in args.seeds:
        if args.batches == "grouped":
            lengths = [len(e["input_ids"]) for e in train_data]
            sampler = LengthGroupedBatches(lengths, P.batch, group=args.group)
            loader = DataLoader(train_data, batch_sampler=sampler, collate_fn=collate)
        else:
            loader = DataLoader(
                train_data, batch_size=P.batch, shuffle=True, collate_fn=collate
            )
        torch.manual_seed(seed)  # the head's random initialisation
        model = load_model(
            P.model,
            AutoModelForSequenceClassification,
            device=rt.device,
            num_labels=len(labels),
        )
        untrained, _ = f1_and_loss(test_loader, model)
        config = TrainConfig(
            lr=P.lr,
            weight_decay=0.01,
            epochs=P.epochs,
            warmup=0.1,
            grad_clip=1.0,
            eval_every=max(1, len(loader) // 4),
            metric="macro_f1",
            mode="max",
            patience=3,
            seed=seed,
            progress=False,
            device=str(rt.device),
        )
        started = time.perf_counter()
        history = train(model, loader, config, evaluate=evaluate)
        seconds = time.perf_counter() - started
        record = {
            "batches": args.batches,
            "group": args.group if args.batches == "grouped" else None,
            "seed": seed,
            "test_macro_f1": round(f1_and_loss(test_loader, model)[0], 4),
            "untrained_macro_f1": round(untrained, 4),
            "train_seconds": round(seconds, 1),
            "val_macro_f1": [round(e["macro_f1"], 3) for e in history.evals],
        }
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
