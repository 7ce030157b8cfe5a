"""Checkpoints: the best weights of a run, and the files from which an interrupted run
resumes.

A resumable checkpoint is a folder with three files: ``model.safetensors`` (the
weights), ``optimizer.safetensors`` (AdamW's moment tensors) and ``state.json``
(everything else: the step, the position in the epoch, the schedule, the gradient
scaler, the history, the config and the states of every random generator). safetensors
is a plain tensor format that, unlike a pickle, cannot run code when it is loaded.
:class:`Checkpoints` is what :func:`tutorialkit.train.train` uses: it keeps the best
weights (in ``output_dir/best``, or in memory without a folder), writes
``output_dir/last``, and replays the data of an interrupted epoch so that a resumed run
ends with the same weights as one that never stopped. Under torchrun only rank 0 writes;
the random states of every rank are kept, so a run resumes on as many processes as
wrote it (:mod:`tutorialkit.distributed`).
"""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Iterator
from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from tutorialkit import distributed

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

    from tutorialkit.train import History, TrainConfig

WEIGHTS_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"
# Fields of TrainConfig that may change when a run is resumed: they do not change its
# result (a run folder may be moved, or resumed on another device).
RESUMABLE_CHANGES = ("progress", "device", "output_dir", "compile")


# --------------------------------------------------------------------------------------
# Random-number states: the same data order and dropout masks after a resume
# --------------------------------------------------------------------------------------


def _loader_generators(loader) -> list[torch.Generator]:
    """The torch.Generator objects a DataLoader draws its order from (its own, its
    sampler's)."""
    found: list[torch.Generator] = []
    for owner in (loader, getattr(loader, "sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and all(
            generator is not g for g in found
        ):
            found.append(generator)
    return found


def capture_rng(loader=None) -> dict:
    """The states of every random generator a training step uses, as a JSON-ready dict.

    Python's ``random``, NumPy's global generator, torch's CPU generator, every CUDA
    device's generator, and the generators of ``loader`` and its sampler (when they have
    their own). Byte states are stored as hex strings. Restoring the state with
    :func:`restore_rng` repeats the same random numbers.

    Example:

    >>> state = capture_rng()
    >>> first = torch.rand(2)
    >>> restore_rng(state)
    >>> torch.rand(2).equal(first)
    True
    """
    version, internal, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state()
    cuda = (
        [_hex(s) for s in torch.cuda.get_rng_state_all()]
        if torch.cuda.is_available()
        else []
    )
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), position, has_gauss, cached],
        "torch": _hex(torch.get_rng_state()),
        "cuda": cuda,
        "loader": [_hex(g.get_state()) for g in _loader_generators(loader)],
    }


def restore_rng(state: dict, loader=None) -> None:
    """Set every generator to a state taken by :func:`capture_rng` (same loader
    structure).

    Usage: ``restore_rng(checkpoint["rng"], loader)``.
    """
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state(
        (name, np.array(keys, dtype=np.uint32), position, has_gauss, cached)
    )
    torch.set_rng_state(_unhex(state["torch"]))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_unhex(s) for s in state["cuda"]])
    generators = _loader_generators(loader)
    if len(generators) != len(state["loader"]):
        raise ValueError(
            f"the checkpoint holds {len(state['loader'])} data-loader generator "
            "states, this "
            f"loader has {len(generators)} generators: resume with a DataLoader built "
            "the same way"
        )
    for generator, saved in zip(generators, state["loader"]):
        generator.set_state(_unhex(saved))


def _hex(state: torch.Tensor) -> str:
    """A uint8 generator state as a hex string (JSON-friendly)."""
    return bytes(state.tolist()).hex()


def _unhex(text: str) -> torch.Tensor:
    """Inverse of _hex."""
    return torch.tensor(list(bytes.fromhex(text)), dtype=torch.uint8)


# --------------------------------------------------------------------------------------
# Files: safetensors for tensors, JSON for the rest
# --------------------------------------------------------------------------------------


