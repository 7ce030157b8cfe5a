"""Fine-tune one model twice, with tutorialkit.train and with transformers.Trainer,
and compare: a token classifier (NER, CoNLL files) or a text classifier (CSV/TSV).

Both runners get the same model, data, batches, collator and hyper-parameters (AdamW
with betas (0.9, 0.999), eps 1e-8, weight decay on matrices only, linear warmup and
decay, gradient clipping at 1.0, mixed precision on a GPU in bfloat16 when it is
supported), and both are scored by the same code (ner: tutorialkit.ner.predict_tags and
tutorialkit.metrics.entity_report; classify: tutorialkit.classify.predict_logits and
tutorialkit.metrics.classification_report). Each run prints one JSON line:

    {"runner": "tutorialkit", "task": "ner", "tokens_per_s": ..., "train_seconds": ...,
     "wall_seconds": ..., "f1": ...}

``tokens_per_s`` counts the real word pieces trained on (padding excluded) per second of
training; ``wall_seconds`` also includes building the model and scoring the test split;
``f1`` is entity F1 (ner) or macro-F1 (classify) on the test split. With ``--compile``
both runners compile the model (compile time counted in ``train_seconds``) and pad the
batches to a few fixed lengths (tutorialkit.batching.PadToBucket). Before the timed
runs, an untimed run of ``--warmup-steps`` updates (with the first runner, results not
printed) pays the process's one-time costs, which would otherwise fall on whichever
runner goes first: oneDNN building its kernels, the allocator growing, lazy imports.

Examples::

    python benchmarks/train_speed.py            # MiniLM on the packaged WNUT-16
    python benchmarks/train_speed.py --task classify   # 4,000 packaged tweets
    python benchmarks/train_speed.py --max-steps 20 --runners trainer
    python benchmarks/train_speed.py --amp bf16   # bfloat16 autocast, also on a CPU
    python benchmarks/train_speed.py --group-by-length   # batches of similar lengths
    python benchmarks/train_speed.py --max-steps 30 --profile  # where the time goes
    python benchmarks/train_speed.py --model bert-base-cased --data eng.train \
        --epochs 3 --batch-size 32 --lr 5e-5 --compile      # on a GPU
    python benchmarks/train_speed.py --task classify --data sst2/train.tsv \
        --text-column sentence --model bert-base-uncased --lr 3e-5
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time

import torch

from tutorialkit.batching import LengthGroupedBatches, PadToBucket, bucket_lengths
from tutorialkit.classify import encode_labeled, predict_logits
from tutorialkit.conll import read_conll
from tutorialkit.data import read_text_classification, split_dataset
from tutorialkit.env import pick_device, seed_everything
from tutorialkit.metrics import classification_report, entity_report
from tutorialkit.ner import encode_sentences, label_maps, predict_tags
from tutorialkit.resources import (
    load_model,
    load_tokenizer,
    load_tweets,
    load_wnut16,
    packaged_path,
)
from tutorialkit.train import AMP_CHOICES, TrainConfig, resolve_amp, train

RUNNERS = ("tutorialkit", "trainer")
N_TWEETS = 4_000  # the packaged tweets sampled for --task classify


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: task, model, data, sizes, device and which runners to time."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=("ner", "classify"), default="ner")
    parser.add_argument(
        "--model",
        default=None,
        help="local folder or Hub id (default: the quick profile's MiniLM)",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="ner: a CoNLL file (IOB1 or IOB2; default: the packaged WNUT-16); "
        f"classify: a CSV/TSV file (default: {N_TWEETS:,} packaged tweets)",
    )
    parser.add_argument("--text-column", default="text", help="classify: its column")
    parser.add_argument("--label-column", default="label", help="classify: its column")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument(
        "--max-steps", type=int, default=None, help="stop after this many updates"
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, mps (default: the best available)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--warmup-steps",
        type=int,
        default=10,
        help="an untimed run of this many updates first (0: none)",
    )
    parser.add_argument(
        "--amp",
        choices=tuple(AMP_CHOICES),
        default="auto",
        help="autocast dtype for both runners (default: auto, float32 on a CPU)",
    )
    parser.add_argument("--runners", nargs="+", choices=RUNNERS, default=list(RUNNERS))
    parser.add_argument(
        "--trainer-optim",
        choices=("adamw_torch_fused", "adamw_torch"),
        default="adamw_torch_fused",
        help="Trainer's AdamW: fused, like tutorialkit's (default), or the per-tensor "
        "loop that adamw_torch runs on a CPU",
    )
    parser.add_argument(
        "--group-by-length",
        action="store_true",
        help="batches of similar lengths for both runners (tutorialkit's "
        "LengthGroupedBatches, Trainer's group_by_length sampling): less padding",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model in both runners, batches padded to a few "
        "lengths (32, 64, ... up to --max-length)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="train under torch.profiler and print the 15 ops with the most self time "
        "(its overhead slows the run: times are then not comparable)",
    )
    return parser.parse_args(argv)


def load_splits(args: argparse.Namespace) -> tuple[list, list, list]:
    """Train, dev and test examples of the task's data, split 80/10/10 by seed."""
    if args.task == "ner":
        rows = (
            load_wnut16() if args.data is None else read_conll(args.data, scheme="auto")
        )
    elif args.data is None:
        rows = load_tweets(verbose=False)
        rows = [rows[i] for i in torch.randperm(len(rows))[:N_TWEETS].tolist()]
    else:
        rows = read_text_classification(
            args.data, text_column=args.text_column, label_column=args.label_column
        )
    return split_dataset(rows, (0.8, 0.1, 0.1), seed=args.seed)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that wall-clock times measure it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_tutorialkit(model, loader, args, device) -> int:
    """Train with tutorialkit.train; return the number of updates."""
    config = TrainConfig(
        lr=args.lr,
        epochs=args.epochs,
        max_steps=args.max_steps,
        warmup=0.1,
        weight_decay=0.01,
        grad_clip=1.0,
        seed=args.seed,
        device=str(device),
        progress=False,
        restore_best=False,
        amp=args.amp,
        compile=args.compile,
    )
    return len(train(model, loader, config).train)


