import pytest
import torch

from medattn_bench.engine import device as device_mod
from medattn_bench.engine.device import resolve_device


def test_auto_precision_avoids_bf16_below_32px():
    dev = resolve_device("cpu", "auto", image_size=16)
    assert dev.dtype == "fp32" and "bf16" not in dev.reason  # not even a probe candidate
    with pytest.warns(UserWarning, match="NaN gradients on 1x1 maps"):
        # channels_last given, so no probe: on a CPU without native bf16 its timing alone takes minutes
        assert resolve_device("cpu", "bf16", False, image_size=16).dtype == "bf16"


def test_probe_picks_the_fastest_candidate_and_caches_it():
    calls = []

    def timer(dtype, channels_last, size, batch):
        calls.append((dtype, channels_last))
        return {("fp32", False): 3.0, ("fp32", True): 2.0, ("bf16", False): 2.5, ("bf16", True): 1.0}[(dtype, channels_last)]

    dev = device_mod._probed("cpu x", "auto", "auto", True, 48, timer=timer)
    assert (dev.dtype, dev.channels_last) == ("bf16", True) and "bf16/cl 1000.00" in dev.reason and "batch 64" in dev.reason
    assert len(calls) == 8  # 4 candidates, 2 interleaved rounds
    assert calls[:4] == [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]
    again = device_mod._probed("cpu x", "auto", "auto", True, 48, timer=timer)
    assert again == dev and len(calls) == 8  # cached per machine, torch, threads and size
    fp32 = device_mod._probed("cpu x", "auto", "auto", False, 48, timer=timer)  # no native bf16: fp32 only
    assert (fp32.dtype, fp32.channels_last) == ("fp32", True) and "bf16" not in fp32.reason
    fixed = device_mod._probed("cpu x", "fp32", False, True, 48, timer=timer)
    assert (fixed.dtype, fixed.channels_last) == ("fp32", False)


def test_fp32_conv_backward_on_a_1x1_map_is_finite():
    # The shape that breaks oneDNN's bf16 backward (layer4.0.conv1 at 16 px) is fine in fp32.
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(256, 512, 3, 2, 1, bias=False)
    x = torch.randn(8, 256, 1, 1)
    for _ in range(20):
        conv.weight.grad = None
        conv(x).sum().backward()
        assert torch.isfinite(conv.weight.grad).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_resolution():
    dev = resolve_device("cuda", "auto")
    assert dev.device == "cuda" and dev.channels_last == (dev.dtype == "bf16")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only path of make gpu-check")
def test_gpu_check_fails_cleanly_without_cuda(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    before = set((root / "benchmarks" / "results").glob("gpu-*.json"))
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "gpu_check.py")], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.strip() == (
        "gpu-check: no CUDA device (torch.cuda.is_available() is False); nothing was run")
    assert set((root / "benchmarks" / "results").glob("gpu-*.json")) == before  # nothing half-written


def test_an_isa_cap_below_bf16_turns_native_bf16_off(monkeypatch):
    monkeypatch.setattr(device_mod, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert device_mod.cpu_supports_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not device_mod.cpu_supports_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert device_mod.cpu_supports_bf16()


def test_cpu_and_instruction_set_facts_are_learned_once_per_machine(monkeypatch, tmp_path):
    """py-cpuinfo and the oneDNN probe each take a subprocess (about 1 s): their answers are kept
    per machine (CPU identity from /proc/cpuinfo, torch, the ISA caps in the environment), so a
    second process asks neither; other caps are another key and probe again."""
    import pytest

    from medattn_bench.engine import device

    if device._cpu_identity() is None:
        pytest.skip("no /proc/cpuinfo: facts are not cached on this platform")
    monkeypatch.setenv("MEDATTN_CACHE", str(tmp_path))
    for cap in device.ISA_CAPS:
        monkeypatch.delenv(cap, raising=False)
    device._cpu_info.cache_clear()
    device.instruction_sets.cache_clear()
    first_name, first_isa = device.cpu_name(), device.instruction_sets()
    assert first_isa["onednn"] and first_isa["onednn_fp32_conv"]
    assert device._facts_file().is_file()

    import subprocess

    import cpuinfo

    probes = []

    def no_subprocess(*a, **k):
        probes.append(a)
        raise subprocess.SubprocessError("no subprocess here")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    monkeypatch.setattr(cpuinfo, "get_cpu_info", no_subprocess)
    device._cpu_info.cache_clear()
    device.instruction_sets.cache_clear()
    assert (device.cpu_name(), device.instruction_sets()) == (first_name, first_isa)
    assert probes == []
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # another key: probed (here refused by the stub)
    device.instruction_sets.cache_clear()
    capped = device.instruction_sets()
    assert len(probes) == 1 and capped["caps"] == {"ONEDNN_MAX_CPU_ISA": "AVX2"} and capped["onednn"] is None
    device._cpu_info.cache_clear()
    device.instruction_sets.cache_clear()


def test_an_mkl_cap_is_recorded_and_named(monkeypatch, tmp_path):
    """MKL computes the GEMMs (linear layers, the small-map weight gradient), so a cap on its
    instruction set changes the arithmetic like an ATen or oneDNN cap: recorded and labelled."""
    from medattn_bench.engine import device
    from medattn_bench.records import isa_label

    monkeypatch.setenv("MEDATTN_CACHE", str(tmp_path))
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    device.instruction_sets.cache_clear()
    try:
        isa = device.instruction_sets()
        assert isa["caps"]["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"
        assert isa_label(isa).endswith(", MKL capped at AVX2")
        assert "MKL" not in isa_label({**isa, "caps": {}})
        capped_key = device.probe_key(32)
        monkeypatch.delenv("MKL_ENABLE_INSTRUCTIONS")
        assert device.probe_key(32) != capped_key  # the probe times again without the cap
    finally:
        device.instruction_sets.cache_clear()
