"""One training loop for every chapter: fine-tuning as a short, readable function.

:func:`train` takes any model whose ``forward(**batch)`` returns its own loss (a transformers
model *with a head*, such as ``AutoModelForSequenceClassification``, or an ``nn.Module`` returning
``{"loss": ...}``), a training ``DataLoader`` of dict batches, an optional ``evaluate(model) ->
{name: value}`` function, and a :class:`TrainConfig`. It does, in this order, for every batch:

* forward under ``torch.autocast`` (bfloat16 or float16 on a GPU, nothing on a CPU),
* backward of the loss divided by the number of batches accumulated into one update,
* every ``grad_accum_steps`` batches: gradient clipping, an AdamW step (no weight decay on biases
  and normalisation weights, :func:`tutorialkit.optim.param_groups`), a step of the learning-rate
  schedule (linear warmup, then linear decay by default: :func:`tutorialkit.optim.lr_scheduler`),
* every ``eval_every`` updates: evaluation, best-checkpoint saving, early stopping,

and returns a :class:`History` of the run that plots itself. With ``output_dir`` it writes
checkpoints (weights as safetensors, optimiser moments as safetensors, everything else as JSON,
random-number states included) from which an interrupted run resumes to the same weights.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from tqdm.auto import tqdm

from tutorialkit.env import autocast_dtype, pick_device, seed_everything
from tutorialkit.optim import SCHEDULES, lr_scheduler, param_groups

AMP_CHOICES = {"auto": None, "off": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
MODES = ("max", "min")
WEIGHTS_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"
# Fields of TrainConfig that may change when a run is resumed: they do not change its result.
RESUMABLE_CHANGES = ("progress", "device")


@dataclass
class TrainConfig:
    """Everything that defines a training run, checked when it is created.

    Sizes are counted in *optimiser steps* (updates), not in batches: with ``grad_accum_steps=4``
    one step uses four batches. ``warmup`` is a fraction of all steps when it is a float in
    [0, 1), a number of steps when it is an int. ``eval_every=None`` evaluates at the end of each
    epoch; ``save_every=None`` writes the resumable checkpoint ``output_dir/last`` at every
    evaluation. The best weights by ``metric`` go to ``output_dir/best``. ``amp="auto"`` uses
    bfloat16 (or float16 with a gradient scaler) on a CUDA GPU and float32 elsewhere.

    Example: ``TrainConfig(lr=5e-5, epochs=2, eval_every=50, metric="macro_f1", patience=3,
    output_dir="runs/sentiment")``
    """

    lr: float = 5e-5
    weight_decay: float = 0.01
    epochs: int = 3
    max_steps: int | None = None  # when given, overrides epochs
    warmup: float | int = 0.1
    schedule: str = "linear"  # "linear", "cosine" or "constant" after the warmup (tutorialkit.optim)
    grad_clip: float | None = 1.0  # max global gradient norm; None: no clipping
    grad_accum_steps: int = 1
    eval_every: int | None = None
    metric: str | None = None  # key of evaluate()'s dict that picks the best model
    mode: str = "max"  # "max": higher metric is better, "min": lower is better
    patience: int | None = None  # evaluations without improvement before stopping; None: never
    output_dir: str | None = None
    save_every: int | None = None
    restore_best: bool = True  # load the best weights into the model at the end
    seed: int = 0
    amp: str = "auto"
    device: str | None = None  # None: tutorialkit.env.pick_device()
    progress: bool = True

    def __post_init__(self) -> None:
        if self.output_dir is not None:
            self.output_dir = str(self.output_dir)
        problems = []
        if not self.lr > 0:
            problems.append(f"lr must be > 0, found {self.lr}")
        if not self.weight_decay >= 0:
            problems.append(f"weight_decay must be >= 0, found {self.weight_decay}")
        for name in ("epochs", "grad_accum_steps"):
            if not _is_positive_int(getattr(self, name)):
                problems.append(f"{name} must be a whole number >= 1, found {getattr(self, name)!r}")
        for name in ("max_steps", "eval_every", "patience", "save_every"):
            value = getattr(self, name)
            if value is not None and not _is_positive_int(value):
                problems.append(f"{name} must be a whole number >= 1 or None, found {value!r}")
        if isinstance(self.warmup, bool) or not (
            (isinstance(self.warmup, int) and self.warmup >= 0)
            or (isinstance(self.warmup, float) and 0 <= self.warmup < 1)
        ):
            problems.append(
                f"warmup must be a fraction of the steps in [0, 1) (a float) or a number of steps "
                f"(an int >= 0), found {self.warmup!r}"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            problems.append(f"grad_clip must be > 0 or None, found {self.grad_clip}")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {tuple(SCHEDULES)}, found {self.schedule!r}")
        if self.mode not in MODES:
            problems.append(f"mode must be one of {MODES}, found {self.mode!r}")
        if self.amp not in AMP_CHOICES:
            problems.append(f"amp must be one of {tuple(AMP_CHOICES)}, found {self.amp!r}")
        if self.patience is not None and self.metric is None:
            problems.append("patience (early stopping) needs metric=, the name of the metric to watch")
        if self.restore_best and self.metric is not None and self.output_dir is None:
            problems.append(
                "restore_best=True keeps the best weights in output_dir/best: pass output_dir= "
                "or restore_best=False"
            )
        if problems:
            raise ValueError("bad TrainConfig: " + "; ".join(problems))


def _is_positive_int(value: object) -> bool:
    """True for an int >= 1 that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def resolve_amp(amp: str, device: torch.device | str) -> torch.dtype:
    """The autocast dtype for ``TrainConfig.amp`` on ``device``; float32 means no autocast.

    ``"auto"`` asks :func:`tutorialkit.env.autocast_dtype` (bfloat16 or float16 on CUDA, float32
    elsewhere); ``"off"``, ``"bf16"`` and ``"fp16"`` force float32, bfloat16 and float16.
    Example: ``resolve_amp("auto", "cpu")`` -> ``torch.float32``.
    """
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {tuple(AMP_CHOICES)}, found {amp!r}")
    return AMP_CHOICES[amp] or autocast_dtype(device)


