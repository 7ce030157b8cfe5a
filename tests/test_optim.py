"""tutorialkit.optim: AdamW equal to torch's, parameter groups, schedules, clipping."""

import copy
import math

import pytest
import torch
from torch import nn

from tutorialkit.optim import (
    AdamW,
    clip_grad_norm,
    constant_schedule,
    cosine_schedule,
    layerwise_param_groups,
    linear_schedule,
    lr_lambda,
    lr_range_test,
    lr_scheduler,
    param_groups,
)


def small_net(dtype=torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(10, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, 3)
    ).to(dtype)


def run(model, optimizer, steps, dtype):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(32, 10, generator=generator, dtype=dtype)
    y = torch.randint(3, (32,), generator=generator)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_adamw_matches_torch_to_the_last_bit_with_parameter_groups(dtype):
    """Same arithmetic in the same order as torch's for-loop AdamW: not close, equal."""
    ours, theirs = small_net(dtype), small_net(dtype)
    opt_ours = AdamW(param_groups(ours, 0.1), lr=1e-2, betas=(0.8, 0.99), eps=1e-6)
    opt_theirs = torch.optim.AdamW(
        param_groups(theirs, 0.1), lr=1e-2, betas=(0.8, 0.99), eps=1e-6, foreach=False
    )
    start = copy.deepcopy(ours)
    for _ in range(10):
        run(ours, opt_ours, 10, dtype)
        run(theirs, opt_theirs, 10, dtype)
        assert all(
            torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters())
        )
    moved = max(
        (a - b).abs().max().item()
        for a, b in zip(ours.parameters(), start.parameters())
    )
    assert moved > 0.1  # the check is not vacuous
    state = opt_ours.state[ours[0].weight]
    assert (
        state["step"] == 100
        and state["m"].shape == state["v"].shape == ours[0].weight.shape
    )


def test_adamw_decay_is_decoupled_and_only_where_asked():
    model = small_net()
    optimizer = AdamW(param_groups(model, weight_decay=0.5), lr=0.1)
    before = copy.deepcopy(model)
    for p in model.parameters():
        # no gradient: m = v = 0, so only the decay moves theta
        p.grad = torch.zeros_like(p)
    optimizer.step()
    assert torch.allclose(model[0].weight, before[0].weight * (1 - 0.1 * 0.5))
    assert torch.equal(model[0].bias, before[0].bias)
    assert torch.equal(model[1].weight, before[1].weight)  # LayerNorm weight: no decay


def test_adamw_first_step_is_lr_times_the_sign_of_the_gradient():
    theta = nn.Parameter(torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))
    optimizer = AdamW([theta], lr=0.01, weight_decay=0.0, eps=0.0)
    theta.grad = torch.tensor([1e-3, -50.0, 7.0], dtype=torch.float64)
    optimizer.step()  # bias correction makes m_hat = g and v_hat = g^2
    assert torch.allclose(theta, torch.tensor([0.99, -1.99, 2.99], dtype=torch.float64))


def test_adamw_skips_parameters_without_gradients_and_returns_the_closure_loss():
    model = small_net()
    optimizer = AdamW(model.parameters(), lr=0.1)
    before = copy.deepcopy(model)
    loss = optimizer.step(lambda: torch.tensor(3.0))
    assert loss.item() == 3.0
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), before.parameters())
    )
    assert not optimizer.state


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lr=-1.0), "lr must be >= 0"),
        (dict(betas=(0.9, 1.0)), r"betas must be two numbers in \[0, 1\)"),
        (dict(eps=-1e-8), "eps must be >= 0"),
        (dict(weight_decay=-0.1), "weight_decay must be >= 0"),
    ],
)
def test_adamw_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdamW(small_net().parameters(), **kwargs)


