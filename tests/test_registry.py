import pytest

from medattn_bench.errors import PluginError, UnknownNameError
from medattn_bench.registry import Registry, registering_from


def test_duplicate_names_both_origins():
    reg: Registry[int] = Registry("widget")
    reg.register("alpha")(1)
    with registering_from("plugin module acme.blocks"):
        with pytest.raises(PluginError, match=r"'alpha' is registered twice: by built-in .* and by plugin module acme.blocks"):
            reg.register("alpha")(2)


def test_unknown_name_suggests_and_lists():
    reg: Registry[int] = Registry("widget")
    for n in ("cbam", "se", "gc"):
        reg.register(n)(0)
    with pytest.raises(UnknownNameError, match=r"unknown widget 'cbma'\. Did you mean 'cbam'\? Available: cbam, gc, se"):
        reg.get("cbma")


def test_wildcards_and_name_rules():
    reg: Registry[int] = Registry("widget")
    for n in ("se", "ese", "se_wide", "cbam"):
        reg.register(n)(0)
    assert reg.names("se*") == ["se", "se_wide"]
    assert reg.names("*se*") == ["ese", "se", "se_wide"]
    with pytest.raises(PluginError, match="not lowercase snake_case"):
        reg.register("Bad-Name")
