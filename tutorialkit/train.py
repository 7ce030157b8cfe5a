"""One training loop for every chapter: fine-tuning as a short, readable function.

:func:`train` takes any model whose ``forward(**batch)`` returns its own loss (a
transformers model *with a head*, such as ``AutoModelForSequenceClassification``, or an
``nn.Module`` returning ``{"loss": ...}``), a training ``DataLoader`` of dict batches,
an optional ``evaluate(model) -> {name: value}`` function, and a :class:`TrainConfig`.
It does, in this order, for every step:

* for each of the step's ``grad_accum_steps`` batches: forward under ``torch.autocast``
  (bfloat16 or float16 on a GPU, nothing on a CPU), then backward of the loss divided by
  the number of batches in the step;
* :func:`optimizer_step`: gradient clipping, an AdamW step (no weight decay on biases
  and normalisation weights, :func:`tutorialkit.optim.param_groups`), a step of the
  learning-rate schedule (linear warmup, then linear decay by default:
  :func:`tutorialkit.optim.lr_scheduler`);
* every ``eval_every`` steps: evaluation, keeping the best weights, early stopping;
* the resumable checkpoint, when one is due (:mod:`tutorialkit.checkpoint`);

and returns a :class:`History` of the run (:func:`tutorialkit.plots.plot_history` draws
it). With ``output_dir`` it writes checkpoints from which an interrupted run resumes to
the same weights; without it, the best weights are kept in memory.

Under ``torchrun`` the same function trains on several processes
(:mod:`tutorialkit.distributed`): each global batch is split among them, the gradients
are averaged by ``DistributedDataParallel``, rank 0 evaluates (every rank gets its
scores, so all stop together) and only rank 0 writes files and prints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from tutorialkit import distributed
from tutorialkit.checkpoint import Checkpoints
from tutorialkit.env import autocast_dtype, pick_device, seed_everything
from tutorialkit.optim import SCHEDULES, lr_scheduler, param_groups

if TYPE_CHECKING:
    from matplotlib.figure import Figure

AMP_CHOICES = {
    "auto": None,
    "off": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
MODES = ("max", "min")
# evaluate(model) -> {"accuracy": 0.9, "macro_f1": 0.8, ...}
Evaluate = Callable[[torch.nn.Module], Mapping[str, float]]


@dataclass
class TrainConfig:
    """Everything that defines a training run, checked when it is created.

    Sizes are counted in *optimiser steps* (updates), not in batches: with
    ``grad_accum_steps=4`` one step uses four batches. ``warmup`` is a fraction of all
    steps when it is a float in [0, 1), a number of steps when it is an int.
    ``eval_every=None`` evaluates at the end of each epoch; ``save_every=None`` writes
    the resumable checkpoint ``output_dir/last`` at every evaluation. The best weights
    by ``metric`` go to ``output_dir/best``, or stay in memory without ``output_dir``;
    ``restore_best`` loads them back at the end. ``amp="auto"`` uses bfloat16 (or
    float16 with a gradient scaler) on a CUDA GPU and float32 elsewhere (bfloat16 on a
    CPU that has it natively, if asked: :func:`tutorialkit.env.autocast_dtype`).
    ``compile`` changes how the steps are computed, not what they compute (up to float
    rounding).

    Example:

    >>> config = TrainConfig(lr=5e-5, epochs=2, eval_every=50, metric="macro_f1",
    ...                      patience=3, output_dir="runs/sentiment")
    >>> config.warmup, config.schedule, config.mode
    (0.1, 'linear', 'max')
    """

    lr: float = 5e-5
    weight_decay: float = 0.01
    epochs: int = 3
    max_steps: int | None = None  # when given, overrides epochs
    warmup: float | int = 0.1
    # "linear", "cosine" or "constant" after the warmup (tutorialkit.optim)
    schedule: str = "linear"
    grad_clip: float | None = 1.0  # max global gradient norm; None: no clipping
    grad_accum_steps: int = 1
    eval_every: int | None = None
    metric: str | None = None  # key of evaluate()'s dict that picks the best model
    mode: str = "max"  # "max": higher metric is better, "min": lower is better
    # evaluations without improvement before stopping; None: never
    patience: int | None = None
    output_dir: str | None = None
    save_every: int | None = None
    restore_best: bool = True  # load the best weights into the model at the end
    seed: int = 0
    amp: str = "auto"
    device: str | None = None  # None: tutorialkit.env.pick_device()
    progress: bool = True
    # torch.compile the forward pass: faster steps on a GPU once each batch shape is
    # compiled; pad the batches to a few lengths (tutorialkit.batching.PadToBucket)
    compile: bool = False

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
                problems.append(
                    f"{name} must be a whole number >= 1, found {getattr(self, name)!r}"
                )
        for name in ("max_steps", "eval_every", "patience", "save_every"):
            value = getattr(self, name)
            if value is not None and not _is_positive_int(value):
                problems.append(
                    f"{name} must be a whole number >= 1 or None, found {value!r}"
                )
        if isinstance(self.warmup, bool) or not (
            (isinstance(self.warmup, int) and self.warmup >= 0)
            or (isinstance(self.warmup, float) and 0 <= self.warmup < 1)
        ):
            problems.append(
                "warmup must be a fraction of the steps in [0, 1) (a float) or a "
                "number of steps "
                f"(an int >= 0), found {self.warmup!r}"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            problems.append(f"grad_clip must be > 0 or None, found {self.grad_clip}")
        if self.schedule not in SCHEDULES:
            problems.append(
                f"schedule must be one of {tuple(SCHEDULES)}, found {self.schedule!r}"
            )
        if self.mode not in MODES:
            problems.append(f"mode must be one of {MODES}, found {self.mode!r}")
        if self.amp not in AMP_CHOICES:
            problems.append(
                f"amp must be one of {tuple(AMP_CHOICES)}, found {self.amp!r}"
            )
        if not isinstance(self.compile, bool):
            problems.append(f"compile must be True or False, found {self.compile!r}")
        if self.patience is not None and self.metric is None:
            problems.append(
                "patience (early stopping) needs metric=, the name of the metric to "
                "watch"
            )
        if problems:
            raise ValueError("bad TrainConfig: " + "; ".join(problems))


def _is_positive_int(value: object) -> bool:
    """True for an int >= 1 that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def resolve_amp(amp: str, device: torch.device | str) -> torch.dtype:
    """The autocast dtype for ``TrainConfig.amp`` on ``device``; float32 means no
    autocast.

    ``"auto"`` asks :func:`tutorialkit.env.autocast_dtype` (bfloat16 or float16 on CUDA,
    float32 elsewhere); ``"off"``, ``"bf16"`` and ``"fp16"`` force float32, bfloat16
    and float16.

    Example:

    >>> resolve_amp("auto", "cpu")
    torch.float32
    """
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {tuple(AMP_CHOICES)}, found {amp!r}")
    return AMP_CHOICES[amp] or autocast_dtype(device)


