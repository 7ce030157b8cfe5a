"""Instruction tuning and preference tuning: a chat template, the SFT collator, packing,
and DPO.

Supervised fine-tuning (SFT) trains a causal language model on (instruction, answer)
pairs with the next-token loss of :func:`tutorialkit.losses.causal_lm_loss`, with two
twists:

* the pair is written with a **chat template** (:func:`encode_chat`): the same function
  renders the messages for training and, without the answer, for generation, so the
  model is always asked in the format it was trained on;
* the loss counts the **answer tokens only**: every prompt position gets the label
  ``-100`` (:data:`~tutorialkit.losses.IGNORE_INDEX`), so the model learns to answer,
  not to write questions.

:class:`SFTCollator` pads such examples into a batch, or **packs** several short ones
into one row (:func:`pack_examples`); a packed row carries ``position_ids`` that restart
at each example and ``segment_ids`` that keep the attention inside each example, which
:class:`PackedGPT` reads.

Direct preference optimisation (DPO, Rafailov et al., 2023) then trains on pairs of
answers to one prompt, a *chosen* and a *rejected* one. With ``s(y) = log pi(y | x) -
log pi_ref(y | x)``, the sum of the answer tokens' log-probabilities under the trained
policy minus under a frozen reference,

    loss = -log sigmoid(beta * (s(chosen) - s(rejected)))

(:func:`dpo_loss`); :func:`answer_log_probs` computes the sums, :class:`DPOModel` makes
the loss a model output that :func:`tutorialkit.train.train` can train, and
:func:`answer_kl` measures how far the policy moved from the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tutorialkit.gpt import (
    GPT,
    CharTokenizer,
    generate,
    model_device,
    next_token_log_probs,
)
from tutorialkit.losses import IGNORE_INDEX, causal_lm_loss, log_softmax

Message = dict[str, str]  # {"role": "user" | "assistant", "content": "..."}
# (input ids, labels): -100 where no loss is taken
Example = tuple[list[int], list[int]]

# the template: what precedes each turn
ROLE_TAGS = {"user": "User: ", "assistant": "\nBot: "}


class WordTokenizer(CharTokenizer):
    """Whitespace-separated words as tokens: :class:`~tutorialkit.gpt.CharTokenizer`
    over lists of words.

    Same special tokens, ``min_count``/``max_size`` and ids as the character tokenizer;
    a text is split on whitespace, and decoding joins the words with single spaces.
    Short sequences make a small model fast: an instruction of eight words is eight
    tokens.

    Example (``<s> a b </s>``):

    >>> WordTokenizer(["a b a"]).encode("a b")
    [2, 4, 5, 3]
    """

    def __init__(self, texts: Iterable[str], **kwargs):
        super().__init__([text.split() for text in texts], **kwargs)

    def encode(
        self, text: str, *, prefix: Sequence[str] = ("<s>",), eos: bool = True
    ) -> list[int]:
        """Ids of ``prefix``, then of each word of ``text`` (``<unk>`` if unknown), then
        ``</s>`` if ``eos``."""
        return super().encode(text.split(), prefix=prefix, eos=eos)

    def decode(
        self, ids: Iterable[int], *, skip_special: bool = True, stop_at_eos: bool = True
    ) -> str:
        """The words of ``ids`` joined by spaces; stops at the first ``</s>`` and leaves
        out special tokens."""
        ids = [int(i) for i in ids]
        if stop_at_eos and self.eos_id in ids:
            ids = ids[: ids.index(self.eos_id)]
        words = (
            CharTokenizer.decode(
                self, [i], skip_special=skip_special, stop_at_eos=False
            )
            for i in ids
        )
        return " ".join(word for word in words if word)


def render_chat(
    messages: Sequence[Message], *, add_generation_prompt: bool = False
) -> str:
    """The text of a conversation under the chat template: ``User: ...``, a new line,
    then ``Bot: ...``.

    With ``add_generation_prompt=True`` the text ends with the assistant's tag, where
    the model is to continue. The end of an assistant turn is a token, not text
    (``eos_id`` in :func:`encode_chat`).

    Example:

    >>> render_chat([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    'User: hi\\nBot: '
    """
    text = ""
    for message in messages:
        role = message["role"]
        if role not in ROLE_TAGS:
            raise ValueError(
                f"unknown role {role!r}; the template knows {sorted(ROLE_TAGS)}"
            )
        text += ROLE_TAGS[role] + message["content"]
    return text + (ROLE_TAGS["assistant"] if add_generation_prompt else "")


def encode_chat(
    messages: Sequence[Message],
    encode: Callable[[str], list[int]],
    eos_id: int,
    *,
    add_generation_prompt: bool = False,
) -> Example:
    """Token ids and labels of a conversation: labels are the ids on assistant turns,
    -100 elsewhere.

    Each turn is encoded piece by piece (its tag, then its content) with ``encode`` (a
    function from text to ids without special tokens), so that the boundary between
    prompt and answer is a token boundary whatever the tokenizer; each assistant turn
    ends with ``eos_id``, labelled, so the model learns to stop. The same function,
    given the conversation without its last answer and ``add_generation_prompt=True``,
    gives the prompt to generate from (all labels -100).

    Example (the template's tags ``User:`` and ``Bot:`` are words of this tokenizer):

    >>> tok = WordTokenizer(["User: Bot: hi hello"])
    >>> encode = lambda text: tok.encode(text, prefix=(), eos=False)
    >>> encode_chat(chat("hi", "hello"), encode, tok.eos_id)
    ([5, 7, 4, 6, 3], [-100, -100, -100, 6, 3])
    """
    ids: list[int] = []
    labels: list[int] = []
    for message in messages:
        if message["role"] not in ROLE_TAGS:
            raise ValueError(
                f"unknown role {message['role']!r}; the template knows "
                f"{sorted(ROLE_TAGS)}"
            )
        tag = encode(ROLE_TAGS[message["role"]])
        content = encode(message["content"])
        ids += tag
        labels += [IGNORE_INDEX] * len(tag)
        # the answer, and the end of the turn, are learned
        if message["role"] == "assistant":
            ids += content + [eos_id]
            labels += content + [eos_id]
        else:
            ids += content
            labels += [IGNORE_INDEX] * len(content)
    if add_generation_prompt:
        tag = encode(ROLE_TAGS["assistant"])
        ids += tag
        labels += [IGNORE_INDEX] * len(tag)
    return ids, labels


def chat(instruction: str, answer: str | None = None) -> list[Message]:
    """A one-turn conversation: the user's instruction and, when given, the assistant's
    answer."""
    messages = [{"role": "user", "content": instruction}]
    return messages + (
        [{"role": "assistant", "content": answer}] if answer is not None else []
    )


def unmask(example: Example) -> Example:
    """The same example with a label on every token: the loss then counts the prompt too
    (the baseline)."""
    ids, _ = example
    return ids, list(ids)


def pack_examples(examples: Sequence[Example], max_length: int) -> list[list[Example]]:
    """Group examples into rows of at most ``max_length`` tokens, in order (first fit,
    no example split).

    An example longer than ``max_length`` is an error: cut it before packing.

    Example (two rows, of two examples and one):

    >>> rows = pack_examples([([1, 2], [1, 2])] * 3, 4)
    >>> [len(row) for row in rows]
    [2, 1]
    """
    rows: list[list[Example]] = []
    used: list[int] = []
    for example in examples:
        n = len(example[0])
        if n > max_length:
            raise ValueError(
                f"an example of {n} tokens does not fit in rows of "
                f"max_length={max_length}"
            )
        for i, total in enumerate(used):
            if total + n <= max_length:
                rows[i].append(example)
                used[i] += n
                break
        else:
            rows.append([example])
            used.append(n)
    return rows


@dataclass
class SFTCollator:
    """Batch ``(ids, labels)`` examples: pad on the right, or pack several into each
    row.

    Padded: ``{"input_ids", "labels"}`` with ``pad_id`` and -100 after each example (a
    causal model needs no attention mask for right padding). Packed (``pack=True``): the
    examples of the batch are packed into rows of ``max_length`` tokens
    (:func:`pack_examples`), and the batch also has ``position_ids`` (0, 1, ...
    restarting at each example) and ``segment_ids`` (1, 2, ... per example, 0 at
    padding), which keep each token's attention inside its own example
    (:class:`PackedGPT`). Either way an example is cut to ``max_length`` first. Usage:
    ``DataLoader(examples, batch_size=32, collate_fn=SFTCollator(tok.pad_id, 96))``.

    Example:

    >>> examples = [([2, 5, 3], [-100, 5, 3]), ([2, 6, 7, 3], [-100, -100, 7, 3])]
    >>> SFTCollator(pad_id=0, max_length=8)(examples)["input_ids"]
    tensor([[2, 5, 3, 0],
            [2, 6, 7, 3]])
    >>> SFTCollator(pad_id=0, max_length=8, pack=True)(examples)["segment_ids"]
    tensor([[1, 1, 1, 2, 2, 2, 2]])
    """

    pad_id: int
    max_length: int
    pack: bool = False

    def __call__(self, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
        if not examples:
            raise ValueError("SFTCollator: expected at least one example, found none")
        cut = [
            (list(ids)[: self.max_length], list(labels)[: self.max_length])
            for ids, labels in examples
        ]
        rows = (
            pack_examples(cut, self.max_length)
            if self.pack
            else [[example] for example in cut]
        )
        width = max(sum(len(ids) for ids, _ in row) for row in rows)
        batch = {
            "input_ids": torch.full((len(rows), width), self.pad_id, dtype=torch.long),
            "labels": torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long),
        }
        if self.pack:
            batch["position_ids"] = torch.zeros(len(rows), width, dtype=torch.long)
            batch["segment_ids"] = torch.zeros(len(rows), width, dtype=torch.long)
        for r, row in enumerate(rows):
            start = 0
            for segment, (ids, labels) in enumerate(row, start=1):
                end = start + len(ids)
                batch["input_ids"][r, start:end] = torch.tensor(ids)
                batch["labels"][r, start:end] = torch.tensor(labels)
                if self.pack:
                    # nothing of this example predicts its first token
                    batch["labels"][r, start] = IGNORE_INDEX
                    batch["position_ids"][r, start:end] = torch.arange(len(ids))
                    batch["segment_ids"][r, start:end] = segment
                start = end
        return batch


class PackedGPT(nn.Module):
    """A :class:`~tutorialkit.gpt.GPT` that also reads packed rows: ``forward(input_ids,
    labels, position_ids, segment_ids)``.

    Without ``segment_ids`` it is the wrapped model. With them, token ``i`` attends to
    token ``j`` only when ``j <= i`` *and* both belong to the same example (a
    block-diagonal causal mask), and positions restart at each example, so every example
    is computed exactly as if it were alone. The weights are the wrapped model's
    (``self.gpt``); nothing is copied.

    Example (the second example of a packed row gets the logits it gets alone):

    >>> from tutorialkit.gpt import GPTConfig
    >>> gpt = GPT(GPTConfig(vocab_size=10)).eval()
    >>> examples = [([2, 5, 3], [2, 5, 3]), ([2, 6, 7, 3], [2, 6, 7, 3])]
    >>> packed = PackedGPT(gpt)(**SFTCollator(0, 8, pack=True)(examples))["logits"]
    >>> alone = gpt(torch.tensor([[2, 6, 7, 3]]))["logits"]
    >>> packed[0, 3:].allclose(alone[0], atol=1e-6)
    True
    """

    def __init__(self, gpt: GPT):
        super().__init__()
        self.gpt = gpt

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        segment_ids: torch.Tensor | None = None,
    ) -> dict:
        """Logits (batch, n, V), and the loss given labels; packed when ``segment_ids``
        is given."""
        if segment_ids is None:
            return self.gpt(input_ids, labels)
        gpt = self.gpt
        # (batch, 1 head axis, n, n)
        same_example = (segment_ids.unsqueeze(2) == segment_ids.unsqueeze(1)).unsqueeze(
            1
        )
        x = gpt.dropout(
            gpt.token_embedding(input_ids) + gpt.position_embedding(position_ids)
        )
        for block in gpt.blocks:
            attended = block.attention(block.norm_1(x), causal=True, mask=same_example)[
                0
            ]
            x = x + block.dropout(attended)
            x = x + block.dropout(block.ffn(block.norm_2(x)))
        logits = gpt.lm_head(gpt.norm(x))
        output = {"logits": logits}
        if labels is not None:
            output["loss"] = causal_lm_loss(logits, labels)
        return output


def answer_log_probs(
    model: nn.Module, input_ids: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """``log p(answer | prompt)`` of each row: the sum of the labelled tokens'
    log-probabilities, (batch,).

    The graph is kept (:func:`tutorialkit.gpt.next_token_log_probs`), so a loss built on
    it trains the model; ``model(input_ids=...)["logits"]`` must be next-token logits
    (our GPT or a transformers causal LM). Usage: ``answer_log_probs(model,
    batch["input_ids"], batch["labels"])``.

    Example:

    >>> from tutorialkit.gpt import GPTConfig
    >>> model = GPT(GPTConfig(vocab_size=10))
    >>> ids, labels = torch.tensor([[2, 5, 6, 3]]), torch.tensor([[-100, -100, 6, 3]])
    >>> answer_log_probs(model, ids, labels).shape
    torch.Size([1])
    """
    return next_token_log_probs(model, input_ids, labels).sum(dim=1)


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The DPO loss (a scalar, the mean over pairs) and the implicit reward margin of
    each pair.

    The four inputs are answer log-probabilities (batch,) (:func:`answer_log_probs`).
    The implicit reward of an answer is ``beta * (log pi(y|x) - log pi_ref(y|x))``; the
    Bradley-Terry model says ``P(chosen > rejected) = sigmoid(margin)`` with margin the
    chosen's reward minus the rejected's, and the loss is its negative log-likelihood,
    ``-log sigmoid(margin) = softplus(-margin)``.

    Example (a policy equal to its reference: every margin is 0 and the loss is
    ``log 2``):

    >>> dpo_loss(*[torch.zeros(4)] * 4)[0]
    tensor(0.6931)
    """
    if not beta > 0:
        raise ValueError(f"beta must be > 0, found {beta}")
    margin = beta * (
        (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    )
    return F.softplus(-margin).mean(), margin.detach()


class DPOModel(nn.Module):
    """The policy with the DPO loss as its output, so that
    :func:`tutorialkit.train.train` trains it.

    A batch holds the chosen and the rejected answers (``chosen_ids``,
    ``chosen_labels``, ``rejected_ids``, ``rejected_labels``, labels -100 on the prompt)
    and the frozen reference's answer log-probabilities, computed once beforehand
    (``reference_chosen``, ``reference_rejected``: :func:`reference_log_probs`), so the
    reference model need not stay in memory. Returns ``{"loss", "margin"}``. Usage:
    ``train(DPOModel(policy, beta=0.1), pair_loader, config)``.

    ``nll_weight`` > 0 adds that weight times the SFT loss of the chosen answers (their
    mean negative log-likelihood per token) to the DPO loss: the DPO loss alone can
    lower the chosen answers' probability as long as the rejected ones fall faster.
    This is the RPO objective of Pang et al. (2024), TRL's ``rpo_alpha``.
    """

    def __init__(self, policy: nn.Module, beta: float = 0.1, nll_weight: float = 0.0):
        super().__init__()
        if not nll_weight >= 0:
            raise ValueError(f"nll_weight must be >= 0, found {nll_weight!r}")
        self.policy, self.beta, self.nll_weight = policy, beta, nll_weight

    def forward(
        self,
        chosen_ids,
        chosen_labels,
        rejected_ids,
        rejected_labels,
        reference_chosen,
        reference_rejected,
    ) -> dict:
        policy_chosen = answer_log_probs(self.policy, chosen_ids, chosen_labels)
        policy_rejected = answer_log_probs(self.policy, rejected_ids, rejected_labels)
        loss, margin = dpo_loss(
            policy_chosen,
            policy_rejected,
            reference_chosen,
            reference_rejected,
            self.beta,
        )
        if self.nll_weight:
            n_answer_tokens = (chosen_labels[:, 1:] != IGNORE_INDEX).sum()
            loss = loss - self.nll_weight * policy_chosen.sum() / n_answer_tokens
        return {"loss": loss, "margin": margin}


def pad_examples(
    examples: Sequence[Example], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad examples into ``(input_ids, labels)`` tensors (batch, longest)."""
    batch = SFTCollator(pad_id, max(len(ids) for ids, _ in examples))(examples)
    return batch["input_ids"], batch["labels"]


@torch.no_grad()
def reference_log_probs(
    reference: nn.Module, examples: Sequence[Example], pad_id: int, batch_size: int = 64
) -> torch.Tensor:
    """The frozen reference's answer log-probability of each example, (n,) on the CPU,
    in eval mode and without gradients (a constant of the DPO loss)."""
    was_training = reference.training
    reference.eval()
    device, out = model_device(reference), []
    for start in range(0, len(examples), batch_size):
        ids, labels = pad_examples(examples[start : start + batch_size], pad_id)
        out.append(answer_log_probs(reference, ids.to(device), labels.to(device)).cpu())
    reference.train(was_training)
    return torch.cat(out)


@dataclass
class DPOCollator:
    """Batch preference pairs ``(chosen, rejected, reference_chosen,
    reference_rejected)`` for :class:`DPOModel`."""

    pad_id: int

    def __call__(
        self, pairs: Sequence[tuple[Example, Example, float, float]]
    ) -> dict[str, torch.Tensor]:
        chosen_ids, chosen_labels = pad_examples([p[0] for p in pairs], self.pad_id)
        rejected_ids, rejected_labels = pad_examples([p[1] for p in pairs], self.pad_id)
        return {
            "chosen_ids": chosen_ids,
            "chosen_labels": chosen_labels,
            "rejected_ids": rejected_ids,
            "rejected_labels": rejected_labels,
            "reference_chosen": torch.tensor([float(p[2]) for p in pairs]),
            "reference_rejected": torch.tensor([float(p[3]) for p in pairs]),
        }


@torch.no_grad()
def answer_kl(
    policy: nn.Module,
    reference: nn.Module,
    examples: Sequence[Example],
    pad_id: int,
    batch_size: int = 64,
) -> torch.Tensor:
    """``sum_t KL(pi(. | x, y_<t) || pi_ref(. | x, y_<t))`` over the answer tokens of
    each example, (n,).

    The exact KL between the two next-token distributions at every labelled position,
    summed over the answer; for answers sampled from the policy its mean estimates the
    sequence-level ``KL(pi || pi_ref)`` that DPO's objective keeps small. Usage:
    ``answer_kl(policy, ref, samples, 0).mean()``.

    Example (a model is at KL 0 from itself):

    >>> from tutorialkit.gpt import GPTConfig
    >>> model = GPT(GPTConfig(vocab_size=10))
    >>> answer_kl(model, model, [([2, 5, 3], [-100, 5, 3])], pad_id=0)
    tensor([0.])
    """
    device, out = model_device(policy), []
    modes = policy.training, reference.training
    policy.eval(), reference.eval()
    for start in range(0, len(examples), batch_size):
        ids, labels = pad_examples(examples[start : start + batch_size], pad_id)
        ids, counted = ids.to(device), (labels[:, 1:] != IGNORE_INDEX).to(device)
        log_p = log_softmax(policy(input_ids=ids)["logits"][:, :-1].float())
        log_q = log_softmax(reference(input_ids=ids)["logits"][:, :-1].float())
        kl = (log_p.exp() * (log_p - log_q)).sum(dim=-1)  # (batch, n - 1)
        out.append((kl * counted).sum(dim=1).cpu())
    policy.train(modes[0]), reference.train(modes[1])
    return torch.cat(out)


def generate_answers(
    model: nn.Module,
    prompts: Sequence[list[int]],
    max_new_tokens: int,
    eos_id: int,
    *,
    batch_size: int = 64,
    generator: torch.Generator | None = None,
    **decoding,
) -> list[list[int]]:
    """The answer ids generated after each prompt, cut before ``eos_id``; prompts of one
    length share a batch.

    Prompts are grouped by length so that a batch needs no padding (a model without an
    attention mask, such as our GPT, cannot be left-padded); ``decoding`` goes to
    :func:`tutorialkit.gpt.generate` (``greedy=True``, ``top_p=0.9``,
    ``use_cache=False`` for a transformers model, ...). Usage:
    ``generate_answers(model, prompts, 12, tok.eos_id, greedy=True)``.

    Example (an untrained model: what matters is that no answer holds ``eos_id``):

    >>> from tutorialkit.gpt import GPTConfig
    >>> model = GPT(GPTConfig(vocab_size=10))
    >>> answers = generate_answers(model, [[2, 5], [2, 6, 7]], 4, 3, greedy=True)
    >>> len(answers), all(len(a) <= 4 and 3 not in a for a in answers)
    (2, True)
    """
    answers: list[list[int] | None] = [None] * len(prompts)
    by_length: dict[int, list[int]] = {}
    for i, prompt in enumerate(prompts):
        by_length.setdefault(len(prompt), []).append(i)
    for length, indices in sorted(by_length.items()):
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            ids = torch.tensor([prompts[i] for i in chunk])
            out = generate(
                model,
                ids,
                max_new_tokens,
                eos_id=eos_id,
                generator=generator,
                **decoding,
            ).cpu()
            for i, row in zip(chunk, out[:, length:].tolist()):
                answers[i] = row[: row.index(eos_id)] if eos_id in row else row
    return answers
