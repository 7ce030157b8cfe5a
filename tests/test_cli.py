"""tutorialkit.cli: train ner, train classify and predict on small files, in-process.

``python -m tutorialkit`` runs ``cli.main``; the models are tiny random BERTs.
"""

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from tutorialkit import cli, resources
from tutorialkit.apps import split_words
from tutorialkit.deploy import load_bundle, save_bundle

NAMES, CITIES = (
    ["John", "Mary", "Ahmed", "Li", "Olga"],
    ["Paris", "London", "New York", "Lima"],
)
TEXTS = ["Olga  moved to New York, then Lima!", "", "Li met José in São Paulo"]


def tagged_sentence(i: int) -> list[tuple[str, str]]:
    """'NAME lives in CITY' with its IOB2 tags; the sentences cycle through the names
    and cities."""
    city = CITIES[i % len(CITIES)].split()
    return [(NAMES[i % len(NAMES)], "B-PER"), ("lives", "O"), ("in", "O")] + [
        (word, "I-LOC" if j else "B-LOC") for j, word in enumerate(city)
    ]


def run(argv: list[str]) -> tuple[int, str]:
    """cli.main(argv) in this process: (exit status, what it printed on stdout)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main([str(a) for a in argv])
    return status, out.getvalue()


# 128 positions: what --max-length is by default
TINY_BERT = {"seed": 0, "max_position_embeddings": 128}


@pytest.fixture(scope="module")
def pretrained(make_tiny_bert, tokenizer, tmp_path_factory):
    """A folder like a Hub checkout: a tiny random BERT without a head, and the MiniLM
    tokenizer."""
    folder = tmp_path_factory.mktemp("pretrained")
    make_tiny_bert("bare", **TINY_BERT).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Small files in the formats readers bring: CoNLL-2003 (4 columns, -DOCSTART-),
    WNUT-style tabs, CSV, TSV."""
    folder = tmp_path_factory.mktemp("data")
    conll = ["-DOCSTART- -X- -X- O", ""]
    for i in range(20):
        conll += [f"{word} NNP B-NP {tag}" for word, tag in tagged_sentence(i)] + [""]
    (folder / "train.conll").write_text("\n".join(conll))
    (folder / "dev.tsv.conll").write_text(
        "\n\n".join(
            "\n".join(f"{w}\t{t}" for w, t in tagged_sentence(i)) for i in range(3, 7)
        )
        + "\n"
    )
    rows = ["sentence,label"] + [
        f'"A {w} film,\nsaid the\nreview.",{"positive" if i % 2 else "negative"}'
        for i, w in enumerate(["great", "dull", "fine", "bad"] * 5)
    ]
    (folder / "train.csv").write_text("\n".join(rows) + "\n")
    (folder / "dev.tsv").write_text(
        "sentence\tlabel\na fine film\tpositive\na dull, bad film\tnegative\n"
    )
    (folder / "texts.txt").write_text("\n".join(TEXTS) + "\n")
    return folder


@pytest.fixture(scope="module")
def ner_run(pretrained, data, tmp_path_factory):
    """train ner for one epoch, without --dev: (exit status, stdout, out folder)."""
    out = tmp_path_factory.mktemp("ner_run")
    status, printed = run(
        [
            "train",
            "ner",
            "--train",
            data / "train.conll",
            "--model",
            pretrained,
            "--out",
            out,
            "--epochs",
            1,
            "--lr",
            1e-3,
            "--batch-size",
            4,
            "--max-length",
            32,
        ]
    )
    return status, printed, out


