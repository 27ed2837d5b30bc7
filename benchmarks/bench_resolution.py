"""What a 128 px run costs against a 64 px one (``python benchmarks/bench_resolution.py``; JSON
saved under benchmarks/results/): for the resolution check's variants (none, SE, CBAM), the
multiply-accumulates per image (fvcore) at both sizes, and the real trainer's training throughput
at both sizes with the reference board's settings (fp32, channels_last, batch 64, this machine's
threads), interleaved: every (variant, size) once per round, the first epoch of each dropped as
warm-up. Two projections of a full-skin 128 px run's training time: the fastest recorded 64 px
skin run on this CPU model times the measured slowdown, and the suite's 8 epochs of a split's
2,638 training images at the measured 128 px throughput. Run it on an idle machine."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from medattn_bench.cost import static_cost
from medattn_bench.data import load_dataset
from medattn_bench.engine import TrainSettings, resolve_device, train_and_evaluate
from medattn_bench.engine.device import cpu_name
from medattn_bench.engine.train import prepare_images
from medattn_bench.models import resnet18

from _common import ROOT, header, save

VARIANTS = ("none", "se", "cbam")
SIZES = (64, 128)
EPOCHS, TRAIN_IMAGES = 8, 3297 - 659  # the suite's epochs; a full-skin split's training images


def epochs_s(variant: str, images, labels, size: int, dev, epochs: int) -> list[float]:
    stamps = [time.perf_counter()]
    idx = np.arange(len(labels))
    train_and_evaluate(resnet18(variant), images, labels, idx, idx[:2],
                       TrainSettings(epochs=epochs, batch_size=64, image_size=size, lr_milestones=()), dev, 0,
                       on_epoch=lambda e, loss: stamps.append(time.perf_counter()))
    return list(np.diff(stamps))


def recorded_train_s(cpu: str, isa: str) -> dict[str, float]:
    """The fastest training seconds among the reference board's 64 px skin runs made on ``cpu`` with
    ATen's ``isa`` kernels and no caps, per variant (the least contended: many ran beside other work)."""
    out: dict[str, list[float]] = {}
    for p in (ROOT / "leaderboard" / "records" / "paper-cpu-full" / "skin").glob("*/seed*.json"):
        r = json.loads(p.read_text())
        m = r["env"]["machine"]
        if (r.get("status") == "ok" and m["cpu"] == cpu and m["isa"]["aten"] == isa and not m["isa"]["caps"]
                and r["run"]["variant"] in VARIANTS):
            out.setdefault(r["run"]["variant"], []).append(r["time"]["train_s"])
    return {v: min(s) for v, s in sorted(out.items())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2, help="per measurement; the first is warm-up")
    ap.add_argument("--n-per-class", type=int, default=96)
    args = ap.parse_args()
    data = load_dataset("phantom_skin", {"n_per_class": args.n_per_class, "size": 128})
    prepared = {s: prepare_images(data.images, s) for s in SIZES}
    devs = {s: resolve_device("cpu", "fp32", True, None, s) for s in SIZES}
    macs = {f"{v}@{s}": static_cost(v, None, s).macs for v in VARIANTS for s in SIZES}
    img_s: dict[str, list[float]] = {f"{v}@{s}": [] for v in VARIANTS for s in SIZES}
    for _ in range(args.rounds):
        for v in VARIANTS:
            for s in SIZES:
                secs = epochs_s(v, prepared[s], data.labels, s, devs[s], args.epochs)
                img_s[f"{v}@{s}"] += [len(data) / x for x in secs[1:]]
                print(f"{v:5s} {s:4d} px  {statistics.median(img_s[f'{v}@{s}']):7.1f} img/s", flush=True)
    slow = {v: statistics.median(img_s[f"{v}@64"]) / statistics.median(img_s[f"{v}@128"]) for v in VARIANTS}
    rec = recorded_train_s(cpu_name(), torch.backends.cpu.get_cpu_capability())
    projected = {v: rec[v] * slow[v] for v in rec}
    from_rate = {v: EPOCHS * TRAIN_IMAGES / statistics.median(img_s[f"{v}@128"]) for v in VARIANTS}
    for v in VARIANTS:
        print(f"{v:5s} MACs x{macs[f'{v}@128'] / macs[f'{v}@64']:.2f}, training {slow[v]:.2f}x slower at 128 px"
              + f"; {EPOCHS} epochs of {TRAIN_IMAGES} images at 128 px: {from_rate[v] / 60:.1f} min"
              + (f"; the fastest 64 px skin run trained {rec[v] / 60:.1f} min here, so about {projected[v] / 60:.1f} min"
                 if v in rec else ""))
    save("resolution", False, {**header(False), "threads": torch.get_num_threads(), "batch": 64,
                               "images": len(data), "rounds": args.rounds, "macs": macs, "train_img_s": img_s,
                               "slowdown_128_vs_64": slow, "recorded_64px_skin_train_s": rec,
                               "projected_128px_skin_train_s": projected, "epochs": EPOCHS, "train_images": TRAIN_IMAGES,
                               "projected_128px_from_throughput_s": from_rate})


if __name__ == "__main__":
    main()
