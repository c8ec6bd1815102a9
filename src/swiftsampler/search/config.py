"""Settings of the Swift Sampler search (``swiftsampler search``, :func:`search_sampler`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ConfigError
from ..samplers import SamplerFamily
from ..samplers._swift import TRANSFORMS

SEARCH_ALGOS = ("gp", "tpe", "random")
INNER_SCHEDULES = ("compressed", "continue")


@dataclass(frozen=True)
class SearchConfig:
    """Settings of ``swiftsampler search`` (the training settings are a :class:`RunConfig`)."""

    n_trials: int = 30
    search_algo: str = "gp"
    inner_epochs: float = 1.0
    inner_schedule: str = "compressed"
    init_fraction: float = 0.2
    features: tuple[str, ...] = ("loss", "entropy")
    transform: str = "cdf"
    n_knots: int = 5
    combine: str = "product"
    floor: float = 0.0
    storage: str | None = None
    study_name: str = "swiftsampler"
    startup_trials: int = 10
    heartbeat: int = 60

    def __post_init__(self) -> None:
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise ConfigError(f"--n-trials: must be a positive integer, got {self.n_trials!r}")
        if self.search_algo not in SEARCH_ALGOS:
            raise ConfigError(f"--search-algo: must be one of {', '.join(SEARCH_ALGOS)}, "
                              f"got {self.search_algo!r}")
        if not 0 < self.inner_epochs <= 1000:
            raise ConfigError(f"--inner-epochs: must be positive, got {self.inner_epochs!r}")
        if self.inner_schedule not in INNER_SCHEDULES:
            raise ConfigError(f"--inner-schedule: must be one of {', '.join(INNER_SCHEDULES)}, "
                              f"got {self.inner_schedule!r}")
        if not isinstance(self.heartbeat, int) or self.heartbeat < 1:
            raise ConfigError(f"--heartbeat: must be a positive number of seconds, got {self.heartbeat!r}")
        if not 0 < self.init_fraction < 1:
            raise ConfigError(f"--init-fraction: must be in (0, 1), got {self.init_fraction!r}")
        TRANSFORMS.get(self.transform)
        try:
            self.family()  # validates features, knots, combine, floor
        except ConfigError as exc:  # the family names its parameters; the CLI names its flags
            message = str(exc)
            name = next((n for n in ("n_knots", "combine", "floor") if message.startswith(n)), None)
            if name is None:
                raise
            raise ConfigError(f"--{name.replace('_', '-')}: {message[len(name):].strip()}") from None

    def family(self) -> SamplerFamily:
        return SamplerFamily(features=tuple(self.features), n_knots=self.n_knots,
                             combine=self.combine, floor=self.floor)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON values (what a card records), without the storage's address."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if k != "storage"}