def test_train_ner_writes_a_bundle_and_metrics(ner_run):
    status, printed, out = ner_run
    assert status == 0
    assert "no --dev: holding out 2 of the 20 examples" in printed
    # the dev report table
    assert re.search(r"micro avg +[\d.]+ +[\d.]+ +[\d.]+ +\d+", printed)
    metrics = json.loads((out / "metrics.json").read_text())
    assert (
        metrics["task"],
        metrics["n_train"],
        metrics["n_dev"],
        metrics["max_length"],
    ) == ("ner", 18, 2, 32)
    assert metrics["best"]["f1"] == metrics["dev_report"]["micro avg"]["f1"]
    assert len(metrics["losses"]) == metrics["evals"][-1]["step"] == 5  # 18 / 4
    bundle = load_bundle(out, device="cpu")
    assert (bundle.task, bundle.max_length) == ("ner", 32)
    assert set(bundle.id2label.values()) == {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"}
    # the resumable checkpoint is removed once the bundle is written
    assert not (out / cli.CHECKPOINTS).exists()


def test_predict_with_the_trained_bundle(ner_run, data):
    status, printed = run(
        ["predict", "--model", ner_run[2], "--input", data / "texts.txt"]
    )
    answers = [json.loads(line) for line in printed.splitlines()]
    # the blank line 2 is skipped, not shifted
    assert status == 0 and [a["line"] for a in answers] == [1, 3]
    for answer in answers:
        assert set(answer) == {"line", "text", "entities"}
        for entity in answer["entities"]:
            assert set(entity) == {"text", "label", "start", "end", "score"}


def test_predict_int8_answers_every_line(ner_run, data):
    status, printed = run(
        ["predict", "--model", ner_run[2], "--input", data / "texts.txt", "--int8"]
    )
    assert status == 0 and [json.loads(x)["line"] for x in printed.splitlines()] == [
        1,
        3,
    ]


@pytest.fixture(scope="module")
def every_word_a_person(make_tiny_bert, ner_labels, tokenizer, tmp_path_factory):
    """A bundle whose tagger says B-PER for every word: each word is an entity, so every
    offset gets checked."""
    model = make_tiny_bert("token", id2label=ner_labels, **TINY_BERT).eval()
    with torch.no_grad():
        # label 3 is B-PER
        model.classifier.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 100.0, 0.0]))
    return save_bundle(
        model, tokenizer, tmp_path_factory.mktemp("persons"), task="ner", max_length=32
    )


def test_predict_ner_offsets_index_the_input(every_word_a_person, data):
    status, printed = run(
        ["predict", "--model", every_word_a_person, "--input", data / "texts.txt"]
    )
    answers = [json.loads(line) for line in printed.splitlines()]
    assert status == 0 and [a["text"] for a in answers] == [TEXTS[0], TEXTS[2]]
    for answer in answers:
        entities = answer["entities"]
        assert [(e["start"], e["end"]) for e in entities] == [
            (s, e) for _, s, e in split_words(answer["text"])
        ]
        assert all(
            answer["text"][e["start"] : e["end"]] == e["text"] and e["label"] == "PER"
            for e in entities
        )
    assert [e["text"] for e in answers[1]["entities"]] == [
        "Li",
        "met",
        "José",
        "in",
        "São",
        "Paulo",
    ]


def test_predict_tsv_has_a_header_and_one_row_per_entity(every_word_a_person, data):
    status, printed = run(
        [
            "predict",
            "--model",
            every_word_a_person,
            "--input",
            data / "texts.txt",
            "--format",
            "tsv",
        ]
    )
    rows = [line.split("\t") for line in printed.splitlines()]
    assert status == 0 and rows[0] == ["line", "start", "end", "label", "score", "text"]
    assert len(rows) == 1 + len(split_words(TEXTS[0])) + len(split_words(TEXTS[2]))
    assert rows[-1][:4] == ["3", "19", "24", "PER"] and rows[-1][5] == "Paulo"


def test_train_and_predict_classify(pretrained, data, tmp_path):
    status, printed = run(
        [
            "train",
            "classify",
            "--train",
            data / "train.csv",
            "--dev",
            data / "dev.tsv",
            "--text-column",
            "sentence",
            "--model",
            pretrained,
            "--out",
            tmp_path,
            "--epochs",
            1,
        ]
    )
    assert status == 0 and "macro avg" in printed
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (metrics["task"], metrics["n_train"], metrics["n_dev"]) == (
        "classify",
        20,
        2,
    )
    assert set(metrics["best"]) == {"step", "epoch", "accuracy", "macro_f1"}
    status, printed = run(
        ["predict", "--model", tmp_path, "--input", data / "texts.txt"]
    )
    answers = [json.loads(line) for line in printed.splitlines()]
    assert status == 0 and len(answers) == 2
    for answer in answers:
        assert set(answer) == {"line", "text", "label", "score", "probabilities"}
        assert set(answer["probabilities"]) == {"negative", "positive"}
        assert (
            answer["score"]
            == answer["probabilities"][answer["label"]]
            == max(answer["probabilities"].values())
        )


