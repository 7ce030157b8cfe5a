"""tutorialkit.gpt: shapes, causality, tied weights, KV cache, decoding, tokenizer."""

import math

import pytest
import torch

from tutorialkit.gpt import (
    GPT,
    CharTokenizer,
    GPTConfig,
    filter_logits,
    generate,
    model_device,
    token_log_probs,
)
from tutorialkit.losses import perplexity


def tiny(block_size: int = 16, vocab_size: int = 23) -> GPT:
    torch.manual_seed(0)
    return GPT(
        GPTConfig(
            vocab_size=vocab_size,
            block_size=block_size,
            n_layer=2,
            n_head=2,
            d_model=16,
            dropout=0.0,
        )
    ).eval()


def test_shapes_loss_and_tied_weights():
    model = tiny()
    ids = torch.randint(23, (3, 9))
    out = model(ids, labels=ids)
    assert out["logits"].shape == (3, 9, 23)
    assert out["loss"].shape == () and out["loss"].item() > 0
    assert model.lm_head.weight is model.token_embedding.weight
    # an untrained model with small weights is close to uniform: loss about log V
    assert abs(out["loss"].item() - math.log(23)) < 0.3


def test_causal_masking_future_tokens_do_not_change_the_past():
    model = tiny()
    ids = torch.randint(23, (2, 10))
    changed = ids.clone()
    changed[:, 6:] = (changed[:, 6:] + 5) % 23
    a, b = model(ids)["logits"], model(changed)["logits"]
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-6)
    assert not torch.allclose(a[:, 6:], b[:, 6:], atol=1e-3)


def test_kv_cache_logits_and_tokens_equal_the_uncached_ones():
    model = tiny()
    ids = torch.randint(23, (2, 5))
    full = model(torch.cat([ids, ids[:, :3]], 1))["logits"]
    out = model(ids, use_cache=True)
    steps = [out["logits"]]
    past = out["past"]
    for t in range(3):
        out = model(ids[:, t : t + 1], past=past, use_cache=True)
        past = out["past"]
        steps.append(out["logits"])
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    assert past[0][0].shape == (2, 2, 8, 8)  # (batch, h, n_seen, d_k)
    greedy = [generate(model, ids, 10, greedy=True, use_cache=c) for c in (True, False)]
    assert torch.equal(*greedy) and greedy[0].shape == (2, 15)
    sampled = [
        generate(
            model,
            ids,
            10,
            top_k=5,
            use_cache=c,
            generator=torch.Generator().manual_seed(1),
        )
        for c in (True, False)
    ]
    assert torch.equal(*sampled)


def test_cache_takes_several_new_tokens_at_once():
    """A prompt fed in chunks through the cache gives the logits of one uncached
    pass."""
    model = tiny()
    ids = torch.randint(23, (2, 11))
    full = model(ids)["logits"]
    steps, past = [], None
    for start, end in ((0, 4), (4, 5), (5, 11)):  # a chunk, one token, a chunk
        out = model(ids[:, start:end], past=past, use_cache=True)
        steps.append(out["logits"])
        past = out["past"]
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    assert past[0][0].shape == (2, 2, 11, 8)


@pytest.mark.parametrize(
    "call, message",
    [
        pytest.param(
            lambda model: model(torch.zeros(1, 9, dtype=torch.long)),
            "block_size=8",
            id="forward-9-tokens",
        ),
        pytest.param(
            lambda model: generate(model, torch.zeros(1, 4, dtype=torch.long), 5),
            "block_size=8",
            id="generate-4-plus-5-tokens",
        ),
        pytest.param(
            lambda model: GPTConfig(vocab_size=10, d_model=10, n_head=4),
            "divisible",
            id="width-not-divisible-by-heads",
        ),
    ],
)
def test_context_too_long_is_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(tiny(block_size=8))


def test_perplexity_from_loss_equals_perplexity_from_token_log_probs():
    model = tiny()
    tok = CharTokenizer(["abcdefg"])
    batch = tok.batch([tok.encode("abc"), tok.encode("gfedcba")], max_length=16)
    loss = model(**batch)["loss"].detach()
    logp = token_log_probs(model, batch["input_ids"], batch["labels"])
    n = (batch["labels"][:, 1:] != -100).sum()
    assert logp.shape == (2, 8) and logp[0, 4:].eq(0).all()  # padding counts nothing
    assert math.isclose(perplexity(loss), math.exp(-logp.sum() / n), rel_tol=1e-5)


