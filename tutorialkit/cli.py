"""The command line: fine-tune a tagger or a classifier on your own files, then use it,
without writing Python.

::

    python -m tutorialkit train ner --train train.conll --dev dev.conll \
        --model bert-base-cased --out runs/ner
    python -m tutorialkit train classify --train train.tsv --text-column sentence \
        --model bert-base-uncased --out runs/sst2
    python -m tutorialkit predict --model runs/ner --input texts.txt > entities.jsonl
    python -m tutorialkit evaluate --model runs/ner --data test.conll

``train`` reads the files with :func:`tutorialkit.conll.read_conll` or
:func:`tutorialkit.data.read_text_classification`, fine-tunes with
:func:`tutorialkit.train.train`, scores the dev set after every epoch (entity-level F1
for NER, macro-F1 for classification: the scores of :mod:`tutorialkit.metrics`), keeps
the best epoch, and writes a bundle (:func:`tutorialkit.deploy.save_bundle`) and
``metrics.json`` into ``--out``. While it trains, the resumable checkpoint of
:mod:`tutorialkit.checkpoint` is kept in ``--out/checkpoints`` (at each epoch's end,
or every ``--save-every`` steps): after a crash or a kill, the same command with
``--resume`` continues from it to the same final weights. ``predict`` loads a bundle
and answers with one JSON object per input line; ``evaluate`` scores a bundle on a
labelled file with the report of training's dev scoring. Bad input (a malformed file, a
dev label the training file never shows, a model that cannot be found) ends with one
line on stderr that says what was expected, and exit status 2.

``train`` runs on several processes (GPUs, or CPU cores) when ``torchrun`` launches it
(:mod:`tutorialkit.distributed`): ``--batch-size`` is then the global batch, split
among the processes, and rank 0 prints and writes::

    torchrun --nproc_per_node 2 -m tutorialkit train ner --train train.conll ...
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tutorialkit import distributed
from tutorialkit.batching import LengthGroupedBatches, PadToBucket, bucket_lengths
from tutorialkit.checkpoint import STATE_FILE, config_changes, existing_checkpoint
from tutorialkit.conll import read_conll
from tutorialkit.data import read_text_classification, split_dataset
from tutorialkit.deploy import BundleError, load_bundle, save_bundle
from tutorialkit.resources import ResourceMissing, packaged_path
from tutorialkit.textfiles import DataFormatError

# the status argparse uses for a bad command line, used here for bad files too
EXIT_BAD_INPUT = 2
# --model minilm: the quick profile's all-MiniLM-L6-v2, offline
PACKAGED_MODEL = "minilm"
# the folder under --out that holds the resumable checkpoint while a run trains
CHECKPOINTS = "checkpoints"
# texts answered at a time, so that the first answers come out early
PREDICT_CHUNK = 256
TSV_HEADERS = {
    "ner": ["line", "start", "end", "label", "score", "text"],
    "classify": ["line", "label", "score", "text"],
}


class InputError(ValueError):
    """Something the user gave (a file, an option, a model name) cannot be used; the
    message says what to change."""


# --------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------


def _positive(kind: type) -> Callable[[str], int | float]:
    """An argparse type: a number of ``kind`` that must be > 0."""

    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a number > 0, found {text}")
        return value

    parse.__name__ = kind.__name__  # what argparse names in "invalid int value"
    return parse


def _delimiter(text: str) -> str:
    """An argparse type: one character; "tab" and a typed backslash-t both mean a
    tab."""
    text = "\t" if text in ("tab", "\\t") else text
    if len(text) != 1:
        raise argparse.ArgumentTypeError(
            f"expected one character (or 'tab'), found {text!r}"
        )
    return text


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tutorialkit`` argument parser, with its ``train ner``, ``train
    classify`` and ``predict`` commands.

    Example:

    >>> build_parser().parse_args(["predict", "--model", "runs/ner"]).format
    'jsonl'
    """
    parser = argparse.ArgumentParser(
        prog="python -m tutorialkit",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Fine-tune a language model on your own NER or "
            "text-classification files, and use it."
        ),
        epilog="examples:\n"
        "  python -m tutorialkit train ner --train train.conll --dev dev.conll "
        "--model bert-base-cased --out runs/ner\n"
        "  python -m tutorialkit train classify --train train.csv --model "
        "bert-base-uncased --out runs/cls\n"
        "  echo 'Obama visited Paris' | python -m tutorialkit predict --model "
        "runs/ner\n"
        "Exit status 2 means bad input: the message on stderr says which file, line "
        "or option.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{train,predict,evaluate}"
    )

    _add_train_commands(commands, _data_options())
    _add_predict_command(commands)
    _add_evaluate_command(commands)
    return parser


