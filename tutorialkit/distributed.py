"""Data parallelism: the training loop of :mod:`tutorialkit.train` on several processes.

Launched by ``torchrun --nproc_per_node N`` (or ``--nnodes`` for several machines),
each process (a *rank*) holds a whole copy of the model. Every global batch the
DataLoader yields is split among the ranks: rank ``r`` takes its share of the rows,
computes the gradient of its share's loss, and ``DistributedDataParallel`` averages the
ranks' gradients (an *all-reduce*) during the backward pass; every rank then takes the
same AdamW step, so the copies stay equal. The batch size of the DataLoader is the
global batch: N processes train the same run as one process, with the work split N
ways.

The ranks' shares of a token-level task hold different numbers of labelled tokens.
Each rank's loss is a mean over its own tokens, and the average of N means is not the
mean over all tokens. So each rank's loss is weighted by its share of the batch's
labelled items times N (:func:`split_batch`): the average of the weighted gradients is
then the gradient of the mean over the whole batch, as in one process.

Without a launcher (no ``WORLD_SIZE`` above 1 in the environment) nothing here does
anything: :func:`process_group` yields the device, :func:`wrap` returns the model,
:func:`split_batch` returns the batch with weight 1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

IGNORE_INDEX = -100  # the label PyTorch's cross-entropy skips (padding, sub-words)


def world_size() -> int:
    """How many processes the launcher started in all (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's number, 0 to world_size() - 1 (0 without a launcher)."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """True on rank 0, the process that writes files and prints; always True alone."""
    return rank() == 0


@contextmanager
def process_group(device: torch.device) -> Iterator[torch.device]:
    """Join the launcher's process group for the length of a run; yield this process's
    device.

    Under torchrun: NCCL on CUDA (rank ``LOCAL_RANK`` of a machine gets GPU
    ``LOCAL_RANK``), gloo on a CPU; the group is left at the end if this call joined
    it. More processes on a machine than it has GPUs is an error before anything
    waits on anything. Alone, or in a group someone else set up, it only yields the
    device.
    """
    if world_size() == 1:
        yield device
        return
    if device.type == "cuda":
        local_rank, per_machine = (
            int(os.environ.get(name, default))
            for name, default in (("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "1"))
        )
        if per_machine > torch.cuda.device_count():
            raise RuntimeError(
                f"torchrun started {per_machine} processes on this machine, which has "
                f"{torch.cuda.device_count()} CUDA GPU(s): one process per GPU, so "
                f"pass --nproc_per_node {torch.cuda.device_count()} or fewer"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if dist.is_initialized():
        yield device
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield device
    finally:
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model wrapped in DistributedDataParallel (which also copies rank 0's weights
    to every rank), or the model itself alone."""
    if world_size() == 1:
        return model
    return DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


def accumulating(model: torch.nn.Module, last: bool):
    """A context for one backward pass: without the all-reduce for every batch of an
    accumulated step but the last, whose backward averages the summed gradients once."""
    if isinstance(model, DistributedDataParallel) and not last:
        return model.no_sync()
    return nullcontext()


def count_items(batch: dict) -> int:
    """The items a batch's mean loss averages over: the labels other than -100 (tokens
    of a token-level task, one per text of a text-level one), or the rows without
    labels. (A causal LM that shifts its labels inside averages over one fewer per row:
    its weights are then close, not exact.)"""
    labels = batch.get("labels")
    if isinstance(labels, torch.Tensor):
        return int((labels != IGNORE_INDEX).sum())
    return _rows(batch)


def split_batch(
    batch: dict, rank_index: int | None = None, n_ranks: int | None = None
) -> tuple[dict, float]:
    """Rank ``rank_index``'s rows of a global batch split among ``n_ranks``, and the
    weight of their mean loss (by default: this process's rank, the launcher's world
    size).

    Rank ``r`` takes the ``r``-th of ``n_ranks`` nearly equal slices of the rows. The
    weight is the slice's share of the batch's items (:func:`count_items`) times
    ``n_ranks``, so that DDP's average of the ranks' gradients is the gradient of the
    mean loss over the whole batch. A rank whose slice is empty (a last batch with
    fewer rows than ranks) computes the first row with weight 0: every rank must take
    part in the all-reduce. One rank: the batch and 1.0.

    Example (two ranks; rank 1's row holds one labelled token of the batch's three):

    >>> labels = torch.tensor([[1, 2], [3, -100]])
    >>> share, weight = split_batch({"labels": labels}, rank_index=1, n_ranks=2)
    >>> share["labels"].tolist(), round(weight, 3)
    ([[3, -100]], 0.667)
    """
    rank_index = rank() if rank_index is None else rank_index
    n_ranks = world_size() if n_ranks is None else n_ranks
    if n_ranks == 1:
        return batch, 1.0
    rows = torch.arange(_rows(batch)).tensor_split(n_ranks)[rank_index]
    if len(rows) == 0:
        return {key: _take(value, torch.arange(1)) for key, value in batch.items()}, 0.0
    share = {key: _take(value, rows) for key, value in batch.items()}
    total = count_items(batch)
    return share, n_ranks * count_items(share) / total if total else 1.0


def _rows(batch: dict) -> int:
    """The number of rows (examples) of a dict batch: the first dimension of its
    tensors."""
    return next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))


def _take(value: object, rows: torch.Tensor) -> object:
    """The given rows of a batch tensor; anything else unchanged."""
    return value[rows] if isinstance(value, torch.Tensor) else value


def mean(value: float) -> float:
    """The mean of ``value`` over the ranks (``value`` itself alone)."""
    if world_size() == 1:
        return value
    total = torch.tensor([value], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(total)
    return total.item() / world_size()


def broadcast(value: object) -> object:
    """Rank 0's ``value`` on every rank (any picklable object; itself alone)."""
    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, device=_collective_device())
    return box[0]


def gather(value: object) -> list:
    """Every rank's ``value``, in rank order, on every rank (``[value]`` alone)."""
    if world_size() == 1:
        return [value]
    values = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


def same_data_order() -> None:
    """Give every rank rank 0's torch generator state, so that the DataLoader's shuffle
    draws the same global batches on every rank (dropout draws different numbers on
    different ranks, so their generators drift apart during an epoch)."""
    if world_size() > 1:
        torch.set_rng_state(broadcast(torch.get_rng_state()))


def barrier() -> None:
    """Wait until every rank gets here (alone: return at once)."""
    if world_size() > 1:
        dist.barrier()


def _collective_device() -> torch.device:
    """Where the collectives' tensors live: the current GPU with NCCL, the CPU with
    gloo."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
