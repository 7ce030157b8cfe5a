"""Every package helper that feeds a model sends its tensors to the model's device.

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
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertForTokenClassification,
)

from tutorialkit.apps import NerPipeline, SentimentPipeline
from tutorialkit.embeddings import encode
from tutorialkit.ner import predict_tags
from tutorialkit.pretrain import masked_accuracy


@pytest.fixture(scope="module")
def tokenizer():
    from tutorialkit.resources import load_tokenizer, packaged_path

    return load_tokenizer(str(packaged_path("minilm")))


class ReachedForward(Exception):
    """Raised by the hook: the helper got as far as the model's forward."""


def on_meta(model_class, tokenizer, **config):
    """A small BERT of ``model_class`` on the meta device, whose forward records its
    input devices."""
    bert = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        **config,
    )
    with torch.device("meta"):
        model = model_class(bert)
    model.seen = []

    def hook(module, args, kwargs):
        tensors = [t for t in [*args, *kwargs.values()] if torch.is_tensor(t)]
        module.seen.extend(t.device.type for t in tensors)
        raise ReachedForward

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return model


def inputs_followed_the_model(model, call) -> bool:
    with pytest.raises(ReachedForward):
        call()
    return bool(model.seen) and set(model.seen) == {"meta"}


def test_predict_tags_and_the_ner_pipeline(tokenizer):
    model = on_meta(BertForTokenClassification, tokenizer, num_labels=3)
    id2label = {0: "O", 1: "B-PER", 2: "I-PER"}
    assert inputs_followed_the_model(
        model, lambda: predict_tags(model, tokenizer, [["Ada", "Lovelace"]], id2label)
    )
    model.seen.clear()
    pipeline = NerPipeline(model, tokenizer, id2label, max_length=32)
    assert inputs_followed_the_model(
        model, lambda: pipeline(["Ada Lovelace wrote programs."])
    )


def test_sentiment_pipeline(tokenizer):
    model = on_meta(BertForSequenceClassification, tokenizer, num_labels=2)
    pipeline = SentimentPipeline(
        model, tokenizer, {0: "negative", 1: "positive"}, max_length=32
    )
    assert inputs_followed_the_model(model, lambda: pipeline(["a fine film"]))


def test_sentence_vectors(tokenizer):
    from transformers import BertModel

    model = on_meta(BertModel, tokenizer)
    assert inputs_followed_the_model(
        model, lambda: encode(model, tokenizer, ["a fine film", "a bad one"])
    )


def test_masked_accuracy(tokenizer):
    model = on_meta(BertForMaskedLM, tokenizer)
    batch = {
        "input_ids": torch.tensor([[101, 103, 102]]),
        "attention_mask": torch.ones(1, 3, dtype=torch.long),
        "labels": torch.tensor([[-100, 7, -100]]),
    }
    assert inputs_followed_the_model(model, lambda: masked_accuracy(model, [batch]))