def _data_options() -> argparse.ArgumentParser:
    """The options of both ``train`` commands: files, model, training sizes, device."""
    common = argparse.ArgumentParser(add_help=False)
    _add_file_options(common)
    _add_training_options(common)
    return common


def _add_file_options(common: argparse.ArgumentParser) -> None:
    """--train, --dev, --out, --encoding."""
    common.add_argument(
        "--train", required=True, type=Path, metavar="FILE", help="the training file"
    )
    common.add_argument(
        "--dev",
        type=Path,
        metavar="FILE",
        help="the dev file, scored after each epoch to keep the best one "
        "(default: hold out 10%% of --train, drawn with --seed)",
    )
    common.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder for the fine-tuned bundle and metrics.json",
    )
    _add_encoding_option(common)


def _add_encoding_option(parser: argparse.ArgumentParser) -> None:
    """--encoding of the data files."""
    parser.add_argument(
        "--encoding",
        default="utf-8",
        help="encoding of the data files (default: utf-8)",
    )


def _add_training_options(common: argparse.ArgumentParser) -> None:
    """The model and the sizes of the run: --model, --epochs, --lr, ..."""
    common.add_argument(
        "--model",
        required=True,
        metavar="NAME_OR_PATH",
        help="the pretrained model to fine-tune: a local folder "
        "(config.json and weights), a Hugging Face Hub id such as bert-base-cased, or "
        f"'{PACKAGED_MODEL}' for the packaged all-MiniLM-L6-v2 (offline)",
    )
    common.add_argument(
        "--epochs",
        type=_positive(int),
        metavar="N",
        default=3,
        help="passes over --train (default: 3)",
    )
    common.add_argument(
        "--lr",
        type=_positive(float),
        default=5e-5,
        help="peak learning rate of AdamW (default: 5e-5)",
    )
    common.add_argument(
        "--batch-size",
        type=_positive(int),
        metavar="N",
        default=16,
        help="examples per update (default: 16)",
    )
    common.add_argument(
        "--max-length",
        type=_positive(int),
        metavar="N",
        default=128,
        help="word pieces per input, special tokens included; longer sentences are "
        "cut into "
        "windows (ner) or truncated (classify) (default: 128)",
    )
    common.add_argument(
        "--seed",
        type=int,
        metavar="N",
        default=0,
        help="seed of the head's initialisation, the data order "
        "and the dev split (default: 0)",
    )
    common.add_argument(
        "--device", help="cpu, cuda, cuda:1, mps (default: the best available)"
    )
    common.add_argument(
        "--save-every",
        type=_positive(int),
        metavar="N",
        help="write the resumable checkpoint every N steps (default: at the end of "
        "each epoch)",
    )
    common.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model, with batches padded to a few fixed lengths "
        "(32, 64, ... up to --max-length) so that it compiles a few shapes: faster "
        "epochs on a GPU once compiled; on a CPU the compiling rarely pays",
    )
    common.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run from the checkpoint in --out/checkpoints; "
        "pass the same options as the run that was interrupted",
    )