def loss_of(output: object, batch: Mapping, model: torch.nn.Module) -> torch.Tensor:
    """The scalar loss in a model's output (``output.loss`` or ``output["loss"]``), or a
    clear error.

    A common mistake is to read ``outputs.loss`` from ``BertModel``/``AutoModel``: a
    bare encoder with no task head, which returns hidden states and no loss. This says
    so, and how to fix it. Usage: ``loss_of(model(**batch), batch, model).backward()``.
    """
    loss = (
        output.get("loss")
        if isinstance(output, Mapping)
        else getattr(output, "loss", None)
    )
    if loss is None:
        if "labels" not in batch:
            raise ValueError(
                f"{type(model).__name__}(**batch) returned no loss, and the batch has "
                "no 'labels' "
                f"(its keys: {sorted(batch)}): put the targets in batch['labels'] so "
                "that the model "
                f"computes its loss"
            )
        raise ValueError(
            f"{type(model).__name__}(**batch) returned a {type(output).__name__} "
            "without a loss. A bare "
            "encoder such as BertModel or AutoModel has no task head and computes no "
            "loss: load the "
            f"model with a head, e.g. AutoModelForSequenceClassification or "
            "AutoModelForTokenClassification, or make your own forward return an "
            "object with .loss "
            f"(or a dict with 'loss')"
        )
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = (
            tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        )
        raise ValueError(
            "expected the loss to be a scalar tensor (a mean over the batch), found "
            f"{shape}"
        )
    return loss.reshape(())


# --------------------------------------------------------------------------------------
# The history of a run
# --------------------------------------------------------------------------------------