def test_malformed_conll_is_one_line_with_file_and_line(pretrained, tmp_path, capsys):
    bad = tmp_path / "bad.conll"
    bad.write_text("John\tB-PER\nlives\n")
    assert (
        cli.main(
            [
                "train",
                "ner",
                "--train",
                str(bad),
                "--model",
                str(pretrained),
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    error = capsys.readouterr().err
    assert f"{bad}:2: expected a token and a tag" in error and "Traceback" not in error
    assert error.count("\n") == 1


def test_malformed_csv_is_one_line_with_file_and_line(
    pretrained, data, tmp_path, capsys
):
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,label\ngood film,positive\nbad, film,negative\n")
    status = cli.main(
        [
            "train",
            "classify",
            "--train",
            str(data / "train.csv"),
            "--dev",
            str(bad),
            "--text-column",
            "sentence",
            "--model",
            str(pretrained),
            "--out",
            str(tmp_path),
        ]
    )
    error = capsys.readouterr().err
    assert status == 2 and f"{bad}:3: expected 2 fields like line 1, found 3" in error
    assert "Traceback" not in error


def test_a_dev_label_unseen_in_training_is_an_error(pretrained, data, tmp_path, capsys):
    dev = tmp_path / "dev.conll"
    dev.write_text("Acme\tB-ORG\nhires\tO\n\nJohn\tB-PER\n")
    status = cli.main(
        [
            "train",
            "ner",
            "--train",
            str(data / "train.conll"),
            "--dev",
            str(dev),
            "--model",
            str(pretrained),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    error = capsys.readouterr().err
    assert (
        status == 2
        and f"'B-ORG' (first in the example at {dev}:1)" in error
        and "never occur in --train" in error
    )
    # stopped before loading the model or writing anything
    assert not (tmp_path / "out").exists()


def test_a_missing_model_says_what_to_pass(data, tmp_path, capsys, monkeypatch):
    argv = [
        "train",
        "ner",
        "--train",
        str(data / "train.conll"),
        "--out",
        str(tmp_path),
        "--model",
    ]
    assert cli.main(argv + ["./no/such/model"]) == 2
    assert (
        "--model ./no/such/model: no such folder. Expected a local model folder"
        in capsys.readouterr().err
    )

    # what resources.load_tokenizer raises for a Hub id it cannot download
    def unreachable(source, **kwargs):
        raise resources.ResourceMissing("could not load") from OSError("offline")

    monkeypatch.setattr(resources, "load_tokenizer", unreachable)
    assert cli.main(argv + ["no-such-org/no-such-model"]) == 2
    error = capsys.readouterr().err
    assert (
        "could not be loaded from the Hugging Face Hub (OSError)" in error
        and "--model minilm" in error
    )


def test_predict_on_a_folder_that_is_not_a_bundle(pretrained, data, capsys):
    assert (
        cli.main(
            ["predict", "--model", str(pretrained), "--input", str(data / "texts.txt")]
        )
        == 2
    )
    assert (
        f"{pretrained} is not a tutorialkit bundle: it has no tutorialkit.json"
        in capsys.readouterr().err
    )


def test_bad_options_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(
            [
                "train",
                "ner",
                "--train",
                "a.conll",
                "--model",
                "m",
                "--out",
                "o",
                "--epochs",
                "0",
            ]
        )
    assert (
        exit_.value.code == 2
        and "expected a number > 0, found 0" in capsys.readouterr().err
    )
    assert (
        cli.build_parser()
        .parse_args(
            [
                "train",
                "classify",
                "--train",
                "a",
                "--model",
                "m",
                "--out",
                "o",
                "--delimiter",
                "tab",
            ]
        )
        .delimiter
        == "\t"
    )


def test_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "tutorialkit", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    assert (
        "python -m tutorialkit" in result.stdout
        and "{train,predict,evaluate}" in result.stdout
    )


def table_lines(printed: str) -> list[str]:
    """The lines of the report table at the end of what train or evaluate printed."""
    lines = printed.splitlines()
    start = max(
        i for i, line in enumerate(lines) if line.lstrip().startswith("precision")
    )
    return [
        line
        for line in lines[start:]
        if line and not line.startswith(("saved", "use it"))
    ]


def test_evaluate_prints_the_report_of_training(pretrained, data, tmp_path):
    dev = data / "dev.tsv.conll"
    options = ["--model", pretrained, "--epochs", 2, "--lr", 1e-3, "--max-length", 32]
    status, trained = run(
        [
            "train",
            "ner",
            "--train",
            data / "train.conll",
            "--dev",
            dev,
            "--out",
            tmp_path,
        ]
        + options
    )
    assert status == 0
    status, evaluated = run(["evaluate", "--model", tmp_path, "--data", dev])
    assert status == 0 and f"{dev}, 4 examples" in evaluated
    # the saved bundle, loaded afresh, scores the dev file as training did
    assert table_lines(evaluated) == table_lines(trained)
    assert any(line.lstrip().startswith("PER") for line in table_lines(evaluated))


def test_evaluate_classify_and_labels_the_model_does_not_know(
    pretrained, data, tmp_path, capsys
):
    status, trained = run(
        ["train", "classify", "--train", data / "train.csv", "--dev", data / "dev.tsv"]
        + ["--text-column", "sentence", "--model", pretrained, "--out", tmp_path]
    )
    assert status == 0
    status, evaluated = run(
        ["evaluate", "--model", tmp_path, "--data", data / "dev.tsv"]
        + ["--text-column", "sentence"]
    )
    assert status == 0 and table_lines(evaluated) == table_lines(trained)
    assert "accuracy" in evaluated and "macro avg" in evaluated
    unknown = tmp_path / "three.tsv"
    unknown.write_text("sentence\tlabel\na film\tneutral\n")
    status, _ = run(
        [
            "evaluate",
            "--model",
            tmp_path,
            "--data",
            unknown,
            "--text-column",
            "sentence",
        ]
    )
    error = capsys.readouterr().err
    assert status == 2 and f"'neutral' (first in the example at {unknown}:2)" in error
    # one error line (the rest of stderr is the progress of loading the weights)
    assert [line for line in error.splitlines() if "error:" in line] == [
        line for line in error.splitlines() if "was not trained on" in line
    ]


def test_resume_without_a_checkpoint_is_an_error(pretrained, data, tmp_path, capsys):
    status, _ = run(
        ["train", "classify", "--train", data / "train.csv", "--text-column"]
        + ["sentence", "--model", pretrained, "--out", tmp_path, "--resume"]
    )
    error = capsys.readouterr().err
    assert status == 2 and "--resume: no checkpoint in" in error


def test_train_resumes_after_a_kill_to_the_same_weights(
    pretrained, data, tmp_path, capsys
):
    """A real SIGKILL in the middle of a run, then the same command with --resume."""
    command = ["train", "classify", "--train", data / "train.csv", "--text-column"]
    command += ["sentence", "--model", pretrained, "--epochs", 30, "--batch-size", 4]
    command += ["--save-every", 5, "--device", "cpu"]
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    # the same number of threads as this process, so that the arithmetic is the same
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    process = subprocess.Popen(
        [sys.executable, "-m", "tutorialkit", *map(str, command), "--out", killed],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = killed / cli.CHECKPOINTS / "last" / "state.json"
    deadline = time.monotonic() + 120
    while not (state.exists() and json.loads(state.read_text())["step"] >= 20):
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    # killed mid-run: a checkpoint, no bundle
    assert not (killed / "tutorialkit.json").exists()
    step = json.loads(state.read_text())["step"]
    assert 20 <= step < 150
    # other options than the interrupted run's: refused, the checkpoint left as it was
    assert run([*command, "--out", killed, "--resume", "--lr", 1e-3])[0] == 2
    assert "lr: 5e-05 -> 0.001" in capsys.readouterr().err
    assert json.loads(state.read_text())["step"] == step
    assert run([*command, "--out", killed, "--resume"])[0] == 0
    assert run([*command, "--out", whole])[0] == 0
    resumed, straight = (
        load_bundle(d, device="cpu").model.state_dict() for d in (killed, whole)
    )
    assert resumed.keys() == straight.keys()
    for name in straight:
        assert torch.equal(resumed[name], straight[name]), name
    metrics = [json.loads((d / "metrics.json").read_text()) for d in (killed, whole)]
    assert metrics[0]["evals"] == metrics[1]["evals"]


def test_train_under_torchrun_prints_and_writes_once(pretrained, data, tmp_path):
    """`torchrun --nproc_per_node 2 -m tutorialkit train ...`: two processes train,
    rank 0 alone prints the report and writes the bundle."""
    command = ["train", "ner", "--train", data / "train.conll", "--model", pretrained]
    command += ["--epochs", 2, "--batch-size", 4, "--max-length", 32, "--out", tmp_path]
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        + ["--nproc_per_node=2", "-m", "tutorialkit", *map(str, command)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("holding out 2 of the 20 examples") == 1
    assert (
        len(re.findall(r"micro avg +[\d.]+ +[\d.]+ +[\d.]+ +\d+", result.stdout)) == 1
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [e["step"] for e in metrics["evals"]] == [5, 10]  # 18 examples, batches of 4
    assert load_bundle(tmp_path, device="cpu").task == "ner"
    assert not (tmp_path / cli.CHECKPOINTS).exists()