def loss_of(output: object, batch: Mapping, model: torch.nn.Module) -> torch.Tensor:
    """The scalar loss in a model's output (``output.loss`` or ``output["loss"]``), or a clear error.

    The drafts' loop reads ``outputs.loss`` from ``BertModel``/``AutoModel``: a bare encoder with
    no task head, which returns hidden states and no loss. This says so, and how to fix it.
    Example: ``loss_of(model(**batch), batch, model).backward()``.
    """
    loss = output.get("loss") if isinstance(output, Mapping) else getattr(output, "loss", None)
    if loss is None:
        if "labels" not in batch:
            raise ValueError(
                f"{type(model).__name__}(**batch) returned no loss, and the batch has no 'labels' "
                f"(its keys: {sorted(batch)}): put the targets in batch['labels'] so that the model "
                f"computes its loss"
            )
        raise ValueError(
            f"{type(model).__name__}(**batch) returned a {type(output).__name__} without a loss. A bare "
            f"encoder such as BertModel or AutoModel has no task head and computes no loss: load the "
            f"model with a head, e.g. AutoModelForSequenceClassification or "
            f"AutoModelForTokenClassification, or make your own forward return an object with .loss "
            f"(or a dict with 'loss')"
        )
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"expected the loss to be a scalar tensor (a mean over the batch), found {shape}")
    return loss.reshape(())


# ---------------------------------------------------------------------------------------
# The history of a run
# ---------------------------------------------------------------------------------------


