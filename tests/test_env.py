"""tutorialkit.env: device, seeds, autocast dtype, profiles, banner."""

import random

import numpy as np
import pytest
import torch

from tutorialkit import env


def test_pick_device_without_gpu_is_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert env.pick_device() == torch.device("cpu")


def test_pick_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert env.pick_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert env.pick_device() == torch.device("mps")


def test_pick_device_honours_an_explicit_choice():
    assert env.pick_device("cpu") == torch.device("cpu")


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    env.seed_everything(123)
    first = draw()
    env.seed_everything(123)
    second = draw()
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])
    env.seed_everything(124)
    assert draw()[0] != first[0]


@pytest.mark.parametrize(
    "native, wanted, expected",
    [
        (True, "bf16", torch.bfloat16),
        (True, "float32", torch.float32),
        (False, "bf16", torch.float32),  # emulated bfloat16 would be slower
        (None, "bf16", torch.float32),  # unknown: no /proc/cpuinfo flags
    ],
)
def test_autocast_dtype_cpu_uses_bfloat16_only_where_native(
    monkeypatch, native, wanted, expected
):
    monkeypatch.setattr(env, "cpu_has_bf16_dot", lambda: native)
    monkeypatch.setenv(env.CPU_AMP_VARIABLE, wanted)
    assert env.autocast_dtype("cpu") is expected


def test_autocast_dtype_rejects_an_unknown_cpu_setting(monkeypatch):
    monkeypatch.setenv(env.CPU_AMP_VARIABLE, "bfloat16")
    with pytest.raises(ValueError, match="TUTORIALKIT_CPU_AMP must be one of"):
        env.autocast_dtype("cpu")


def _bf16_support(native: bool):
    """A stand-in for torch.cuda.is_bf16_supported on a GPU that emulates bfloat16 when
    not native."""
    return lambda including_emulation=True: native or including_emulation


@pytest.mark.parametrize(
    "native, expected", [(True, torch.bfloat16), (False, torch.float16)]
)
def test_autocast_dtype_cuda_prefers_native_bfloat16(monkeypatch, native, expected):
    # A T4 (Colab's GPU) supports bfloat16 only through emulation: it must get float16 +
    # a scaler.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", _bf16_support(native))
    assert env.autocast_dtype("cuda") is expected


def test_in_colab_reads_the_environment(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert env.in_colab() is False
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20261101")
    assert env.in_colab() is True


def test_hub_unreachable_when_offline_mode_is_forced(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert env.hub_reachable() is False


def test_hub_unreachable_when_connection_fails(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def refuse(*args, **kwargs):
        raise OSError("no route")

    monkeypatch.setattr(env.socket, "create_connection", refuse)
    assert env.hub_reachable() is False


def test_resolve_profile_explicit_and_from_environment(monkeypatch):
    assert env.resolve_profile("full") == ("full", "asked for full")
    monkeypatch.setenv(env.PROFILE_VARIABLE, "quick")
    assert env.resolve_profile() == ("quick", "asked for quick")


def test_resolve_profile_rejects_unknown_names(monkeypatch):
    with pytest.raises(ValueError, match=r"unknown profile 'fast'.*quick.*full.*auto"):
        env.resolve_profile("fast")
    monkeypatch.setenv(env.PROFILE_VARIABLE, "turbo")
    with pytest.raises(ValueError, match="TUTORIALKIT_PROFILE"):
        env.resolve_profile()


@pytest.mark.parametrize(
    "cuda, hub, expected",
    [(False, True, "quick"), (True, False, "quick"), (True, True, "full")],
)
def test_auto_profile_needs_both_gpu_and_hub(monkeypatch, cuda, hub, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(env, "hub_reachable", lambda timeout=3.0: hub)
    profile, reason = env.resolve_profile("auto")
    assert profile == expected
    assert reason.startswith("auto:")


def test_setup_and_banner(monkeypatch):
    monkeypatch.setenv(env.PROFILE_VARIABLE, "quick")
    monkeypatch.delenv(env.CPU_AMP_VARIABLE, raising=False)
    rt = env.setup(seed=7, device="cpu")
    assert rt.profile == "quick" and rt.seed == 7 and rt.device == torch.device("cpu")
    line = env.banner(rt, model="MiniLM-L6", data="WNUT-16", sizes="200 train")
    assert line == (
        "[quick: asked for quick] device=cpu amp=float32 | model=MiniLM-L6 | "
        "data=WNUT-16 | 200 train"
    )
    assert "\n" not in line
