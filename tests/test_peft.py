"""tutorialkit.peft: LoRA from scratch, merging, freezing, agreement with peft.

Models are built in the test (a single Linear, or a BERT with 2 layers of width 32), so
the file runs in seconds on a CPU.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from tutorialkit.peft import (
    LoRALinear,
    apply_lora,
    count_parameters,
    freeze_except,
    load_lora_weights,
    lora_weights,
    merge_lora,
    training_state_bytes,
    transformer_layers,
    unfreeze_top_layers,
)
from tutorialkit.train import TrainConfig, train

TARGETS = [
    f"bert.encoder.layer.{i}.attention.self.{name}"
    for i in range(2)
    for name in ("query", "value")
]


@pytest.fixture
def tiny_bert(make_tiny_bert):
    """``tiny_bert()``: a 2-layer BERT of width 32 for 3 classes on a vocabulary of 100,
    always the same initial weights."""
    return functools.partial(
        make_tiny_bert, "sequence", seed=0, vocab_size=100, num_labels=3
    )


def random_batches(n: int = 48, seed: int = 1) -> list[dict]:
    """n random sequences of 10 word pieces with random labels (something to fit)."""
    generator = torch.Generator().manual_seed(seed)
    return [
        {
            "input_ids": torch.randint(1, 100, (10,), generator=generator),
            "attention_mask": torch.ones(10, dtype=torch.long),
            "labels": torch.randint(0, 3, (), generator=generator),
        }
        for _ in range(n)
    ]


def test_lora_linear_equals_its_base_at_init_and_has_the_right_shapes():
    torch.manual_seed(0)
    base = nn.Linear(6, 5)
    layer = LoRALinear(base, r=2, alpha=4)
    x = torch.randn(3, 4, 6)
    assert torch.equal(layer(x), base(x))  # B = 0: exactly the pre-trained layer
    assert layer.lora_A.shape == (2, 6) and layer.lora_B.shape == (5, 2)
    assert layer.scaling == 2.0
    # A is random, or no gradient would ever reach B
    assert layer.lora_A.abs().sum() > 0
    # kaiming_uniform(a=sqrt(5)) on fan_in 6: U(-1/sqrt(6), 1/sqrt(6))
    bound = 1 / math.sqrt(6)
    assert layer.lora_A.abs().max() <= bound
    assert not base.weight.requires_grad and not base.bias.requires_grad


def test_lora_linear_computes_base_plus_scaled_low_rank_update():
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(6, 5).double(), r=3, alpha=6)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(4, 6, dtype=torch.float64)
    expected = (
        x @ (layer.base.weight + 2.0 * layer.lora_B @ layer.lora_A).T + layer.base.bias
    )
    assert torch.allclose(layer(x), expected, atol=1e-12)
    assert torch.allclose(layer.delta_weight(), 2.0 * layer.lora_B @ layer.lora_A)


def test_merged_layer_gives_the_same_outputs():
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(8, 7).double(), r=2, alpha=16)
    with torch.no_grad():
        layer.lora_B.normal_()
    merged = layer.merged()
    x = torch.randn(5, 8, dtype=torch.float64)
    assert type(merged) is nn.Linear and merged.weight.dtype == torch.float64
    assert torch.allclose(merged(x), layer(x), atol=1e-12)
    assert not torch.allclose(merged(x), layer.base(x))  # the update is really in there


def test_gradient_reaches_b_only_at_init_then_both():
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(6, 5), r=2, alpha=2)
    layer(torch.randn(4, 6)).pow(2).sum().backward()
    assert layer.lora_A.grad.abs().sum() == 0  # dL/dA = s B^T g x^T and B = 0
    assert layer.lora_B.grad.abs().sum() > 0
    assert layer.base.weight.grad is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(r=0, alpha=8), r"r \(the rank\)"),
        (dict(r=-2, alpha=8), r"r \(the rank\)"),
        (dict(r=2.0, alpha=8), r"r \(the rank\)"),
        (dict(r=4, alpha=0), "alpha"),
        (dict(r=4, alpha=8, dropout=1.0), "dropout"),
    ],
)
def test_bad_lora_settings_are_errors(tiny_bert, kwargs, message):
    with pytest.raises(ValueError, match=message):
        LoRALinear(nn.Linear(4, 4), **kwargs)
    with pytest.raises(ValueError, match=message):
        apply_lora(tiny_bert(), **kwargs)


def test_lora_linear_refuses_a_layer_that_is_not_linear():
    with pytest.raises(TypeError, match="wraps an nn.Linear, found Conv1d"):
        LoRALinear(nn.Conv1d(2, 2, 1), r=1, alpha=1)


def test_apply_lora_replaces_exactly_the_targets_and_freezes_the_rest(tiny_bert):
    model = tiny_bert()
    x = {
        "input_ids": torch.randint(1, 100, (2, 7)),
        "attention_mask": torch.ones(2, 7, dtype=torch.long),
    }
    model.eval()
    before = model(**x).logits
    replaced = apply_lora(model, r=4, alpha=8)
    assert replaced == TARGETS
    assert (
        sorted(name for name, m in model.named_modules() if isinstance(m, LoRALinear))
        == TARGETS
    )
    # not a target
    assert isinstance(model.bert.encoder.layer[0].attention.self.key, nn.Linear)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    expected = {f"{t}.lora_{m}" for t in TARGETS for m in "AB"} | {
        "classifier.weight",
        "classifier.bias",
    }
    assert trainable == expected
    trainable_count, total = count_parameters(model)
    # 4 layers of r (d_in + d_out), plus the head
    assert trainable_count == 4 * 4 * (32 + 32) + 32 * 3 + 3
    assert torch.equal(model(**x).logits, before)  # B = 0: the same model


@pytest.mark.parametrize(
    "target_modules, error, message",
    [
        pytest.param(
            ["q_proj"],
            ValueError,
            r"named \['q_proj'\].*'query'.*'value'",
            id="no-match-lists-the-linears",
        ),
        pytest.param("query", TypeError, "list of names", id="a-str"),
        pytest.param(
            ["output"],
            TypeError,
            "nn.Linear layers only.*BertSelfOutput",
            id="not-a-linear",
        ),
    ],
)
def test_apply_lora_with_no_match_names_the_linear_layers_there_are(
    tiny_bert, target_modules, error, message
):
    with pytest.raises(error, match=message):
        apply_lora(tiny_bert(), r=2, alpha=2, target_modules=target_modules)


def test_gradients_flow_only_to_lora_matrices_and_the_head(tiny_bert):
    model = tiny_bert()
    apply_lora(model, r=2, alpha=4)
    batch = DataLoader(random_batches(8), batch_size=8).__iter__().__next__()
    model(**batch).loss.backward()
    with_grad = {name for name, p in model.named_parameters() if p.grad is not None}
    assert with_grad == {
        name for name, p in model.named_parameters() if p.requires_grad
    }
    assert all(
        name.endswith(("lora_B", "classifier.weight", "classifier.bias"))
        or
        # A: zero at init
        model.get_parameter(name).grad.abs().sum() == 0
        for name in with_grad
    )


def test_merge_lora_restores_plain_linears_with_identical_predictions(tiny_bert):
    model = tiny_bert().double()
    apply_lora(model, r=4, alpha=8)
    with torch.no_grad():
        for _, b in lora_weights(model).values():
            b.normal_()
    model.eval()
    x = {
        "input_ids": torch.randint(1, 100, (3, 9)),
        "attention_mask": torch.ones(3, 9, dtype=torch.long),
    }
    before = model(**x).logits
    assert merge_lora(model) == 4
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert type(model.bert.encoder.layer[1].attention.self.value) is nn.Linear
    assert torch.allclose(model(**x).logits, before, atol=1e-10)


def test_freeze_except_and_unfreeze_top_layers(tiny_bert):
    model = tiny_bert()
    assert freeze_except(model, ["classifier"]) == [
        "classifier.weight",
        "classifier.bias",
    ]
    assert count_parameters(model)[0] == 32 * 3 + 3
    names = unfreeze_top_layers(model, 1, ("pooler", "classifier"))
    assert all(
        n.startswith(("bert.encoder.layer.1.", "bert.pooler.", "classifier."))
        for n in names
    )
    assert any(n.startswith("bert.encoder.layer.1.") for n in names)
    assert not model.bert.encoder.layer[0].attention.self.query.weight.requires_grad
    assert transformer_layers(model)[0] == "bert.encoder.layer"
    # a linear probe
    assert unfreeze_top_layers(model, 0) == ["classifier.weight", "classifier.bias"]
    with pytest.raises(ValueError, match="from 0 to 2"):
        unfreeze_top_layers(model, 3)
    with pytest.raises(ValueError, match=r"named \['clasifier'\].*classifier"):
        freeze_except(model, ["clasifier"])


def test_count_parameters_and_training_state_bytes():
    layer = nn.Linear(3, 2)
    assert count_parameters(layer) == (8, 8)
    assert training_state_bytes(layer) == 8 * 4 * 4  # weights, gradient, m, v
    layer.weight.requires_grad_(False)
    assert count_parameters(layer) == (2, 8)
    assert training_state_bytes(layer) == 8 * 4 + 2 * 4 * 3
    # a shared module counted once
    assert count_parameters(nn.ModuleList([layer, layer])) == (2, 8)


def test_load_lora_weights_checks_layers_and_shapes(tiny_bert):
    model = tiny_bert()
    apply_lora(model, r=2, alpha=2)
    pairs = {
        name: (a.detach().clone(), b.detach().clone() + 1)
        for name, (a, b) in lora_weights(model).items()
    }
    load_lora_weights(model, pairs)
    assert all(torch.equal(lora_weights(model)[n][1], b) for n, (_, b) in pairs.items())
    with pytest.raises(ValueError, match="only in the weights"):
        load_lora_weights(model, {**pairs, "extra": pairs[TARGETS[0]]})
    bad = dict(pairs)
    bad[TARGETS[0]] = (torch.zeros(3, 32), torch.zeros(32, 3))
    with pytest.raises(ValueError, match="expected A"):
        load_lora_weights(model, bad)


@pytest.mark.parametrize("head", [("classifier",), ("pooler", "classifier")])
def test_our_lora_trains_exactly_like_peft_lora(tiny_bert, head):
    """Same pre-trained weights, same A and B, same seed: the same loss at every step
    (dropout on)."""
    from peft import LoraConfig, TaskType, get_peft_model

    theirs = get_peft_model(
        tiny_bert(),
        LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=4,
            lora_alpha=8,
            modules_to_save=list(head),
            target_modules=["query", "value"],
            lora_dropout=0.0,
        ),
    )
    ours = tiny_bert()
    apply_lora(ours, r=4, alpha=8, train_modules=head)
    load_lora_weights(ours, lora_weights(theirs))
    # the same parameters train
    assert count_parameters(ours)[0] == count_parameters(theirs)[0]
    config = TrainConfig(lr=5e-3, epochs=2, device="cpu", progress=False, seed=0)
    curves = []
    for model in (theirs, ours):
        history = train(
            model, DataLoader(random_batches(), batch_size=8, shuffle=True), config
        )
        curves.append(torch.tensor([r["loss"] for r in history.train]))
    assert len(curves[0]) == 12
    assert torch.allclose(curves[0], curves[1], rtol=1e-5, atol=0)
    assert curves[1][-3:].mean() < curves[1][:3].mean()  # and it learned something
    trained_theirs, trained_ours = lora_weights(theirs), lora_weights(ours)
    for name, (a, b) in trained_ours.items():
        assert torch.allclose(a, trained_theirs[name][0], atol=1e-6)
        assert torch.allclose(b, trained_theirs[name][1], atol=1e-6)
        assert b.abs().sum() > 0  # B moved away from zero


def test_our_merge_matches_peft_merge_and_unload(tiny_bert):
    from peft import LoraConfig, TaskType, get_peft_model

    theirs = get_peft_model(
        tiny_bert(), LoraConfig(task_type=TaskType.SEQ_CLS, r=2, lora_alpha=4)
    )
    with torch.no_grad():
        for _, b in lora_weights(theirs).values():
            b.normal_()
    ours = tiny_bert()
    apply_lora(ours, r=2, alpha=4)
    load_lora_weights(ours, lora_weights(theirs))
    merge_lora(ours)
    plain = theirs.merge_and_unload()
    ours_state, plain_state = ours.state_dict(), plain.state_dict()
    assert ours_state.keys() == plain_state.keys()
    assert all(
        torch.allclose(ours_state[k], plain_state[k], atol=1e-6) for k in ours_state
    )
