"""Is each phantom's class decided inside its lesion mask? Train the baseline on images whose mask
region is blanked and compare the test AUC with the untouched images (issue: a localisation score
on a phantom whose label leaks from outside the mask measures nothing).

Blanking replaces the region by each image's mean outside it. Negatives of cxr, mri and ct have
no lesion, so each gets the mask of a randomly drawn positive: both classes carry a blank of the
same shape distribution and the blank itself tells nothing. Demo size (suites/demo.yaml), 3
splits. Results: JSON under benchmarks/results/.

    python benchmarks/phantom_mask_check.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from medattn_bench.data import load_dataset
from medattn_bench.data.splits import stratified_split
from medattn_bench.engine import TrainSettings, resolve_device, train_and_evaluate
from medattn_bench.engine.device import cpu_name
from medattn_bench.models import resnet18
from medattn_bench.stats import delong_ci
from medattn_bench.suite import load_suite


def blanked(images: torch.Tensor, masks: torch.Tensor, labels: np.ndarray, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero((labels == 1) & masks.flatten(1).any(1).numpy())
    out = images.clone().float()
    for i in range(len(images)):
        m = masks[i] if masks[i].any() else masks[rng.choice(pos)]
        outside = out[i][:, ~m].mean(dim=1)
        out[i][:, m] = outside[:, None]
    return out.round().clamp(0, 255).to(torch.uint8)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    suite = load_suite(Path(__file__).resolve().parents[1] / "suites" / "demo.yaml")
    t = suite.train
    settings = TrainSettings(epochs=t.epochs, batch_size=t.batch_size, lr=t.lr, image_size=t.image_size)
    dev = resolve_device("cpu", t.precision, t.channels_last, None, t.image_size, t.batch_size)
    out = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu_name(), "suite": "suites/demo.yaml",
           "device": dev.to_dict(), "results": {}}
    for d in suite.datasets:
        data = load_dataset(d.name, d.options)
        variants = {"original": data.images, "mask blanked": blanked(data.images, data.masks, data.labels, 0)}
        res = {}
        for label, images in variants.items():
            aucs = []
            for seed in range(args.seeds):
                tr, te = stratified_split(data.labels, d.name, seed)
                torch.manual_seed(seed)
                run = train_and_evaluate(resnet18("none"), images, data.labels, tr, te, settings, dev, seed)
                aucs.append(delong_ci(data.labels[te], run.scores).auc)
            res[label] = {"aucs": [round(a, 4) for a in aucs], "mean": round(float(np.mean(aucs)), 4)}
        out["results"][d.name] = res
        print(d.name, {k: v["mean"] for k, v in res.items()}, flush=True)
    path = Path(__file__).resolve().parent / "results" / f"phantom-mask-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
