"""``make gpu-check``: one command, about 5 minutes on one GPU, results saved as JSON under
benchmarks/results/:

1. the CUDA tests (tests/test_device.py and every test that asks for CUDA);
2. ``profile`` of the paper's four variants at 224 px: training and inference img/s with bf16/fp16
   autocast and channels_last, and peak memory;
3. the demo suite trained on the GPU (wall time; records in a temporary folder), one run at a time
   and then 4 runs sharing the GPU (``--runs-per-device 4``), the speed-up saved beside them;
4. the public anchor: timm's benchmark of resnet18 / seresnet18 inference at batch 1024 with AMP,
   13,537 / 12,647 img/s on an RTX 4090; our ResNet-18 and SE variant at the same batch beside it
   (and timm's own models, when timm is installed on the machine).

Without a CUDA device it prints one line and exits 2, before doing anything.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ANCHOR = {"source": "timm benchmark, RTX 4090, batch 1024, AMP, inference", "resnet18": 13537, "seresnet18": 12647}
VARIANTS = {"none": {}, "se": {"rd_ratio": 0.0625}, "cbam": {"rd_ratio": 0.0625}, "gc": {"rd_ratio": 0.0625}}


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device (torch.cuda.is_available() is False); nothing was run", file=sys.stderr)
        return 2
    from medattn_bench.cost import measure_throughput
    from medattn_bench.engine import resolve_device

    root = Path(__file__).resolve().parents[1]
    out: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "gpu": torch.cuda.get_device_name(),
                 "torch": torch.__version__, "python": platform.python_version()}
    t0 = time.perf_counter()
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-k", "cuda or gpu", "tests"], cwd=root,
                           capture_output=True, text=True)
    out["cuda_tests"] = {"returncode": tests.returncode, "tail": tests.stdout.strip().splitlines()[-1:]}
    dev = resolve_device("cuda", "auto", "auto", image_size=224)
    out["profile_224"] = {v: measure_throughput(v, h or None, 224, 256, dev, repeats=10, warmup=3).to_dict()
                          for v, h in VARIANTS.items()}
    out["anchor"] = {**ANCHOR, "ours": {v: measure_throughput(v, VARIANTS[v] or None, 224, 1024, dev, repeats=10,
                                                              warmup=3).infer_img_s for v in ("none", "se")}}
    try:
        import timm

        out["anchor"]["timm_here"] = {}
        for name in ("resnet18", "seresnet18"):
            model = timm.create_model(name, num_classes=1000).cuda().eval().to(memory_format=torch.channels_last)
            x = torch.randn(1024, 3, 224, 224, device="cuda").contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
                for _ in range(3):
                    model(x)
                torch.cuda.synchronize()
                t = time.perf_counter()
                for _ in range(10):
                    model(x)
                torch.cuda.synchronize()
            out["anchor"]["timm_here"][name] = 10 * 1024 / (time.perf_counter() - t)
    except ImportError:
        out["anchor"]["timm_here"] = "timm not installed on this machine"
    for per_device in (1, 4):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            demo = subprocess.run([sys.executable, "-m", "medattn_bench.cli", "run", "suites/demo.yaml", "--records",
                                   tmp, "--no-progress", "--runs-per-device", str(per_device)],
                                  cwd=root, capture_output=True, text=True)
            out[f"demo_runs_per_device_{per_device}"] = {
                "returncode": demo.returncode, "wall_s": round(time.perf_counter() - t, 1),
                "tail": demo.stdout.strip().splitlines()[-1:] + demo.stderr.strip().splitlines()[-2:]}
        if demo.returncode:
            break
    if "demo_runs_per_device_4" in out:
        out["runs_per_device_speedup"] = round(out["demo_runs_per_device_1"]["wall_s"]
                                               / out["demo_runs_per_device_4"]["wall_s"], 2)
    out["total_s"] = round(time.perf_counter() - t0, 1)
    results = root / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"gpu-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    print(f"saved {path}")
    return 0 if tests.returncode in (0, 5) and demo.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
