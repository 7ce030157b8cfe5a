"""tutorialkit.attention: from-scratch attention checked against torch, transformers."""

import math

import pytest
import torch
import torch.nn.functional as F

from tutorialkit.attention import (
    EncoderBlock,
    FeedForward,
    MultiHeadAttention,
    causal_mask,
    from_bert_layer,
    merge_heads,
    scaled_dot_product_attention,
    sinusoidal_positions,
    split_heads,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def qkv(*shape, n_k=None, dtype=torch.float32, device="cpu", seed=0):
    """Random q (shape) and k, v with n_k keys."""
    g = torch.Generator().manual_seed(seed)
    *lead, n_q, d = shape
    n_k = n_q if n_k is None else n_k
    make = lambda *s: torch.randn(*s, generator=g, dtype=dtype).to(device)  # noqa: E731
    return make(*lead, n_q, d), make(*lead, n_k, d), make(*lead, n_k, d)


PADDING = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0]])


def torch_mask(padding=None, causal=False, n=7):
    """The boolean attn_mask of torch's scaled_dot_product_attention (True = may
    attend)."""
    mask = torch.ones(1, 1, n, n, dtype=torch.bool)
    if padding is not None:
        mask = mask & padding.bool()[:, None, None, :]
    if causal:
        mask = mask & torch.ones(n, n, dtype=torch.bool).tril()
    return mask


# causal_mask


def test_causal_mask_is_lower_triangular():
    assert causal_mask(3).int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert causal_mask(2, 4).shape == (2, 4) and causal_mask(2, 4).dtype == torch.bool
    # fewer queries than keys: the queries are the last positions (a KV cache), aligned
    # bottom-right
    assert causal_mask(2, 4).int().tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]
    with pytest.raises(ValueError, match="n_q=3 > n_k=2"):
        causal_mask(3, 2)


def test_causal_mask_with_fewer_queries_equals_torch_lower_right():
    from torch.nn.attention.bias import causal_lower_right

    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 9, 8), torch.randn(2, 3, 9, 8)
    ours, _ = scaled_dot_product_attention(q, k, v, causal=True)
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(5, 9))
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_causal_mask_is_made_on_the_requested_device():
    assert causal_mask(3, device="meta").device.type == "meta"


# scaled_dot_product_attention


@pytest.mark.parametrize("shape", [(5, 8), (2, 5, 8), (2, 3, 5, 8)])
def test_attention_shapes_and_rows_summing_to_one(shape):
    q, k, v = qkv(*shape, n_k=6)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (*shape[:-1], 8)
    assert weights.shape == (*shape[:-1], 6)
    assert torch.allclose(weights.sum(-1), torch.ones(shape[:-1]))
    assert (weights >= 0).all()


def test_attention_is_the_formula():
    q, k, v = qkv(2, 5, 8)
    expected = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1) @ v
    assert torch.allclose(scaled_dot_product_attention(q, k, v)[0], expected, atol=1e-6)


@pytest.mark.parametrize("padding", [None, PADDING], ids=["no-padding", "padding"])
@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
def test_attention_equals_torch_float32(padding, causal):
    q, k, v = qkv(2, 4, 7, 16)
    ours, _ = scaled_dot_product_attention(q, k, v, padding_mask=padding, causal=causal)
    theirs = F.scaled_dot_product_attention(
        q, k, v, attn_mask=torch_mask(padding, causal)
    )
    assert (ours - theirs).abs().max() <= 1e-6


@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
def test_attention_keeps_float64_and_equals_torch(causal):
    q, k, v = qkv(2, 4, 7, 16, dtype=torch.float64)
    ours, weights = scaled_dot_product_attention(
        q, k, v, padding_mask=PADDING, causal=causal
    )
    theirs = F.scaled_dot_product_attention(
        q, k, v, attn_mask=torch_mask(PADDING, causal)
    )
    assert ours.dtype == weights.dtype == torch.float64
    assert (ours - theirs).abs().max() <= 1e-12


def test_cross_attention_with_different_lengths_equals_torch():
    q, k, v = qkv(2, 4, 3, 16, n_k=9)
    padding = torch.tensor([[1] * 9, [1] * 5 + [0] * 4])
    ours, weights = scaled_dot_product_attention(q, k, v, padding_mask=padding)
    theirs = F.scaled_dot_product_attention(
        q, k, v, attn_mask=padding.bool()[:, None, None, :]
    )
    assert weights.shape == (2, 4, 3, 9)
    assert (ours - theirs).abs().max() <= 1e-6