@dataclass
class History:
    """What happened during a run: one record per optimiser step, one per evaluation.

    ``train`` records hold ``step``, ``epoch`` (fractional), ``loss`` (the mean over the
    batches of the step), ``lr`` and ``grad_norm`` (before clipping); ``evals`` records
    hold ``step``, ``epoch`` and whatever ``evaluate`` returned. ``best`` is the
    evaluation with the best ``metric`` (the first one on ties); :meth:`plot` draws
    the run.

    Example:

    >>> history = History(metric="f1", evals=[{"step": 10, "f1": 0.5},
    ...                                       {"step": 20, "f1": 0.7}])
    >>> history.best["step"]
    20
    """

    metric: str | None = None
    mode: str = "max"
    train: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def best(self) -> dict | None:
        """The evaluation record with the best ``metric``, or None without metric or
        evaluations."""
        if self.metric is None or not self.evals:
            return None
        best = self.evals[0]
        for record in self.evals[1:]:
            if _is_better(record[self.metric], best[self.metric], self.mode):
                best = record
        return best

    def add_step(
        self, step: int, epoch: float, loss: float, lr: float, grad_norm: float
    ) -> None:
        """Record one optimiser step."""
        self.train.append(
            {
                "step": step,
                "epoch": epoch,
                "loss": loss,
                "lr": lr,
                "grad_norm": grad_norm,
            }
        )

    @property
    def evals_since_best(self) -> int:
        """How many evaluations came after the best one: what early stopping counts."""
        best = self.best
        return 0 if best is None else len(self.evals) - 1 - self.evals.index(best)

    def plot(self, figsize: tuple[float, float] = (10, 3.5)) -> Figure:
        """Draw the run with :func:`tutorialkit.plots.plot_history`; return the
        figure."""
        # matplotlib only when a figure is wanted
        from tutorialkit.plots import plot_history

        return plot_history(self, figsize=figsize)


def _is_better(new: float, old: float, mode: str) -> bool:
    """Strictly better: higher in mode "max", lower in mode "min"."""
    return new > old if mode == "max" else new < old


# --------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------


def optimizer_step(
    model: torch.nn.Module, optimizer, scheduler, scaler, grad_clip: float | None
) -> tuple[float, float]:
    """One update from the accumulated gradients: unscale, clip, AdamW step, schedule
    step.

    Returns the gradient norm before clipping and the learning rate the update used.
    With a float16 ``scaler`` the gradients are divided by the loss scale first, and an
    update whose gradients overflowed is skipped; with a disabled scaler those calls do
    nothing. Usage: ``grad_norm, lr = optimizer_step(model, optimizer, scheduler,
    scaler, 1.0)``.
    """
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(
        model.parameters(), grad_clip or math.inf
    )
    lr = scheduler.get_last_lr()[0]
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(grad_norm), lr


def train(
    model: torch.nn.Module,
    train_loader: DataLoader,
    config: TrainConfig,
    evaluate: Evaluate | None = None,
    *,
    resume: bool = False,
) -> History:
    """Fine-tune ``model`` as ``config`` says; return the run's :class:`History`.

    ``model(**batch)`` returns the loss, ``evaluate(model)`` metrics by name.
    ``resume=True`` continues from ``config.output_dir/last`` to the same final weights.
    """
    sizes = _check_inputs(train_loader, config, evaluate, resume)
    with distributed.process_group(pick_device(config.device)) as device:
        return _train(model, train_loader, config, evaluate, resume, device, sizes)