def test_param_groups_agree_with_the_transformers_trainer_on_bert(make_tiny_bert):
    from transformers import Trainer

    model = make_tiny_bert("sequence", vocab_size=50, num_labels=2)
    decay, no_decay = param_groups(model, 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    names = {n for n, _ in model.named_parameters()}
    decay_names = {n for n, _ in decay["params"]}
    no_decay_names = {n for n, _ in no_decay["params"]}
    assert decay_names | no_decay_names == names and not decay_names & no_decay_names
    assert decay_names == set(Trainer.get_decay_parameter_names(None, model))
    assert "bert.embeddings.LayerNorm.weight" in no_decay_names
    assert "bert.embeddings.word_embeddings.weight" in decay_names
    assert all(n.endswith("bias") or "LayerNorm" in n for n in no_decay_names)


def test_param_groups_skip_frozen_and_shared_parameters_and_keep_names():
    model = small_net()
    model[0].requires_grad_(False)
    tied = nn.Linear(16, 3)
    # shared, as a decoder is tied to the input embeddings
    tied.weight = model[3].weight
    groups = param_groups(nn.ModuleList([model, tied]), 0.1)
    names = [[n for n, _ in g["params"]] for g in groups]
    assert names == [["0.3.weight"], ["0.1.weight", "0.1.bias", "0.3.bias", "1.bias"]]
    optimizer = torch.optim.AdamW(groups)
    assert optimizer.param_groups[0]["param_names"] == ["0.3.weight"]


def test_param_groups_treat_any_norm_class_of_another_library_as_normalisation():
    class LlamaRMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(4))

    model = nn.Sequential(nn.Linear(4, 4, bias=False), LlamaRMSNorm())
    decay, no_decay = param_groups(model, 0.1)
    assert [p for _, p in decay["params"]] == [model[0].weight]
    assert [p for _, p in no_decay["params"]] == [model[1].weight]


def test_param_groups_rejects_bad_arguments():
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        param_groups(small_net(), -1.0)
    with pytest.raises(ValueError, match="no trainable parameters"):
        param_groups(small_net().requires_grad_(False), 0.01)
    only_biases = param_groups(nn.LayerNorm(4), 0.1)
    assert len(only_biases) == 1 and only_biases[0]["weight_decay"] == 0.0


def test_schedules_at_known_steps():
    assert [constant_schedule(s) for s in (0, 5, 10**6)] == [1.0, 1.0, 1.0]
    assert [constant_schedule(s, warmup_steps=4) for s in range(6)] == [
        0,
        0.25,
        0.5,
        0.75,
        1,
        1,
    ]
    assert [linear_schedule(s, 2, 6) for s in range(8)] == [
        0,
        0.5,
        1,
        0.75,
        0.5,
        0.25,
        0,
        0,
    ]
    assert cosine_schedule(0, 2, 6) == 0 and cosine_schedule(2, 2, 6) == 1
    assert cosine_schedule(4, 2, 6) == pytest.approx(0.5)  # half-way down the cosine
    assert cosine_schedule(3, 2, 6) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert cosine_schedule(6, 2, 6) == pytest.approx(0) and cosine_schedule(
        9, 2, 6
    ) == pytest.approx(0)
    # no warmup
    assert linear_schedule(0, 0, 10) == 1.0 and cosine_schedule(0, 0, 10) == 1.0


def test_schedules_equal_the_transformers_schedules():
    from transformers.optimization import (
        _get_cosine_schedule_with_warmup_lr_lambda,
        _get_linear_schedule_with_warmup_lr_lambda,
    )

    for warmup, total in [(0, 50), (10, 100), (7, 31), (20, 20)]:
        for step in range(total + 1):
            hf_linear = _get_linear_schedule_with_warmup_lr_lambda(
                step, num_warmup_steps=warmup, num_training_steps=total
            )
            hf_cosine = _get_cosine_schedule_with_warmup_lr_lambda(
                step, num_warmup_steps=warmup, num_training_steps=total, num_cycles=0.5
            )
            assert linear_schedule(step, warmup, total) == pytest.approx(
                hf_linear, abs=1e-12
            )
            assert cosine_schedule(step, warmup, total) == pytest.approx(
                hf_cosine, abs=1e-12
            )


