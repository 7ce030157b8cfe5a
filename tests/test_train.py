"""tutorialkit.train: config checks, optimiser pieces, the loop, and resume through it.

Every model here is built in the test and is tiny (an MLP, or a BERT with 2 layers of
width 32), so the whole file runs in seconds on a CPU. The checkpoint files and random
states on their own are tested in test_checkpoint.py. Resume is tested the hard way: a
run is interrupted by an exception at a given batch, resumed from its checkpoint in a
fresh process state, and its final weights are compared bit for bit with a run that was
never interrupted.
"""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from tutorialkit.env import CPU_AMP_VARIABLE
from tutorialkit.optim import lr_scheduler
from tutorialkit.plots import plot_history
from tutorialkit.train import (
    History,
    TrainConfig,
    loss_of,
    optimizer_step,
    resolve_amp,
    train,
)

matplotlib.use("Agg")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The models here are tiny: a second intra-op thread only adds overhead (10x on a
    busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Interrupted(Exception):
    """Raised by the test model to simulate a crash (power cut, Ctrl-C) in the middle of
    a run."""


class TinyClassifier(nn.Module):
    """An MLP with LayerNorm and dropout whose forward returns {"loss", "logits"} like a
    HF model."""

    def __init__(self, dropout: float = 0.2, crash_at: int | None = None):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(4, 16),
            nn.LayerNorm(16),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(16, 3),
        )
        self.crash_at, self.calls = crash_at, 0

    def forward(self, x, labels=None):
        self.calls += 1
        if self.crash_at is not None and self.calls == self.crash_at:
            raise Interrupted(f"crash at batch {self.calls}")
        logits = self.net(x)
        loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
        return {"loss": loss, "logits": logits}


