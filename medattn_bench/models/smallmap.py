"""A faster weight gradient for convolutions whose output map is tiny (at most 2x2).

Measured on 2-core CPUs (``benchmarks/bench_smallmap.py``): for a 3x3 convolution on a 1x1 map
(ResNet-18's layer4 at 32 px), oneDNN's fp32 weight gradient takes 10-30x the forward pass
(23 ms against 1.8 ms at batch 32 with AVX2; its GEMM-based kernel makes one rank-1 update of the
whole weight per sample). The same gradient is one matrix product over the unfolded input:
``dW = dY (N*L x O)^T  @  unfold(X) (N*L x C*k*k)``. On 4x4 maps and larger oneDNN is faster, so
the product is used only where the output has at most ``MAX_POSITIONS`` positions; the forward
pass and the input gradient stay oneDNN's. Same arithmetic up to summation order (tested against
the stock gradient and by ``gradcheck``); deterministic on the CPU.

Applies only to plain ``nn.Conv2d`` (zero padding, one group) on fp32 CPU tensors outside
autocast and outside tracing; everything else, CUDA included, takes the stock path.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

MAX_POSITIONS = 4  # output positions (oh * ow) up to which the unfolded product wins (2x2)

# Version of the training arithmetic, recorded in each run's env: 1 = oneDNN's weight gradients
# everywhere (records without the field); 2 = this module's on tiny maps. The same config trained
# under two versions gives two models, as on two instruction sets: ``verify`` and the board say so.
ARITHMETIC = 2


class _SmallMapConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int]) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, dilation, bias is not None)
        return F.conv2d(x, weight, bias, stride, padding, dilation)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        stride, padding, dilation, has_bias = ctx.conf
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad_out, x, weight, None, stride, padding, dilation, False, [0, 0], 1, [True, False, False]
            )[0]
        if ctx.needs_input_grad[1]:
            n, o = grad_out.shape[:2]
            cols = F.unfold(x, weight.shape[-2:], dilation, padding, stride)  # (N, C*kh*kw, L)
            g = grad_out.reshape(n, o, -1).transpose(0, 1).reshape(o, -1)  # (O, N*L)
            c = cols.transpose(0, 1).reshape(cols.shape[1], -1)  # (C*kh*kw, N*L)
            grad_w = (g @ c.t()).view(weight.shape)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None


class SmallMapConv2d(nn.Conv2d):
    """``nn.Conv2d`` that computes its weight gradient as one matrix product on tiny output maps."""

    def _fast(self, x: torch.Tensor) -> bool:
        if not (torch.is_grad_enabled() and self.weight.requires_grad and x.device.type == "cpu"
                and x.dtype == torch.float32 and self.weight.dtype == torch.float32 and x.dim() == 4
                and not torch.is_autocast_enabled("cpu") and not torch.jit.is_tracing()):
            # Tracing (fvcore's FLOP count) must see the stock convolution, not a Python op.
            return False
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        oh = (x.shape[-2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        ow = (x.shape[-1] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        return 0 < oh * ow <= MAX_POSITIONS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._fast(x):
            return _SmallMapConv2d.apply(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
        return super().forward(x)


def use_small_map_conv(model: nn.Module) -> nn.Module:
    """Switch every plain ``nn.Conv2d`` in ``model`` (zero padding, one group, numeric padding) to
    :class:`SmallMapConv2d` in place. The class adds no state, so parameters, buffers and
    ``state_dict`` keys are unchanged; subclasses of ``nn.Conv2d`` (a plugin's own) are left alone."""
    for m in model.modules():
        if (type(m) is nn.Conv2d and m.groups == 1 and m.padding_mode == "zeros"
                and not isinstance(m.padding, str)):
            m.__class__ = SmallMapConv2d
    return model
