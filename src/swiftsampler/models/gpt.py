"""``gpt-tiny``: a small decoder-only transformer language model (GPT-2 style) for token inputs ``(T,)``.

Architecture (``D`` = width = embedding size, ``V`` = vocabulary = ``num_classes``, ``T_max`` = the
dataset's sequence length = ``input_shape[0]``)::

    tokens (B, T) -> token embedding (V, D) + learned position embedding (T_max, D) -> dropout
    -> n_layer pre-LayerNorm blocks:
           x = x + Proj(CausalSelfAttention(LayerNorm(x)))        n_head heads of size D / n_head
           x = x + Proj(GELU(Linear_{D->4D}(LayerNorm(x))))
    -> LayerNorm -> features (B, T, D) -> head: Linear(D, V, no bias), weight tied to the token embedding
    -> logits (B, T, V)

Attention is :func:`torch.nn.functional.scaled_dot_product_attention` with ``is_causal=True``: position
``t`` sees positions ``<= t`` only. Defaults of ``gpt-tiny``: 2 layers, 4 heads, ``D = 128``, dropout 0.

Initialisation (GPT-2, Radford et al., "Language Models are Unsupervised Multitask Learners", 2019):
every linear and embedding weight ~ N(0, 0.02^2), biases zero, LayerNorms at (1, 0); the two residual
projections of every block (the attention output projection and the second MLP linear) instead use
std ``0.02 / sqrt(2 * n_layer)``, so that the variance added to the residual stream by the
``2 * n_layer`` residual branches does not grow with depth.

The model is not a :class:`~swiftsampler.models.base.Classifier` (its logits are 3-D), but it offers
the same parts: ``forward_features(tokens)`` gives ``(B, T, D)`` and ``head`` is the final linear layer,
so ``model(tokens) == model.head(model.forward_features(tokens))``. Written for swiftsampler in the
spirit of Karpathy's nanoGPT.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from .base import MODELS, resolve_width

DEFAULT_WIDTH = 128
DEFAULT_LAYERS = 2
DEFAULT_HEADS = 4
INIT_STD = 0.02


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: one fused q/k/v projection, SDPA, output projection."""

    def __init__(self, width: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.dropout = dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)  # residual projection
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        # (B, T, 3D) -> three (B, H, T, D/H)
        q, k, v = self.qkv(x).view(b, t, 3, self.n_head, d // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(b, t, d)))


class MLP(nn.Module):
    """``Linear(D, 4D) -> GELU -> Linear(4D, D) -> dropout``."""

    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.fc = nn.Linear(width, 4 * width)
        self.act = nn.GELU()
        self.proj = nn.Linear(4 * width, width)  # residual projection
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(self.act(self.fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``."""

    def __init__(self, width: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, n_head, dropout)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = MLP(width, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Decoder-only transformer: ``forward(tokens (B, T) int64) -> logits (B, T, num_classes)``.

    ``num_classes`` is the vocabulary size and ``input_shape = (T_max,)`` the longest sequence (the size
    of the position table); shorter sequences are fine. ``width`` must be divisible by ``n_head``.
    """

    def __init__(self, num_classes: int, input_shape: tuple[int, ...], width: int = DEFAULT_WIDTH,
                 n_layer: int = DEFAULT_LAYERS, n_head: int = DEFAULT_HEADS, dropout: float = 0.0) -> None:
        super().__init__()
        if len(input_shape) != 1:
            raise ConfigError(f"gpt needs token inputs of shape (T,), got {tuple(input_shape)}")
        for name, value in (("width", width), ("n_layer", n_layer), ("n_head", n_head)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"gpt needs a positive integer {name}, got {value!r}")
        if width % n_head:
            raise ConfigError(f"gpt needs a width divisible by the number of heads ({n_head}), "
                              f"got {width}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ConfigError(f"gpt needs a dropout in [0, 1), got {dropout!r}")
        self.num_classes = num_classes
        self.input_shape = tuple(input_shape)
        self.max_len = input_shape[0]
        self.n_layer, self.n_head, self.width = n_layer, n_head, width
        self.tok_emb = nn.Embedding(num_classes, width)
        self.pos_emb = nn.Embedding(self.max_len, width)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(width, n_head, float(dropout)) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_classes, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying
        self._init_weights()

    def _init_weights(self) -> None:
        residual_std = INIT_STD / math.sqrt(2 * self.n_layer)
        for module in self.modules():
            if module is self.head:  # tied: initialised as the token embedding
                continue
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.blocks:
            for proj in (block.attn.proj, block.mlp.proj):
                nn.init.normal_(proj.weight, mean=0.0, std=residual_std)

    @property
    def feature_dim(self) -> int:
        """Size ``D`` of the features returned by :meth:`forward_features` (the width)."""
        return self.width

    def forward_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """Final-LayerNorm features ``(B, T, D)`` of token ids ``(B, T)``."""
        if tokens.dim() != 2:
            raise ConfigError(f"gpt needs token ids of shape (B, T), got {tuple(tokens.shape)}")
        t = tokens.shape[1]
        if t > self.max_len:
            raise ConfigError(f"gpt: sequence length {t} exceeds the position table ({self.max_len})")
        positions = torch.arange(t, device=tokens.device)
        x = self.dropout(self.tok_emb(tokens) + self.pos_emb(positions))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``(B, T, num_classes)``."""
        return self.head(self.forward_features(tokens))


@MODELS.register("gpt-tiny", inputs="tokens", width=DEFAULT_WIDTH)
def gpt_tiny(num_classes: int, input_shape: tuple[int, ...], *, width: int | None = None) -> GPT:
    """Small GPT language model for token sequences (T,): 2 pre-LN blocks, 4 heads, width 128, tied head."""
    return GPT(num_classes, input_shape, resolve_width(width, DEFAULT_WIDTH))