def _add_train_commands(commands, common: argparse.ArgumentParser) -> None:
    """``train ner`` and ``train classify``, with their task-specific options."""
    train = commands.add_parser("train", help="fine-tune a model on your files")
    tasks = train.add_subparsers(dest="task", required=True, metavar="{ner,classify}")
    ner = tasks.add_parser(
        "ner",
        parents=[common],
        help="named-entity recognition on CoNLL files",
        description="Fine-tune a token classifier on CoNLL files: one 'token tag' "
        "line per word (tab- or "
        "space-separated; with more columns, as in CoNLL-2003, the first is the token "
        "and the last "
        "the tag), a blank line after each sentence, -DOCSTART- lines ignored. Scored "
        "by entity F1.",
    )
    _add_scheme_option(ner)
    classify = tasks.add_parser(
        "classify",
        parents=[common],
        help="text classification on CSV/TSV files",
        description="Fine-tune a text classifier on CSV or TSV files with a text "
        "column and a label column "
        "(quoted texts may hold delimiters and line breaks). Scored by macro-F1.",
    )
    _add_column_options(classify)


def _add_scheme_option(parser: argparse.ArgumentParser) -> None:
    """--scheme of CoNLL files."""
    parser.add_argument(
        "--scheme",
        choices=("auto", "iob1", "iob2"),
        default="auto",
        help="how the tags are written: iob2 (B- starts every entity), iob1 (the "
        "original "
        "CoNLL-2003 files), or auto: iob2 if valid, else iob1 (default: auto)",
    )


def _add_column_options(classify: argparse.ArgumentParser) -> None:
    """Where the text and the label are in a CSV/TSV file."""
    classify.add_argument(
        "--text-column",
        default="text",
        metavar="NAME_OR_INDEX",
        help="name of the text column in the header, or "
        "its 0-based index (default: text; SST-2: sentence; IMDB CSV: review)",
    )
    classify.add_argument(
        "--label-column",
        default="label",
        metavar="NAME_OR_INDEX",
        help="name or 0-based index of the label column "
        "(default: label; IMDB CSV: sentiment)",
    )
    classify.add_argument(
        "--delimiter",
        type=_delimiter,
        metavar="CHAR",
        help="field separator: ',', ';', '|' or 'tab' "
        "(default: tab for .tsv/.tab, comma for .csv, else guessed)",
    )
    classify.add_argument(
        "--no-header",
        action="store_true",
        help="the first row is data: give the columns as indices",
    )


def _add_predict_command(commands) -> None:
    """``predict``: one answer per line of text, from a trained bundle."""
    predict = commands.add_parser(
        "predict",
        help="answer for each line of text with a trained bundle",
        description="Read one text per line (--input, or stdin) and write one answer "
        "per non-blank line: "
        "entities with character offsets (ner) or the label and the probability of "
        "every label "
        "(classify).",
    )
    _add_bundle_option(predict)
    predict.add_argument(
        "--input",
        type=Path,
        metavar="FILE",
        help="a UTF-8 text file, one text per line (default: stdin)",
    )
    predict.add_argument(
        "--format",
        choices=("jsonl", "tsv"),
        default="jsonl",
        help="jsonl: one JSON object per text; tsv: a header, then one row per entity "
        "(ner) or "
        "per text (classify) (default: jsonl)",
    )
    _add_inference_options(predict)


def _add_bundle_option(parser: argparse.ArgumentParser) -> None:
    """--model: the folder that train wrote."""
    parser.add_argument(
        "--model",
        required=True,
        type=Path,
        metavar="DIR",
        help="a folder written by 'train'",
    )


def _add_inference_options(parser: argparse.ArgumentParser) -> None:
    """--batch-size, --device and --int8 of a bundle's forward passes."""
    parser.add_argument(
        "--batch-size",
        type=_positive(int),
        metavar="N",
        default=32,
        help="texts per forward pass (default: 32)",
    )
    parser.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    parser.add_argument(
        "--int8",
        action="store_true",
        help="quantise the linear layers to int8 when loading (faster on a CPU with "
        "int8 instructions, VNNI or AMX; much slower without; "
        "needs torchao)",
    )


