"""Device, precision and memory-format resolution; machine description for run records."""

from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import torch

from ..names import isa_label  # noqa: F401  (re-exported: records and this machine named alike)


@lru_cache(maxsize=1)
def _cpu_identity() -> str | None:
    """A cheap name for this CPU: the first processor's vendor, family, model, stepping, model name
    and flags in /proc/cpuinfo (Linux), hashed; None where there is no such file."""
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n", 1)[0]
    except OSError:
        return None
    keys = ("vendor_id", "cpu family", "model", "model name", "stepping", "flags")
    keep = [line for line in first.splitlines() if line.split(":", 1)[0].strip() in keys]
    return hashlib.sha256("\n".join(keep).encode()).hexdigest()[:20] if keep else None


def _facts_file() -> Path:
    return _probe_cache().with_name("machine-facts.json")


def _cached_fact(key: str | None, compute):
    """``compute()`` once per machine: facts that take a subprocess to learn (about 1 s each) and
    change only with the CPU, torch or the instruction-set caps in the environment, all of them in
    ``key``. None: not cached (no cheap CPU identity here)."""
    if key is None:
        return compute()
    path = _facts_file()
    stored = _read_cache(path)
    if isinstance(stored.get(key), dict):
        return stored[key]
    value = compute()
    if value:
        _write_cache(path, {**stored, key: value})
    return value


def _read_cache(path: Path) -> dict:
    """A per-machine cache file (device probe, machine facts): its dict, or {} if missing or damaged."""
    import json

    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _write_cache(path: Path, stored: dict) -> None:
    """Atomically; a cache that cannot be written is only a cost, never an error."""
    from ..jsonio import write_json_atomic

    try:
        write_json_atomic(path, stored)
    except OSError:
        pass


@lru_cache(maxsize=1)
def _cpu_info() -> dict:
    """py-cpuinfo's name and flags of this CPU (it probes in a subprocess, about 1 s), cached per
    machine."""

    def probe() -> dict:
        try:
            import cpuinfo

            info = cpuinfo.get_cpu_info() or {}
        except Exception:  # an unknown platform: name it from the platform module, no flags
            return {}
        return {k: info[k] for k in ("brand_raw", "flags") if k in info}

    ident = _cpu_identity()
    return _cached_fact(f"cpuinfo|{ident}" if ident else None, probe)


def cpu_flags() -> frozenset[str]:
    return frozenset(_cpu_info().get("flags", ()))


def cpu_name() -> str:
    return _cpu_info().get("brand_raw") or platform.processor() or platform.machine()


# oneDNN ISA caps below AVX512_CORE_BF16: with one of these in ONEDNN_MAX_CPU_ISA, oneDNN cannot
# use the CPU's bf16 instructions, whatever the flags say.
_ISA_WITHOUT_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}


def cpu_supports_bf16() -> bool:
    """bf16 autocast pays off on CPUs with native bf16 math (AMX or AVX512-BF16) that oneDNN may use."""
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in _ISA_WITHOUT_BF16:
        return False
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


@dataclass(frozen=True)
class DeviceInfo:
    device: str  # 'cpu' or 'cuda'
    name: str  # CPU model or GPU name
    dtype: str  # 'bf16' or 'fp32'
    channels_last: bool
    threads: int
    torch_version: str
    reason: str = ""  # why these settings: the suite, a rule, or the probe's timings

    def to_dict(self) -> dict:
        return asdict(self)


# Below this image size ResNet-18's layer4 sees a 1x1 map, and oneDNN's bf16 backward of the 3x3
# stride-2 conv on a 1x1 input returns NaN weight gradients at random (measured with torch 2.14.1:
# 175 of 200 backward passes at batch 8); fp32 is unaffected. 'auto' therefore stays in fp32 there.
MIN_BF16_CPU_IMAGE = 32


def resolve_device(device: str = "auto", precision: str = "auto", channels_last: str | bool = "auto",
                   threads: int | None = None, image_size: int | None = None, batch_size: int = 64) -> DeviceInfo:
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
    if device == "cpu" and image_size and (precision == "auto" or channels_last == "auto"):
        return _probed(name, precision, channels_last, bf16_ok, image_size, batch_size)
    dtype = ("bf16" if bf16_ok else "fp32") if precision == "auto" else precision
    # channels_last helps bf16 convs on CPU (oneDNN) and on tensor-core GPUs.
    cl = (dtype == "bf16") if channels_last == "auto" else bool(channels_last)
    why = "as the suite says" if precision != "auto" and channels_last != "auto" else "rule: bf16 where supported"
    return DeviceInfo(device, name, dtype, cl, torch.get_num_threads(), torch.__version__, why)


def _probe_cache() -> Path:
    # the data cache's folder (medattn_bench.data.cache.cache_dir), without importing the data package
    return Path(os.environ.get("MEDATTN_CACHE") or Path.home() / ".cache" / "medattn_bench") / "device-probe.json"


# The environment caps on the instruction sets torch computes with: ATen's kernels, oneDNN's, and
# MKL's (its GEMMs: linear layers and the small-map weight gradient). All three set: as on an
# AVX2-only CPU.
ISA_CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")