def _train(
    model, train_loader, config, evaluate, resume, device, sizes: tuple[int, int]
) -> History:
    """The loop of :func:`train` on ``device`` (in a process group when launched);
    ``sizes``: the batches per epoch and all the steps."""
    n_batches, total_steps = sizes
    amp = resolve_amp(config.amp, device)  # the autocast dtype; float32: no autocast
    model.to(device).train()
    parallel = distributed.wrap(model, device)  # the model itself in one process
    # compiled again for each new batch shape (dynamic=False: no symbolic shapes)
    forward = torch.compile(parallel, dynamic=False) if config.compile else parallel
    optimizer, scheduler, scaler = _optimizer(model, config, total_steps, amp)
    seed_everything(config.seed)  # a resumed run then restores its generators' states
    run = Checkpoints(config, model, optimizer, scheduler, scaler, train_loader)
    history = History(**run.resume()) if resume else History(config.metric, config.mode)
    bar = tqdm(
        total=total_steps,
        initial=len(history.train),
        disable=not (config.progress and distributed.is_main()),
    )
    for epoch, end, batches in run.steps(total_steps):  # the batches of one step
        step, step_loss = len(history.train) + 1, 0.0
        for i, batch in enumerate(batches):  # forward, backward: gradients add up
            # this process's rows of the batch, and its loss weight (1 alone)
            batch, weight = distributed.split_batch(_to_device(batch, device))
            with torch.autocast(device.type, dtype=amp, enabled=amp != torch.float32):
                loss = _finite(loss_of(forward(**batch), batch, model), step)
            # several processes: the gradients are averaged during the last backward
            with distributed.accumulating(parallel, last=i == len(batches) - 1):
                scaler.scale(loss * weight / len(batches)).backward()
            step_loss += loss.item() * weight / len(batches)
        norm, lr = optimizer_step(model, optimizer, scheduler, scaler, config.grad_clip)
        step_loss = distributed.mean(step_loss)  # the whole batch's loss
        history.add_step(step, epoch + end / n_batches, step_loss, lr, norm)
        bar.update()
        bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{lr:.2e}")
        # evaluation and early stopping, then the resumable checkpoint
        last, epoch_over = step == total_steps, end == n_batches
        if evaluate is not None and (last or _due(step, config.eval_every, epoch_over)):
            _evaluate(model, evaluate, config, history, run)
        stop = last or history.stopped_early
        run.save_if_due(history, epoch, end, finished=stop)
        if stop:
            break
    bar.close()
    if config.restore_best and history.best is not None:
        run.restore_best()  # from output_dir/best, or from memory without a folder
    return history


def _check_inputs(
    train_loader, config: TrainConfig, evaluate, resume: bool
) -> tuple[int, int]:
    """Check what the config cannot check alone; return the batches per epoch and all
    the steps."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, found {type(config).__name__}")
    try:
        n_batches = len(train_loader)
    except TypeError:
        raise TypeError(
            "train_loader must have a length (a DataLoader over a map-style "
            "dataset), found "
            f"{type(train_loader).__name__} without one: the schedule needs the "
            "number of steps"
        ) from None
    if n_batches == 0:
        raise ValueError(
            "train_loader yields no batch: is the dataset empty, or drop_last=True "
            "with too few examples?"
        )
    if config.metric is not None and evaluate is None:
        raise ValueError(
            f"metric={config.metric!r} needs an evaluate(model) -> dict function to "
            "compute"
        )
    if resume and config.output_dir is None:
        raise ValueError(
            "resume=True reads the checkpoint in output_dir/last: pass output_dir="
        )
    _check_split(train_loader)
    total_steps = config.max_steps or config.epochs * math.ceil(
        n_batches / config.grad_accum_steps
    )
    warmup = _warmup_steps(config, total_steps)
    if warmup > total_steps:
        raise ValueError(
            f"warmup of {warmup} steps is longer than the run ({total_steps} steps)"
        )
    return n_batches, total_steps


def _check_split(train_loader) -> None:
    """Under torchrun, an error when the loader's batches cannot be split among the
    processes (each batch is, row by row: :func:`tutorialkit.distributed.split_batch`).
    """
    n_ranks = distributed.world_size()
    if n_ranks == 1:
        return
    batch_size = getattr(train_loader, "batch_size", None) or getattr(
        getattr(train_loader, "batch_sampler", None), "batch_size", n_ranks
    )
    n_examples = len(getattr(train_loader, "dataset", [None] * n_ranks))
    if batch_size < n_ranks or n_examples < n_ranks:
        raise ValueError(
            f"each batch is split among the {n_ranks} processes torchrun started, but "
            f"the loader has batches of {batch_size} and {n_examples} examples: use a "
            f"batch size of at least {n_ranks} (it is the global batch) or fewer "
            "processes"
        )


def _warmup_steps(config: TrainConfig, total_steps: int) -> int:
    """``config.warmup`` in steps: a float is a fraction of the run, an int a number of
    steps."""
    warmup = config.warmup
    return warmup if isinstance(warmup, int) else math.ceil(warmup * total_steps)


def _optimizer(
    model: torch.nn.Module, config: TrainConfig, total_steps: int, amp: torch.dtype
):
    """AdamW over the two parameter groups, its learning-rate schedule, and a gradient
    scaler.

    ``fused=True`` updates every tensor in one kernel: several times faster than a
    Python loop over the 200 or so tensors of BERT-base. The scaler is switched on only
    for float16, whose small exponent range needs the loss scaled up to keep small
    gradients from rounding to zero.
    """
    device_type = next(model.parameters()).device.type
    optimizer = torch.optim.AdamW(
        param_groups(model, config.weight_decay),
        lr=config.lr,
        fused=device_type in ("cpu", "cuda"),
    )
    scheduler = lr_scheduler(
        optimizer,
        config.schedule,
        total_steps=total_steps,
        warmup_steps=_warmup_steps(config, total_steps),
    )
    scaler = torch.amp.GradScaler(device_type, enabled=amp == torch.float16)
    return optimizer, scheduler, scaler


def _to_device(batch: object, device: torch.device) -> dict:
    """Move the tensors of a dict batch to ``device``; anything but a dict is an
    error."""
    if not isinstance(batch, Mapping):
        raise TypeError(
            f"expected each batch to be a dict of tensors for model(**batch), found a "
            f"{type(batch).__name__}: collate into a dict (e.g. with "
            f"transformers.DataCollatorWithPadding), with the targets under 'labels'"
        )
    return {
        key: value.to(device) if isinstance(value, torch.Tensor) else value
        for key, value in batch.items()
    }


def _finite(loss: torch.Tensor, step: int) -> torch.Tensor:
    """``loss``, or an error when it is nan or infinite: training on from there is
    wasted."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the loss is {loss.item()} at step {step}")
    return loss


