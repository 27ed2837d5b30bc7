"""One generic registry for attention blocks, data sets and executors.

Names are lowercase snake_case, listing accepts ``fnmatch`` wildcards, unknown names fail with a
message listing close matches, and a duplicate name is an error naming both origins.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import PluginError, UnknownNameError

T = TypeVar("T")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# Origin assigned to registrations made while a plugin module is being imported.
_current_origin: list[str] = ["built-in"]


@contextlib.contextmanager
def registering_from(origin: str) -> Iterator[None]:
    """Attribute every registration made inside the block to ``origin`` (a plugin's name)."""
    _current_origin.append(origin)
    try:
        yield
    finally:
        _current_origin.pop()


@dataclass
class Entry(Generic[T]):
    name: str
    obj: T
    origin: str
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """A name -> object map with decorator registration and helpful lookup errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        # plugins that were found but failed to load: label -> one line saying why. Named in the
        # message for an unknown name, since the missing name may be one of theirs.
        self.unavailable: dict[str, str] = {}

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        if not _NAME.match(name):
            raise PluginError(
                f"{self.kind} name {name!r} is not lowercase snake_case (letters, digits, '_')"
            )

        def decorator(obj: T) -> T:
            origin = _current_origin[-1]
            if name in self._entries:
                old = self._entries[name]
                raise PluginError(
                    f"{self.kind} {name!r} is registered twice: by {old.origin} "
                    f"({_qualname(old.obj)}) and by {origin} ({_qualname(obj)})"
                )
            self._entries[name] = Entry(name, obj, origin, dict(meta))
            return obj

        return decorator

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def unknown_message(self, name: object) -> str:
        names = sorted(self._entries)
        close = difflib.get_close_matches(str(name), names, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        msg = f"unknown {self.kind} {name!r}.{hint} Available: {', '.join(names)}"
        if self.unavailable:
            why = self.unavailable.get(str(name)) or "; ".join(self.unavailable.values())
            msg += f". Not available because a plugin failed: {why}"
        return msg

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def entries(self, pattern: str = "*") -> list[Entry[T]]:
        return [self._entries[n] for n in self.names(pattern)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)


def _qualname(obj: Any) -> str:
    mod = getattr(obj, "__module__", "?")
    return f"{mod}.{getattr(obj, '__qualname__', type(obj).__name__)}"
