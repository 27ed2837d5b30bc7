"""The attention-block registry and the block contract (the built-in families import this; the
package imports them).

Contract: a registered factory is called as ``factory(channels, **hparams)`` and returns an
``nn.Module`` whose output has the shape of its input. ``placement`` says where the model builder
puts it: ``block`` (inside every BasicBlock, after bn2 and before the residual addition; the
paper's placement), ``stage_end`` (after each of the first three residual stages, as BAM) or
``after_conv1`` (once, after the stem).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal

from torch import nn

from ..errors import PluginError
from ..registry import Registry

Placement = Literal["block", "stage_end", "after_conv1"]
PLACEMENTS: tuple[str, ...] = ("block", "stage_end", "after_conv1")

ATTENTION: Registry[Callable[..., nn.Module]] = Registry("attention block")


def register_attention(
    name: str, *, paper: str = "", placement: Placement = "block"
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register an attention factory ``factory(channels, **hparams) -> nn.Module`` under ``name``."""
    if placement not in PLACEMENTS:
        raise PluginError(
            f"attention {name!r}: placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}"
        )
    return ATTENTION.register(name, paper=paper, placement=placement)


def hparam_names(name: str) -> list[str]:
    """The keyword hyper-parameters the factory registered as ``name`` accepts."""
    sig = inspect.signature(ATTENTION.get(name))
    params = list(sig.parameters.values())[1:]  # the first is the channel count
    return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def build_attention(name: str, channels: int, **hparams: Any) -> nn.Module:
    """Instantiate the block ``name`` for ``channels`` channels; unknown hyper-parameters fail."""
    factory = ATTENTION.get(name)
    valid = hparam_names(name)
    takes_kwargs = any(
        p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values()
    )
    unknown = sorted(set(hparams) - set(valid)) if not takes_kwargs else []
    if unknown:
        raise PluginError(
            f"attention {name!r} has no hyper-parameter {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(valid) or '(none)'}"
        )
    return factory(channels, **hparams)


def placement_of(name: str) -> str:
    return ATTENTION.entry(name).meta.get("placement", "block")


@register_attention("none", paper="ResNet-18 baseline (no attention)")
def no_attention(channels: int) -> nn.Module:
    """The baseline: identity, no parameters."""
    return nn.Identity()
