"""Extension points: named factories, built in or added by other packages through entry points.

Each extension point by name (embedders, rerankers) is a :class:`Registry`, a table from
names to factories (readers, chosen by suffix, have their own table: ``readers/base.py``).
Built-ins register themselves in code; a separate package adds its own by declaring an
entry point in the registry's group, e.g. in its ``pyproject.toml``::

    [project.entry-points."ragchips.embedders"]
    my-model = "my_package.embedder:make"       # the name "my-model"
    "bow:*" = "my_package.embedder:make_bow"    # every name that starts with "bow:"

A factory is called as ``factory(name, options)``: the name asked for (useful for families
such as ``st:<folder>`` or ``hash-<dim>``) and a mapping of options (for an embedder, the
identity an index recorded when it reopens that index, else ``{}``).

Why entry points and a plain registry rather than pluggy (simonw/llm) or txtai's factories:
a ragchips plugin provides *one object per name*, picked by that name (the name an index
records, ``ask(..., rerank=NAME)``); pluggy's strength is calling many implementations of
the same hook, which we never do, and it would add hook specifications to learn on top of
the same entry points (``load_setuptools_entrypoints`` reads them too). txtai's factories
resolve a class from a dotted path, which an index manifest should not store (it would run
whatever code a file names). The registry reads entry points only when a name is not built
in, and imports only the plugin that provides that name, so cold ``ask`` pays nothing
(reading the entry points of an environment costs about 15 ms).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import PluginError, RagchipsError, UnknownPluginError, exception_line

__all__ = [
    "EMBEDDERS_GROUP",
    "READERS_GROUP",
    "RERANKERS_GROUP",
    "Factory",
    "Provider",
    "Registry",
]

EMBEDDERS_GROUP = "ragchips.embedders"
RERANKERS_GROUP = "ragchips.rerankers"
READERS_GROUP = "ragchips.readers"

T = TypeVar("T")
# factory(name, options) -> the object; options are {} unless the caller has some.
Factory = Callable[[str, Mapping[str, Any]], T]


@dataclass(frozen=True)
class Provider(Generic[T]):
    """Where a name comes from: its pattern (``"x"`` or a family ``"x:*"``) and factory."""

    pattern: str
    factory: Factory[T]
    # The distribution that declared the entry point ("name version"); None when built in.
    package: str | None = None
    # How the pattern reads in messages, e.g. "hash-<dim>" for "hash-*".
    shown_as: str = ""

    @property
    def origin(self) -> str:
        if self.package:
            return f"package {self.package}"
        module = str(getattr(self.factory, "__module__", "") or "")
        return "ragchips" if module.split(".")[0] in ("ragchips", "") else f"module {module}"

    def matches(self, name: str) -> bool:
        if self.pattern.endswith("*"):
            prefix = self.pattern[:-1]
            return name.startswith(prefix) and len(name) > len(prefix)
        return name == self.pattern


class Registry(Generic[T]):
    """Names to factories for one kind of object; ``group`` is its entry-point group."""

    def __init__(self, kind: str, group: str, check: type | None = None) -> None:
        self.kind = kind
        self.group = group
        # What every made object must be an instance of (a runtime-checkable protocol).
        self._check = check
        self._providers: dict[str, Provider[T]] = {}
        self._lock = threading.RLock()

    def register(
        self,
        pattern: str,
        factory: Factory[T],
        *,
        package: str | None = None,
        shown_as: str = "",
    ) -> None:
        """Add (or replace) a provider; a pattern ending in ``*`` names a family."""
        if not pattern or pattern == "*":
            raise ValueError(f"a {self.kind} name cannot be empty")
        with self._lock:
            self._providers[pattern] = Provider(pattern, factory, package, shown_as or pattern)

    def unregister(self, pattern: str) -> None:
        with self._lock:
            self._providers.pop(pattern, None)

    def _match(self, name: str) -> Provider[T] | None:
        exact = self._providers.get(name)
        if exact is not None:
            return exact
        families = [p for p in self._providers.values() if p.matches(name)]
        # The longest prefix wins: "st:onnx:*" before "st:*".
        return max(families, key=lambda p: len(p.pattern), default=None)

    def find(self, name: str) -> Provider[T]:
        """The provider of ``name``, loading the installed plugin that declares it if needed."""
        with self._lock:
            found = self._match(name)
            if found is None:
                self._load_entry_points(name)
                found = self._match(name)
        if found is None:
            raise UnknownPluginError(self.unknown_message(name))
        return found

    def create(self, name: str, options: Mapping[str, Any] | None = None) -> T:
        """Make the object called ``name``; a plugin's failure becomes a one-line error."""
        provider = self.find(name)
        try:
            made = provider.factory(name, dict(options or {}))
        except RagchipsError:
            raise
        except Exception as exc:
            raise PluginError(
                f"{self.kind} {name!r} (from {provider.origin}) failed to start: "
                f"{exception_line(exc)}"
            ) from exc
        if self._check is not None and not isinstance(made, self._check):
            missing = [m for m in _members(self._check) if not hasattr(made, m)]
            lacks = f" (it lacks {', '.join(missing)})" if missing else ""
            raise PluginError(
                f"{self.kind} {name!r} (from {provider.origin}) made {_a(type(made).__name__)}, "
                f"not {_a(self._check.__name__)}{lacks}"
            )
        return made

    def names(self) -> list[str]:
        """Every name this registry knows, installed plugins included (as shown to users)."""
        with self._lock:
            shown = {p.shown_as for p in self._providers.values()}
        shown.update(ep.name.replace("*", "<name>") for ep in self._entry_points())
        return sorted(shown)

    def unknown_message(self, name: str) -> str:
        return (
            f"unknown {self.kind} {name!r}: no built-in and no installed plugin provides it "
            f"(plugins declare entry points in group {self.group!r}); "
            f"available: {', '.join(self.names())}"
        )

    # -- entry points ---------------------------------------------------------------------

    def _entry_points(self) -> list[Any]:
        from importlib.metadata import entry_points

        return list(entry_points(group=self.group))

    def _load_entry_points(self, name: str) -> None:
        """Import the plugins whose entry point provides ``name`` (and only those)."""
        for ep in self._entry_points():
            candidate: Provider[T] = Provider(ep.name, _unloaded)
            if not candidate.matches(name):
                continue
            dist = getattr(ep, "dist", None)
            package = f"{dist.name} {dist.version}" if dist is not None else ep.value
            try:
                factory = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"{self.kind} {name!r}: the plugin from package {package} cannot be "
                    f"imported ({ep.value}): {exception_line(exc)}"
                ) from exc
            if not callable(factory):
                raise PluginError(
                    f"{self.kind} {name!r}: entry point {ep.value} of package {package} "
                    "is not callable"
                )
            self.register(ep.name, factory, package=package)


def _unloaded(name: str, options: Mapping[str, Any]) -> Any:  # pragma: no cover - never called
    raise AssertionError("a pattern-only provider is never called")


def _a(word: str) -> str:
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _members(protocol: type) -> list[str]:
    """The public names a protocol asks for (attributes and methods), for the message."""
    names: list[str] = []
    for klass in protocol.__mro__:
        if klass is object or klass.__module__ == "typing":
            continue
        for n in [*getattr(klass, "__annotations__", {}), *vars(klass)]:
            if not n.startswith("_") and n not in names:
                names.append(n)
    return names
