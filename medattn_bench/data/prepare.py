"""Images to the size a run trains at, once per run (the data layer's last step before the trainer)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def prepare_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 ``(N, C, H, W)`` to ``size`` once (antialiased bilinear), still uint8, 3 channels."""
    if images.shape[-1] != size or images.shape[-2] != size:
        out = []
        for chunk in images.split(256):
            x = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            out.append(x.round_().clamp_(0, 255).to(torch.uint8))
        images = torch.cat(out)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images.contiguous()
