"""What a trained model looked at: Grad-CAM on the last convolutional stage, and localisation
scores against lesion masks.

- Grad-CAM (Selvaraju et al., ICCV 2017) through captum's ``LayerGradCam`` on ``layer4``,
  upsampled to the image with ``LayerAttribution.interpolate``. captum was chosen over
  pytorch-grad-cam because the latter installs scikit-learn and OpenCV as run-time
  dependencies (this project keeps scikit-learn a test oracle).
- Grad-CAM++ (Chattopadhay et al., WACV 2018), which captum does not provide, from the same
  layer's activations and gradients: weights ``sum_ij alpha_ij relu(dY/dA_ij)`` with
  ``alpha = g^2 / (2 g^2 + sum_ij(A) g^3)``.
- Localisation against a mask: energy inside the mask (share of positive CAM mass), the pointing
  game (the CAM's maximum lies in the mask) and IoU of the top-k % CAM region with the mask.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Method = Literal["gradcam", "gradcam++"]


def cam_maps(model: nn.Module, x: torch.Tensor, target: torch.Tensor | int, method: Method = "gradcam",
             layer: nn.Module | None = None) -> torch.Tensor:
    """(N, H, W) non-negative heat maps of ``target`` class scores for the batch ``x`` (N, C, H, W),
    taken on ``layer`` (default ``model.layer4``) and upsampled bilinearly to H x W."""
    model.eval()
    layer = layer if layer is not None else model.layer4
    target = torch.as_tensor(target).expand(x.shape[0]) if not torch.is_tensor(target) or target.ndim == 0 else target
    if method == "gradcam":
        from captum.attr import LayerAttribution, LayerGradCam

        attr = LayerGradCam(model, layer).attribute(x, target=target.tolist(), relu_attributions=True)
        up = LayerAttribution.interpolate(attr.detach().float(), tuple(x.shape[-2:]), interpolate_mode="bilinear")
        return up[:, 0].clamp_min(0)
    if method != "gradcam++":
        raise ValueError(f"method must be 'gradcam' or 'gradcam++', got {method!r}")
    store: dict[str, torch.Tensor] = {}

    def hook(_m: nn.Module, _i: tuple, out: torch.Tensor) -> None:
        out.retain_grad()
        store["a"] = out

    handle = layer.register_forward_hook(hook)
    try:
        logits = model(x.requires_grad_(True))
        logits.gather(1, target[:, None]).sum().backward()
    finally:
        handle.remove()
    a, g = store["a"].detach().float(), store["a"].grad.float()
    g2, g3 = g.pow(2), g.pow(3)
    denom = 2 * g2 + a.sum(dim=(2, 3), keepdim=True) * g3
    alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
    weights = (alpha * F.relu(g)).sum(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * a).sum(1, keepdim=True))
    return F.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]


def localisation(cams: np.ndarray, masks: np.ndarray, top_k: float = 0.1) -> dict[str, np.ndarray]:
    """Per image: energy inside the mask, pointing-game hit (1/0) and IoU of the top ``top_k``
    share of pixels with the mask. An all-zero CAM has no energy share (NaN) and points nowhere."""
    cams = np.asarray(cams, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if cams.shape != masks.shape or cams.ndim != 3:
        raise ValueError(f"cams and masks must both be (N, H, W), got {cams.shape} and {masks.shape}")
    if not 0 < top_k <= 1:
        raise ValueError(f"top_k must be in (0, 1], got {top_k}")
    n = len(cams)
    flat, mflat = cams.reshape(n, -1), masks.reshape(n, -1)
    total = flat.sum(1)
    inside = (flat * mflat).sum(1)
    energy = np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)
    pointing = np.where(total > 0, mflat[np.arange(n), flat.argmax(1)], 0).astype(float)
    k = max(1, math.ceil(top_k * flat.shape[1]))
    order = np.argsort(-flat, axis=1, kind="stable")[:, :k]
    top = np.zeros_like(mflat)
    np.put_along_axis(top, order, True, axis=1)
    union = (top | mflat).sum(1)
    iou = np.where(union > 0, (top & mflat).sum(1) / np.where(union > 0, union, 1), np.nan)
    return {"energy": energy, "pointing": pointing, "iou": iou}
