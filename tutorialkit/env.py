"""Where and how a chapter runs: device, seeds, mixed-precision dtype and run profile.

Every chapter starts with :func:`setup`, which decides three things once:

* the **device** (CUDA GPU > Apple MPS > CPU),
* the **profile**: ``quick`` (offline, CPU-sized: what CI and a laptop run) or ``full``
  (the standard benchmarks' models and data from the Hugging Face Hub, sized for a
  GPU),
* the **seed** of every random number generator, so that a run can be repeated,

and :func:`banner` prints them in one line, so that nobody mistakes a quick-profile
number for a benchmark.
"""

from __future__ import annotations

import os
import random
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

PROFILES = ("quick", "full", "auto")
PROFILE_VARIABLE = "TUTORIALKIT_PROFILE"
# "1": the full profile against a local Hub copy, CI-sized
REHEARSAL_VARIABLE = "TUTORIALKIT_REHEARSAL"
HUB_HOST = "huggingface.co"


def pick_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then CPU.

    ``prefer`` (e.g. ``"cpu"``) overrides the choice.

    Example:

    >>> pick_device("cpu")
    device(type='cpu')
    """
    if prefer is not None:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if (
        getattr(torch.backends, "mps", None) is not None
        and torch.backends.mps.is_available()
    ):
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and all GPUs) random generators.

    Example: the same seed gives the same numbers.

    >>> seed_everything(0); first = torch.rand(1)
    >>> seed_everything(0); torch.rand(1).equal(first)
    True
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


# "bf16": bfloat16 autocast on a CPU that computes in it natively (default "float32")
CPU_AMP_VARIABLE = "TUTORIALKIT_CPU_AMP"
CPU_AMP_CHOICES = ("float32", "bf16")


def autocast_dtype(device: torch.device | str) -> torch.dtype:
    """The dtype to use under ``torch.autocast`` on ``device``.

    bfloat16 on GPUs that compute in it natively (Ampere and newer: same exponent range
    as float32, so no loss scaling is needed), float16 on older CUDA GPUs such as
    Colab's T4 (needs a gradient scaler). A T4 reports bfloat16 as supported *through
    emulation*, which is slow and uses no tensor cores, so emulation does not count.

    On a CPU, float32, unless ``TUTORIALKIT_CPU_AMP=bf16`` and the processor multiplies
    bfloat16 natively (:func:`cpu_has_bf16_dot`: AVX-512 BF16 or AMX). Not the default,
    as measured in ``benchmarks/README.md``: a training step is 1.4 times faster there,
    but the book's chapters gain 5% in all (some lose), and one of their claims fails.

    Example:

    >>> autocast_dtype("cpu")
    torch.float32
    """
    device = torch.device(device)
    if device.type == "cpu":
        wanted = os.environ.get(CPU_AMP_VARIABLE, "float32").strip().lower()
        if wanted not in CPU_AMP_CHOICES:
            raise ValueError(
                f"{CPU_AMP_VARIABLE} must be one of {CPU_AMP_CHOICES}, found {wanted!r}"
            )
        native = wanted == "bf16" and cpu_has_bf16_dot()
        return torch.bfloat16 if native else torch.float32
    if device.type != "cuda":
        return torch.float32
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.bfloat16 if native else torch.float16


# x86 instructions that multiply int8 vectors into int32 sums (VNNI) or int8 tiles (AMX)
INT8_CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
# x86 instructions that multiply bfloat16 vectors (AVX-512 BF16) or tiles (AMX)
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str | None = None) -> list[str] | None:
    r"""The ``flags`` line of ``/proc/cpuinfo`` (or of ``cpuinfo``, its text) as a list;
    None where there is no such line (other systems, ARM).

    >>> cpu_flags("processor\t: 0\nflags\t: fpu avx2 avx512f")
    ['fpu', 'avx2', 'avx512f']
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    return next(
        (
            line.split(":", 1)[1].split()
            for line in cpuinfo.splitlines()
            if line.startswith("flags")
        ),
        None,
    )


def _has_any(wanted: tuple[str, ...], flags: list[str] | None) -> bool | None:
    """Whether ``flags`` holds any of ``wanted``; None where the flags are unknown."""
    return None if flags is None else any(flag in flags for flag in wanted)


def cpu_has_int8_dot(cpuinfo: str | None = None) -> bool | None:
    """Whether this CPU multiplies int8 numbers natively (x86 VNNI or AMX), from its
    :func:`cpu_flags`; None where they are unknown.

    Without them torch's int8 matrix product falls back to a slow loop: int8 inference
    is then slower than float32, not faster (:func:`tutorialkit.deploy.quantize_int8`
    warns).

    >>> cpu_has_int8_dot("flags\t: fpu avx2 avx512f avx512_vnni")
    True
    >>> cpu_has_int8_dot("flags\t: fpu sse avx avx2 fma"), cpu_has_int8_dot("")
    (False, None)
    """
    return _has_any(INT8_CPU_FLAGS, cpu_flags(cpuinfo))