@dataclass
class History:
    """What happened during a run: one record per optimiser step, one per evaluation.

    ``train`` records hold ``step``, ``epoch`` (fractional), ``loss`` (the mean over the batches
    of the step), ``lr`` and ``grad_norm`` (before clipping); ``evals`` records hold ``step``,
    ``epoch`` and whatever ``evaluate`` returned. ``best`` is the evaluation with the best
    ``metric`` (the first one on ties). Example: ``history.best["step"]``, ``history.plot()``.
    """

    metric: str | None = None
    mode: str = "max"
    train: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def best(self) -> dict | None:
        """The evaluation record with the best ``metric``, or None without metric or evaluations."""
        if self.metric is None or not self.evals:
            return None
        best = self.evals[0]
        for record in self.evals[1:]:
            if _is_better(record[self.metric], best[self.metric], self.mode):
                best = record
        return best

    @property
    def evals_since_best(self) -> int:
        """How many evaluations came after the best one: what early stopping counts."""
        best = self.best
        return 0 if best is None else len(self.evals) - 1 - self.evals.index(best)

    def plot(self, figsize: tuple[float, float] = (10, 3.5)):
        """A figure with the training loss and learning rate (left) and the evaluations (right).

        Evaluation metrics whose name contains "loss" are drawn on the left, with the training
        loss; the step of the best evaluation is marked on both panels.
        Example: ``history.plot(); plt.show()``.
        """
        import matplotlib.pyplot as plt

        if not self.train:
            raise ValueError("nothing to plot: the history has no training step")
        fig, (left, right) = plt.subplots(1, 2, figsize=figsize, layout="constrained")
        steps = np.array([r["step"] for r in self.train])
        loss = np.array([r["loss"] for r in self.train])
        window = max(1, len(loss) // 10)
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        left.plot(steps, loss, color="tab:blue", alpha=0.3, lw=1, label="training loss (each step)")
        left.plot(steps[window - 1 :], smooth, color="tab:blue", lw=2, label=f"mean of {window} steps")
        lr_axis = left.twinx()
        lr_axis.plot(steps, [r["lr"] for r in self.train], color="grey", ls="--", lw=1)
        lr_axis.set_ylabel("learning rate (dashed)", color="grey")
        left.set(xlabel="optimiser step", ylabel="loss", title="Training loss and learning rate")
        right.set(xlabel="optimiser step", ylabel="metric", title="Evaluations")
        eval_steps = [r["step"] for r in self.evals]
        names = [k for k in (self.evals[0] if self.evals else {}) if k not in ("step", "epoch")]
        for colour, name in enumerate(names, start=1):  # colour 0 (blue) is the training loss
            axis = left if "loss" in name else right
            axis.plot(eval_steps, [r[name] for r in self.evals], marker="o", color=f"C{colour}",
                      label=f"eval {name}")
        best = self.best
        for axis in (left, right):
            if best is not None:
                axis.axvline(best["step"], color="black", ls=":", label=f"best {self.metric}")
            if axis.get_legend_handles_labels()[0]:  # below the panel, where it hides no curve
                axis.legend(fontsize=8, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.2))
        return fig


def _is_better(new: float, old: float, mode: str) -> bool:
    """Strictly better: higher in mode "max", lower in mode "min"."""
    return new > old if mode == "max" else new < old


# ---------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------


def optimizer_step(
    model: torch.nn.Module, optimizer, scheduler, scaler, grad_clip: float | None
) -> tuple[float, float]:
    """One update from the accumulated gradients: unscale, clip, AdamW step, schedule step.

    Returns the gradient norm before clipping and the learning rate the update used. With a
    float16 ``scaler`` the gradients are divided by the loss scale first, and an update whose
    gradients overflowed is skipped; with a disabled scaler those calls do nothing.
    Example: ``grad_norm, lr = optimizer_step(model, optimizer, scheduler, scaler, 1.0)``.
    """
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip or math.inf)
    lr = scheduler.get_last_lr()[0]
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(grad_norm), lr