def save_weights(model: torch.nn.Module, folder: str | Path) -> Path:
    """Write the model's weights to ``folder/model.safetensors``; return the file's
    path.

    ``safetensors.torch.save_model`` stores a tensor shared by two modules (tied input
    and output embeddings) once, where ``save_file(model.state_dict())`` would refuse
    it. Usage: ``save_weights(model, "runs/best")``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, str(folder / WEIGHTS_FILE))
    return folder / WEIGHTS_FILE


def load_weights(model: torch.nn.Module, folder: str | Path) -> torch.nn.Module:
    """Load ``folder/model.safetensors`` (from :func:`save_weights`) into ``model``, in
    place.

    Every weight must match by name and shape (strict): a checkpoint of another
    architecture fails loudly instead of leaving some weights random. Returns the model.
    Usage: ``load_weights(fresh_model, "runs/best")``.
    """
    path = Path(folder) / WEIGHTS_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"no weights at {path}: expected a folder written by save_weights"
        )
    device = next(model.parameters()).device
    load_model(model, str(path), strict=True, device=str(device))
    return model


def save_checkpoint(
    folder: str | Path, model, optimizer, scheduler, scaler, state: dict
) -> None:
    """Write everything a run needs to continue: weights, optimiser, schedule, scaler,
    ``state``.

    ``folder`` gets ``model.safetensors``, ``optimizer.safetensors`` (AdamW's moment
    tensors) and ``state.json`` (the optimiser's hyper-parameters, the scheduler and
    scaler states and ``state``: step, epoch, random states, history, config). The
    folder is written under a temporary name; then the previous checkpoint is renamed
    ``folder.old``, the new one takes its place and the old one is deleted. A crash at
    any moment leaves a complete checkpoint: ``folder``, or ``folder.old`` between the
    two renames (:func:`existing_checkpoint` finds it).
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
    everything = {
        **state,
        "optimizer": {
            "param_groups": optimizer_state["param_groups"],
            "scalars": scalars,
        },
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
    }
    (temporary / STATE_FILE).write_text(json.dumps(everything))
    previous = folder.with_name(folder.name + ".old")
    shutil.rmtree(previous, ignore_errors=True)
    if folder.exists():
        folder.rename(previous)
    temporary.rename(folder)
    shutil.rmtree(previous, ignore_errors=True)


def existing_checkpoint(folder: str | Path) -> Path | None:
    """The complete checkpoint of ``folder``: the folder itself, or ``folder.old`` when
    a crash came between the two renames of :func:`save_checkpoint`; None if neither
    holds one."""
    folder = Path(folder)
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / STATE_FILE).exists():
            return candidate
    return None


def config_changes(saved: dict, config: TrainConfig) -> list[str]:
    """The fields of ``config`` that differ from a checkpoint's ``saved`` config, as
    "name: saved -> now", leaving out those a resumed run may change."""
    now = asdict(config)
    return [
        f"{k}: {saved.get(k)!r} -> {now[k]!r}"
        for k in now
        if k not in RESUMABLE_CHANGES and saved.get(k) != now[k]
    ]


def load_checkpoint(
    folder: str | Path,
    model,
    optimizer,
    scheduler,
    scaler,
    config: TrainConfig | None = None,
) -> dict:
    """Load a :func:`save_checkpoint` folder into the given objects; return the saved
    ``state``.

    With ``config``, the checkpoint must have been written with the same config (except
    for ``progress``, ``device`` and ``output_dir``): resuming with another learning
    rate or batch count would silently start a different run.
    """
    found = existing_checkpoint(folder)
    if found is None:
        raise FileNotFoundError(
            f"no checkpoint to resume from in {folder}: expected {STATE_FILE} written "
            "by train()"
        )
    folder = found
    state = json.loads((folder / STATE_FILE).read_text())
    if config is not None:
        changed = config_changes(state["config"], config)
        if changed:
            raise ValueError(
                f"the checkpoint in {folder} was written with another config "
                f"({'; '.join(changed)})"
            )
    load_weights(model, folder)
    per_param: dict[int, dict] = {}
    saved_values = {
        **load_file(str(folder / OPTIMIZER_FILE)),
        **state["optimizer"]["scalars"],
    }
    for key, value in saved_values.items():
        index, name = key.split(".", 1)
        per_param.setdefault(int(index), {})[name] = value
    param_groups = state["optimizer"]["param_groups"]
    optimizer.load_state_dict({"state": per_param, "param_groups": param_groups})
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    return state


# --------------------------------------------------------------------------------------
# What the training loop keeps of a run
# --------------------------------------------------------------------------------------


