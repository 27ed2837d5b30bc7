"""Plugin discovery. Attention blocks from outside the package come in three ways, and nothing is
imported unless one of them names it:

(a) entry points in the group ``medattn_bench.attention`` of installed distributions;
(b) modules listed under ``plugins:`` in a suite;
(c) modules named with ``--plugin module.path`` on the command line.

Every registration made while a plugin is imported is attributed to it, so ``list attention``
shows where a block came from and a name collision names both origins.
"""

from __future__ import annotations

from functools import lru_cache

import hashlib
import importlib
import inspect
from importlib import metadata

from .errors import MedattnError, PluginError
from .registry import registering_from

ENTRY_POINT_GROUP = "medattn_bench.attention"
_loaded: dict[str, str] = {}  # module or entry point -> origin, so a second request is a no-op
_entry_points_done = False


def _builtins_first() -> None:
    # A plugin module imports medattn_bench.attention; if that import happened inside
    # registering_from(plugin), every built-in block would be recorded as the plugin's.
    from . import attention  # noqa: F401


def load_plugins(modules: list[str] | tuple[str, ...], source: str = "--plugin") -> None:
    """Import each module in ``modules`` (its blocks register on import)."""
    if modules:
        _builtins_first()
    for mod in modules:
        if mod in _loaded:
            continue
        origin = f"plugin module {mod}"
        try:
            with registering_from(origin):
                importlib.import_module(mod)
        except MedattnError:
            raise
        except ImportError as exc:
            raise PluginError(f"{source}: cannot import plugin module {mod!r}: {exc}") from None
        except Exception as exc:  # a plugin's own bug must not show a traceback to the user
            raise PluginError(f"{source}: plugin module {mod!r} failed on import: {type(exc).__name__}: {exc}") from None
        _loaded[mod] = origin


def discover_entry_points() -> list[str]:
    """Load every installed ``medattn_bench.attention`` entry point (once per process).

    An installed plugin that no longer imports (its source moved, a dependency went missing) must
    not stop commands that never use it: its failure is kept, returned as one line for a warning,
    and becomes the error only when a block name nothing else provides is asked for
    (``ATTENTION.unknown_message`` adds it). Returns the failures (empty after the first call).
    """
    global _entry_points_done
    if _entry_points_done:
        return []
    _entry_points_done = True
    eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
    if eps:
        _builtins_first()
    failures = []
    for ep in eps:
        dist = ep.dist
        origin = f"{dist.name} {dist.version}" if dist is not None else f"entry point {ep.value}"
        if ep.value in _loaded:
            continue
        try:
            with registering_from(origin):
                obj = ep.load()
        except MedattnError:
            raise
        except Exception as exc:
            line = (f"entry point {ep.name} = {ep.value} ({origin}) failed to load: {type(exc).__name__}: "
                    f"{exc}; reinstall or uninstall {dist.name if dist is not None else 'it'}")
            from .attention import ATTENTION

            ATTENTION.unavailable[ep.name] = line
            failures.append(line)
            continue
        _loaded[ep.value] = origin
        del obj  # loading the module registered its blocks
    return failures


@lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    """importlib.metadata's module -> distributions map; it scans every installed distribution
    (about 0.7 s here), so once per process, not once per run."""
    return metadata.packages_distributions()


def provenance(factory: object, origin: str) -> dict:
    """What a run record stores about a block's code: origin, distribution version, file hash."""
    info: dict = {"origin": origin}
    try:
        src = inspect.getsourcefile(factory)  # type: ignore[arg-type]
    except TypeError:
        src = None
    if src:
        with open(src, "rb") as fh:
            info["source_sha256"] = hashlib.sha256(fh.read()).hexdigest()
        info["source_file"] = src.rsplit("/", 1)[-1]
    mod = getattr(factory, "__module__", "") or ""
    top = mod.split(".")[0]
    try:
        dists = _packages_distributions().get(top, [])
        if dists:
            info["distribution"] = dists[0]
            info["version"] = metadata.version(dists[0])
    except Exception:  # metadata is best effort; the hash above is what identifies the code
        pass
    return info