def train(
    model: torch.nn.Module,
    train_loader: torch.utils.data.DataLoader,
    config: TrainConfig,
    evaluate: Callable[[torch.nn.Module], Mapping[str, float]] | None = None,
    *,
    resume: bool = False,
) -> History:
    """Fine-tune ``model`` on ``train_loader`` as ``config`` says; return the run's :class:`History`.

    ``model(**batch)`` must return the loss (see :func:`loss_of`). ``evaluate(model)`` is called
    under ``torch.no_grad()`` with the model in eval mode and returns metrics by name, e.g.
    ``{"accuracy": 0.9, "macro_f1": 0.8}``. With ``resume=True`` the run continues from the
    checkpoint in ``config.output_dir/last``, written by an earlier call with the same config, and
    ends with the same weights as a run that was never interrupted.
    Example: ``history = train(model, loader, TrainConfig(epochs=2), evaluate=my_eval)``.
    """
    n_batches = _check_inputs(train_loader, config, evaluate, resume)
    device = pick_device(config.device)
    model.to(device)
    amp_dtype = resolve_amp(config.amp, device)
    accum = config.grad_accum_steps
    steps_per_epoch = math.ceil(n_batches / accum)
    total_steps = config.max_steps or config.epochs * steps_per_epoch
    warmup = config.warmup
    warmup_steps = warmup if isinstance(warmup, int) else math.ceil(warmup * total_steps)
    if warmup_steps > total_steps:
        raise ValueError(f"warmup of {warmup_steps} steps is longer than the run ({total_steps} steps)")

    fused = device.type in ("cpu", "cuda")  # one kernel for all tensors: 3x faster on BERT-sized models
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr, fused=fused)
    scheduler = lr_scheduler(optimizer, config.schedule, warmup_steps=warmup_steps, total_steps=total_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    out = Path(config.output_dir) if config.output_dir else None
    history, step, first_epoch, replay = History(config.metric, config.mode), 0, 0, None
    if resume:
        saved = load_checkpoint(out / "last", model, optimizer, scheduler, scaler, config)
        history, step, first_epoch = History(**saved["history"]), saved["step"], saved["epoch"]
        if saved["batches_done"]:
            replay = saved  # saved in the middle of an epoch: its data order is replayed below
        else:
            restore_rng(saved["rng"], train_loader)
    else:
        seed_everything(config.seed)

    model.train()
    bar = tqdm(total=total_steps, initial=step, desc="training", unit="step",
               disable=not config.progress)
    for epoch in range(first_epoch, math.ceil(total_steps / steps_per_epoch)):
        if step >= total_steps or history.stopped_early:
            break
        batches, first, epoch_rng = _epoch_batches(train_loader, replay)
        replay, step_loss = None, 0.0
        for i, batch in enumerate(batches, start=first):
            # forward and backward: this batch's share of one optimiser step
            group_size = min(accum, n_batches - (i - i % accum))  # an epoch's last group may be short
            batch = _to_device(batch, device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype != torch.float32):
                loss = loss_of(model(**batch), batch, model)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss is {loss.item()} at step {step + 1} (batch {i})")
            scaler.scale(loss / group_size).backward()
            step_loss += loss.item() / group_size
            end_of_epoch = i + 1 == n_batches
            if (i + 1) % accum and not end_of_epoch:
                continue  # accumulate the gradients of the next batch too

            grad_norm, lr = optimizer_step(model, optimizer, scheduler, scaler, config.grad_clip)
            step += 1
            history.train.append({"step": step, "epoch": epoch + (i + 1) / n_batches,
                                  "loss": step_loss, "lr": lr, "grad_norm": grad_norm})
            step_loss = 0.0
            bar.update()
            bar.set_postfix(loss=f"{history.train[-1]['loss']:.4f}", lr=f"{lr:.2e}")

            # evaluation, best checkpoint, early stopping
            last = step == total_steps
            due = step % config.eval_every == 0 if config.eval_every else end_of_epoch
            evaluated = evaluate is not None and (due or last)
            if evaluated:
                metrics = _run_evaluation(model, evaluate, config)
                record = {"step": step, "epoch": history.train[-1]["epoch"], **metrics}
                history.evals.append(record)
                if out is not None and history.best is record:
                    save_weights(model, out / "best")
                    (out / "best" / "metrics.json").write_text(json.dumps(record, indent=1))
                if config.patience is not None and history.evals_since_best >= config.patience:
                    history.stopped_early = True
                if config.progress:
                    bar.write(_describe(record, history))

            # the resumable checkpoint
            stop = last or history.stopped_early
            save_due = step % config.save_every == 0 if config.save_every else evaluated
            if out is not None and (save_due or stop):
                where = ({"epoch": epoch + 1, "batches_done": 0} if end_of_epoch else
                         {"epoch": epoch, "batches_done": i + 1, "epoch_rng": epoch_rng})
                save_checkpoint(out / "last", model, optimizer, scheduler, scaler, {
                    "step": step, **where, "rng": capture_rng(train_loader),
                    "history": asdict(history), "config": asdict(config)})
            if stop:
                break
    bar.close()

    if config.restore_best and out is not None and history.best is not None:
        load_weights(model, out / "best")
    return history


def _epoch_batches(loader, replay: dict | None):
    """Start an epoch: (iterator over its batches, index of the first one, RNG state it started from).

    ``replay`` is a checkpoint saved after ``replay["batches_done"]`` batches of this epoch: the
    generators are set back to the epoch's start so that the loader draws the same order, the
    batches already used are skipped, and the generators continue from where the checkpoint was
    taken (so dropout draws the same masks).
    """
    if replay is not None:
        restore_rng(replay["epoch_rng"], loader)
    epoch_rng = capture_rng(loader)
    batches = iter(loader)
    if replay is None:
        return batches, 0, epoch_rng
    for _ in range(replay["batches_done"]):
        next(batches)
    restore_rng(replay["rng"], loader)
    return batches, replay["batches_done"], epoch_rng


def _check_inputs(train_loader, config: TrainConfig, evaluate, resume: bool) -> int:
    """Check what the config cannot check alone; return the number of batches per epoch."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, found {type(config).__name__}")
    try:
        n_batches = len(train_loader)
    except TypeError:
        raise TypeError(
            f"train_loader must have a length (a DataLoader over a map-style dataset), found "
            f"{type(train_loader).__name__} without one: the schedule needs the number of steps"
        ) from None
    if n_batches == 0:
        raise ValueError(
            "train_loader yields no batch: is the dataset empty, or drop_last=True with too few examples?")
    if config.metric is not None and evaluate is None:
        raise ValueError(f"metric={config.metric!r} needs an evaluate(model) -> dict function to compute")
    if resume and config.output_dir is None:
        raise ValueError("resume=True reads the checkpoint in output_dir/last: pass output_dir=")
    return n_batches


def _to_device(batch: object, device: torch.device) -> dict:
    """Move the tensors of a dict batch to ``device``; anything but a dict is an error."""
    if not isinstance(batch, Mapping):
        raise TypeError(
            f"expected each batch to be a dict of tensors for model(**batch), found a "
            f"{type(batch).__name__}: collate into a dict (e.g. with "
            f"transformers.DataCollatorWithPadding), with the targets under 'labels'"
        )
    return {key: value.to(device) if isinstance(value, torch.Tensor) else value
            for key, value in batch.items()}


def _run_evaluation(model: torch.nn.Module, evaluate, config: TrainConfig) -> dict[str, float]:
    """Call evaluate(model) in eval mode without gradients, check its answer, go back to train mode."""
    model.eval()
    with torch.no_grad():
        metrics = evaluate(model)
    model.train()
    if not isinstance(metrics, Mapping):
        raise TypeError(
            f"evaluate(model) must return a dict of metrics by name, found {type(metrics).__name__}")
    if config.metric is not None and config.metric not in metrics:
        raise KeyError(
            f"metric={config.metric!r} is not in what evaluate(model) returned: {sorted(metrics)}"
        )
    reserved = {"step", "epoch"} & set(metrics)
    if reserved:
        raise ValueError(f"evaluate(model) may not return {sorted(reserved)}: the history uses them")
    return {name: float(value) for name, value in metrics.items()}


def _describe(record: dict, history: History) -> str:
    """One line per evaluation, e.g. 'step 50 (epoch 0.81): accuracy 0.6312, macro_f1 0.6101 (best)'."""
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in record.items() if k not in ("step", "epoch"))
    best = " (best so far)" if history.best is record else ""
    return f"step {record['step']} (epoch {record['epoch']:.2f}): {metrics}{best}"


# ---------------------------------------------------------------------------------------
# Random-number states: the same data order and dropout masks after a resume
# ---------------------------------------------------------------------------------------


def _loader_generators(loader) -> list[torch.Generator]:
    """The torch.Generator objects a DataLoader draws its order from (its own, its sampler's)."""
    found: list[torch.Generator] = []
    for owner in (loader, getattr(loader, "sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
            found.append(generator)
    return found


def capture_rng(loader=None) -> dict:
    """The states of every random generator a training step uses, as a JSON-ready dict.

    Python's ``random``, NumPy's global generator, torch's CPU generator, every CUDA device's
    generator, and the generators of ``loader`` and its sampler (when they have their own).
    Byte states are stored as hex strings. Example: ``state = capture_rng(loader);
    ...; restore_rng(state, loader)`` repeats the same random numbers.
    """
    version, internal, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), position, has_gauss, cached],
        "torch": _hex(torch.get_rng_state()),
        "cuda": [_hex(s) for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "loader": [_hex(g.get_state()) for g in _loader_generators(loader)],
    }


def restore_rng(state: dict, loader=None) -> None:
    """Set every generator to a state taken by :func:`capture_rng` (same loader structure).

    Example: ``restore_rng(checkpoint["rng"], loader)``.
    """
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(_unhex(state["torch"]))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_unhex(s) for s in state["cuda"]])
    generators = _loader_generators(loader)
    if len(generators) != len(state["loader"]):
        raise ValueError(
            f"the checkpoint holds {len(state['loader'])} data-loader generator states, this loader has "
            f"{len(generators)} generators: resume with a DataLoader built the same way"
        )
    for generator, saved in zip(generators, state["loader"]):
        generator.set_state(_unhex(saved))


