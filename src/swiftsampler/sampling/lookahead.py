"""The look-ahead gradient of learning to reweight (L2RW; Ren et al., ICML 2018), with ``torch.func``.

For a training batch with per-sample losses ``l_i(theta)`` and per-sample perturbations ``eps_i``,
one look-ahead SGD step gives ``theta'(eps) = theta - lr * grad_theta sum_i eps_i l_i(theta)``; the
clean batch's mean loss after it is ``L_clean(theta'(eps))``. :func:`lookahead_gradient` returns
``d L_clean / d eps`` at ``eps = 0`` (B,): a sample whose gradient agrees with the clean batch's gets a
negative value (up-weighting it would lower the clean loss), one whose gradient opposes it a positive
value. Ren et al.'s weights are ``w_i = max(-g_i, 0) / sum_j max(-g_j, 0)``
(:class:`~swiftsampler.samplers.L2RWSampler`); at ``eps = 0`` the value is
``-lr * <grad l_i(theta), grad L_clean(theta)>``, the alignment of each sample with the clean batch.

Cost: a forward and a backward pass of the batch (the look-ahead gradient, with its graph), a forward
of the clean batch, and a backward pass through both (the meta-gradient): the core charges ``B + M``
forward and ``B + M`` backward samples. The model's own parameters and buffers are not changed (the
look-ahead runs on copies of the buffers, so BatchNorm's running statistics are not updated twice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad

__all__ = ["batch_size_of", "lookahead_gradient"]

LossFn = Callable[[Any], Tensor]


def lookahead_gradient(model: nn.Module, losses_of: LossFn, clean_loss_of: LossFn, inputs: Any,
                       clean_inputs: Any, lr: float) -> Tensor:
    """``d L_clean(theta - lr grad sum_i eps_i l_i) / d eps`` at ``eps = 0``.

    Args:
        model: the network (its parameters are theta; it is called functionally, not changed).
        losses_of: model outputs of ``inputs`` -> per-sample losses (B,).
        clean_loss_of: model outputs of ``clean_inputs`` -> the clean batch's scalar mean loss.
        inputs: the training batch (a tensor, or what the model takes).
        clean_inputs: the clean batch, from the validation split.
        lr: the step size of the look-ahead (the learning rate of the real step).

    Returns:
        (B,) the gradient with respect to each sample's perturbation, without a graph.
    """
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}

    # the buffers are arguments, not captured: BatchNorm updates them in place (on the copies)
    def weighted_loss(theta: dict[str, Tensor], eps: Tensor, state: dict[str, Tensor]) -> Tensor:
        return (eps * losses_of(functional_call(model, (theta, state), (inputs,)))).sum()

    def clean_loss(eps: Tensor, state: dict[str, Tensor]) -> Tensor:
        step = grad(weighted_loss)(params, eps, state)
        theta = {name: params[name] - lr * step[name] for name in params}
        return clean_loss_of(functional_call(model, (theta, state), (clean_inputs,)))

    first = params[next(iter(params))]
    eps = torch.zeros(batch_size_of(inputs), device=first.device, dtype=first.dtype)
    with torch.enable_grad():
        return grad(clean_loss)(eps, buffers).detach()


def batch_size_of(tree: Any) -> int:
    """The first dimension of the first tensor in ``tree`` (a tensor or a dict/list/tuple of them)."""
    if isinstance(tree, Tensor):
        return tree.shape[0]
    values = tree.values() if isinstance(tree, dict) else tree
    for value in values:
        return batch_size_of(value)
    raise ValueError("the training batch holds no tensor")
