"""Attention blocks: the registry, the block contract and the built-in families.

Contract: a registered factory is called as ``factory(channels, **hparams)`` and returns an
``nn.Module`` whose output has the shape of its input. ``placement`` says where the model builder
puts it: ``block`` (inside every BasicBlock, after bn2 and before the residual addition; the
paper's placement), ``stage_end`` (after each of the first three residual stages, as BAM) or
``after_conv1`` (once, after the stem). The registry lives in :mod:`.base`; importing this package
registers the built-in families.
"""

from .base import (ATTENTION, PLACEMENTS, Placement, build_attention, hparam_names, no_attention,  # noqa: F401
                   placement_of, register_attention)

from . import bam, cbam, coord, criss_cross, eca, ese, gather_excite, gc, nonlocal_block, se, simam, srm, triplet  # noqa: E402,F401,I001
