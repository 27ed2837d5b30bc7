"""The small-map weight gradient against the stock convolution, in whole training steps
(``python benchmarks/bench_smallmap.py [--avx2]``): ResNet-18 variants at the demo's setting
(batch 32, 32 px) and the reference board's (batch 64, 64 px), channels_last fp32, SGD; the two
models of each setting stepped in interleaved rounds (these machines drift); best of the rounds.
``--avx2`` re-runs itself with ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
MKL_ENABLE_INSTRUCTIONS=AVX2`` (as on an AVX2-only CPU). JSON saved under benchmarks/results/."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import AVX2, header, save
SETTINGS = [(32, 32), (64, 64)]  # (batch, image px)
VARIANTS = ["none", "se", "cbam", "gc"]


def stepper(attention: str, batch: int, size: int, small_map: bool):
    import torch
    import torch.nn.functional as F
    from torch import nn

    from medattn_bench.models import resnet18
    from medattn_bench.models.smallmap import SmallMapConv2d

    torch.manual_seed(0)
    model = resnet18(attention)
    if not small_map:
        for m in model.modules():
            if type(m) is SmallMapConv2d:
                m.__class__ = nn.Conv2d
    model = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,))

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    return step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--avx2", action="store_true")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=4, help="steps per timed sample")
    args = ap.parse_args()
    if args.avx2 and os.environ.get("ATEN_CPU_CAPABILITY") != "avx2":
        raise SystemExit(subprocess.call([sys.executable, *sys.argv], env={**os.environ, **AVX2}))
    out = {**header(args.avx2), "unit": "ms per training step (best of rounds)", "results": []}
    for batch, size in SETTINGS:
        for attention in VARIANTS:
            steps = {sm: stepper(attention, batch, size, sm) for sm in (False, True)}
            best = {False: float("inf"), True: float("inf")}
            for _ in range(args.rounds):
                for sm, step in steps.items():
                    t = time.perf_counter()
                    for _ in range(args.steps):
                        step()
                    best[sm] = min(best[sm], (time.perf_counter() - t) / args.steps * 1e3)
            row = {"attention": attention, "batch": batch, "image_size": size, "stock_ms": round(best[False], 2),
                   "small_map_ms": round(best[True], 2), "ratio": round(best[True] / best[False], 3)}
            out["results"].append(row)
            print(json.dumps(row), flush=True)
    save("smallmap", args.avx2, out)


if __name__ == "__main__":
    main()