class Checkpoints:
    """The best weights and the resumable checkpoint of one run of
    :func:`~tutorialkit.train.train`.

    With ``config.output_dir`` the best weights go to ``output_dir/best`` (with their
    scores in ``metrics.json``) and the resumable checkpoint to ``output_dir/last``;
    without it the best weights are kept as a copy in CPU memory and nothing is written.
    :meth:`steps` yields the run's batches, replaying an interrupted epoch after
    :meth:`resume`.
    """

    def __init__(
        self,
        config: TrainConfig,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        scaler: torch.amp.GradScaler,
        loader: DataLoader,
    ):
        self.folder = Path(config.output_dir) if config.output_dir is not None else None
        self.config, self.model, self.loader = config, model, loader
        self.optimizer, self.scheduler, self.scaler = optimizer, scheduler, scaler
        self.first_epoch, self.replay, self.finished = 0, None, False
        # the generators' states when this epoch began
        self.epoch_rng: dict | None = None
        self.best_weights: dict[str, torch.Tensor] | None = None  # without a folder

    def resume(self) -> dict:
        """Load ``last/`` into the model, optimiser, schedule and scaler; return the
        saved history.

        A checkpoint from the end of an epoch sets the generators as they were then; one
        from the middle of an epoch is replayed by :meth:`steps`.
        """
        saved = load_checkpoint(
            self.folder / "last",
            self.model,
            self.optimizer,
            self.scheduler,
            self.scaler,
            self.config,
        )
        n_ranks = distributed.world_size()
        if len(saved["rng"]) != n_ranks:
            raise ValueError(
                f"the checkpoint in {self.folder / 'last'} was written by "
                f"{len(saved['rng'])} process(es), this run has {n_ranks}: resume "
                "with as many (each process's random states are in it)"
            )
        self.first_epoch, self.finished = saved["epoch"], saved["finished"]
        if saved["batches_done"]:
            self.replay = saved
        else:
            restore_rng(saved["rng"][distributed.rank()], self.loader)
        return saved["history"]

    def steps(self, total_steps: int) -> Iterator[tuple[int, int, list]]:
        """The batches the run has left, one group per optimiser step: ``(epoch, end,
        batches)``.

        A group holds ``grad_accum_steps`` batches (an epoch's last group may hold
        fewer); ``end`` is the number of the epoch's batches used once the group is
        done. Each epoch notes the generators' states before the loader shuffles.
        Resuming in the middle of an epoch sets them back to those states, so that the
        loader draws the same order, skips the batches already used, and then continues
        the generators from where the checkpoint was taken, so that dropout draws the
        same masks as in the interrupted run. The groups run out in the epoch of step
        ``total_steps``. Under torchrun every rank draws rank 0's order.
        """
        n_batches, accum = len(self.loader), self.config.grad_accum_steps
        n_epochs = math.ceil(total_steps / math.ceil(n_batches / accum))
        for epoch in range(self.first_epoch, 0 if self.finished else n_epochs):
            # resuming mid-epoch: back to the epoch's first state
            if self.replay is not None:
                restore_rng(self.replay["epoch_rng"][distributed.rank()], self.loader)
            distributed.same_data_order()
            # what a checkpoint in this epoch stores
            self.epoch_rng = capture_rng(self.loader)
            batches, done = iter(self.loader), 0
            # skip the batches used, continue the generators
            if self.replay is not None:
                done = self.replay["batches_done"]
                for _ in range(done):
                    next(batches)
                restore_rng(self.replay["rng"][distributed.rank()], self.loader)
                self.replay = None
            for start in range(done, n_batches, accum):
                end = min(start + accum, n_batches)
                yield epoch, end, list(islice(batches, end - start))

    def save_best(self, record: dict) -> None:
        """Keep the model's current weights as the best, with their evaluation
        ``record`` (in memory on every rank, or in the folder by rank 0)."""
        if self.folder is None:
            self.best_weights = {
                name: tensor.detach().to("cpu", copy=True)
                for name, tensor in self.model.state_dict().items()
            }
            return
        if not distributed.is_main():
            return
        save_weights(self.model, self.folder / "best")
        (self.folder / "best" / "metrics.json").write_text(json.dumps(record, indent=1))

    def restore_best(self) -> None:
        """Load the weights kept by :meth:`save_best` back into the model."""
        if self.folder is None:
            self.model.load_state_dict(self.best_weights)
        else:
            distributed.barrier()  # rank 0 has written them
            load_weights(self.model, self.folder / "best")

    def save_if_due(
        self, history: History, epoch: int, end: int, *, finished: bool
    ) -> None:
        """Write ``last/`` when it is due, after the first ``end`` batches of ``epoch``.

        It is due every ``config.save_every`` steps, or at every evaluation without it,
        and at the ``finished`` step (the last one, or an early stop), from which a
        resumed run trains no more. Nothing is written without a folder; under torchrun
        rank 0 writes every rank's random states.
        """
        step, every = len(history.train), self.config.save_every
        evaluated = bool(history.evals) and history.evals[-1]["step"] == step
        if self.folder is None or not (
            finished or (step % every == 0 if every else evaluated)
        ):
            return
        # every rank's random states (one process: a list of one), in rank order
        if end == len(self.loader):  # the epoch is over: the next one starts afresh
            where = {"epoch": epoch + 1, "batches_done": 0}
        else:
            epoch_rng = distributed.gather(self.epoch_rng)
            where = {"epoch": epoch, "batches_done": end, "epoch_rng": epoch_rng}
        state = {
            "step": step,
            **where,
            "finished": finished,
            "rng": distributed.gather(capture_rng(self.loader)),
            "history": asdict(history),
            "config": asdict(self.config),
        }
        if not distributed.is_main():
            return
        save_checkpoint(
            self.folder / "last",
            self.model,
            self.optimizer,
            self.scheduler,
            self.scaler,
            state,
        )
