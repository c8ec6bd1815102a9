"""Named comparison grids (``swiftsampler compare --preset NAME``), at small scale on MNIST-1D.

The small scale (10,000 generated samples, a 15-epoch reference schedule) keeps each preset within
minutes on a 2-core CPU; every axis and setting can still be overridden from the command line.
"""

from __future__ import annotations

from ..config import RunConfig
from .grid import GridSpec

SMALL_MNIST1D = RunConfig().replace(dataset="mnist1d", num_samples=10_000, model="cnn1d", epochs=15)

PRESETS: dict[str, tuple[str, GridSpec]] = {
    "budgeted-is": (
        "Arazo et al.'s grid: uniform, p-SGD, c-SGD and selective backprop, with and without "
        "mixup / RICAP, at budgets 0.2, 0.3, 0.5 and 1.0",
        GridSpec(samplers=("uniform", "p-sgd", "c-sgd", "selective-backprop"),
                 budgets=(0.2, 0.3, 0.5, 1.0), augments=("none", "mixup", "ricap"),
                 seeds=(0, 1, 2), base=SMALL_MNIST1D),
    ),
    "swift-noise": (
        "Swift Sampler against uniform sampling, the label-noise baselines (REED, MentorNet, L2RW, "
        "the small-loss rule) and the clean-labels oracle at 0-40% symmetric label noise "
        "(budget 1.0)",
        GridSpec(samplers=("uniform", "reed-soft", "reed-hard", "mentornet", "l2rw", "small-loss",
                           "swift", "oracle"), noises=(0.0, 0.1, 0.2, 0.3, 0.4),
                 seeds=(0, 1, 2), base=SMALL_MNIST1D),
    ),
    "demo": (
        "the demo: uniform, p-SGD and selective backprop, with and without the standard "
        "augmentation, at budgets 0.3 and 1.0, two seeds",
        GridSpec(samplers=("uniform", "p-sgd", "selective-backprop"), budgets=(0.3, 1.0),
                 augments=("none", "standard"), seeds=(0, 1), base=SMALL_MNIST1D),
    ),
}