def test_causal_attention_ignores_the_future():
    q, k, v = qkv(1, 6, 8)
    out, weights = scaled_dot_product_attention(q, k, v, causal=True)
    assert (weights[0].triu(diagonal=1) == 0).all()
    k2, v2 = k.clone(), v.clone()
    k2[:, 4], v2[:, 4] = 100.0, -100.0  # change token 4
    out2, _ = scaled_dot_product_attention(q, k2, v2, causal=True)
    assert torch.equal(out[:, :4], out2[:, :4])  # positions 0..3 cannot see it
    assert not torch.allclose(out[:, 4:], out2[:, 4:])


def test_padding_keys_get_zero_weight_and_do_not_matter():
    q, k, v = qkv(2, 7, 8)
    out, weights = scaled_dot_product_attention(q, k, v, padding_mask=PADDING)
    assert (weights[1, :, 4:] == 0).all()
    k2, v2 = k.clone(), v.clone()
    k2[1, 4:], v2[1, 4:] = 50.0, 50.0
    assert torch.equal(
        out, scaled_dot_product_attention(q, k2, v2, padding_mask=PADDING)[0]
    )


def test_a_query_that_sees_no_key_gets_finite_output():
    q, k, v = qkv(1, 3, 4)
    out, weights = scaled_dot_product_attention(q, k, v, padding_mask=torch.zeros(1, 3))
    assert torch.isfinite(out).all() and torch.allclose(
        weights, torch.full_like(weights, 1 / 3)
    )


@pytest.mark.parametrize("device", DEVICES)
def test_attention_runs_on_the_inputs_device(device):
    q, k, v = qkv(2, 4, 7, 16, device=device)
    out, weights = scaled_dot_product_attention(
        q, k, v, padding_mask=PADDING.to(device), causal=True
    )
    assert out.device.type == weights.device.type == device


def test_attention_on_the_meta_device_makes_no_cpu_tensors():
    q, k, v = (torch.empty(2, 4, 7, 16, device="meta") for _ in range(3))
    out, _ = scaled_dot_product_attention(
        q, k, v, padding_mask=torch.ones(2, 7, device="meta"), causal=True
    )
    assert out.device.type == "meta" and out.shape == (2, 4, 7, 16)


@pytest.mark.parametrize(
    "call, error, message",
    [
        pytest.param(
            lambda q, k, v: scaled_dot_product_attention(q, k[..., :4], v),
            ValueError,
            r"k: expected shape \(2, \*, 8\).*found \(2, 5, 4\)",
            id="k-width",
        ),
        pytest.param(
            lambda q, k, v: scaled_dot_product_attention(q, k, v[:, :3]),
            ValueError,
            r"v: expected shape \(2, 5, \*\).*found \(2, 3, 8\)",
            id="v-length",
        ),
        pytest.param(
            lambda q, k, v: scaled_dot_product_attention(q, k[:1], v[:1]),
            ValueError,
            r"k: expected shape \(2, \*, 8\).*found \(1, 5, 8\)",
            id="k-batch",
        ),
        pytest.param(
            lambda q, k, v: scaled_dot_product_attention(
                q, k, v, padding_mask=torch.ones(2, 4)
            ),
            ValueError,
            r"padding_mask: expected shape \(2, 5\).*found \(2, 4\)",
            id="padding-mask-length",
        ),
        pytest.param(
            lambda q, k, v: scaled_dot_product_attention(q, k[0], v[0]),
            ValueError,
            "equal rank",
            id="k-rank",
        ),
        pytest.param(
            lambda q, k, v: scaled_dot_product_attention(
                q[0], k[0], v[0], padding_mask=torch.ones(1, 5)
            ),
            ValueError,
            "batch dimension",
            id="padding-mask-without-batch",
        ),
        pytest.param(
            lambda q, k, v: scaled_dot_product_attention(q, k.double(), v),
            TypeError,
            "one dtype",
            id="k-dtype",
        ),
    ],
)
def test_attention_errors_name_expected_and_found_shapes(call, error, message):
    """``call(q, k, v)`` attends with one of them spoilt, or with a bad padding mask."""
    with pytest.raises(error, match=message):
        call(*qkv(2, 5, 8))


# split_heads, merge_heads


def test_split_and_merge_heads_are_inverse_and_slice_features_per_head():
    x = torch.arange(2 * 5 * 12, dtype=torch.float32).reshape(2, 5, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    assert torch.equal(heads[:, 1], x[..., 4:8])  # head 1 holds features 4..7
    assert torch.equal(merge_heads(heads), x)


def test_split_and_merge_heads_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"divisible by h=5, found \(2, 5, 12\)"):
        split_heads(torch.zeros(2, 5, 12), 5)
    with pytest.raises(
        ValueError, match=r"expected \(batch, h, n, d_k\), found \(5, 12\)"
    ):
        merge_heads(torch.zeros(5, 12))


# MultiHeadAttention


