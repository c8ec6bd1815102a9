"""Optimisers by name (``--optimizer``), built from the :class:`~swiftsampler.config.OptimConfig`.

The learning rate set here is only the starting value: the engine sets every group's LR each step from
the schedule (a function of budget progress).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import OptimConfig
from .registry import Registry

OPTIMIZERS: Registry[torch.optim.Optimizer] = Registry("optimizer")


@OPTIMIZERS.register("sgd")
def sgd(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """SGD with (Nesterov) momentum and L2 weight decay: the setting of Arazo et al. (2021)."""
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                           nesterov=cfg.nesterov and cfg.momentum > 0,
                           weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("adamw")
def adamw(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """AdamW (Loshchilov & Hutter 2019), betas (0.9, 0.95), decoupled weight decay on weight
    matrices and embeddings only (not on biases and norm gains): the usual GPT setting."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}],
                             lr=cfg.lr, betas=(0.9, 0.95))


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """The optimiser ``cfg.optimizer`` over ``model``'s parameters."""
    return OPTIMIZERS.get(cfg.optimizer).factory(model, cfg)