def _add_evaluate_command(commands) -> None:
    """``evaluate``: a trained bundle's scores on a labelled file."""
    evaluate = commands.add_parser(
        "evaluate",
        help="score a trained bundle on a labelled file",
        description="Score a folder written by 'train' on a labelled file of its task "
        "(CoNLL for ner, CSV/TSV for classify) and print the report of training's dev "
        "scoring: entity precision, recall and F1 per type (ner), or per-class "
        "precision, recall and F1 with accuracy and macro-F1 (classify).",
    )
    _add_bundle_option(evaluate)
    evaluate.add_argument(
        "--data", required=True, type=Path, metavar="FILE", help="the labelled file"
    )
    _add_encoding_option(evaluate)
    _add_scheme_option(evaluate)
    _add_column_options(evaluate)
    _add_inference_options(evaluate)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m tutorialkit`` with ``argv`` (default: the command line); return
    the exit status.

    Bad input prints ``tutorialkit: error: <what was expected and found>`` on stderr and
    returns 2. Usage: ``main(["predict", "--model", "runs/ner", "--input",
    "texts.txt"])``.

    Example (a bundle folder that does not exist):

    >>> main(["predict", "--model", "/no/such/bundle"])
    2
    """
    args = build_parser().parse_args(argv)
    try:
        if args.command == "predict":
            run_predict(args)
        elif args.command == "evaluate":
            run_evaluate(args)
        else:
            run_train(args)
    except (
        DataFormatError,
        BundleError,
        InputError,
        ResourceMissing,
        OSError,
    ) as error:
        print(f"tutorialkit: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


# --------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------


def _model_source(name: str) -> str:
    """The folder or Hub id that --model names, checked: a missing local folder is an
    InputError."""
    if name == PACKAGED_MODEL:
        return str(packaged_path(PACKAGED_MODEL))
    path = Path(name).expanduser()
    looks_local = (
        name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1
    )
    if path.is_dir() and not (path / "config.json").is_file():
        raise InputError(
            f"--model {name}: the folder has no config.json: expected a model folder "
            "written by "
            f"save_pretrained (config.json and weights)"
        )
    if looks_local and not path.exists():
        raise InputError(
            f"--model {name}: no such folder. Expected a local model folder "
            "(config.json and "
            "weights), a Hugging Face Hub id such as bert-base-cased, or "
            f"'{PACKAGED_MODEL}'"
        )
    return str(path) if path.exists() else name


def _load_pretrained(name: str, auto_class, **kwargs):
    """Tokenizer and model of --model, or an InputError that says what to pass
    instead."""
    from tutorialkit.resources import load_model, load_tokenizer

    source = _model_source(name)
    try:
        return load_tokenizer(source), load_model(source, auto_class, **kwargs)
    except ResourceMissing as error:
        raise InputError(
            f"--model {name!r} is not a local folder and could not be loaded from the "
            "Hugging Face "
            f"Hub ({type(error.__cause__).__name__}): check the id and the internet "
            "connection, "
            f"pass a local model folder, or use --model {PACKAGED_MODEL} (the packaged "
            f"all-MiniLM-L6-v2, offline)"
        ) from error


def _read_splits(
    args: argparse.Namespace, read: Callable[[Path], list], label_of: Callable
) -> tuple[list, list, str]:
    """Training and dev examples, and what the dev set is: --dev, or 10% of --train held
    out (said on stdout)."""
    rows = read(args.train)
    if args.dev is not None:
        return rows, read(args.dev), str(args.dev)
    # split_dataset cuts three parts: the middle 10% is the dev set, the other two are
    # trained on
    first, dev, last = split_dataset(
        rows, (0.45, 0.1, 0.45), seed=args.seed, stratify=label_of
    )
    if not dev:
        raise InputError(
            f"--train {args.train} has {len(rows)} examples: too few to hold 10% out; "
            "pass --dev"
        )
    print(
        f"no --dev: holding out {len(dev)} of the {len(rows)} examples of "
        f"{args.train} (10%, seed {args.seed}) "
        f"as the dev set"
    )
    return first + last, dev, f"10% of {args.train}"


def _check_labels(
    labels: Sequence[tuple[str, str]], known: Sequence[str], what: str, fix: str
) -> None:
    """InputError naming every label (with where it first occurs) that the model
    cannot predict: ``what`` names the data and the model's labels, ``fix`` says what
    to do."""
    unseen: dict[str, str] = {}
    for label, source in labels:
        if label not in known:
            unseen.setdefault(label, source)
    if unseen:
        where = ", ".join(
            f"{label!r} (first in the example at {source})"
            for label, source in unseen.items()
        )
        raise InputError(f"{what}: {where}; {fix}")


def _check_dev_labels(
    dev_labels: Sequence[tuple[str, str]],
    known: Sequence[str],
    args: argparse.Namespace,
) -> None:
    """InputError naming every dev label that never occurs in the training file."""
    _check_labels(
        dev_labels,
        known,
        f"the dev set has labels that never occur in --train {args.train}",
        "the model cannot learn them. Add training examples with them, or leave them "
        "out of the dev set",
    )


def _ner_report(model, tokenizer, id2label, sentences, max_length, batch_size):
    """Entity precision, recall and F1 of ``model`` on tagged ``sentences``."""
    from tutorialkit.metrics import entity_report
    from tutorialkit.ner import predict_tags

    options = {"max_length": max_length, "batch_size": batch_size}
    predicted = predict_tags(model, tokenizer, sentences, id2label, **options)
    return entity_report([s.tags for s in sentences], predicted)


def _classify_report(model, tokenizer, id2label, rows, max_length, batch_size):
    """Per-class precision, recall and F1, accuracy and macro-F1 of ``model`` on
    labelled ``rows``, through the inference pipeline."""
    from tutorialkit.apps import SentimentPipeline
    from tutorialkit.metrics import classification_report

    pipe = SentimentPipeline(
        model, tokenizer, id2label, batch_size=batch_size, max_length=max_length
    )
    predicted = [answer.label for answer in pipe([row.text for row in rows])]
    return classification_report(
        [row.label for row in rows], predicted, labels=list(id2label.values())
    )


def _column(value: str) -> str | int:
    """A --text-column/--label-column value: a 0-based index when it is a number, else a
    header name."""
    return int(value) if value.isdigit() else value


def run_train(args: argparse.Namespace) -> None:
    """``train ner`` and ``train classify``: read the files, fine-tune, keep the best
    epoch, write the bundle.

    Usage: ``run_train(build_parser().parse_args(["train", "ner", "--train",
    "a.conll", "--model", "minilm", "--out", "runs/a"]))``.
    """
    from tutorialkit.env import seed_everything

    seed_everything(args.seed)  # the new head is initialised when the model is loaded
    with _quiet_unless_main():  # under torchrun only rank 0 prints
        if args.task == "ner":
            _train_ner(args)
        else:
            _train_classify(args)


@contextlib.contextmanager
def _quiet_unless_main() -> Iterator[None]:
    """On rank 0 (or alone) nothing changes; on the other ranks print() writes
    nowhere."""
    if distributed.is_main():
        yield
        return
    with open(os.devnull, "w") as nowhere, contextlib.redirect_stdout(nowhere):
        yield


def _train_ner(args: argparse.Namespace) -> None:
    """Token classification on CoNLL files, scored by entity-level precision, recall and
    F1."""
    from transformers import (
        AutoModelForTokenClassification,
        DataCollatorForTokenClassification,
    )

    from tutorialkit.ner import encode_sentences, label_maps

    train_rows, dev_rows, dev_name = _read_splits(
        args,
        lambda path: read_conll(path, scheme=args.scheme, encoding=args.encoding),
        label_of=None,
    )
    label2id, id2label = label_maps(train_rows)
    _check_dev_labels(
        [(tag, s.source) for s in dev_rows for tag in s.tags], list(label2id), args
    )
    tokenizer, model = _load_pretrained(
        args.model,
        AutoModelForTokenClassification,
        num_labels=len(label2id),
        id2label=id2label,
        label2id=label2id,
    )
    _check_max_length(model, args)
    features = [
        w.features()
        for w in encode_sentences(
            train_rows, tokenizer, label2id, max_length=args.max_length
        )
    ]

    def report(model):
        options = (args.max_length, args.batch_size)
        return _ner_report(model, tokenizer, id2label, dev_rows, *options)

    def scores(r) -> dict[str, float]:
        return {key: getattr(r.micro, key) for key in ("precision", "recall", "f1")}

    _fit(
        args,
        "ner",
        model,
        tokenizer,
        features,
        DataCollatorForTokenClassification(tokenizer),
        report,
        scores,
        {"n_train": len(train_rows), "n_dev": len(dev_rows), "dev": dev_name},
    )


def _train_classify(args: argparse.Namespace) -> None:
    """Sequence classification on CSV/TSV files, scored by accuracy and macro-F1 through
    the inference pipeline."""
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding

    from tutorialkit.classify import encode_labeled

    train_rows, dev_rows, dev_name = _read_splits(
        args, _classification_reader(args), label_of=lambda row: row.label
    )
    labels = sorted({row.label for row in train_rows})
    if len(labels) < 2:
        raise InputError(
            f"--train {args.train}: expected at least two labels to tell apart, found "
            f"{labels}"
        )
    _check_dev_labels([(row.label, row.source) for row in dev_rows], labels, args)
    label2id = {label: i for i, label in enumerate(labels)}
    id2label = dict(enumerate(labels))
    tokenizer, model = _load_pretrained(
        args.model,
        AutoModelForSequenceClassification,
        num_labels=len(labels),
        id2label=id2label,
        label2id=label2id,
    )
    _check_max_length(model, args)
    features = encode_labeled(train_rows, tokenizer, labels, args.max_length)

    def report(model):
        options = (args.max_length, args.batch_size)
        return _classify_report(model, tokenizer, id2label, dev_rows, *options)

    def scores(r) -> dict[str, float]:
        return {"accuracy": r.accuracy, "macro_f1": r.macro.f1}

    _fit(
        args,
        "classify",
        model,
        tokenizer,
        features,
        DataCollatorWithPadding(tokenizer),
        report,
        scores,
        {"n_train": len(train_rows), "n_dev": len(dev_rows), "dev": dev_name},
    )


def _classification_reader(args: argparse.Namespace) -> Callable[[Path], list]:
    """The CSV/TSV reader that the options describe (columns by name or by index)."""
    text_column, label_column = _column(args.text_column), _column(args.label_column)
    if args.no_header and not (
        isinstance(text_column, int) and isinstance(label_column, int)
    ):
        raise InputError(
            "--no-header: the file has no column names, so give --text-column and "
            "--label-column as 0-based indices, found "
            f"{args.text_column!r} and {args.label_column!r}"
        )

    def read(path: Path) -> list:
        return read_text_classification(
            path,
            text_column=text_column,
            label_column=label_column,
            delimiter=args.delimiter,
            header=not args.no_header,
            encoding=args.encoding,
        )

    return read


def _check_max_length(model, args: argparse.Namespace) -> None:
    """InputError when --max-length is beyond the model's position limit (it would fail
    mid-training)."""
    limit = getattr(model.config, "max_position_embeddings", None)
    if isinstance(limit, int) and args.max_length > limit:
        raise InputError(
            f"--max-length {args.max_length} is more than the {limit} positions "
            f"{args.model} "
            f"has: pass --max-length {limit} or less"
        )


def _fit(
    args,
    task: str,
    model,
    tokenizer,
    features: list[dict],
    collate,
    report: Callable,
    scores: Callable,
    sizes: dict,
) -> None:
    """Train on ``features`` keeping the epoch with the best dev score; print the dev
    report; write the bundle."""
    from torch.utils.data import DataLoader

    from tutorialkit.train import TrainConfig, train

    metric = "f1" if task == "ner" else "macro_f1"
    batches = LengthGroupedBatches(
        [len(f["input_ids"]) for f in features], args.batch_size
    )
    if args.compile:  # a few batch shapes, each compiled once
        collate = PadToBucket(
            collate, bucket_lengths(args.max_length), tokenizer.pad_token_id
        )
    loader = DataLoader(features, batch_sampler=batches, collate_fn=collate)
    checkpoints = args.out / CHECKPOINTS
    config = TrainConfig(
        lr=args.lr,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
        metric=metric,
        output_dir=str(checkpoints),
        save_every=args.save_every,
        compile=args.compile,
    )
    if args.resume:
        _check_resumable(checkpoints / "last", config)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    history = train(
        model, loader, config, evaluate=lambda m: scores(report(m)), resume=args.resume
    )
    seconds = time.perf_counter() - started
    if not distributed.is_main():  # rank 0 reports and writes the bundle
        return
    final = report(model)
    table = final.table()
    best = history.best
    print(
        f"\ndev set ({sizes['dev']}, {sizes['n_dev']} examples), best epoch "
        f"{best['epoch']:.0f} of {args.epochs}:"
    )
    _print_report(final)
    save_bundle(model, tokenizer, args.out, task=task, max_length=args.max_length)
    _write_metrics(args, task, sizes, seconds, history, table)
    shutil.rmtree(checkpoints)  # the run is complete: nothing left to resume
    print(
        f"saved the model, its tokenizer and labels to {args.out}; metrics in "
        f"{args.out / 'metrics.json'}\n"
        f"use it: python -m tutorialkit predict --model {args.out} --input texts.txt"
    )


def _check_resumable(folder: Path, config) -> None:
    """InputError unless ``folder`` holds a checkpoint written with this ``config``."""
    found = existing_checkpoint(folder)
    if found is None:
        raise InputError(
            f"--resume: no checkpoint in {folder}: the run never wrote one, or it "
            "finished (its bundle is in --out). Run without --resume"
        )
    changed = config_changes(
        json.loads((found / STATE_FILE).read_text())["config"], config
    )
    if changed:
        raise InputError(
            f"--resume: the checkpoint in {found} was written with other options "
            f"({'; '.join(changed)}): pass the options of the interrupted run"
        )


def _print_report(report) -> None:
    """The report's table, and the accuracy of a classification report."""
    print(report.table().to_string(float_format="{:.3f}".format))
    if hasattr(report, "accuracy"):
        print(f"accuracy {report.accuracy:.3f}")