def cpu_has_bf16_dot(cpuinfo: str | None = None) -> bool | None:
    """Whether this CPU multiplies bfloat16 numbers natively (x86 AVX-512 BF16 or AMX),
    from its :func:`cpu_flags`; None where they are unknown.

    >>> cpu_has_bf16_dot("flags\t: fpu avx2 avx512f avx512_bf16 amx_bf16")
    True
    >>> cpu_has_bf16_dot("flags\t: fpu avx2 avx512f avx512_vnni"), cpu_has_bf16_dot("")
    (False, None)
    """
    return _has_any(BF16_CPU_FLAGS, cpu_flags(cpuinfo))


def in_colab() -> bool:
    """True when running inside Google Colab (False on a laptop or a CI machine)."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when the Hugging Face Hub answers a TCP connection and offline mode is not
    forced.

    ``HF_HUB_OFFLINE=1`` (the Hub library's own switch) always means unreachable, and
    so does a machine without internet, after at most ``timeout`` seconds.
    """
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_profile(requested: str | None = None) -> tuple[str, str]:
    """Turn ``quick | full | auto`` into ``quick`` or ``full`` and say why.

    ``requested`` defaults to the ``TUTORIALKIT_PROFILE`` environment variable, then to
    ``auto``; ``auto`` means ``full`` only when there is a CUDA GPU *and* the Hub is
    reachable. Returns ``(profile, reason)``.

    Example:

    >>> resolve_profile("quick")
    ('quick', 'asked for quick')
    """
    name = (requested or os.environ.get(PROFILE_VARIABLE) or "auto").strip().lower()
    if name not in PROFILES:
        source = "argument" if requested else PROFILE_VARIABLE
        raise ValueError(
            f"unknown profile {name!r} (from {source}); expected one of {PROFILES}"
        )
    if name != "auto":
        return name, f"asked for {name}"
    if not torch.cuda.is_available():
        return "quick", "auto: no CUDA GPU"
    if not hub_reachable():
        return "quick", "auto: GPU but no Hugging Face Hub"
    return "full", "auto: CUDA GPU and Hugging Face Hub"


@dataclass(frozen=True)
class Runtime:
    """What :func:`setup` decided: read it, don't build it by hand."""

    profile: str  # "quick" or "full"
    reason: str  # why this profile was chosen
    device: torch.device
    amp_dtype: torch.dtype  # dtype for torch.autocast on this device
    seed: int
    colab: bool
    # full-profile sources from a local Hub copy, sizes cut to fit CI
    rehearsal: bool = False


def setup(
    profile: str | None = None, seed: int = 0, device: str | None = None
) -> Runtime:
    """Resolve the profile, pick the device and seed everything: the first call of each
    chapter.

    With the default profile, ``auto``, a machine without a GPU gets the quick profile.

    Example:

    >>> rt = setup("quick", device="cpu")
    >>> rt.profile, rt.device, rt.amp_dtype
    ('quick', device(type='cpu'), torch.float32)
    """
    name, reason = resolve_profile(profile)
    rehearsal = os.environ.get(REHEARSAL_VARIABLE, "0").lower() in ("1", "true", "yes")
    if rehearsal and name != "full":
        raise ValueError(
            f"{REHEARSAL_VARIABLE}=1 rehearses the full profile; {PROFILE_VARIABLE} "
            f"is {name!r}"
        )
    if rehearsal:
        reason = "rehearsal: local Hub copy, CI sizes"
    dev = pick_device(device)
    seed_everything(seed)
    return Runtime(name, reason, dev, autocast_dtype(dev), seed, in_colab(), rehearsal)


def banner(rt: Runtime, *, model: str, data: str, sizes: str = "") -> str:
    """One line that says which profile, device, model, data and sizes a chapter is
    using.

    ``sizes``, when given, ends the line (e.g. ``sizes="2,000 train"``).

    Example:

    >>> rt = setup("quick", device="cpu")
    >>> print(banner(rt, model="MiniLM", data="WNUT-16"))
    [quick: asked for quick] device=cpu amp=float32 | model=MiniLM | data=WNUT-16
    """
    parts = [
        f"[{rt.profile}: {rt.reason}] device={rt.device.type} "
        f"amp={str(rt.amp_dtype).removeprefix('torch.')}",
        f"model={model}",
        f"data={data}",
    ]
    if sizes:
        parts.append(sizes)
    return " | ".join(parts)