def run_trainer(model, features, collate, args, device) -> int:
    """Train with transformers.Trainer, configured like run_tutorialkit; return the
    number of updates."""
    from transformers import PrinterCallback, Trainer, TrainingArguments

    amp = resolve_amp(args.amp, device)
    with tempfile.TemporaryDirectory() as folder:
        arguments = TrainingArguments(
            output_dir=folder,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.lr,
            num_train_epochs=args.epochs,
            max_steps=args.max_steps or -1,
            warmup_steps=0.1,
            weight_decay=0.01,
            max_grad_norm=1.0,
            lr_scheduler_type="linear",
            optim=args.trainer_optim,
            seed=args.seed,
            bf16=amp == torch.bfloat16,
            fp16=amp == torch.float16,
            use_cpu=device.type == "cpu",
            train_sampling_strategy="group_by_length"
            if args.group_by_length
            else "random",
            torch_compile=args.compile,
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="no",
            report_to="none",
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model, args=arguments, train_dataset=features, data_collator=collate
        )
        # it would print its own summary line next to ours
        trainer.remove_callback(PrinterCallback)
        return trainer.train().global_step


def profiled(run, device: torch.device):
    """``run()`` under torch.profiler; print the 15 ops with the most self time (CPU, or
    CUDA on a GPU), one JSON line each; return what ``run()`` returns."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as profiler:
        result = run()
    events = profiler.key_averages()
    own = "self_device_time_total" if cuda else "self_cpu_time_total"
    total = sum(getattr(e, own) for e in events)
    for event in sorted(events, key=lambda e: getattr(e, own), reverse=True)[:15]:
        seconds = getattr(event, own) / 1e6
        record = {"op": event.key, "calls": event.count, "self_s": round(seconds, 3)}
        print(json.dumps({**record, "share": round(seconds * 1e6 / total, 3)}))
    return result


def prepare(args, splits, tokenizer):
    """The training features, their collator, the model class and its label
    arguments."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
    )

    train_set = splits[0]
    if args.task == "ner":
        label2id, id2label = label_maps([s for part in splits for s in part])
        windows = encode_sentences(
            train_set, tokenizer, label2id, max_length=args.max_length
        )
        features = [w.features() for w in windows]
        collate = DataCollatorForTokenClassification(tokenizer)
        head = AutoModelForTokenClassification
    else:
        names = sorted({row.label for part in splits for row in part})
        label2id, id2label = {n: i for i, n in enumerate(names)}, dict(enumerate(names))
        features = encode_labeled(train_set, tokenizer, names, args.max_length)
        collate = DataCollatorWithPadding(tokenizer)
        head = AutoModelForSequenceClassification
    if args.compile:  # a few batch shapes, each compiled once
        buckets = bucket_lengths(args.max_length)
        collate = PadToBucket(collate, buckets, tokenizer.pad_token_id)
    labels = {"num_labels": len(label2id), "id2label": id2label, "label2id": label2id}
    return features, collate, head, labels


