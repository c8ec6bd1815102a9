"""Tests of the gpt-tiny language model (swiftsampler.models.gpt)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from swiftsampler.data.text import build_tokenizer, sequences
from swiftsampler.errors import ConfigError
from swiftsampler.models import MODELS, create_model
from swiftsampler.models.gpt import GPT


def _build(num_classes: int = 256, max_len: int = 128, seed: int = 0, **kwargs) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return create_model("gpt-tiny", num_classes, (max_len,), **kwargs)


def _tokens(batch: int, length: int, vocab: int = 256, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_registry_metadata():
    entry = MODELS.get("gpt-tiny")
    assert entry.meta == {"inputs": "tokens", "width": 128}
    assert entry.summary


def test_output_shape_dtype_and_features():
    model = _build().eval()
    tokens = _tokens(3, 128)
    with torch.no_grad():
        logits = model(tokens)
        feats = model.forward_features(tokens)
        assert logits.shape == (3, 128, 256) and logits.dtype == torch.float32
        assert feats.shape == (3, 128, 128) == (3, 128, model.feature_dim)
        torch.testing.assert_close(model.head(feats), logits, rtol=0, atol=0)
        assert model(tokens[:, :10]).shape == (3, 10, 256)  # shorter sequences are fine
    with pytest.raises(ConfigError, match="exceeds the position table"):
        model(_tokens(1, 129))


def test_causality():
    model = _build(max_len=16).eval()
    tokens = _tokens(2, 16)
    t = 6
    later = tokens.clone()
    later[:, t + 1 :] = (later[:, t + 1 :] + 1) % 256  # change every token after t
    now = tokens.clone()
    now[:, t] = (now[:, t] + 1) % 256  # change token t only
    with torch.no_grad():
        base, out_later, out_now = model(tokens), model(later), model(now)
    torch.testing.assert_close(out_later[:, : t + 1], base[:, : t + 1], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out_later[:, t + 1 :], base[:, t + 1 :])
    torch.testing.assert_close(out_now[:, :t], base[:, :t], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out_now[:, t], base[:, t])
    assert not torch.allclose(out_now[:, t + 1 :], base[:, t + 1 :])


def test_head_is_tied_to_the_token_embedding():
    model = _build()
    assert model.head.weight is model.tok_emb.weight
    assert model.head.bias is None
    names = [n for n, _ in model.named_parameters()]
    assert "tok_emb.weight" in names and "head.weight" not in names  # counted once
    model(_tokens(2, 8)).sum().backward()
    assert model.tok_emb.weight.grad is not None


def test_initialisation():
    model = _build(seed=0)
    assert abs(model.tok_emb.weight.std().item() - 0.02) < 0.002
    assert abs(model.blocks[0].attn.qkv.weight.std().item() - 0.02) < 0.002
    residual_std = 0.02 / math.sqrt(2 * 2)  # GPT-2 scaled init, n_layer = 2
    for block in model.blocks:
        for proj in (block.attn.proj, block.mlp.proj):
            assert abs(proj.weight.std().item() - residual_std) < 0.1 * residual_std
            assert not proj.bias.any()
    assert not model.blocks[0].mlp.fc.bias.any()


def test_same_seed_gives_identical_weights():
    a, b, c = _build(seed=3).state_dict(), _build(seed=3).state_dict(), _build(seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_width_must_be_divisible_by_heads():
    with pytest.raises(ConfigError, match="divisible"):
        create_model("gpt-tiny", 256, (16,), width=30)  # 4 heads
    assert create_model("gpt-tiny", 256, (16,), width=32).feature_dim == 32
    with pytest.raises(ConfigError, match=r"tokens inputs of shape \(T,\)"):
        create_model("gpt-tiny", 256, (1, 16))
    with pytest.raises(ConfigError, match="dropout"):
        GPT(256, (16,), dropout=1.0)


def test_parameter_count_of_gpt_tiny():
    V, T, D, L = 256, 128, 128, 2
    embeddings = V * D + T * D  # token + position tables; the head reuses the token table
    attention = D * 3 * D + 3 * D + D * D + D  # fused q/k/v and output projection, with biases
    mlp = D * 4 * D + 4 * D + 4 * D * D + D  # D -> 4D -> D, with biases
    layer_norms = 2 * (2 * D)  # two LayerNorms per block, weight and bias each
    block = attention + mlp + layer_norms  # = 12 D^2 + 13 D
    expected = embeddings + L * block + 2 * D  # + the final LayerNorm
    assert block == 12 * D * D + 13 * D == 198_272
    assert expected == 445_952
    model = create_model("gpt-tiny", 256, (128,))
    assert sum(p.numel() for p in model.parameters()) == expected


def test_training_on_repeating_text_drives_the_loss_far_below_log_vocab():
    text = "the quick brown fox jumps over the lazy dog. " * 40
    tok = build_tokenizer("byte", text)
    x, y = sequences(tok.encode(text), 16)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small only loses time to threading (and on a busy machine)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = create_model("gpt-tiny", tok.vocab_size, (16,), width=32)
            optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
            gen = torch.Generator().manual_seed(0)
            model.train()
            for _ in range(200):
                idx = torch.randint(0, len(x), (8,), generator=gen)
                loss = F.cross_entropy(model(x[idx]).flatten(0, 1), y[idx].flatten())
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        model.eval()
        with torch.no_grad():
            final = F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()
    finally:
        torch.set_num_threads(threads)
    assert final < 0.1 * math.log(tok.vocab_size), final  # log(256) = 5.55; reaches about 0.1
