"""tutorialkit (apps, embeddings, ner, pretrain): inputs follow the model's device.

Every package helper that feeds a model sends its tensors to the model's device.
CI has no GPU, so a helper that builds its tensors on the CPU and forgets to move them
would pass every CPU test and fail in Colab. Here the model lives on PyTorch's ``meta``
device (no data, any size) and a forward pre-hook records the devices of the tensors the
helper passed in, then stops the call: each helper must have moved its inputs to
``meta`` before the model's first forward. (The training loop is not covered here:
``torch.autocast`` has no meta device. It moves each batch with the model in one place,
``train._to_device``.)
"""

import pytest
import torch

from tutorialkit.apps import NerPipeline, SentimentPipeline
from tutorialkit.embeddings import embed_texts
from tutorialkit.ner import predict_tags
from tutorialkit.pretrain import masked_accuracy


class ReachedForward(Exception):
    """Raised by the hook: the helper got as far as the model's forward."""


@pytest.fixture
def on_meta(make_tiny_bert):
    """``on_meta(head, **config)``: a 1-layer tiny BERT with that head (see
    ``make_tiny_bert``) on the meta device, whose forward records its input devices."""

    def make(head, **config):
        with torch.device("meta"):
            model = make_tiny_bert(head, num_hidden_layers=1, **config)
        model.seen = []
        model.register_forward_pre_hook(record_devices_and_stop, with_kwargs=True)
        return model

    return make


def record_devices_and_stop(module, args, kwargs):
    """The forward pre-hook: note the devices of the tensors passed in, then stop."""
    tensors = [t for t in [*args, *kwargs.values()] if torch.is_tensor(t)]
    module.seen.extend(t.device.type for t in tensors)
    raise ReachedForward


def inputs_followed_the_model(model, call) -> bool:
    with pytest.raises(ReachedForward):
        call()
    return bool(model.seen) and set(model.seen) == {"meta"}


def test_predict_tags_and_the_ner_pipeline(on_meta, tokenizer):
    model = on_meta("token", num_labels=3)
    id2label = {0: "O", 1: "B-PER", 2: "I-PER"}
    assert inputs_followed_the_model(
        model, lambda: predict_tags(model, tokenizer, [["Ada", "Lovelace"]], id2label)
    )
    model.seen.clear()
    pipeline = NerPipeline(model, tokenizer, id2label, max_length=32)
    assert inputs_followed_the_model(
        model, lambda: pipeline(["Ada Lovelace wrote programs."])
    )


def test_sentiment_pipeline(on_meta, tokenizer):
    model = on_meta("sequence", num_labels=2)
    pipeline = SentimentPipeline(
        model, tokenizer, {0: "negative", 1: "positive"}, max_length=32
    )
    assert inputs_followed_the_model(model, lambda: pipeline(["a fine film"]))


def test_sentence_vectors(on_meta, tokenizer):
    model = on_meta("bare")
    assert inputs_followed_the_model(
        model, lambda: embed_texts(model, tokenizer, ["a fine film", "a bad one"])
    )


def test_masked_accuracy(on_meta):
    model = on_meta("masked-lm")
    batch = {
        "input_ids": torch.tensor([[101, 103, 102]]),
        "attention_mask": torch.ones(1, 3, dtype=torch.long),
        "labels": torch.tensor([[-100, 7, -100]]),
    }
    assert inputs_followed_the_model(model, lambda: masked_accuracy(model, [batch]))