def test_f1(model, tokenizer, args, splits, device) -> float:
    """Entity F1 (ner) or macro-F1 (classify) of ``model`` on the test split."""
    test_set = splits[2]
    if args.task == "ner":
        id2label = model.config.id2label
        predicted = predict_tags(
            model,
            tokenizer,
            test_set,
            id2label,
            max_length=args.max_length,
            batch_size=64,
            device=device,
        )
        return entity_report([s.tags for s in test_set], predicted).micro.f1
    from transformers import DataCollatorWithPadding

    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    features = encode_labeled(test_set, tokenizer, names, args.max_length)
    loader = torch.utils.data.DataLoader(
        features, batch_size=64, collate_fn=DataCollatorWithPadding(tokenizer)
    )
    y, logits = predict_logits(model, loader)
    predicted = logits.argmax(-1).numpy()
    return classification_report(y, predicted, range(len(names))).macro.f1


def benchmark(runner: str, args, splits, device) -> dict:
    """Build a fresh model, train it with ``runner``, score it on the test split; one
    result record."""
    start = time.perf_counter()
    source = args.model or packaged_path("minilm")
    tokenizer = load_tokenizer(source)
    features, collate, head, labels = prepare(args, splits, tokenizer)
    seed_everything(args.seed)
    model = load_model(source, head, device=device, **labels)
    if args.group_by_length:
        lengths = [len(f["input_ids"]) for f in features]
        sampling = {"batch_sampler": LengthGroupedBatches(lengths, args.batch_size)}
    else:
        sampling = {"batch_size": args.batch_size, "shuffle": True}
    loader = torch.utils.data.DataLoader(features, collate_fn=collate, **sampling)
    synchronize(device)
    began = time.perf_counter()

    def run() -> int:
        if runner == "tutorialkit":
            return run_tutorialkit(model, loader, args, device)
        return run_trainer(model, features, collate, args, device)

    steps = profiled(run, device) if args.profile else run()
    synchronize(device)
    train_seconds = time.perf_counter() - began
    tokens_per_epoch = sum(len(f["input_ids"]) for f in features)
    tokens = tokens_per_epoch * steps / math.ceil(len(features) / args.batch_size)
    f1 = test_f1(model, tokenizer, args, splits, device)
    return {
        "runner": runner,
        "task": args.task,
        "model": str(source),
        "data": args.data or ("wnut16" if args.task == "ner" else "tweets"),
        "device": str(device),
        "amp": str(resolve_amp(args.amp, device)).removeprefix("torch."),
        "group_by_length": args.group_by_length,
        "compile": args.compile,
        "steps": steps,
        "tokens_per_s": round(tokens / train_seconds, 1),
        "train_seconds": round(train_seconds, 2),
        "wall_seconds": round(time.perf_counter() - start, 2),
        "f1": round(f1, 4),
    }


def main(argv: list[str] | None = None) -> None:
    """Run each chosen runner once and print one JSON line per run."""
    args = parse_args(argv)
    device = pick_device(args.device)
    seed_everything(args.seed)  # the sample of tweets
    splits = load_splits(args)
    if args.warmup_steps:
        warm = argparse.Namespace(**{**vars(args), "max_steps": args.warmup_steps})
        benchmark(args.runners[0], warm, splits, device)
    for runner in args.runners:
        print(json.dumps(benchmark(runner, args, splits, device)), flush=True)


if __name__ == "__main__":
    main()