def _due(step: int, every: int | None, otherwise: bool) -> bool:
    """Whether something done ``every`` steps is due at ``step``; without ``every``,
    ``otherwise``."""
    return step % every == 0 if every else otherwise


def _evaluate(
    model: torch.nn.Module,
    evaluate: Evaluate,
    config: TrainConfig,
    history: History,
    run: Checkpoints,
) -> None:
    """Score the model, record the scores, keep the weights if best, and decide on early
    stopping.

    ``evaluate(model)`` runs in eval mode (no dropout) without gradients, on rank 0
    when several processes train (the others wait for its scores); the model goes back
    to train mode afterwards. After ``config.patience`` evaluations without a
    better ``config.metric`` the history says ``stopped_early``.
    """
    model.eval()
    with torch.no_grad():  # on rank 0 only; every rank gets its scores
        metrics = evaluate(model) if distributed.is_main() else None
    metrics = distributed.broadcast(metrics)
    model.train()
    record = {
        "step": len(history.train),
        "epoch": history.train[-1]["epoch"],
        **_checked_metrics(metrics, config),
    }
    history.evals.append(record)
    if history.best is record:
        run.save_best(record)
    if config.patience is not None and history.evals_since_best >= config.patience:
        history.stopped_early = True
    if config.progress and distributed.is_main():
        tqdm.write(_describe(record, history))


def _checked_metrics(metrics: object, config: TrainConfig) -> dict[str, float]:
    """What evaluate(model) returned, checked: a dict with the watched metric and no
    reserved name."""
    if not isinstance(metrics, Mapping):
        raise TypeError(
            "evaluate(model) must return a dict of metrics by name, found "
            f"{type(metrics).__name__}"
        )
    if config.metric is not None and config.metric not in metrics:
        raise KeyError(
            f"metric={config.metric!r} is not in what evaluate(model) returned: "
            f"{sorted(metrics)}"
        )
    reserved = {"step", "epoch"} & set(metrics)
    if reserved:
        raise ValueError(
            f"evaluate(model) may not return {sorted(reserved)}: the history uses them"
        )
    return {name: float(value) for name, value in metrics.items()}


def _describe(record: dict, history: History) -> str:
    """One line per evaluation, e.g. 'step 50 (epoch 0.81): accuracy 0.6312 (best so
    far)'."""
    metrics = ", ".join(
        f"{k} {v:.4f}" for k, v in record.items() if k not in ("step", "epoch")
    )
    best = " (best so far)" if history.best is record else ""
    return f"step {record['step']} (epoch {record['epoch']:.2f}): {metrics}{best}"