def torch_mha(ours: MultiHeadAttention) -> torch.nn.MultiheadAttention:
    """torch's own multi-head attention holding our weights."""
    theirs = torch.nn.MultiheadAttention(ours.d_model, ours.h, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(
            torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight])
        )
        theirs.in_proj_bias.copy_(
            torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias])
        )
        theirs.out_proj.load_state_dict(ours.w_o.state_dict())
    return theirs.eval()


@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
def test_multi_head_attention_equals_torch(causal):
    torch.manual_seed(0)
    mha = MultiHeadAttention(32, 4).eval()
    x = torch.randn(2, 7, 32)
    with torch.no_grad():
        out, weights = mha(x, padding_mask=PADDING, causal=causal)
        mask = ~causal_mask(7) if causal else None  # torch: True = may NOT attend
        ref, ref_weights = torch_mha(mha)(
            x,
            x,
            x,
            key_padding_mask=~PADDING.bool(),
            attn_mask=mask,
            average_attn_weights=False,
        )
    assert out.shape == (2, 7, 32) and weights.shape == (2, 4, 7, 7)
    assert (out - ref).abs().max() <= 1e-6
    assert (weights - ref_weights).abs().max() <= 1e-6


def test_multi_head_cross_attention_reads_the_memory():
    torch.manual_seed(0)
    mha = MultiHeadAttention(32, 4).eval()
    x, memory = torch.randn(2, 3, 32), torch.randn(2, 9, 32)
    with torch.no_grad():
        out, weights = mha(x, memory)
        ref, _ = torch_mha(mha)(x, memory, memory)
    assert out.shape == (2, 3, 32) and weights.shape == (2, 4, 3, 9)
    assert (out - ref).abs().max() <= 1e-6


def test_multi_head_attention_in_float64():
    mha = MultiHeadAttention(16, 2).double()
    out, weights = mha(torch.randn(1, 4, 16, dtype=torch.float64))
    assert out.dtype == weights.dtype == torch.float64


def test_multi_head_attention_parameters():
    mha = MultiHeadAttention(384, 12)
    assert mha.d_k == 32
    assert sum(p.numel() for p in mha.parameters()) == 4 * 384 * 384 + 4 * 384


@pytest.mark.parametrize(
    "call, message",
    [
        pytest.param(
            lambda mha: MultiHeadAttention(384, 5),
            "divisible by the number of heads h=5",
            id="heads",
        ),
        pytest.param(
            lambda mha: mha(torch.randn(2, 5, 100)),
            r"x: expected shape \(\*, \*, 384\).*found \(2, 5, 100\)",
            id="x-width",
        ),
        pytest.param(
            lambda mha: mha(torch.randn(2, 5, 384), torch.randn(3, 5, 384)),
            r"memory: expected shape \(2, \*, 384\).*found \(3, 5, 384\)",
            id="memory-batch",
        ),
    ],
)
def test_multi_head_attention_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(MultiHeadAttention(384, 12))


# sinusoidal_positions


def test_sinusoidal_positions_values():
    pe = sinusoidal_positions(50, 8)
    assert pe.shape == (50, 8) and pe.dtype == torch.float32
    assert pe[0].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    # position 3, pair i = 1: frequency 10000^(-2/8) = 0.1
    assert pe[3, 2].item() == pytest.approx(math.sin(0.3)) and pe[
        3, 3
    ].item() == pytest.approx(math.cos(0.3))
    assert pe.abs().max() <= 1.0


def test_sinusoidal_dot_products_depend_only_on_the_offset():
    pe = sinusoidal_positions(64, 16, dtype=torch.float64)
    gram = pe @ pe.T
    assert torch.allclose(gram[3, 10], gram[20, 27]) and torch.allclose(
        gram[10, 3], gram[3, 10]
    )


def test_sinusoidal_positions_dtype_device_and_errors():
    assert sinusoidal_positions(4, 6, dtype=torch.float64).dtype == torch.float64
    assert sinusoidal_positions(4, 6, device="meta").device.type == "meta"
    with pytest.raises(ValueError, match="even d > 0.*d=7"):
        sinusoidal_positions(4, 7)