def toy_data(n: int = 40, seed: int = 1) -> list[dict]:
    """n examples of 4 features; the class depends on the first two features
    (learnable)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.8).long()
    return [{"x": xi, "labels": yi} for xi, yi in zip(x, y)]


def make_model(**kwargs) -> TinyClassifier:
    """The same initial weights every time."""
    torch.manual_seed(0)
    return TinyClassifier(**kwargs)


def accuracy(model: nn.Module, data: list[dict]) -> float:
    batch = next(iter(DataLoader(data, batch_size=len(data))))
    return (
        (model(batch["x"])["logits"].argmax(-1) == batch["labels"])
        .float()
        .mean()
        .item()
    )


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def quiet(**kwargs) -> TrainConfig:
    """A config for tests: no progress bar, no warmup, CPU, float32 (the exact
    comparisons below would not hold under bfloat16 autocast)."""
    defaults = {"progress": False, "warmup": 0, "device": "cpu", "amp": "off"}
    return TrainConfig(**{**defaults, **kwargs})


# --------------------------------------------------------------------------------------
# TrainConfig
# --------------------------------------------------------------------------------------


def test_config_defaults_are_valid_and_output_dir_becomes_a_string(tmp_path):
    assert TrainConfig().lr == 5e-5
    assert TrainConfig(output_dir=tmp_path).output_dir == str(tmp_path)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"lr": 0}, "lr must be > 0"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"epochs": 0}, "epochs must be a whole number >= 1"),
        ({"epochs": 1.5}, "epochs"),
        ({"grad_accum_steps": 0}, "grad_accum_steps"),
        ({"max_steps": 0}, "max_steps"),
        ({"eval_every": True}, "eval_every"),
        ({"save_every": -1}, "save_every"),
        ({"warmup": 1.5}, "warmup must be a fraction"),
        ({"warmup": -1}, "warmup"),
        ({"grad_clip": 0}, "grad_clip"),
        ({"mode": "maximum"}, "mode must be one of"),
        ({"amp": "fp8"}, "amp must be one of"),
        ({"patience": 2}, "patience (early stopping) needs metric="),
    ],
)
def test_config_rejects_bad_values_with_the_reason(kwargs, words):
    with pytest.raises(ValueError, match="bad TrainConfig") as error:
        TrainConfig(**kwargs)
    assert words in str(error.value)


def test_config_reports_every_problem_at_once():
    with pytest.raises(ValueError) as error:
        TrainConfig(lr=-1, epochs=0)
    assert "lr must" in str(error.value) and "epochs must" in str(error.value)


# --------------------------------------------------------------------------------------
# The pieces of one step
# --------------------------------------------------------------------------------------


def test_resolve_amp_on_cpu_and_on_cuda(monkeypatch):
    monkeypatch.delenv(CPU_AMP_VARIABLE, raising=False)
    assert resolve_amp("auto", "cpu") is torch.float32
    assert resolve_amp("off", "cuda") is torch.float32
    assert resolve_amp("fp16", "cpu") is torch.float16
    monkeypatch.setattr(
        torch.cuda, "is_bf16_supported", lambda including_emulation=True: True
    )
    assert resolve_amp("auto", "cuda") is torch.bfloat16
    # emulated bfloat16 (a T4) does not count: float16 with a gradient scaler
    monkeypatch.setattr(
        torch.cuda,
        "is_bf16_supported",
        lambda including_emulation=True: including_emulation,
    )
    assert resolve_amp("auto", "cuda") is torch.float16
    with pytest.raises(ValueError, match="amp must be one of"):
        resolve_amp("half", "cpu")


def test_optimizer_step_clips_the_gradient_and_reports_its_norm():
    model = nn.Linear(3, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = lr_scheduler(optimizer, "linear", total_steps=10)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    before = model.weight.detach().clone()
    model.weight.grad = torch.tensor([[3.0, 4.0, 0.0]])  # norm 5
    grad_norm, lr = optimizer_step(model, optimizer, scheduler, scaler, grad_clip=1.0)
    assert grad_norm == pytest.approx(5.0) and lr == 1.0
    # SGD with lr 1 moved the weights by the clipped gradient, of norm 1
    assert torch.allclose(
        before - model.weight.detach(), torch.tensor([[0.6, 0.8, 0.0]])
    )
    assert model.weight.grad is None  # zeroed for the next step
    assert scheduler.get_last_lr() == [pytest.approx(0.9)]


# --------------------------------------------------------------------------------------
# loss_of: the drafts' bug and other bad models
# --------------------------------------------------------------------------------------


def test_loss_of_a_bare_encoder_says_it_has_no_head(make_tiny_bert):
    model = make_tiny_bert("bare", vocab_size=50)
    batch = {"input_ids": torch.randint(0, 50, (2, 5)), "labels": torch.tensor([0, 1])}
    with pytest.raises(ValueError) as error:
        loss_of(model(**batch), batch, model)
    message = str(error.value)
    assert (
        "BertModel" in message
        and "no task head" in message
        and "AutoModelForSequenceClassification" in message
    )


def test_loss_of_without_labels_says_labels_are_missing(make_tiny_bert):
    model = make_tiny_bert("sequence", vocab_size=50)
    batch = {"input_ids": torch.randint(0, 50, (2, 5))}
    with pytest.raises(
        ValueError, match=r"has no 'labels' \(its keys: \['input_ids'\]\)"
    ):
        loss_of(model(**batch), batch, model)


def test_loss_of_accepts_objects_and_dicts_and_rejects_non_scalars(make_tiny_bert):
    model = make_tiny_bert("sequence", vocab_size=50)
    batch = {"input_ids": torch.randint(0, 50, (2, 5)), "labels": torch.tensor([0, 1])}
    output = model(**batch)
    assert (
        loss_of(output, batch, model) is not None
        and loss_of(output, batch, model).shape == ()
    )
    assert loss_of({"loss": torch.tensor([2.0])}, batch, model).item() == 2.0
    with pytest.raises(ValueError, match=r"scalar tensor .* found \(2,\)"):
        loss_of({"loss": torch.ones(2)}, batch, model)


def test_train_reports_the_bare_encoder_bug_before_any_update(make_tiny_bert):
    model = make_tiny_bert("bare", vocab_size=50)
    data = [
        {"input_ids": torch.randint(0, 50, (5,)), "labels": torch.tensor(1)}
        for _ in range(4)
    ]
    with pytest.raises(ValueError, match="no task head"):
        train(model, DataLoader(data, batch_size=2), quiet(max_steps=1))


# --------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------


def test_train_learns_and_records_one_entry_per_optimiser_step():
    data = toy_data(200)
    model = make_model(dropout=0.0)
    before = accuracy(model, data)
    history = train(
        model,
        DataLoader(data, batch_size=16, shuffle=True),
        quiet(lr=3e-2, epochs=5, warmup=0.1),
    )
    assert len(history.train) == 5 * math.ceil(200 / 16)
    assert [r["step"] for r in history.train] == list(range(1, len(history.train) + 1))
    assert history.train[-1]["epoch"] == pytest.approx(5.0)
    assert np.mean([r["loss"] for r in history.train[-10:]]) < 0.7 * np.mean(
        [r["loss"] for r in history.train[:10]]
    )
    model.eval()
    assert accuracy(model, data) > max(before, 0.8)
    # the learning rate followed the schedule: 0 at the first step, peak after warmup,
    # then down
    lrs = [r["lr"] for r in history.train]
    warmup = math.ceil(0.1 * len(lrs))
    assert (
        lrs[0] == 0.0
        and lrs[warmup] == pytest.approx(3e-2)
        and lrs[-1] < lrs[warmup] / 10
    )


def test_train_respects_max_steps_across_epochs():
    history = train(
        make_model(),
        DataLoader(toy_data(40), batch_size=8),
        quiet(max_steps=12, epochs=1),
    )
    assert len(history.train) == 12 and history.train[-1]["epoch"] == pytest.approx(
        12 / 5
    )


def test_train_excludes_biases_and_layernorm_from_weight_decay():
    """With lr * weight_decay = 0.9 one AdamW step multiplies each decayed weight by
    0.1."""
    model = make_model(dropout=0.0)
    before = weights(model)
    train(
        model,
        DataLoader(toy_data(8), batch_size=8),
        quiet(lr=1e-6, weight_decay=9e5, max_steps=1, grad_clip=None),
    )
    for name, value in model.state_dict().items():
        # net.1 is the LayerNorm
        decayed = name.endswith("weight") and name != "net.1.weight"
        expected = 0.1 * before[name] if decayed else before[name]
        assert torch.allclose(value, expected, atol=1e-5), name


def test_gradient_accumulation_equals_one_large_batch():
    """Batches of 4 accumulated in pairs give the same updates as batches of 8 (mean
    loss)."""
    data = toy_data(24)
    big, small = make_model(dropout=0.0), make_model(dropout=0.0)
    train(big, DataLoader(data, batch_size=8), quiet(epochs=2, lr=1e-2))
    train(
        small,
        DataLoader(data, batch_size=4),
        quiet(epochs=2, lr=1e-2, grad_accum_steps=2),
    )
    for (name, a), b in zip(big.state_dict().items(), small.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_gradient_accumulation_scales_a_short_last_group_by_its_own_size():
    """3 batches of 4 with accumulation 2 = one batch of 8, then one of 4 (not half its
    gradient)."""
    data = toy_data(12)
    grouped, reference = make_model(dropout=0.0), make_model(dropout=0.0)
    history = train(
        grouped,
        DataLoader(data, batch_size=4),
        quiet(epochs=1, lr=1e-2, grad_accum_steps=2),
    )
    assert len(history.train) == 2
    uneven = [data[:8], data[8:]]  # a "loader" whose batches have 8 and 4 examples

    class Uneven:
        def __len__(self):
            return 2

        def __iter__(self):
            return iter(
                next(iter(DataLoader(part, batch_size=len(part)))) for part in uneven
            )

    train(reference, Uneven(), quiet(epochs=1, lr=1e-2))
    assert all(
        torch.allclose(a, b, atol=1e-6)
        for a, b in zip(grouped.state_dict().values(), reference.state_dict().values())
    )


def test_train_clips_gradients_before_every_update(monkeypatch):
    norms = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        result = original(parameters, max_norm, *args, **kwargs)
        norms.append(
            (
                float(result),
                torch.linalg.vector_norm(
                    torch.stack([p.grad.norm() for p in parameters])
                ).item(),
            )
        )
        return result

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    history = train(
        make_model(),
        DataLoader(toy_data(32), batch_size=8),
        quiet(lr=1e-2, epochs=2, grad_clip=0.05),
    )
    assert len(norms) == len(history.train)
    assert all(after <= 0.05 + 1e-6 for _, after in norms) and any(
        before > 0.05 for before, _ in norms
    )
    assert [r["grad_norm"] for r in history.train] == pytest.approx(
        [before for before, _ in norms]
    )


def batches(data: list[dict]) -> DataLoader:
    return DataLoader(data, batch_size=4)


@pytest.mark.parametrize(
    "call, error, message",
    [
        pytest.param(
            lambda model, data, folder: train(
                model,
                DataLoader([(d["x"], d["labels"]) for d in data], batch_size=4),
                quiet(max_steps=1),
            ),
            TypeError,
            "expected each batch to be a dict of tensors .* found a list",
            id="tuples-not-dicts",
        ),
        pytest.param(
            lambda model, data, folder: train(
                model, (batch for batch in batches(data)), quiet(max_steps=1)
            ),
            TypeError,
            "train_loader must have a length",
            id="a-generator",
        ),
        pytest.param(
            lambda model, data, folder: train(
                model, DataLoader([], batch_size=4), quiet(max_steps=1)
            ),
            ValueError,
            "yields no batch",
            id="no-batch",
        ),
        pytest.param(
            lambda model, data, folder: train(
                model, batches(data), quiet(metric="acc", restore_best=False)
            ),
            ValueError,
            "needs an evaluate",
            id="metric-without-evaluate",
        ),
        pytest.param(
            lambda model, data, folder: train(
                model, batches(data), quiet(epochs=1, warmup=5)
            ),
            ValueError,
            r"warmup of 5 steps is longer than the run \(2 steps\)",
            id="warmup-longer-than-the-run",
        ),
        pytest.param(
            lambda model, data, folder: train(model, batches(data), {"lr": 1e-3}),
            TypeError,
            "config must be a TrainConfig",
            id="config-a-dict",
        ),
        pytest.param(
            lambda model, data, folder: train(
                model, batches(data), quiet(), resume=True
            ),
            ValueError,
            "resume=True reads the checkpoint",
            id="resume-without-output-dir",
        ),
        pytest.param(
            lambda model, data, folder: train(
                model, batches(data), quiet(output_dir=folder), resume=True
            ),
            FileNotFoundError,
            "no checkpoint to resume from",
            id="resume-without-checkpoint",
        ),
    ],
)
def test_train_refuses_bad_inputs_with_clear_errors(tmp_path, call, error, message):
    with pytest.raises(error, match=message):
        call(make_model(), toy_data(8), tmp_path)


def test_train_stops_on_a_non_finite_loss():
    class Diverged(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x, labels):
            return {"loss": self.w * float("nan")}

    with pytest.raises(FloatingPointError, match="the loss is nan at step 1"):
        train(Diverged(), DataLoader(toy_data(8), batch_size=4), quiet(max_steps=1))


def test_train_under_bfloat16_autocast_on_cpu():
    history = train(
        make_model(),
        DataLoader(toy_data(32), batch_size=8),
        quiet(lr=1e-2, epochs=1, amp="bf16"),
    )
    assert all(math.isfinite(r["loss"]) for r in history.train)


# --------------------------------------------------------------------------------------
# Evaluation, early stopping, best checkpoint
# --------------------------------------------------------------------------------------


class ScriptedEvaluation:
    """An evaluate(model) that returns scripted scores and remembers the weights it was
    shown."""

    def __init__(self, scores, key="score"):
        self.scores, self.key, self.seen = list(scores), key, []

    def __call__(self, model):
        # eval mode, no gradients
        assert not model.training and not torch.is_grad_enabled()
        self.seen.append(weights(model))
        return {self.key: self.scores[len(self.seen) - 1], "other": 0.5}


def test_early_stopping_after_patience_evaluations_and_restoring_the_best(tmp_path):
    evaluation = ScriptedEvaluation([0.50, 0.70, 0.60, 0.65, 0.69, 0.90])
    model = make_model()
    config = quiet(
        lr=1e-2,
        epochs=10,
        eval_every=2,
        metric="score",
        patience=3,
        output_dir=tmp_path,
    )
    history = train(
        model, DataLoader(toy_data(32), batch_size=8), config, evaluate=evaluation
    )
    assert history.stopped_early
    # stopped 3 evaluations after the best
    assert [r["step"] for r in history.evals] == [2, 4, 6, 8, 10]
    assert (
        len(history.train) == 10
        and history.best["step"] == 4
        and history.best["score"] == 0.70
    )
    assert history.evals_since_best == 3
    # best weights back
    assert all(
        torch.equal(model.state_dict()[k], v) for k, v in evaluation.seen[1].items()
    )
    assert json.loads((tmp_path / "best" / "metrics.json").read_text())["step"] == 4
    assert json.loads((tmp_path / "last" / "state.json").read_text())["step"] == 10


def test_restoring_the_best_weights_without_an_output_dir_keeps_them_in_memory(
    tmp_path, monkeypatch
):
    # nothing may be written, not even in the working directory
    monkeypatch.chdir(tmp_path)
    evaluation = ScriptedEvaluation([0.50, 0.70, 0.60, 0.65])
    model = make_model()
    history = train(
        model,
        DataLoader(toy_data(32), batch_size=8),
        quiet(lr=1e-2, epochs=2, eval_every=2, metric="score"),
        evaluate=evaluation,
    )
    assert history.best["step"] == 4 and len(history.evals) == 4
    assert all(
        torch.equal(model.state_dict()[k], v) for k, v in evaluation.seen[1].items()
    )
    assert list(tmp_path.iterdir()) == []


def test_early_stopping_in_min_mode_and_keeping_the_last_weights(tmp_path):
    evaluation = ScriptedEvaluation([3.0, 2.0, 2.5, 2.1], key="loss")
    model = make_model()
    config = quiet(
        lr=1e-2,
        epochs=10,
        eval_every=1,
        metric="loss",
        mode="min",
        patience=2,
        output_dir=tmp_path,
        restore_best=False,
    )
    history = train(
        model, DataLoader(toy_data(16), batch_size=8), config, evaluate=evaluation
    )
    assert (
        history.best["step"] == 2 and len(history.evals) == 4 and history.stopped_early
    )
    assert not torch.equal(
        model.state_dict()["net.0.weight"], evaluation.seen[1]["net.0.weight"]
    )


def test_evaluation_at_each_epoch_end_and_at_the_last_step():
    evaluation = ScriptedEvaluation([0.1] * 10)
    history = train(
        make_model(),
        DataLoader(toy_data(40), batch_size=8),
        quiet(epochs=3),
        evaluate=evaluation,
    )
    assert [r["step"] for r in history.evals] == [5, 10, 15]
    evaluation = ScriptedEvaluation([0.1] * 10)
    history = train(
        make_model(),
        DataLoader(toy_data(40), batch_size=8),
        quiet(epochs=3, eval_every=4),
        evaluate=evaluation,
    )
    assert [r["step"] for r in history.evals] == [4, 8, 12, 15]
    assert history.best is None  # no metric: nothing to compare


@pytest.mark.parametrize(
    "returned, error, message",
    [
        pytest.param(
            {"acc": 0.5},
            KeyError,
            r"metric='f1' is not in what evaluate\(model\) returned: \['acc'\]",
            id="no-metric",
        ),
        pytest.param(0.5, TypeError, "must return a dict of metrics", id="a-number"),
        pytest.param(
            {"f1": 0.5, "step": 3},
            ValueError,
            r"may not return \['step'\]",
            id="a-step",
        ),
    ],
)
def test_evaluate_must_return_the_metric(tmp_path, returned, error, message):
    loader, config = (
        DataLoader(toy_data(16), batch_size=8),
        quiet(epochs=1, metric="f1", output_dir=tmp_path),
    )
    with pytest.raises(error, match=message):
        train(make_model(), loader, config, evaluate=lambda model: returned)


def test_history_plot_draws_loss_learning_rate_and_metrics():
    evaluation = ScriptedEvaluation([0.5, 0.6, 0.55], key="f1")
    history = train(
        make_model(),
        DataLoader(toy_data(24), batch_size=8),
        quiet(epochs=3),
        evaluate=evaluation,
    )
    history.metric = "f1"
    figure = plot_history(history)
    left, right, lr_axis = figure.axes
    assert left.get_xlabel() == "optimiser step" and right.get_ylabel() == "metric"
    assert {line.get_label() for line in right.lines} >= {
        "eval f1",
        "eval other",
        "best f1",
    }
    assert len(lr_axis.lines[0].get_xdata()) == len(history.train)
    # the method callers use draws the same
    assert len(history.plot(figsize=(8, 3)).axes) == 3
    with pytest.raises(ValueError, match="nothing to plot"):
        History().plot()


def test_history_best_takes_the_first_of_equal_scores():
    history = History(
        metric="f1",
        evals=[{"step": 1, "f1": 0.5}, {"step": 2, "f1": 0.7}, {"step": 3, "f1": 0.7}],
    )
    assert history.best["step"] == 2 and history.evals_since_best == 1
    assert History(metric="f1", mode="min", evals=history.evals).best["step"] == 1


# --------------------------------------------------------------------------------------
# Checkpoints and resume
# --------------------------------------------------------------------------------------


def run(
    output_dir,
    *,
    crash_at=None,
    accum=1,
    save_every=1,
    loader_generator=False,
    evaluate=None,
    **config,
):
    """Train a fresh TinyClassifier; with crash_at, crash at that batch and resume from
    the checkpoint."""

    def loader():
        generator = torch.Generator().manual_seed(5) if loader_generator else None
        return DataLoader(toy_data(40), batch_size=6, shuffle=True, generator=generator)

    config = quiet(
        lr=1e-2,
        epochs=3,
        warmup=0.2,
        grad_accum_steps=accum,
        output_dir=output_dir,
        save_every=save_every,
        **config,
    )
    model = make_model(crash_at=crash_at)
    if crash_at is None:
        return model, train(model, loader(), config, evaluate)
    with pytest.raises(Interrupted):
        train(model, loader(), config, evaluate)
    torch.manual_seed(1234)  # the resumed process starts with other random states
    model = make_model()
    return model, train(model, loader(), config, evaluate, resume=True)


# 40 examples in batches of 6: 7 batches per epoch, 21 in all. Crash at batch 3
# (mid-epoch), 8 (first batch of epoch 2, right after an epoch-end checkpoint), 12 and
# 20 (mid-epoch, later epochs); with accumulation 2 and a checkpoint every 3 steps the
# first checkpoint is at batch 6.
@pytest.mark.parametrize(
    "accum, save_every, loader_generator, crash_at",
    [
        (1, 1, False, 3),
        (1, 1, False, 8),
        (1, 1, False, 20),
        (2, 1, True, 3),
        (2, 1, True, 8),
        (2, 1, True, 12),
        (2, 3, False, 8),
        (2, 3, False, 20),
    ],
)
def test_an_interrupted_run_resumes_to_the_same_weights(
    tmp_path, crash_at, accum, save_every, loader_generator
):
    reference, reference_history = run(
        tmp_path / "a",
        accum=accum,
        save_every=save_every,
        loader_generator=loader_generator,
    )
    resumed, resumed_history = run(
        tmp_path / "b",
        crash_at=crash_at,
        accum=accum,
        save_every=save_every,
        loader_generator=loader_generator,
    )
    assert same_weights(reference, resumed)
    assert resumed_history.train == reference_history.train


def test_resume_with_evaluation_and_early_stopping_gives_the_same_history(tmp_path):
    def evaluate(model):
        return {"acc": accuracy(model, toy_data(40, seed=9))}

    options = {"evaluate": evaluate, "metric": "acc", "patience": 2, "eval_every": 2}
    reference, reference_history = run(tmp_path / "a", **options)
    resumed, resumed_history = run(tmp_path / "b", crash_at=10, **options)
    assert same_weights(reference, resumed)
    assert resumed_history == reference_history


@pytest.mark.parametrize(
    "options",
    [
        {"max_steps": 9},  # ends in the middle of an epoch
        # stops early
        {
            "evaluate": lambda model: {"acc": 0.5},
            "metric": "acc",
            "patience": 1,
            "eval_every": 2,
        },
    ],
)
def test_resuming_a_run_that_has_ended_trains_no_more(tmp_path, options):
    model, history = run(tmp_path, **options)
    before = weights(model)
    state = json.loads((tmp_path / "last" / "state.json").read_text())
    # saved in the middle of an epoch
    assert state["finished"] and state["batches_done"] > 0
    resumed = make_model()
    config = quiet(
        lr=1e-2,
        epochs=3,
        warmup=0.2,
        output_dir=tmp_path,
        save_every=1,
        **{k: v for k, v in options.items() if k != "evaluate"},
    )
    again = train(
        resumed,
        DataLoader(toy_data(40), batch_size=6, shuffle=True),
        config,
        options.get("evaluate"),
        resume=True,
    )
    assert again == history
    assert all(torch.equal(resumed.state_dict()[k], v) for k, v in before.items())


def test_float16_runs_with_a_gradient_scaler_that_is_checkpointed_and_resumed(tmp_path):
    reference, history = run(tmp_path / "a", amp="fp16")
    scaler = json.loads((tmp_path / "a" / "last" / "state.json").read_text())["scaler"]
    # no step skipped
    assert scaler["scale"] == 2.0**16 and scaler["_growth_tracker"] == len(
        history.train
    )
    resumed, _ = run(tmp_path / "b", crash_at=12, amp="fp16")
    assert same_weights(reference, resumed)


def test_checkpoint_files_and_refusal_to_resume_with_another_config(tmp_path):
    loader = DataLoader(toy_data(16), batch_size=8)
    train(make_model(), loader, quiet(epochs=1, output_dir=tmp_path, save_every=1))
    files = sorted(p.name for p in (tmp_path / "last").iterdir())
    assert files == ["model.safetensors", "optimizer.safetensors", "state.json"]
    state = json.loads((tmp_path / "last" / "state.json").read_text())
    assert state["step"] == 2 and state["epoch"] == 1 and state["config"]["lr"] == 5e-5
    from safetensors.torch import load_file

    moments = load_file(str(tmp_path / "last" / "optimizer.safetensors"))
    assert {key.split(".", 1)[1] for key in moments} == {
        "step",
        "exp_avg",
        "exp_avg_sq",
    }
    with pytest.raises(ValueError, match=r"another config \(lr: 5e-05 -> 0.001\)"):
        train(
            make_model(),
            loader,
            quiet(epochs=1, output_dir=tmp_path, save_every=1, lr=1e-3),
            resume=True,
        )
    # progress is not part of the run: changing it is allowed
    history = train(
        make_model(),
        loader,
        quiet(epochs=1, output_dir=tmp_path, save_every=1, progress=True),
        resume=True,
    )
    assert len(history.train) == 2