def test_lr_scheduler_sets_the_learning_rate_of_every_group():
    model = small_net()
    optimizer = torch.optim.SGD(param_groups(model, 0.01), lr=0.1)
    scheduler = lr_scheduler(optimizer, "linear", warmup_steps=2, total_steps=6)
    seen = []
    for _ in range(7):
        seen.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    expected = [0.1 * m for m in [0, 0.5, 1, 0.75, 0.5, 0.25, 0]]
    assert all(lrs == pytest.approx([e, e]) for lrs, e in zip(seen, expected))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: lr_lambda("step"), "unknown schedule 'step'"),
        (lambda: lr_lambda("cosine", warmup_steps=5), "give total_steps"),
        (
            lambda: lr_lambda("linear", warmup_steps=20, total_steps=10),
            r"warmup_steps \(20\) must not exceed total_steps \(10\)",
        ),
        (lambda: lr_lambda("linear", total_steps=0), "total_steps must be > 0"),
        (lambda: lr_lambda("constant", warmup_steps=-1), "warmup_steps must be >= 0"),
        (lambda: linear_schedule(-1, 0, 10), "step must be >= 0"),
    ],
)
def test_schedules_reject_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("max_norm", [0.05, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    ours, theirs = small_net(), small_net()
    for model in (ours, theirs):
        x = torch.randn(8, 10, generator=torch.Generator().manual_seed(2))
        (model(x) ** 2).sum().backward()
    norm_ours = clip_grad_norm(ours.parameters(), max_norm)
    norm_theirs = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm)
    assert norm_ours.item() == pytest.approx(norm_theirs.item(), rel=1e-6)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-7, rtol=1e-5)
    after = torch.sqrt(sum((p.grad**2).sum() for p in ours.parameters()))
    assert after.item() == pytest.approx(min(max_norm, norm_ours.item()), rel=1e-4)


def test_clip_grad_norm_edge_cases():
    model = small_net()
    assert clip_grad_norm(model.parameters(), 1.0).item() == 0.0  # no gradients yet
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        clip_grad_norm(model.parameters(), 0.0)


def test_layerwise_groups_give_each_bert_layer_its_rate_and_keep_the_decay_split(
    make_tiny_bert,
):
    model = make_tiny_bert("sequence", vocab_size=50, num_labels=2)
    layers = model.config.num_hidden_layers
    groups = layerwise_param_groups(model, 0.01, lr=1e-4, layer_decay=0.5)
    flat = {n for g in param_groups(model, 0.01) for n, _ in g["params"]}
    assert {n for g in groups for n, _ in g["params"]} == flat
    rate = {n: (g["lr"], g["weight_decay"]) for g in groups for n, _ in g["params"]}
    assert rate["classifier.weight"] == (1e-4, 0.01)
    assert rate["bert.pooler.dense.bias"] == (1e-4, 0.0)
    top = f"bert.encoder.layer.{layers - 1}.attention.self.query.weight"
    assert rate[top] == (1e-4 * 0.5, 0.01)
    assert rate["bert.encoder.layer.0.output.LayerNorm.weight"] == (
        1e-4 * 0.5**layers,
        0.0,
    )
    assert rate["bert.embeddings.word_embeddings.weight"][0] == 1e-4 * 0.5 ** (
        layers + 1
    )
    # a schedule scales every group by the same factor
    rates = [g["lr"] for g in groups]
    optimizer = AdamW(groups, lr=1.0)
    scheduler = lr_scheduler(optimizer, "linear", warmup_steps=4, total_steps=8)
    scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(
        [rate / 4 for rate in rates]
    )


def test_layerwise_groups_reject_a_model_without_numbered_blocks():
    with pytest.raises(ValueError, match="no numbered blocks.*'0.weight'"):
        layerwise_param_groups(small_net(), 0.01, lr=1e-3, layer_decay=0.9)
    with pytest.raises(ValueError, match="layer_decay must be in"):
        layerwise_param_groups(small_net(), 0.01, lr=1e-3, layer_decay=0.0)


def test_range_test_finds_the_rate_where_a_quadratic_diverges():
    """On f(w) = 50 (w - x)^2, x a noisy target, plain SGD converges for lr < 2 / 100
    and diverges above; the loss must bottom out below that rate, and the run stop
    once it has blown up."""
    model = nn.Linear(1, 1, bias=False)
    nn.init.constant_(model.weight, 1.0)
    start = model.weight.detach().clone()
    targets = torch.randn(50, generator=torch.Generator().manual_seed(0))
    result = lr_range_test(
        model,
        targets,
        lambda p: torch.optim.SGD(p, lr=0.0),
        lr_min=1e-5,
        lr_max=10.0,
        steps=120,
        loss_fn=lambda m, x: 50 * (m.weight - x).pow(2).sum(),
    )
    assert 1e-3 < result.best_lr < 2 / 100
    assert len(result.lrs) < 120 and result.smoothed[-1] > 4 * min(result.smoothed)
    assert result.lrs == sorted(result.lrs)
    assert torch.equal(model.weight, start)  # the model passed in is untouched
