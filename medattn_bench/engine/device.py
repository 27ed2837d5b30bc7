"""Device, precision and memory-format resolution; machine description for run records."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from functools import lru_cache

import torch


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@lru_cache(maxsize=1)
def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_supports_bf16() -> bool:
    """bf16 autocast pays off on CPUs with native bf16 math (AMX or AVX512-BF16)."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


@dataclass(frozen=True)
class DeviceInfo:
    device: str  # 'cpu' or 'cuda'
    name: str  # CPU model or GPU name
    dtype: str  # 'bf16' or 'fp32'
    channels_last: bool
    threads: int
    torch_version: str

    def to_dict(self) -> dict:
        return asdict(self)


# Below this image size ResNet-18's layer4 sees a 1x1 map, and oneDNN's bf16 backward of the 3x3
# stride-2 conv on a 1x1 input returns NaN weight gradients at random (measured with torch 2.14.1:
# 175 of 200 backward passes at batch 8); fp32 is unaffected. 'auto' therefore stays in fp32 there.
MIN_BF16_CPU_IMAGE = 32


def resolve_device(device: str = "auto", precision: str = "auto", channels_last: str | bool = "auto",
                   threads: int | None = None, image_size: int | None = None) -> DeviceInfo:
    """Turn the suite's 'auto' choices into concrete ones for this machine (and image size)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        from ..errors import MedattnError

        raise MedattnError("train.device: 'cuda' was asked for but torch sees no CUDA device; use 'auto' or 'cpu'")
    if threads:
        torch.set_num_threads(threads)
    if device == "cuda":
        name = torch.cuda.get_device_name()
        bf16_ok = torch.cuda.is_bf16_supported()
    else:
        name = cpu_name()
        bf16_ok = cpu_supports_bf16() and (image_size is None or image_size >= MIN_BF16_CPU_IMAGE)
        if precision == "bf16" and image_size is not None and image_size < MIN_BF16_CPU_IMAGE:
            import warnings

            warnings.warn(f"bf16 on CPU with {image_size} px images: oneDNN's bf16 conv backward gives NaN "
                          f"gradients on 1x1 maps; expect failed runs (use precision: auto or fp32)", stacklevel=2)
    dtype = ("bf16" if bf16_ok else "fp32") if precision == "auto" else precision
    # channels_last measured here: it helps bf16 convs on CPU (oneDNN) and on tensor-core GPUs.
    cl = (dtype == "bf16") if channels_last == "auto" else bool(channels_last)
    return DeviceInfo(device, name, dtype, cl, torch.get_num_threads(), torch.__version__)


def machine_summary() -> dict:
    return {"platform": platform.platform(),
            "python": platform.python_version(), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
