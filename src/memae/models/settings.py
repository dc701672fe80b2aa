"""A table of builders, each registered with the settings it takes and their defaults: the
bottlenecks (``bottlenecks.py``) and the scoring heads (``heads.py``) are each one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Built = TypeVar("Built")


@dataclass(frozen=True)
class Entry(Generic[Built]):
    build: Callable[..., Built]  # (its settings, *what the caller passes) -> the module
    defaults: dict[str, Any]


class Builders(dict[str, Entry[Built]]):
    def register(self, name: str, **defaults: Any) -> Callable[[Callable], Callable]:
        """Decorator: register ``name``'s builder with its settings and defaults."""

        def wrap(build: Callable[..., Built]) -> Callable[..., Built]:
            self[name] = Entry(build, defaults)
            return build

        return wrap

    def build(self, name: str, settings: dict[str, Any], *args: Any) -> Built:
        """Build ``name`` from its own settings (taken from ``settings``, defaults otherwise)."""
        entry = self[name]
        return entry.build({k: settings.get(k, v) for k, v in entry.defaults.items()}, *args)

    def defaults(self) -> dict[str, Any]:
        """Every registered entry's settings with their defaults."""
        return {k: v for entry in self.values() for k, v in entry.defaults.items()}
