"""Procedural phantoms for the four modalities, so the demo runs offline with no data set.

Each generator draws every image from its own ``numpy`` generator seeded by (data set, seed,
index), so a phantom set is a pure function of its options. Every image comes with its lesion
mask (empty for the negative class). The two classes overlap on purpose: lesions are small and
low-contrast, the background carries noise and clutter (hairs, ribs, vessels, gyri) and
``difficulty`` scales all of it, so a small CNN lands well below AUC 1.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from scipy import ndimage

from ..dataopts import PhantomOptions
from .base import ImageSet, register_dataset

def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ax = (np.arange(size) + 0.5) / size * 2 - 1
    return np.meshgrid(ax, ax, indexing="ij")


def _smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-std band-limited noise with correlation length ``scale`` (fraction of side)."""
    n = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma=max(scale * size, 0.5), mode="wrap")
    return (n - n.mean()) / (n.std() + 1e-8)


def _blob(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, r: float) -> np.ndarray:
    return np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)))


def _conspicuity(rng: np.random.Generator, positive: bool, d: float) -> float:
    """How visible the finding is, in [0, 1]; 0 for the negative class.

    Uniform for positives, so a share of them is near-invisible and even a perfect reader stays
    below AUC 1; ``difficulty`` pushes the distribution towards faint findings.
    """
    return float(rng.uniform(0, 1) ** (0.5 + 0.5 * d)) if positive else 0.0


def _skin(rng: np.random.Generator, size: int, positive: bool, d: float) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = _grid(size)
    tone = np.array([0.86, 0.66, 0.55]) + rng.normal(0, 0.04, 3)
    img = tone[:, None, None] * (1 + 0.06 * _smooth_noise(rng, size, 0.08))[None]
    # Lesion: a radius function r(theta); malignant ones are irregular, asymmetric, variegated.
    cy, cx = rng.normal(0, 0.12, 2)
    r0 = rng.uniform(0.3, 0.5)
    theta = np.arctan2(yy - cy, xx - cx)
    rho = np.hypot(yy - cy, xx - cx)
    c = _conspicuity(rng, positive, d)
    irregular = 0.04 + 0.5 * c
    r = r0 * (1 + rng.uniform(0, 0.15) * np.cos(theta - rng.uniform(0, 2 * np.pi)))  # asymmetry
    for k in range(2, 7):
        r = r * (1 + irregular / k**0.5 * np.cos(k * theta + rng.uniform(0, 2 * np.pi)))
    mask = rho < r
    brown = np.array([0.45, 0.28, 0.18]) + rng.normal(0, 0.05, 3)
    variegation = 0.1 + 0.9 * c
    dark = np.array([0.15, 0.1, 0.12]) if rng.random() < 0.5 else np.array([0.35, 0.38, 0.5])
    mix = np.clip(0.5 + 0.8 * _smooth_noise(rng, size, 0.1), 0, 1) * variegation
    lesion = brown[:, None, None] * (1 - mix) + dark[:, None, None] * mix
    soft = ndimage.gaussian_filter(mask.astype(float), 0.6)
    img = img * (1 - soft) + lesion * soft
    for _ in range(rng.poisson(0.5 + d)):  # hairs as clutter
        a, b = rng.uniform(-1, 1, 2), rng.uniform(-np.pi, np.pi)
        dist = np.abs((yy - a[0]) * np.cos(b) - (xx - a[1]) * np.sin(b))
        img = img * (1 - 0.4 * (dist < 1.0 / size))[None]
    return img, mask


def _cxr(rng: np.random.Generator, size: int, positive: bool, d: float) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = _grid(size)
    img = 0.72 + 0.05 * _smooth_noise(rng, size, 0.2)
    lungs = np.zeros_like(img, dtype=bool)
    for side in (-1, 1):
        cx = side * rng.uniform(0.38, 0.46)
        lung = ((xx - cx) / rng.uniform(0.28, 0.34)) ** 2 + ((yy - 0.05) / rng.uniform(0.62, 0.72)) ** 2 < 1
        lungs |= lung
    img = np.where(lungs, 0.22 + 0.04 * _smooth_noise(rng, size, 0.1), img)
    spacing = rng.uniform(0.16, 0.2)
    ribs = np.cos((yy + 0.18 * xx**2) / spacing * np.pi + rng.uniform(0, 2 * np.pi))
    img = img + 0.09 * (ribs > 0.6) * lungs
    # Patchy opacities: thresholded smooth noise inside the lungs; normal films get faint ones too.
    field = _smooth_noise(rng, size, 0.07)
    c = _conspicuity(rng, positive, d)
    core = (field > 1.7 - 1.5 * c) & lungs
    strength = 0.05 + 0.4 * c
    blurred = ndimage.gaussian_filter(core.astype(float), 1.0)
    img = img + strength * blurred
    # The mask is where the opacity changes the image (10 % of its peak), not only its core: a
    # blurred halo outside the mask would let the class leak past a localisation score.
    return img[None], (blurred > 0.1) if c > 0 else np.zeros_like(core)