def _hex(state: torch.Tensor) -> str:
    """A uint8 generator state as a hex string (JSON-friendly)."""
    return bytes(state.tolist()).hex()


def _unhex(text: str) -> torch.Tensor:
    """Inverse of _hex."""
    return torch.tensor(list(bytes.fromhex(text)), dtype=torch.uint8)


# ---------------------------------------------------------------------------------------
# Checkpoints: safetensors for tensors, JSON for the rest
# ---------------------------------------------------------------------------------------


def save_weights(model: torch.nn.Module, folder: str | Path) -> Path:
    """Write the model's weights to ``folder/model.safetensors``; return the file's path.

    ``safetensors.torch.save_model`` stores a tensor shared by two modules (tied input and output
    embeddings) once, where ``save_file(model.state_dict())`` would refuse it.
    Example: ``save_weights(model, "runs/best")``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, str(folder / WEIGHTS_FILE))
    return folder / WEIGHTS_FILE


def load_weights(model: torch.nn.Module, folder: str | Path) -> torch.nn.Module:
    """Load ``folder/model.safetensors`` (from :func:`save_weights`) into ``model``, in place.

    Every weight must match by name and shape (strict): a checkpoint of another architecture
    fails loudly instead of leaving some weights random. Returns the model.
    Example: ``load_weights(fresh_model, "runs/best")``.
    """
    path = Path(folder) / WEIGHTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no weights at {path}: expected a folder written by save_weights")
    device = next(model.parameters()).device
    load_model(model, str(path), strict=True, device=str(device))
    return model


def save_checkpoint(folder: str | Path, model, optimizer, scheduler, scaler, state: dict) -> None:
    """Write everything a run needs to continue: weights, optimiser, schedule, scaler, ``state``.

    ``folder`` gets ``model.safetensors``, ``optimizer.safetensors`` (AdamW's moment tensors) and
    ``state.json`` (the optimiser's hyper-parameters, the scheduler and scaler states and
    ``state``: step, epoch, random states, history, config). The folder is written under a
    temporary name and then renamed, so a crash while saving leaves the previous checkpoint.
    Example: see :func:`train`.
    """
    folder = Path(folder)
    temporary = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    save_weights(model, temporary)
    optimizer_state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in optimizer_state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    save_file(tensors, str(temporary / OPTIMIZER_FILE))
    everything = {**state,
                  "optimizer": {"param_groups": optimizer_state["param_groups"], "scalars": scalars},
                  "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict()}
    (temporary / STATE_FILE).write_text(json.dumps(everything))
    shutil.rmtree(folder, ignore_errors=True)
    temporary.rename(folder)


def load_checkpoint(
    folder: str | Path, model, optimizer, scheduler, scaler, config: TrainConfig | None = None
) -> dict:
    """Load a :func:`save_checkpoint` folder into the given objects; return the saved ``state``.

    With ``config``, the checkpoint must have been written with the same config (except for
    ``progress`` and ``device``): resuming with another learning rate or batch count would
    silently start a different run. Example: see :func:`train`.
    """
    folder = Path(folder)
    if not (folder / STATE_FILE).exists():
        raise FileNotFoundError(
            f"no checkpoint to resume from in {folder}: expected {STATE_FILE} written by train()")
    state = json.loads((folder / STATE_FILE).read_text())
    if config is not None:
        saved, now = state["config"], asdict(config)
        changed = [f"{k}: {saved.get(k)!r} -> {now[k]!r}"
                   for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k]]
        if changed:
            raise ValueError(
                f"the checkpoint in {folder} was written with another config ({'; '.join(changed)})")
    load_weights(model, folder)
    per_param: dict[int, dict] = {}
    saved_values = {**load_file(str(folder / OPTIMIZER_FILE)), **state["optimizer"]["scalars"]}
    for key, value in saved_values.items():
        index, name = key.split(".", 1)
        per_param.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": state["optimizer"]["param_groups"]})
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    return state
