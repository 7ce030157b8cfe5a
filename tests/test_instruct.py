"""tutorialkit.instruct: chat template, prompt masking, packing, DPO, causal-LM LoRA.

Every model is a GPT of width 32 built in the test, so the file runs in seconds on a
CPU.
"""

from __future__ import annotations

import math
import random

import pytest
import torch
from torch.utils.data import DataLoader

from tutorialkit.gpt import GPT, GPTConfig, generate, token_log_probs
from tutorialkit.instruct import (
    DPOCollator,
    DPOModel,
    PackedGPT,
    SFTCollator,
    WordTokenizer,
    answer_kl,
    answer_log_probs,
    chat,
    dpo_loss,
    encode_chat,
    generate_answers,
    pack_examples,
    reference_log_probs,
    render_chat,
    unmask,
)
from tutorialkit.losses import IGNORE_INDEX
from tutorialkit.peft import (
    apply_lora,
    count_parameters,
    load_lora_weights,
    lora_weights,
)
from tutorialkit.train import TrainConfig, train

WORDS = "the cat sat on a mat and dog ran to park big small red blue".split()
TOKENIZER = WordTokenizer([" ".join(WORDS)] * 3 + ["User: Bot: 1 2 3 4 5"] * 3)


def encode(text: str) -> list[int]:
    return TOKENIZER.encode(text, prefix=(), eos=False)


def tiny_gpt(seed: int = 0, dropout: float = 0.0) -> GPT:
    torch.manual_seed(seed)
    return GPT(
        GPTConfig(
            vocab_size=len(TOKENIZER),
            block_size=64,
            n_layer=2,
            n_head=2,
            d_model=32,
            dropout=dropout,
        )
    )