def _mri(rng: np.random.Generator, size: int, positive: bool, d: float) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = _grid(size)
    ay, ax = rng.uniform(0.78, 0.9), rng.uniform(0.62, 0.74)
    e = (yy / ay) ** 2 + (xx / ax) ** 2
    img = np.where(e < 1, 0.8, 0.0) * (e > 0.8)  # skull ring
    brain = e < 0.8
    gyri = _smooth_noise(rng, size, 0.05)
    img = img + brain * (0.42 + 0.07 * gyri + 0.08 * (gyri > 1.2))
    vent = ((yy / 0.22) ** 2 + (xx / 0.12) ** 2) < 1
    img = np.where(vent & brain, 0.15, img)
    mask = np.zeros_like(brain)
    # Bright spots (vessels, partial-volume) appear in both classes; the mass is larger and brighter.
    for _ in range(rng.poisson(1 + 2 * d)):
        cy, cx = rng.uniform(-0.6, 0.6, 2)
        img = img + 0.12 * brain * _blob(yy, xx, cy, cx, rng.uniform(0.025, 0.05))
    c = _conspicuity(rng, positive, d)
    if c > 0:
        r = 0.05 + 0.12 * c
        while True:
            cy, cx = rng.uniform(-0.55, 0.55), rng.uniform(-0.45, 0.45)
            if (cy / 0.7) ** 2 + (cx / 0.55) ** 2 < 1:
                break
        mass = _blob(yy, xx, cy, cx, r)
        img = img + (0.1 + 0.45 * c) * mass * brain
        mask = (mass > 0.1) & brain  # where the mass changes the image, not its half-maximum core
    return img[None], mask


def _ct(rng: np.random.Generator, size: int, positive: bool, d: float) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = _grid(size)
    body = (yy / rng.uniform(0.62, 0.72)) ** 2 + (xx / rng.uniform(0.85, 0.95)) ** 2 < 1
    img = body * (0.55 + 0.03 * _smooth_noise(rng, size, 0.15))
    lungs = np.zeros_like(body)
    for side in (-1, 1):
        lungs |= ((xx - side * 0.42) / 0.33) ** 2 + (yy / rng.uniform(0.45, 0.52)) ** 2 < 1
    img = np.where(lungs, 0.08, img)
    for _ in range(rng.poisson(6 + 4 * d)):  # vessels: small bright dots in both classes
        cy, cx = rng.uniform(-0.45, 0.45), rng.uniform(-0.75, 0.75)
        img = img + 0.35 * lungs * _blob(yy, xx, cy, cx, 0.018)
    mask = np.zeros_like(lungs)
    c = _conspicuity(rng, positive, d)
    if c > 0:  # ground-glass: hazy patches, mostly peripheral
        field = _smooth_noise(rng, size, 0.08) + 0.8 * np.abs(xx)
        core = (field > 1.9 - 0.9 * c) & lungs
        haze = ndimage.gaussian_filter(core.astype(float), 1.2)
        img = img + (0.06 + 0.3 * c) * haze
        mask = haze > 0.1  # the haze's whole footprint (10 % of its peak), halo included
    return img[None], mask


_GENERATORS = {"skin": (_skin, ("benign", "malignant")), "cxr": (_cxr, ("normal", "pneumonia")),
               "mri": (_mri, ("no_tumor", "tumor")), "ct": (_ct, ("noncovid", "covid"))}


def make_phantoms(modality: str, opts: PhantomOptions) -> ImageSet:
    """Generate ``2 * n_per_class`` phantom images of ``modality`` (labels interleaved 0, 1, ...)."""
    gen, classes = _GENERATORS[modality]
    n = 2 * opts.n_per_class
    salt = zlib.crc32(modality.encode())
    images, masks = [], []
    for i in range(n):
        rng = np.random.default_rng([salt, opts.seed, i])
        img, mask = gen(rng, opts.size, bool(i % 2), opts.difficulty)
        noise = rng.normal(0, 0.03 + 0.03 * opts.difficulty, img.shape)
        images.append(np.clip((img + noise) * 255, 0, 255).astype(np.uint8))
        masks.append(mask)
    labels = np.arange(n) % 2
    return ImageSet(
        images=torch.from_numpy(np.stack(images)),
        labels=labels.astype(np.int64),
        ids=[f"phantom_{modality}/{i:05d}" for i in range(n)],
        classes=classes,
        masks=torch.from_numpy(np.stack(masks)),
        meta={"source": "phantom", "modality": modality},
    )


def _register(modality: str, description: str) -> None:
    @register_dataset(f"phantom_{modality}", PhantomOptions, description=description)
    def factory(opts: PhantomOptions, data_root: str | None = None) -> ImageSet:
        return make_phantoms(modality, opts)


_register("skin", "pigmented lesion: regular border vs irregular, asymmetric, variegated")
_register("cxr", "lung fields and ribs, with vs without diffuse patchy opacities")
_register("mri", "brain slice with vs without a focal bright mass")
_register("ct", "lung slice with vs without ground-glass opacities")