def _write_metrics(args, task: str, sizes: dict, seconds: float, history, table):
    """``metrics.json`` in the bundle: the run's settings, its evaluations, its training
    loss at every step and the final dev report."""
    metrics = {
        "task": task,
        "model": args.model,
        "train": str(args.train),
        **sizes,
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "seed": args.seed,
        "train_seconds": round(seconds, 1),
        "best": history.best,
        "evals": history.evals,
        "losses": [record["loss"] for record in history.train],  # one per step
        "dev_report": table.to_dict(orient="index"),
    }
    (args.out / "metrics.json").write_text(
        json.dumps(metrics, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


# --------------------------------------------------------------------------------------
# predict
# --------------------------------------------------------------------------------------


def _read_texts(path: Path | None) -> list[tuple[int, str]]:
    """(line number, text) of each non-blank line of ``path`` (or stdin), read as
    UTF-8."""
    name = str(path) if path is not None else "<stdin>"
    data = path.read_bytes() if path is not None else sys.stdin.buffer.read()
    texts = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            text = raw.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as error:
            raise InputError(
                f"{name}:{number}: expected UTF-8 text, found the bytes "
                f"{raw[error.start : error.end]!r}: convert the file, e.g. iconv -f "
                "latin1 -t utf-8"
            ) from None
        if text.strip():
            texts.append((number, text))
    return texts


def _answer(task: str, number: int, text: str, found) -> dict:
    """One JSON-ready answer: entities with character offsets (ner), or the label and
    its probabilities."""
    if task == "ner":
        return {
            "line": number,
            "text": text,
            "entities": [
                {
                    "text": e.text,
                    "label": e.label,
                    "start": e.start,
                    "end": e.end,
                    "score": round(e.score, 4),
                }
                for e in found
            ],
        }
    return {
        "line": number,
        "text": text,
        "label": found.label,
        "score": round(found.score, 4),
        "probabilities": {
            label: round(p, 4) for label, p in found.probabilities.items()
        },
    }


def _tsv_rows(answer: dict) -> list[list]:
    """The TSV rows of one answer: one per entity (ner) or one per text (classify)."""
    if "entities" in answer:
        return [
            [answer["line"], e["start"], e["end"], e["label"], e["score"], e["text"]]
            for e in answer["entities"]
        ]
    return [[answer["line"], answer["label"], answer["score"], answer["text"]]]


def run_predict(args: argparse.Namespace) -> None:
    """``predict``: load the bundle, answer for every non-blank input line, write JSON
    lines or TSV to stdout.

    Each answer carries the input's line number (``"line"``), so blank lines, which are
    skipped, do not shift the answers. Usage:
    ``run_predict(build_parser().parse_args(["predict", "--model", "runs/ner"]))``.
    """
    bundle = load_bundle(args.model, device=args.device, int8=args.int8)
    pipe = bundle.pipeline(batch_size=args.batch_size)
    texts = _read_texts(args.input)
    if args.format == "tsv":
        print("\t".join(TSV_HEADERS[bundle.task]))
    for begin in range(0, len(texts), PREDICT_CHUNK):
        chunk = texts[begin : begin + PREDICT_CHUNK]
        for (number, text), found in zip(chunk, pipe([text for _, text in chunk])):
            answer = _answer(bundle.task, number, text, found)
            if args.format == "jsonl":
                print(json.dumps(answer, ensure_ascii=False))
            else:
                for row in _tsv_rows(answer):
                    print("\t".join(str(v).replace("\t", " ") for v in row))
        sys.stdout.flush()


# --------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------


def run_evaluate(args: argparse.Namespace) -> None:
    """``evaluate``: load the bundle, read the labelled file of its task, print the
    report that training prints for its dev set.

    Usage: ``run_evaluate(build_parser().parse_args(["evaluate", "--model",
    "runs/ner", "--data", "test.conll"]))``.
    """
    bundle = load_bundle(args.model, device=args.device, int8=args.int8)
    known = list(bundle.id2label.values())
    if bundle.task == "ner":
        rows = read_conll(args.data, scheme=args.scheme, encoding=args.encoding)
        labels = [(tag, s.source) for s in rows for tag in s.tags]
        report_of = _ner_report
    else:
        rows = _classification_reader(args)(args.data)
        labels = [(row.label, row.source) for row in rows]
        report_of = _classify_report
    _check_labels(
        labels,
        known,
        f"--data {args.data} has labels that the model in {args.model} was not "
        f"trained on (it knows {known})",
        "score it on data with the model's labels only",
    )
    options = (bundle.max_length, args.batch_size)
    report = report_of(bundle.model, bundle.tokenizer, bundle.id2label, rows, *options)
    print(f"{args.data}, {len(rows)} examples, model {args.model} ({bundle.task}):")
    _print_report(report)
