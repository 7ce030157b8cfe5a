"""tutorialkit.pretrain: character vocabulary and tokenizer, MLM batches, a tiny BERT.

The tiny BERT learns the masked characters; MaskedPositionsMLM gives BertForMaskedLM's
loss and gradients.
"""

import pytest
import torch

from tutorialkit.conll import TaggedSentence
from tutorialkit.losses import IGNORE_INDEX
from tutorialkit.ner import encode_sentences, label_maps
from tutorialkit.pretrain import (
    SPECIAL_TOKENS,
    MaskedLMCollator,
    MaskedPositionsMLM,
    build_vocab,
    char_tokenizer,
    masked_accuracy,
    mlm_blocks,
    tiny_bert_config,
    unknown_rate,
    unknown_words,
)

TEXTS = ["人民日报社论", "人民代表大会", "北京人民广播电台", "上海人民"]


@pytest.fixture(scope="module")
def chinese_tokenizer(tmp_path_factory):
    """A character tokenizer of the TEXTS' characters (not the MiniLM one)."""
    return char_tokenizer(
        build_vocab(TEXTS, min_count=1), tmp_path_factory.mktemp("zh")
    )


def test_vocab_has_the_specials_first_and_respects_the_threshold():
    vocab = build_vocab(TEXTS, min_count=2)
    assert tuple(vocab[:5]) == SPECIAL_TOKENS
    # 人 (4x) and 民 (4x) first, then the characters seen exactly twice: none else is
    assert vocab[5:] == ["人", "民"]
    assert set(build_vocab(TEXTS, min_count=1)[5:]) == set("".join(TEXTS))
    assert " " not in build_vocab(["人 民 人 民"], min_count=1)
    with pytest.raises(ValueError, match="min_count"):
        build_vocab(TEXTS, min_count=0)


