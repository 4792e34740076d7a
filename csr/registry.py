"""A small name → object registry used for datasets, models, methods, attacks and cost builders.

Names are what papermill parameters and configs refer to, so an unknown name must fail early
with the list of known ones.

Example
-------
>>> from csr.registry import Registry
>>> R = Registry("colour")
>>> @R.register("red")
... def red():
...     return "#f00"
>>> R.get("red")()
'#f00'
>>> R.get("blue")
Traceback (most recent call last):
...
ValueError: unknown colour 'blue'; known colours: red
"""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (usually factories or functions)."""

    def __init__(self, kind: str, plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural or (kind + "es" if kind.endswith("s") else kind + "s")
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}")

        def add(o: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = o
            return o

        return add(obj) if obj is not None else add

    def get(self, name: str) -> T:
        """Return the object registered as ``name`` or raise ``ValueError`` listing known names."""
        if not isinstance(name, str) or name not in self._items:
            known = ", ".join(sorted(self._items))
            raise ValueError(f"unknown {self.kind} {name!r}; known {self.plural}: {known}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"
