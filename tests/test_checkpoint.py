"""tutorialkit.checkpoint: weight files, random states, and what a run keeps.

Resuming a whole run to the same weights is tested through ``train(..., resume=True)``
in test_train.py; here each piece is tested on its own.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from tutorialkit.checkpoint import (
    Checkpoints,
    capture_rng,
    existing_checkpoint,
    load_checkpoint,
    load_weights,
    restore_rng,
    save_checkpoint,
    save_weights,
)
from tutorialkit.optim import lr_scheduler
from tutorialkit.train import History, TrainConfig


def test_save_and_load_weights_with_tied_embeddings(make_tiny_bert, tmp_path):
    # a 2-layer BERT of width 32 whose output layer shares the input embedding matrix
    torch.manual_seed(0)
    model, fresh = (
        make_tiny_bert("masked-lm", vocab_size=50, max_position_embeddings=32)
        for _ in range(2)
    )
    assert not torch.equal(
        model.bert.embeddings.word_embeddings.weight,
        fresh.bert.embeddings.word_embeddings.weight,
    ), "two different initial weights, or loading proves nothing"
    path = save_weights(model, tmp_path / "w")
    assert path.name == "model.safetensors"
    load_weights(fresh, tmp_path / "w")
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), fresh.state_dict().values())
    )
    # still tied
    assert (
        fresh.cls.predictions.decoder.weight
        is fresh.bert.embeddings.word_embeddings.weight
    )
    with pytest.raises(RuntimeError):
        load_weights(nn.Linear(2, 2), tmp_path / "w")  # another architecture
    with pytest.raises(FileNotFoundError, match="no weights at"):
        load_weights(fresh, tmp_path / "nowhere")


def test_capture_and_restore_rng_repeat_every_generator():
    generator = torch.Generator().manual_seed(3)
    loader = DataLoader(
        list(range(10)), batch_size=5, shuffle=True, generator=generator
    )
    state = json.loads(json.dumps(capture_rng(loader)))  # survives JSON

    def draw():
        return (
            random.random(),
            np.random.rand(),
            torch.rand(1).item(),
            [b.tolist() for b in loader],
        )

    first = draw()
    restore_rng(state, loader)
    assert draw() == first
    with pytest.raises(ValueError, match="resume with a DataLoader built the same way"):
        restore_rng(state, DataLoader(list(range(10)), batch_size=5, shuffle=True))


def checkpoints(model: nn.Module, loader, **config) -> Checkpoints:
    """A Checkpoints object for ``model`` with an AdamW, a constant schedule and no
    scaler."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = lr_scheduler(optimizer, "constant")
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    return Checkpoints(
        TrainConfig(**config), model, optimizer, scheduler, scaler, loader
    )


def test_without_a_folder_the_best_weights_stay_in_memory_and_nothing_is_written(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    model = nn.Linear(3, 2)
    run = checkpoints(model, DataLoader(list(range(4)), batch_size=2))
    best = {k: v.clone() for k, v in model.state_dict().items()}
    run.save_best({"step": 1, "f1": 0.5})
    with torch.no_grad():
        model.weight.add_(1.0)
    history = History(train=[{"step": 1}], evals=[{"step": 1, "f1": 0.5}])
    run.save_if_due(history, 0, 2, finished=True)
    run.restore_best()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in best.items())
    assert list(tmp_path.iterdir()) == []


def test_with_a_folder_the_best_weights_and_their_scores_go_to_best(tmp_path):
    model = nn.Linear(3, 2)
    run = checkpoints(
        model, DataLoader(list(range(4)), batch_size=2), output_dir=tmp_path
    )
    run.save_best({"step": 4, "f1": 0.5})
    assert json.loads((tmp_path / "best" / "metrics.json").read_text()) == {
        "step": 4,
        "f1": 0.5,
    }
    assert (tmp_path / "best" / "model.safetensors").exists()


def test_steps_group_the_batches_and_the_last_group_of_an_epoch_may_be_short():
    run = checkpoints(
        nn.Linear(1, 1), DataLoader(list(range(10)), batch_size=2), grad_accum_steps=2
    )
    groups = [
        (epoch, end, [b.tolist() for b in batches])
        for epoch, end, batches in run.steps(6)
    ]
    assert groups[:3] == [
        (0, 2, [[0, 1], [2, 3]]),
        (0, 4, [[4, 5], [6, 7]]),
        (0, 5, [[8, 9]]),
    ]
    assert len(groups) == 6 and groups[3][0] == 1


@pytest.mark.parametrize(
    "step, evaluated, finished, written",
    [
        (3, False, False, True),  # every save_every=3 steps
        (
            2,
            True,
            False,
            False,
        ),  # an evaluation does not count when save_every is given
        (4, False, True, True),  # the last step always
    ],
)
def test_the_resumable_checkpoint_is_written_when_it_is_due(
    tmp_path, step, evaluated, finished, written
):
    model = nn.Linear(3, 2)
    run = checkpoints(
        model,
        DataLoader(list(range(20)), batch_size=2),
        output_dir=tmp_path,
        save_every=3,
    )
    evals = [{"step": step}] if evaluated else []
    history = History(train=[{"step": s} for s in range(1, step + 1)], evals=evals)
    run.save_if_due(history, 0, step, finished=finished)
    assert (tmp_path / "last" / "state.json").exists() == written
    if written:
        state = json.loads((tmp_path / "last" / "state.json").read_text())
        assert (
            state["step"],
            state["epoch"],
            state["batches_done"],
            state["finished"],
        ) == (step, 0, step, finished)


def test_a_crash_between_the_renames_leaves_the_previous_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = lr_scheduler(optimizer, "constant", warmup_steps=0, total_steps=4)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path / "last", model, optimizer, scheduler, scaler, {"step": 1})
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    assert existing_checkpoint(tmp_path / "last") == tmp_path / "last"
    # the moment between "last -> last.old" and "last.tmp -> last"
    (tmp_path / "last").rename(tmp_path / "last.old")
    assert existing_checkpoint(tmp_path / "last") == tmp_path / "last.old"
    with torch.no_grad():
        model.weight.add_(1.0)
    state = load_checkpoint(tmp_path / "last", model, optimizer, scheduler, scaler)
    assert state["step"] == 1 and torch.equal(model.weight, saved["weight"])
    # the next save replaces it, and leaves no .old behind
    save_checkpoint(tmp_path / "last", model, optimizer, scheduler, scaler, {"step": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    assert existing_checkpoint(tmp_path / "nowhere") is None