def test_tokenizer_splits_chinese_into_characters_and_maps_unseen_ones_to_unk(
    chinese_tokenizer, tmp_path
):
    assert chinese_tokenizer.is_fast
    assert chinese_tokenizer.tokenize("人民日报") == ["人", "民", "日", "报"]
    ids = chinese_tokenizer("北京的人民")["input_ids"]
    assert chinese_tokenizer.convert_ids_to_tokens(ids) == [
        "[CLS]",
        "北",
        "京",
        "[UNK]",
        "人",
        "民",
        "[SEP]",
    ]
    assert [chinese_tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert (
        chinese_tokenizer.pad_token_id,
        chinese_tokenizer.unk_token_id,
        chinese_tokenizer.mask_token_id,
    ) == (0, 1, 4)
    assert unknown_words(chinese_tokenizer, [list("人的民")]) == [[False, True, False]]
    assert unknown_rate(chinese_tokenizer, [list("人的"), list("民民")]) == 0.25
    with pytest.raises(ValueError, match="must start with"):
        char_tokenizer(["人", *SPECIAL_TOKENS], tmp_path)


def test_saved_tokenizer_loads_with_autotokenizer(chinese_tokenizer, tmp_path):
    from transformers import AutoTokenizer

    char_tokenizer(build_vocab(TEXTS, min_count=1), tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("人民日报")["input_ids"] == chinese_tokenizer("人民日报")["input_ids"]


def test_word_ids_align_one_position_per_character(chinese_tokenizer):
    # a full-width letter, never seen: one [UNK] position, still its own word
    words = list("上海人民Ａ")
    encoding = chinese_tokenizer(words, is_split_into_words=True)
    assert encoding.word_ids() == [None, 0, 1, 2, 3, 4, None]
    sentence = TaggedSentence(words, ["B-LOC", "I-LOC", "O", "O", "O"])
    label2id, _ = label_maps([sentence])
    [window] = encode_sentences([sentence], chinese_tokenizer, label2id, max_length=32)
    assert window.labels == (IGNORE_INDEX, 1, 2, 0, 0, 0, IGNORE_INDEX)


def test_blocks_pack_the_characters_between_cls_and_sep(chinese_tokenizer):
    blocks = mlm_blocks(
        [list("人民日报"), list("上海")], chinese_tokenizer, block_size=5
    )
    assert [len(b) for b in blocks] == [5, 5]
    assert [chinese_tokenizer.convert_ids_to_tokens(b) for b in blocks] == [
        ["[CLS]", "人", "民", "日", "[SEP]"],
        ["[CLS]", "报", "上", "海", "[SEP]"],
    ]
    with pytest.raises(ValueError, match="block_size"):
        mlm_blocks([list("人民")], chinese_tokenizer, block_size=2)


def test_mlm_batches_mask_only_real_characters_with_minus_100_elsewhere(
    chinese_tokenizer,
):
    blocks = mlm_blocks(
        [list("人民日报社论人民代表大会北京人民广播电台") * 20],
        chinese_tokenizer,
        block_size=32,
    )
    collate = MaskedLMCollator(
        chinese_tokenizer, generator=torch.Generator().manual_seed(0)
    )
    original = [torch.tensor(b) for b in blocks]
    batch = collate(blocks)
    longest = max(len(b) for b in blocks)
    assert (
        batch["input_ids"].shape
        == batch["labels"].shape
        == batch["attention_mask"].shape
        == (len(blocks), longest)
    )
    ids = torch.full_like(batch["labels"], chinese_tokenizer.pad_token_id)
    for row, block in enumerate(original):
        ids[row, : len(block)] = block
    special = torch.isin(ids, torch.tensor(chinese_tokenizer.all_special_ids))
    chosen = batch["labels"] != IGNORE_INDEX
    assert not (chosen & special).any()  # [CLS], [SEP], [PAD] never chosen
    # labels are the original characters
    assert (batch["labels"][chosen] == ids[chosen]).all()
    # the rest is left as it was
    assert (batch["input_ids"][~chosen] == ids[~chosen]).all()
    assert (
        batch["attention_mask"] == (ids != chinese_tokenizer.pad_token_id).long()
    ).all()
    share = chosen.sum() / (~special).sum()
    assert 0.08 < share < 0.22  # about 15% of the real characters
    masked = (batch["input_ids"] == chinese_tokenizer.mask_token_id) & chosen
    # most chosen ones are [MASK] (80% expected)
    assert masked.sum() > 0.6 * chosen.sum()


def test_a_tiny_bert_learns_the_masked_characters(chinese_tokenizer):
    from transformers import BertForMaskedLM

    from tutorialkit.train import TrainConfig, train

    torch.manual_seed(0)
    config = tiny_bert_config(
        chinese_tokenizer, layers=1, hidden=32, heads=2, max_length=16, dropout=0.0
    )
    assert (config.vocab_size, config.intermediate_size, config.pad_token_id) == (
        len(chinese_tokenizer),
        128,
        0,
    )
    model = BertForMaskedLM(config)
    blocks = mlm_blocks([list("".join(TEXTS)) * 10], chinese_tokenizer, block_size=16)
    fixed = [
        MaskedLMCollator(
            chinese_tokenizer,
            mlm_probability=0.3,
            generator=torch.Generator().manual_seed(1),
        )(blocks)
    ]
    before = masked_accuracy(model, fixed)
    # drop_last: a short last batch may have no chosen position, and a mean over no
    # position is nan
    loader = torch.utils.data.DataLoader(
        blocks,
        batch_size=8,
        shuffle=True,
        collate_fn=MaskedLMCollator(chinese_tokenizer),
        generator=torch.Generator().manual_seed(0),
        drop_last=True,
    )
    history = train(
        model,
        loader,
        TrainConfig(lr=5e-3, max_steps=30, warmup=0, progress=False, device="cpu"),
    )
    after = masked_accuracy(model, fixed)
    assert history.train[-1]["loss"] < history.train[0]["loss"]
    assert after["mlm_loss"] < before["mlm_loss"] - 0.5
    assert after["mlm_accuracy"] > before["mlm_accuracy"]
    with pytest.raises(ValueError, match="no masked position"):
        masked_accuracy(
            model,
            [{**fixed[0], "labels": torch.full_like(fixed[0]["labels"], IGNORE_INDEX)}],
        )
    with pytest.raises(ValueError, match="multiple of heads"):
        tiny_bert_config(chinese_tokenizer, hidden=30, heads=4)


def test_masked_positions_mlm_has_bert_for_masked_lm_loss_and_gradients(
    chinese_tokenizer, tmp_path
):
    from transformers import BertForMaskedLM

    config = tiny_bert_config(
        chinese_tokenizer, layers=2, hidden=32, heads=2, max_length=16, dropout=0.0
    )
    torch.manual_seed(0)
    plain = BertForMaskedLM(config)
    scored_only = MaskedPositionsMLM(config)
    scored_only.load_state_dict(plain.state_dict())
    blocks = mlm_blocks([list("".join(TEXTS)) * 4], chinese_tokenizer, block_size=16)
    batch = MaskedLMCollator(
        chinese_tokenizer, generator=torch.Generator().manual_seed(0)
    )(blocks)
    scored = batch["labels"] != IGNORE_INDEX
    assert 0 < scored.sum() < scored.numel()  # some positions, not all
    outputs = [model(**batch) for model in (plain, scored_only)]
    for output in outputs:
        output.loss.backward()
    torch.testing.assert_close(outputs[1].loss, outputs[0].loss)
    # one row of logits per scored position, the rows of the full logits
    torch.testing.assert_close(outputs[1].logits, outputs[0].logits[scored])
    grads = [dict(m.named_parameters()) for m in (plain, scored_only)]
    for name, p in grads[0].items():
        torch.testing.assert_close(grads[1][name].grad, p.grad, msg=name)
    # without labels: every position, as BertForMaskedLM
    torch.testing.assert_close(
        scored_only(input_ids=batch["input_ids"]).logits,
        plain(input_ids=batch["input_ids"]).logits,
    )
    scored_only.save_pretrained(tmp_path)
    reloaded = BertForMaskedLM.from_pretrained(tmp_path)
    torch.testing.assert_close(reloaded.state_dict(), plain.state_dict())