# Bumped when the trainer's step changes what the probe would time (2: the small-map weight gradient).
PROBE_VERSION = 2


def probe_key(image_size: int) -> str:
    flags = ",".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma"))))
    isa = "/".join(os.environ.get(k, "") for k in ISA_CAPS)
    return (f"{cpu_name()}|{flags}|{isa}|torch {torch.__version__}|{torch.get_num_threads()} threads|{image_size}px"
            f"|probe {PROBE_VERSION}")


def time_train_step(dtype: str, channels_last: bool, image_size: int, batch_size: int = 64, steps: int = 1) -> float:
    """Median seconds per image of a ResNet-18 training step (SGD) under one setting: two warm-up
    steps, then ``steps`` timed (the probe repeats this in interleaved rounds)."""
    from ..models import resnet18
    from ..timing import time_calls

    torch.manual_seed(0)
    model = resnet18("none")
    x = torch.randn(batch_size, 3, image_size, image_size)
    y = torch.randint(0, 2, (batch_size,))
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    times = sorted(t / len(x) for t in time_calls(step, repeats=steps, warmup=1))
    return times[len(times) // 2]


def _probed(name: str, precision: str, channels_last: str | bool, bf16_ok: bool, image_size: int,
            batch_size: int = 64, timer=time_train_step) -> DeviceInfo:
    """Pick precision and memory format by timing the candidates this CPU can run safely (bf16
    only where the CPU has native bf16 and the image is large enough), cached per machine, torch
    version, thread count and image size. Rounds are interleaved: these machines drift."""
    dtypes = [precision] if precision != "auto" else (["fp32", "bf16"] if bf16_ok else ["fp32"])
    layouts = [bool(channels_last)] if channels_last != "auto" else [False, True]
    cands = [(d, cl) for d in dtypes for cl in layouts]
    batch = max(2, min(batch_size, 64))
    key = probe_key(image_size) + f"|batch {batch}"
    cache = _probe_cache()
    stored = _read_cache(cache)
    entry = stored.get(key, {}) if isinstance(stored.get(key), dict) else {}
    want = [f"{d}/{'cl' if cl else 'nchw'}" for d, cl in cands]
    if not all(w in entry for w in want):
        best_of = {w: [] for w in want}
        for _ in range(2):
            for (d, cl), w in zip(cands, want):
                best_of[w].append(timer(d, cl, image_size, batch))
        entry.update({w: min(v) for w, v in best_of.items()})
        _write_cache(cache, {**stored, key: entry})
    timings = {w: entry[w] for w in want}
    best = min(timings, key=timings.get)
    d, layout = best.split("/")
    why = f"probe (ms/img, train step, batch {batch}): " + ", ".join(f"{w} {1e3 * t:.2f}" for w, t in sorted(timings.items()))
    return DeviceInfo("cpu", name, d, layout == "cl", torch.get_num_threads(), torch.__version__, why)


_ONEDNN_PROBE = """
import torch
x = torch.randn(8, 64, 16, 16).contiguous(memory_format=torch.channels_last)
w = torch.randn(64, 64, 3, 3).contiguous(memory_format=torch.channels_last)
with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
    torch.nn.functional.conv2d(x, w)
"""


@lru_cache(maxsize=1)
def instruction_sets() -> dict:
    """The instruction sets this process computes with, which decide its fp32 arithmetic (the same
    config trained on AVX2 and on AVX-512 gives different models): ATen's vectorised kernels
    (torch.backends.cpu.get_cpu_capability) and oneDNN's, read from oneDNN's own verbose lines in a
    child process with this environment (ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA caps included; an
    MKL_ENABLE_INSTRUCTIONS cap is recorded too, since MKL computes the small-map weight gradients):
    its ISA line and the kernel it picked for an fp32 3x3 convolution. About 1.3 s, once per machine,
    torch and caps (:func:`_cached_fact`)."""
    import subprocess
    import sys

    caps = {k: os.environ[k] for k in ISA_CAPS if k in os.environ}
    out = {"aten": torch.backends.cpu.get_cpu_capability(), "onednn": None, "onednn_fp32_conv": None, "caps": caps}

    def probe() -> dict:
        try:
            res = subprocess.run([sys.executable, "-c", _ONEDNN_PROBE], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return {}
        found: dict = {}
        for line in res.stdout.splitlines():
            if ",info,cpu,isa:" in line:
                found["onednn"] = line.split(",info,cpu,isa:", 1)[1].strip()
            elif ",primitive,exec,cpu,convolution," in line and "onednn_fp32_conv" not in found:
                found["onednn_fp32_conv"] = line.split(",primitive,exec,cpu,convolution,", 1)[1].split(",")[0]
        return found if found.get("onednn") and found.get("onednn_fp32_conv") else {}

    ident = _cpu_identity()
    key = (f"onednn|{ident}|{sys.executable}|torch {torch.__version__} {torch.__file__}|{sorted(caps.items())}"
           if ident else None)
    out.update(_cached_fact(key, probe))
    return out


def machine_summary() -> dict:
    return {"platform": platform.platform(),
            "python": platform.python_version(), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "isa": instruction_sets(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
