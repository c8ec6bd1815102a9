"""Model zoo: every network is built by name through :func:`create_model`.

Each model returns logits ``(B, num_classes)`` and is a :class:`Classifier`: ``forward_features(x)``
gives penultimate features ``(B, D)`` and ``head`` is the final linear layer, so
``model(x) == model.head(model.forward_features(x))``. Registry metadata ``inputs`` says which inputs a
model takes: ``"signal"`` ``(C, L)``, ``"image"`` ``(C, H, W)`` or ``"any"`` (flattened).

Adding a model: write a module here with a factory ``(num_classes, input_shape, *, width=None)``
decorated with ``@MODELS.register(name, inputs=..., width=DEFAULT)`` and import it below; the tests in
``tests/test_models.py`` pick it up automatically.
"""

from __future__ import annotations

from . import (  # noqa: F401  (importing registers the models)
    cnn1d,
    cnn2d,
    gpt,
    mlp,
    mobilenetv2,
    preact_resnet,
    resnet,
    resnet50,
    wide_resnet,
)
from .base import MODELS, Classifier, create_model, list_models

__all__ = ["MODELS", "Classifier", "create_model", "list_models"]