def random_examples(n: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """n one-turn conversations of random words: instruction of 2-6 words, answer of
    1-4."""
    rng = random.Random(seed)
    return [
        encode_chat(
            chat(
                " ".join(rng.choices(WORDS, k=rng.randint(2, 6))),
                " ".join(rng.choices(WORDS, k=rng.randint(1, 4))),
            ),
            encode,
            TOKENIZER.eos_id,
        )
        for _ in range(n)
    ]


def test_render_chat_and_generation_prompt():
    assert render_chat(chat("the cat", "a dog")) == "User: the cat\nBot: a dog"
    assert (
        render_chat(chat("the cat"), add_generation_prompt=True)
        == "User: the cat\nBot: "
    )
    with pytest.raises(ValueError, match="unknown role"):
        render_chat([{"role": "robot", "content": "hi"}])


def test_masked_positions_are_exactly_the_prompt():
    instruction, answer = "the cat sat on", "a red mat"
    ids, labels = encode_chat(chat(instruction, answer), encode, TOKENIZER.eos_id)
    prompt, prompt_labels = encode_chat(
        chat(instruction), encode, TOKENIZER.eos_id, add_generation_prompt=True
    )
    n = len(prompt)
    assert ids[:n] == prompt  # generation starts from exactly what training saw
    assert all(label == IGNORE_INDEX for label in prompt_labels)
    assert labels[:n] == [IGNORE_INDEX] * n
    # the answer and its end are learned
    assert labels[n:] == ids[n:] == encode(answer) + [TOKENIZER.eos_id]
    assert TOKENIZER.decode(ids) == render_chat(chat(instruction, answer)).replace(
        "\n", " "
    )
    assert unmask((ids, labels)) == (ids, ids)


def test_collator_pads_with_pad_id_and_ignored_labels():
    examples = random_examples(5)
    batch = SFTCollator(TOKENIZER.pad_id, 64)(examples)
    assert batch["input_ids"].shape == (5, max(len(e[0]) for e in examples))
    for row, (ids, labels) in enumerate(examples):
        assert batch["input_ids"][row, : len(ids)].tolist() == ids
        assert batch["labels"][row, : len(ids)].tolist() == labels
        assert (batch["input_ids"][row, len(ids) :] == TOKENIZER.pad_id).all()
        assert (batch["labels"][row, len(ids) :] == IGNORE_INDEX).all()
    cut = SFTCollator(TOKENIZER.pad_id, 4)(examples)
    assert cut["input_ids"].shape[1] == 4


def test_pack_examples_first_fit_keeps_every_example_whole():
    examples = [([1] * n, [1] * n) for n in (5, 3, 4, 2, 6)]
    rows = pack_examples(examples, 8)
    assert [[len(e[0]) for e in row] for row in rows] == [[5, 3], [4, 2], [6]]
    with pytest.raises(ValueError, match="does not fit"):
        pack_examples(examples, 5)


def test_packing_gives_the_same_loss_and_logits_as_padding():
    model = PackedGPT(tiny_gpt()).eval()
    examples = random_examples(12, seed=1)
    padded = SFTCollator(TOKENIZER.pad_id, 64)(examples)
    packed = SFTCollator(TOKENIZER.pad_id, 64, pack=True)(examples)
    assert packed["input_ids"].shape[0] < len(examples) / 2  # several examples per row
    assert (packed["labels"] != IGNORE_INDEX).sum() == (
        padded["labels"] != IGNORE_INDEX
    ).sum()
    with torch.no_grad():
        loss_padded, loss_packed = model(**padded)["loss"], model(**packed)["loss"]
        logits = model(**packed)["logits"]
        alone = model(padded["input_ids"])["logits"]
    assert torch.allclose(loss_padded, loss_packed, atol=1e-6)
    # each example's logits inside its packed row equal its logits computed alone
    row, start = 0, 0
    for i, (ids, _) in enumerate(examples):
        segment = packed["segment_ids"][row]
        if start >= len(segment) or segment[start] == 0:
            row, start = row + 1, 0
        assert torch.allclose(
            logits[row, start : start + len(ids)], alone[i, : len(ids)], atol=1e-5
        )
        start += len(ids)


def test_packing_without_the_segment_mask_changes_the_loss():
    """The check above can fail: let the examples of a row see each other and the loss
    moves."""
    model = PackedGPT(tiny_gpt()).eval()
    examples = random_examples(12, seed=1)
    packed = SFTCollator(TOKENIZER.pad_id, 64, pack=True)(examples)
    # one segment per row
    leaky = dict(packed, segment_ids=(packed["segment_ids"] > 0).long())
    with torch.no_grad():
        assert not torch.allclose(
            model(**packed)["loss"], model(**leaky)["loss"], atol=1e-4
        )


def dpo_loss_float64(pc, pr, rc, rr, beta):
    """The DPO loss written again from the Bradley-Terry model, one pair at a time, in
    float64."""
    total = 0.0
    for a, b, c, d in zip(pc.tolist(), pr.tolist(), rc.tolist(), rr.tolist()):
        margin = beta * ((a - c) - (b - d))
        p_chosen_wins = 1.0 / (1.0 + math.exp(-margin))
        total += -math.log(p_chosen_wins)
    return total / len(pc)


def test_dpo_loss_matches_a_float64_rederivation():
    generator = torch.Generator().manual_seed(0)
    inputs = [-20 * torch.rand(16, generator=generator) for _ in range(4)]
    for beta in (0.1, 0.5, 2.0):
        loss, margin = dpo_loss(*inputs, beta=beta)
        assert math.isclose(loss.item(), dpo_loss_float64(*inputs, beta), rel_tol=1e-6)
        assert torch.allclose(
            margin, beta * ((inputs[0] - inputs[2]) - (inputs[1] - inputs[3]))
        )
    same = torch.full((3,), -5.0)
    assert math.isclose(
        dpo_loss(same, same, same, same)[0].item(), math.log(2), rel_tol=1e-7
    )
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(same, same, same, same, beta=0.0)


def test_dpo_gradient_gradcheck_and_closed_form():
    generator = torch.Generator().manual_seed(1)
    pc, pr = (
        torch.randn(6, dtype=torch.float64, generator=generator, requires_grad=True)
        for _ in range(2)
    )
    rc, rr = (
        torch.randn(6, dtype=torch.float64, generator=generator) for _ in range(2)
    )
    beta = 0.7
    assert torch.autograd.gradcheck(
        lambda a, b: dpo_loss(a, b, rc, rr, beta)[0], (pc, pr)
    )
    loss, margin = dpo_loss(pc, pr, rc, rr, beta)
    loss.backward()
    # d loss / d log pi(chosen) = -beta * sigmoid(-margin) / n, and the opposite for the
    # rejected answer
    expected = -beta * torch.sigmoid(-margin) / 6
    assert torch.allclose(pc.grad, expected) and torch.allclose(pr.grad, -expected)


def test_answer_log_probs_sums_the_answer_tokens_only():
    model = tiny_gpt().eval()
    ids, labels = SFTCollator(TOKENIZER.pad_id, 64)(random_examples(4)).values()
    ours = answer_log_probs(model, ids, labels)
    assert torch.allclose(
        ours, token_log_probs(model, ids, labels).sum(dim=1), atol=1e-5
    )
    everything = answer_log_probs(
        model, ids, ids.masked_fill(ids == TOKENIZER.pad_id, IGNORE_INDEX)
    )
    # counting the prompt's tokens too adds negative terms
    assert (everything < ours).all()


def test_dpo_model_raises_the_chosen_answers_relative_to_the_rejected():
    policy, reference = tiny_gpt(), tiny_gpt()
    rng = random.Random(2)
    prompts = [" ".join(rng.choices(WORDS, k=3)) for _ in range(16)]
    chosen = [encode_chat(chat(p, "red"), encode, TOKENIZER.eos_id) for p in prompts]
    rejected = [encode_chat(chat(p, "blue"), encode, TOKENIZER.eos_id) for p in prompts]
    ref_c = reference_log_probs(reference, chosen, TOKENIZER.pad_id)
    ref_r = reference_log_probs(reference, rejected, TOKENIZER.pad_id)
    pairs = list(zip(chosen, rejected, ref_c.tolist(), ref_r.tolist()))
    dpo = DPOModel(policy, beta=0.5)
    with torch.no_grad():
        start = dpo(**DPOCollator(TOKENIZER.pad_id)(pairs))
    # policy == reference at the start
    assert math.isclose(start["loss"].item(), math.log(2), rel_tol=1e-5)
    train(
        dpo,
        DataLoader(
            pairs, batch_size=8, shuffle=True, collate_fn=DPOCollator(TOKENIZER.pad_id)
        ),
        TrainConfig(lr=1e-2, max_steps=10, warmup=0, device="cpu", progress=False),
    )
    with torch.no_grad():
        end = dpo.eval()(**DPOCollator(TOKENIZER.pad_id)(pairs))
    assert end["loss"] < 0.5 * math.log(2) and (end["margin"] > 0).all()
    kl = answer_kl(policy, reference, chosen, TOKENIZER.pad_id)
    assert (kl > 0).all() and torch.allclose(
        answer_kl(reference, reference, chosen, TOKENIZER.pad_id),
        torch.zeros(len(chosen)),
        atol=1e-6,
    )


def test_dpo_model_nll_weight_adds_the_sft_loss_of_the_chosen_answers():
    policy, reference = tiny_gpt(), tiny_gpt(seed=1)
    rng = random.Random(3)
    prompts = [" ".join(rng.choices(WORDS, k=rng.randint(1, 4))) for _ in range(6)]
    answers = [" ".join(rng.choices(WORDS, k=rng.randint(1, 3))) for _ in range(6)]
    chosen = [
        encode_chat(chat(p, a), encode, TOKENIZER.eos_id)
        for p, a in zip(prompts, answers)
    ]
    rejected = [encode_chat(chat(p, "blue"), encode, TOKENIZER.eos_id) for p in prompts]
    pairs = list(
        zip(
            chosen,
            rejected,
            reference_log_probs(reference, chosen, TOKENIZER.pad_id).tolist(),
            reference_log_probs(reference, rejected, TOKENIZER.pad_id).tolist(),
        )
    )
    batch = DPOCollator(TOKENIZER.pad_id)(pairs)
    with torch.no_grad():
        dpo_only = DPOModel(policy, beta=0.3)(**batch)["loss"]
        with_nll = DPOModel(policy, beta=0.3, nll_weight=0.7)(**batch)["loss"]
        # the SFT loss through the model's own loss: the mean over the answer tokens
        sft = policy(input_ids=batch["chosen_ids"], labels=batch["chosen_labels"])[
            "loss"
        ]
    assert torch.allclose(with_nll, dpo_only + 0.7 * sft, atol=1e-6)
    with pytest.raises(ValueError, match="nll_weight"):
        DPOModel(policy, nll_weight=-1.0)


def test_generate_answers_equals_one_prompt_at_a_time():
    model = tiny_gpt(seed=3)
    prompts = [
        encode_chat(
            chat(" ".join(WORDS[i : i + k])),
            encode,
            TOKENIZER.eos_id,
            add_generation_prompt=True,
        )[0]
        for i, k in ((0, 2), (3, 3), (5, 2), (1, 4))
    ]
    answers = generate_answers(model, prompts, 5, TOKENIZER.eos_id, greedy=True)
    for prompt, answer in zip(prompts, answers):
        alone = generate(
            model, torch.tensor([prompt]), 5, greedy=True, eos_id=TOKENIZER.eos_id
        )[0, len(prompt) :].tolist()
        assert answer == (
            alone[: alone.index(TOKENIZER.eos_id)]
            if TOKENIZER.eos_id in alone
            else alone
        )


def test_word_tokenizer_round_trip():
    ids = TOKENIZER.encode("the big  cat zebra")
    assert (
        ids[0] == TOKENIZER.bos_id
        and ids[-1] == TOKENIZER.eos_id
        and TOKENIZER.unk_id in ids
    )
    assert TOKENIZER.decode(TOKENIZER.encode("the big cat")) == "the big cat"


def test_lora_on_the_gpt_attention_trains_exactly_like_peft():
    """LoRA on the causal LM's attention projections: ours and the peft library's, step
    for step."""
    from peft import LoraConfig, get_peft_model

    targets = ["w_q", "w_v"]
    theirs = get_peft_model(
        tiny_gpt(),
        LoraConfig(r=4, lora_alpha=8, target_modules=targets, lora_dropout=0.0),
    )
    ours = tiny_gpt()
    replaced = apply_lora(ours, r=4, alpha=8, target_modules=targets, train_modules=())
    assert len(replaced) == 4  # two blocks, two projections each
    load_lora_weights(ours, lora_weights(theirs))
    assert count_parameters(ours)[0] == count_parameters(theirs)[0] == 4 * 4 * (32 + 32)
    loader = DataLoader(
        random_examples(48, seed=4),
        batch_size=8,
        shuffle=True,
        collate_fn=SFTCollator(TOKENIZER.pad_id, 64),
    )
    curves = []
    for model in (theirs, ours):
        history = train(
            model,
            loader,
            TrainConfig(lr=1e-2, epochs=2, device="cpu", progress=False, seed=0),
        )
        curves.append(torch.tensor([r["loss"] for r in history.train]))
    assert torch.allclose(curves[0], curves[1], rtol=1e-5, atol=0)
    assert curves[1][-3:].mean() < curves[1][:3].mean()
    for name, (_, b) in lora_weights(ours).items():
        assert (
            torch.allclose(b, lora_weights(theirs)[name][1], atol=1e-6)
            and b.abs().sum() > 0
        )