def test_filter_logits_top_k_and_top_p():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    assert torch.isinf(filter_logits(logits, top_k=2))[2:].all()
    assert not torch.isinf(filter_logits(logits, top_k=2))[:2].any()
    kept = ~torch.isinf(filter_logits(logits, top_p=0.7))
    assert kept.tolist() == [True, True, False, False]  # 0.5 < 0.7, 0.5 + 0.3 >= 0.7
    assert (~torch.isinf(filter_logits(logits, top_p=0.01))).tolist() == [
        True,
        False,
        False,
        False,
    ]
    shuffled = logits[[2, 0, 3, 1]]
    assert (~torch.isinf(filter_logits(shuffled, top_p=0.7))).tolist() == [
        False,
        True,
        False,
        True,
    ]
    with pytest.raises(ValueError):
        filter_logits(logits, top_p=0)


def test_char_tokenizer_round_trip_and_specials():
    tok = CharTokenizer(["hello", "help"], extra=["<pos>", "<neg>"], min_count=1)
    assert tok.itos[:6] == ["<pad>", "<unk>", "<s>", "</s>", "<pos>", "<neg>"]
    ids = tok.encode("hex", prefix=["<pos>"])
    assert (
        ids[0] == tok.stoi["<pos>"] and ids[-1] == tok.eos_id and ids[3] == tok.unk_id
    )
    assert tok.decode(ids) == "he<unk>"
    # stops at the first </s>
    assert tok.decode(ids + tok.encode("lo", prefix=())) == "he<unk>"
    with pytest.raises(KeyError):
        tok.encode("he", prefix=["h"])
    batch = tok.batch([[2, 6], [2, 6, 7, 3]], max_length=3)
    assert batch["input_ids"].tolist() == [[2, 6, 0], [2, 6, 7]]
    assert batch["labels"].tolist() == [[2, 6, -100], [2, 6, 7]]


def test_char_tokenizer_max_size_keeps_the_most_frequent_characters():
    tok = CharTokenizer(["aaab", "aac", "bd"], max_size=6)
    assert tok.itos == ["<pad>", "<unk>", "<s>", "</s>", "a", "b"]
    assert tok.encode("abc", prefix=(), eos=False) == [4, 5, tok.unk_id]


def test_char_tokenizer_always_keeps_rare_tokens_within_max_size():
    # "z" is seen once and "q" never; both are kept, and the most frequent fill the rest
    tok = CharTokenizer(["aaab", "aac", "bdz"], max_size=7, min_count=2, always="zqz")
    assert tok.itos == ["<pad>", "<unk>", "<s>", "</s>", "a", "q", "z"]
    with pytest.raises(ValueError, match="always-kept"):
        CharTokenizer(["ab"], max_size=5, always="xy")


def test_generate_never_produces_suppressed_tokens():
    model = tiny()
    ids = torch.randint(23, (4, 3))
    greedy = generate(model, ids, 8, greedy=True)
    banned = sorted(set(greedy[:, 3:].flatten().tolist()))
    out = generate(
        model,
        ids,
        8,
        temperature=2.0,
        suppress=banned,
        generator=torch.Generator().manual_seed(0),
    )
    assert not set(out[:, 3:].flatten().tolist()) & set(banned)


def test_generate_and_helpers_follow_the_models_device():
    """With the model on the meta device, every output must be on meta too: the helpers
    move their inputs.

    (The old generate failed here: it concatenated the CPU prompt with the model's meta
    tokens.)
    """
    model = tiny().to("meta")
    ids = torch.randint(23, (2, 3))  # on the CPU, as a reader builds a prompt
    for use_cache in (True, False):
        out = generate(model, ids, 4, greedy=True, use_cache=use_cache, suppress=[0, 1])
        assert out.device.type == "meta" and out.shape == (2, 7)
    tok = CharTokenizer(["abcdefg"])
    batch = tok.batch(
        [tok.encode("abc"), tok.encode("gfedcba")], max_length=16, device="meta"
    )
    assert {t.device.type for t in batch.values()} == {"meta"}
    assert token_log_probs(model, ids, ids).device.type == "meta"
    assert model_device(model).type == "meta"
    with pytest.raises(ValueError, match="no parameters"):
        model_device(torch.nn.ReLU())


def test_sampling_draws_on_the_generators_device():
    """A CPU generator gives the same samples whatever the model's device (here: CPU,
    and CUDA if present)."""
    model = tiny()
    ids = torch.randint(23, (3, 2))
    cpu = generate(model, ids, 6, top_p=0.9, generator=torch.Generator().manual_seed(3))
    assert cpu.device.type == "cpu"
    assert torch.equal(
        cpu,
        generate(model, ids, 6, top_p=0.9, generator=torch.Generator().manual_seed(3)),
    )
    if torch.cuda.is_available():
        on_gpu = generate(
            model.to("cuda"),
            ids,
            6,
            top_p=0.9,
            generator=torch.Generator().manual_seed(3),
        )
        assert on_gpu.device.type == "cuda" and torch.equal(on_gpu.cpu(), cpu)
