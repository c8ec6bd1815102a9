"""A small generic registry: ``register(name)`` decorator, ``create(name, **kwargs)``, ``names()``.

Every plugin family (datasets, models, samplers, LR schedules, ...) has one :class:`Registry`; code never
dispatches on names with if/elif chains. Keyword arguments are checked against the registered callable's
signature so that a typo in a parameter name is an error that names the valid parameters.

A registry may name *internal* parameters: ones the library passes itself (a sampler's training-set
size, a dataset's ``data_dir``, which has its own flag). :meth:`Registry.check_user_params` refuses them
in user-given parameters, and :meth:`Registry.user_parameters` leaves them out of listings.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered plugin: its name, the callable that builds it, a one-line summary, metadata."""

    name: str
    factory: Callable[..., T]
    summary: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def summary(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, on one line, without reST markup
    (``code`` -> code); a sentence ends at a full stop before a capital, not after "et al"."""
    paragraph = " ".join(doc.strip().split("\n\n", 1)[0].split()).replace("``", "")
    first = re.split(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)\.\s+(?=[A-Z])", paragraph, maxsplit=1)[0]
    return first if first.endswith((".", ":")) or not first else first + "."


class Registry(Generic[T]):
    """Name -> factory lookup for one plugin family (``kind`` is used in error messages)."""

    def __init__(self, kind: str, *, internal: dict[str, str] | None = None) -> None:
        """``internal`` maps each internal parameter to where its value comes from (for messages)."""
        self.kind = kind
        self.internal: dict[str, str] = dict(internal or {})
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name``; ``meta`` is free-form metadata."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, factory, summary(inspect.getdoc(factory) or ""),
                                        dict(meta))
            return factory

        return decorate

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[n] for n in self.names())

    def get(self, name: str) -> Entry[T]:
        """The entry for ``name``; an unknown name raises :class:`ConfigError` listing the known ones."""
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}{hint}; choose from: {', '.join(self.names())}"
            ) from None

    def user_parameters(self, name: str) -> list[inspect.Parameter]:
        """The keyword-only parameters of ``name`` a user may set (internal ones left out)."""
        params = inspect.signature(self.get(name).factory).parameters.values()
        return [p for p in params
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in self.internal]

    def check_user_params(self, name: str, params: dict[str, Any]) -> None:
        """Refuse internal and unknown names in user-given ``params`` with one line."""
        what = f"{self.kind} {name!r}"
        valid = ", ".join(p.name for p in self.user_parameters(name)) or "none"
        for key in params:
            if key in self.internal:
                raise ConfigError(f"{what}: {key!r} is not settable (it is {self.internal[key]}); "
                                  f"its parameters: {valid}")
        factory = self.get(name).factory
        if any(p.kind is inspect.Parameter.VAR_KEYWORD
               for p in inspect.signature(factory).parameters.values()):
            return
        unknown = sorted(set(params) - {p.name for p in self.user_parameters(name)})
        if unknown:
            raise ConfigError(f"{what} has no parameter {unknown[0]!r}; its parameters: {valid}")

    def create(self, name: str, /, *args: Any, **kwargs: Any) -> T:
        """Build ``name`` with ``kwargs`` checked against the factory's signature."""
        entry = self.get(name)
        check_kwargs(entry.factory, kwargs, f"{self.kind} {name!r}")
        return entry.factory(*args, **kwargs)


def check_kwargs(factory: Callable[..., Any], kwargs: dict[str, Any], what: str) -> None:
    """Raise :class:`ConfigError` if ``kwargs`` holds a name that ``factory`` does not accept."""
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [
        n for n, p in params.items()
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        valid = ", ".join(accepted) or "none"
        raise ConfigError(f"{what} has no parameter {unknown[0]!r}; its parameters: {valid}")