# FeedForward, EncoderBlock


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_feed_forward_is_the_formula(activation):
    ffn = FeedForward(8, 32, activation=activation)
    x = torch.randn(2, 3, 8)
    act = F.gelu if activation == "gelu" else F.relu
    expected = (
        act(x @ ffn.w_1.weight.T + ffn.w_1.bias) @ ffn.w_2.weight.T + ffn.w_2.bias
    )
    assert torch.allclose(ffn(x), expected, atol=1e-6)
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        FeedForward(8, 32, activation="tanh")


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_encoder_block_equals_torch_transformer_encoder_layer(activation):
    torch.manual_seed(0)
    ours = EncoderBlock(32, 4, 64, activation=activation).eval()
    theirs = torch.nn.TransformerEncoderLayer(
        32, 4, 64, dropout=0.0, activation=activation, batch_first=True
    ).eval()
    with torch.no_grad():
        a = theirs.self_attn
        a.in_proj_weight.copy_(
            torch.cat(
                [
                    ours.attention.w_q.weight,
                    ours.attention.w_k.weight,
                    ours.attention.w_v.weight,
                ]
            )
        )
        a.in_proj_bias.copy_(
            torch.cat(
                [
                    ours.attention.w_q.bias,
                    ours.attention.w_k.bias,
                    ours.attention.w_v.bias,
                ]
            )
        )
        a.out_proj.load_state_dict(ours.attention.w_o.state_dict())
        theirs.linear1.load_state_dict(ours.ffn.w_1.state_dict())
        theirs.linear2.load_state_dict(ours.ffn.w_2.state_dict())
        theirs.norm1.load_state_dict(ours.norm_1.state_dict())
        theirs.norm2.load_state_dict(ours.norm_2.state_dict())
        x = torch.randn(2, 7, 32)
        out, weights = ours(x, padding_mask=PADDING)
        ref = theirs(x, src_key_padding_mask=~PADDING.bool())
    assert weights.shape == (2, 4, 7, 7)
    # torch may zero the padded rows
    assert (out - ref)[PADDING.bool()].abs().max() <= 1e-5


def test_encoder_block_dropout_only_in_training():
    torch.manual_seed(0)
    block = EncoderBlock(16, 2, 32, dropout=0.5)
    x = torch.randn(1, 5, 16)
    block.eval()
    assert torch.equal(block(x)[0], block(x)[0])
    block.train()
    assert not torch.equal(block(x)[0], block(x)[0])


def test_encoder_block_padding_and_causality():
    torch.manual_seed(0)
    block = EncoderBlock(16, 2, 32).eval()
    x = torch.randn(2, 7, 16)
    x2 = x.clone()
    x2[1, 4:] = 9.0  # change only the padding of sequence 1
    with torch.no_grad():
        assert torch.allclose(
            block(x, padding_mask=PADDING)[0][1, :4],
            block(x2, padding_mask=PADDING)[0][1, :4],
        )
        x3 = x.clone()
        x3[:, 5] = 9.0  # change a future token
        assert torch.equal(
            block(x, causal=True)[0][:, :5], block(x3, causal=True)[0][:, :5]
        )
        assert not torch.allclose(block(x)[0][:, :5], block(x3)[0][:, :5])


# from_bert_layer


@pytest.fixture(scope="module")
def tiny_bert(make_bert_config):
    """A randomly initialised 2-layer BERT with 4 heads (no download), and its outputs
    on a padded batch."""
    from transformers import BertModel

    torch.manual_seed(0)
    config = make_bert_config(
        vocab_size=100,
        num_attention_heads=4,
        max_position_embeddings=16,
        layer_norm_eps=1e-12,
    )
    model = BertModel(config, add_pooling_layer=False).eval()
    ids = torch.randint(5, 100, (2, 7))
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=PADDING, output_hidden_states=True)
    return model, out


def test_from_bert_layer_reproduces_every_layer(tiny_bert):
    model, out = tiny_bert
    real = PADDING.bool()
    for i, layer in enumerate(model.encoder.layer):
        block = from_bert_layer(layer)
        assert (
            not block.training and block.norm_2.eps == 1e-12 and block.attention.h == 4
        )
        with torch.no_grad():
            ours, _ = block(out.hidden_states[i], padding_mask=PADDING)
        assert (ours - out.hidden_states[i + 1])[real].abs().max() <= 1e-5


def test_from_bert_layer_follows_dtype(tiny_bert):
    model, _ = tiny_bert
    block = from_bert_layer(model.encoder.layer[0].double())
    model.encoder.layer[0].float()
    assert block.attention.w_q.weight.dtype == torch.float64
    assert torch.equal(
        block.attention.w_q.weight.float(),
        model.encoder.layer[0].attention.self.query.weight,
    )


def test_a_boolean_mask_hides_exactly_its_keys_and_combines_with_causal():
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=generator) for _ in range(3))
    segment = torch.tensor([0, 0, 1, 1, 1])
    same = segment[:, None] == segment[None, :]  # two examples packed in one row
    _, weights = scaled_dot_product_attention(q, k, v, causal=True, mask=same)
    assert torch.all(
        weights[..., ~(same & torch.ones(5, 5, dtype=torch.bool).tril())] == 0
    )
    # each block equals attention over that example alone
    alone, _ = scaled_dot_product_attention(
        q[..., 2:, :], k[..., 2:, :], v[..., 2:, :], causal=True
    )
    together, _ = scaled_dot_product_attention(q, k, v, causal=True, mask=same)
    assert torch.allclose(together[..., 2:, :], alone, atol=1e-6)
