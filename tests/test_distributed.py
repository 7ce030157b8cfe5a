"""Data-parallel training (tutorialkit.distributed) on two CPU processes with gloo.

tests/distributed_worker.py trains a tiny BERT tagger; torchrun launches it with two
processes, and the results are compared with one process (no launcher): the same
weights, a resume after SIGKILL to the same weights, files written by rank 0 only.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import DataLoader

from tutorialkit import distributed
from tutorialkit.train import TrainConfig, train

WORKER = Path(__file__).with_name("distributed_worker.py")
# a global batch of 4 split between two processes, two batches per optimiser step: the
# split, the token weighting and the all-reduce skipped while accumulating are all used
OPTIONS = ("--batch", "4", "--accum", "2")


def launch(out: Path, processes: int, *options: str) -> subprocess.CompletedProcess:
    """Run the worker alone (processes=1, no launcher) or under torchrun."""
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        + [f"--nproc_per_node={processes}"]
        if processes > 1
        else [sys.executable]
    )
    return subprocess.run(
        [*launcher, str(WORKER), "--out", str(out), *OPTIONS, *options],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def weights(out: Path, rank: int = 0) -> dict[str, torch.Tensor]:
    return load_file(str(out / f"final-rank{rank}.safetensors"))


def largest_gap(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One process; two processes with checkpoints; two processes killed at step 6
    (the last checkpoint, of step 5, is in the middle of the second epoch) and
    resumed."""
    root = tmp_path_factory.mktemp("ddp")
    folders = {name: root / name for name in ("one", "two", "resumed")}
    for name, processes, options in [
        ("one", 1, ()),
        ("two", 2, ("--checkpoints",)),
        ("resumed", 2, ("--checkpoints", "--kill-at", "6")),
    ]:
        done = launch(folders[name], processes, *options)
        killed = "--kill-at" in options
        assert (done.returncode != 0) == killed, done.stderr[-3000:]
    done = launch(folders["resumed"], 2, "--checkpoints", "--resume")
    assert done.returncode == 0, done.stderr[-3000:]
    return folders


def test_two_processes_train_the_one_process_run(runs):
    # the same weights up to float32 rounding (sums taken in another order), and the
    # two ranks hold the same copy; without the token weighting of split_batch the
    # gap is about 4e-3
    assert largest_gap(weights(runs["one"]), weights(runs["two"])) < 1e-5
    assert largest_gap(weights(runs["two"], 0), weights(runs["two"], 1)) == 0.0
    one, two = (
        [float(x) for x in (runs[n] / "losses-rank0.txt").read_text().split()]
        for n in ("one", "two")
    )
    assert len(one) == len(two) == 9  # 3 epochs of 6 batches, 2 per step
    assert max(abs(a - b) for a, b in zip(one, two)) < 1e-5


def test_two_processes_resume_after_sigkill_to_the_same_weights(runs):
    resumed, uninterrupted = weights(runs["resumed"]), weights(runs["two"])
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)


def test_only_rank_0_writes_checkpoints(runs):
    rank0, rank1 = (
        (runs["two"] / f"writes-rank{r}.txt").read_text().splitlines() for r in (0, 1)
    )
    assert rank1 == []
    written = {line.split()[0] for line in rank0}
    assert written == {"save_checkpoint", "save_weights"}  # last/ and best/
    assert len([line for line in rank0 if line.startswith("save_checkpoint")]) == 9


def test_resuming_with_another_number_of_processes_is_an_error(runs, tmp_path):
    import shutil

    shutil.copytree(runs["resumed"] / "run", tmp_path / "run")
    done = launch(tmp_path, 1, "--checkpoints", "--resume")
    assert done.returncode != 0
    assert "was written by 2 process(es), this run has 1" in done.stderr


@pytest.fixture
def rank1_of_2(monkeypatch):
    """The environment torchrun gives rank 1 of two (no process group is started)."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")


def test_split_batch_weights_make_the_mean_over_all_tokens():
    # a made-up loss per token: its label's value
    labels = torch.tensor([[1, 2, 3], [4, -100, -100], [5, 6, -100]])
    means, weighted = [], []
    for rank in (0, 1):
        batch = {"labels": labels, "id": "x"}
        share, weight = distributed.split_batch(batch, rank_index=rank, n_ranks=2)
        assert share["id"] == "x"
        tokens = share["labels"][share["labels"] != -100].float()
        means.append(tokens.mean())  # what the rank's model returns
        weighted.append(weight * tokens.mean())
    # rank 0: rows 0-1 (4 tokens, mean 2.5), rank 1: row 2 (2 tokens, mean 5.5); DDP
    # averages the ranks: weighted, the mean of all 6 tokens (3.5); unweighted, 4.0
    all_tokens = labels[labels != -100].float().mean()
    assert (sum(weighted) / 2).item() == pytest.approx(all_tokens.item())
    assert (sum(means) / 2).item() == pytest.approx(4.0)


def test_a_rank_without_rows_computes_one_with_weight_0(rank1_of_2):
    share, weight = distributed.split_batch({"labels": torch.tensor([7])})
    assert weight == 0.0 and share["labels"].tolist() == [7]


def test_batches_smaller_than_the_processes_are_an_error_before_any_wait(rank1_of_2):
    loader = DataLoader([{"labels": torch.tensor(0)}] * 4, batch_size=1)
    with pytest.raises(ValueError, match="batch size of at least 2"):
        train(torch.nn.Linear(1, 1), loader, TrainConfig(device="cpu"))
