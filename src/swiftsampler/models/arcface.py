"""ArcFace: additive angular margin on a cosine head, for face verification (metric learning).

Deng, Guo, Xue & Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019.
Embeddings ``e`` and class centres ``W_j`` are L2-normalised, so the head outputs cosines
``cos(theta_j) = <e / ||e||, W_j / ||W_j||>``. The loss is cross-entropy on the logits

    z_y = s * cos(theta_y + m)        (the labelled identity ``y``)
    z_j = s * cos(theta_j)            (every other identity ``j != y``)

with scale ``s`` and angular margin ``m``: the labelled class must win by an angle ``m``. The model
(:class:`ArcFaceModel`) returns cosines only, because the margin needs the labels; the loss applies it
with :func:`arcface_logits` (or :meth:`ArcFaceModel.margin_logits`). After training, identities are
compared by the cosine similarity of :meth:`ArcFaceModel.embed` embeddings (see
:mod:`swiftsampler.verification`); the class centres are then discarded.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError

__all__ = ["ArcFaceModel", "CosineHead", "arcface_logits", "check_arcface_params"]

# Cosines are clamped to [-1 + EPS, 1 - EPS] before sin = sqrt(1 - cos^2), so that neither the value nor
# the gradient (-cos / sin) is infinite at cos = +-1.
EPS = 1e-7


def check_arcface_params(scale: float, margin: float) -> tuple[float, float]:
    """Validate the ArcFace scale ``s > 0`` (finite) and margin ``0 <= m < pi / 2``; return them as floats.

    Raises :class:`~swiftsampler.errors.ConfigError` otherwise.
    """
    for name, value in (("scale", scale), ("margin", margin)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(f"ArcFace {name} must be a real number, got {value!r}")
    scale, margin = float(scale), float(margin)
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"ArcFace scale must be a finite number > 0, got {scale!r}")
    if not 0.0 <= margin < math.pi / 2:
        raise ConfigError(f"ArcFace margin must lie in [0, pi/2) radians, got {margin!r}")
    return scale, margin


def arcface_logits(cosine: Tensor, targets: Tensor, scale: float = 64.0, margin: float = 0.5) -> Tensor:
    """ArcFace logits from cosines: ``s * cos(theta_y + m)`` at the target, ``s * cos(theta_j)`` elsewhere.

    cosine (B, C) in [-1, 1], targets (B,) int64 -> logits (B, C), always float32 (half inputs are
    upcast; the margin term is ill-conditioned in half precision). ``theta = arccos(c)`` with
    ``c = clamp(cos, -1 + EPS, 1 - EPS)``; the target logit is computed without ``arccos`` as

        cos(theta + m) = c * cos(m) - sin(theta) * sin(m),   sin(theta) = sqrt(1 - c^2).

    Non-target logits are ``s * cos`` exactly (no clamping).

    ``theta_y + m`` may pass ``pi``, where ``cos(theta_y + m)`` turns back up and the logit would stop
    decreasing as the target angle grows. As in the reference implementation (``easy_margin=False``),
    the target logit is therefore

        cos(theta_y + m)          if cos(theta_y) > cos(pi - m)      (i.e. theta_y < pi - m)
        cos(theta_y) - m sin(m)   otherwise                          (``mm = sin(pi - m) * m``)

    (the CosFace-like additive penalty), so the target logit is strictly increasing in ``cos(theta_y)``
    everywhere. With ``m = 0`` the logits are ``s * cos``. Raises
    :class:`~swiftsampler.errors.ConfigError` unless ``scale > 0`` and ``0 <= margin < pi / 2``.
    """
    scale, margin = check_arcface_params(scale, margin)
    if cosine.dim() != 2 or targets.dim() != 1 or targets.shape[0] != cosine.shape[0]:
        raise ValueError(
            f"arcface_logits needs cosine (B, C) and targets (B,), got {tuple(cosine.shape)} and "
            f"{tuple(targets.shape)}"
        )
    cos = cosine.float()
    index = targets.long().unsqueeze(1)
    c = cos.gather(1, index).squeeze(1).clamp(-1.0 + EPS, 1.0 - EPS)
    sin = (1.0 - c * c).clamp_min(0.0).sqrt()
    cos_plus = c * math.cos(margin) - sin * math.sin(margin)
    th = math.cos(math.pi - margin)
    mm = math.sin(math.pi - margin) * margin
    target = torch.where(c > th, cos_plus, c - mm)
    return cos.scatter(1, index, target.unsqueeze(1)) * scale


class CosineHead(nn.Module):
    """Cosine classifier: ``cos = normalize(features) @ normalize(weight).T``, in [-1, 1].

    ``weight`` (C, D) holds one class centre per row, initialised ``N(0, 0.01^2)`` from the global torch
    RNG (seed it for reproducibility); only its direction matters. features (B, D) -> cosines (B, C).
    """

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"CosineHead needs a positive integer {name}, got {value!r}")
        self.in_features = in_features
        self.out_features = num_classes
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.normal_(self.weight, mean=0.0, std=0.01)

    def forward(self, features: Tensor) -> Tensor:
        """Cosines ``(B, C)`` between the features and the class centres (clamped into [-1, 1])."""
        x = F.normalize(features.to(self.weight.dtype), dim=1)
        w = F.normalize(self.weight, dim=1)
        return (x @ w.t()).clamp(-1.0, 1.0)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.out_features}"


class ArcFaceModel(nn.Module):
    """A backbone producing embeddings ``(B, D)`` followed by a :class:`CosineHead` over identities.

    ``backbone`` is any module mapping inputs to embeddings ``(B, embedding_dim)``, for instance a
    :class:`~swiftsampler.models.Classifier` built with ``num_classes = embedding_dim``, whose final
    linear layer then acts as the embedding layer. ``forward(x)`` returns the cosines ``(B, C)`` to the
    ``num_identities`` class centres, without margin or scale; the loss applies those with
    :meth:`margin_logits` (``scale`` and ``margin`` are stored here for it). ``embed(x)`` gives the
    L2-normalised embeddings used for verification; ``forward_features(x)`` the raw backbone embeddings,
    so that ``model(x) == model.head(model.forward_features(x))`` as for a Classifier.
    """

    def __init__(self, backbone: nn.Module, embedding_dim: int, num_identities: int, *,
                 scale: float = 64.0, margin: float = 0.5) -> None:
        super().__init__()
        if isinstance(num_identities, bool) or not isinstance(num_identities, int) or num_identities < 2:
            raise ConfigError(f"ArcFace needs num_identities >= 2, got {num_identities!r}")
        if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim < 1:
            raise ConfigError(f"ArcFace needs a positive integer embedding_dim, got {embedding_dim!r}")
        self.scale, self.margin = check_arcface_params(scale, margin)
        self.backbone = backbone
        self.head = CosineHead(embedding_dim, num_identities)
        self.num_classes = num_identities
        self.embedding_dim = embedding_dim

    @property
    def feature_dim(self) -> int:
        """Size ``D`` of the embeddings returned by :meth:`forward_features`."""
        return self.embedding_dim

    def forward_features(self, x: Tensor) -> Tensor:
        """The backbone's embeddings ``(B, D)``, not normalised."""
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor:
        """Cosines ``(B, num_identities)`` between the embeddings and the class centres (no margin)."""
        return self.head(self.forward_features(x))

    def embed(self, x: Tensor) -> Tensor:
        """L2-normalised embeddings ``(B, D)`` in float32, for verification by cosine similarity."""
        return F.normalize(self.forward_features(x).float(), dim=1)

    def margin_logits(self, cosine: Tensor, targets: Tensor) -> Tensor:
        """:func:`arcface_logits` with this model's ``scale`` and ``margin``: (B, C), (B,) -> (B, C)."""
        return arcface_logits(cosine, targets, self.scale, self.margin)
