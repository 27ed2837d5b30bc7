"""Training-speed benchmarks (``make bench-train``); results saved as JSON under benchmarks/results/.

1. Harness overhead: for one model, batch, dtype and device, interleaved in one process,
   (a) the real trainer's epoch (uint8 images, batched augmentation, normalisation) against
   (b) a bare loop of forward + backward + SGD step over pre-made tensors. Target: (a)/(b) >= 0.9.
2. Against timm: the same ResNet-18 (2 classes), image size, batch and images (an ImageFolder of
   PNGs written from the phantoms), timm's documented data and optimiser API driven the way its
   train.py drives them, at its best CPU settings (bf16 autocast, channels_last, worker count
   tuned) and at its defaults (fp32, NCHW, 1 worker, default augmentation). Interleaved with
   medattn-bench's trainer on the same images. timm is installed for this benchmark only.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from medattn_bench.data import load_dataset
from medattn_bench.engine import TrainSettings, resolve_device, train_and_evaluate
from medattn_bench.engine.device import cpu_name
from medattn_bench.engine.train import prepare_images
from medattn_bench.models import resnet18


def trainer_epochs(images, labels, size, batch, dev, epochs) -> list[float]:
    """Seconds per epoch of the real trainer (epoch 1 is warm-up and dropped by the caller)."""
    stamps = [time.perf_counter()]
    idx = np.arange(len(labels))
    train_and_evaluate(resnet18("none"), images, labels, idx, idx[:2], TrainSettings(epochs=epochs, batch_size=batch,
                       image_size=size, lr_milestones=()), dev, 0, on_epoch=lambda e, l: stamps.append(time.perf_counter()))
    return list(np.diff(stamps))


def bare_epochs(n, size, batch, dev, epochs) -> list[float]:
    torch.manual_seed(0)
    fmt = torch.channels_last if dev.channels_last else torch.contiguous_format
    model = resnet18("none").to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    xs = [torch.randn(batch, 3, size, size).contiguous(memory_format=fmt) for _ in range(n // batch)]
    ys = [torch.randint(0, 2, (batch,)) for _ in xs]
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        for x, y in zip(xs, ys):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dev.dtype == "bf16"):
                loss = torch.nn.functional.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t)
    return times


def write_imagefolder(root: Path, images: torch.Tensor, labels: np.ndarray) -> None:
    for i, (img, y) in enumerate(zip(images, labels)):
        d = root / ("malignant" if y else "benign")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(d / f"{i:05d}.png")


def timm_epochs(root: Path, size, batch, epochs, bf16, channels_last, workers, default_aug) -> list[float]:
    import timm
    import timm.data
    import timm.optim

    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=2)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    ds = timm.data.create_dataset("", root=str(root))
    aug = {} if default_aug else {"scale": (1.0, 1.0), "ratio": (1.0, 1.0), "color_jitter": 0.0}
    loader = timm.data.create_loader(ds, input_size=(3, size, size), batch_size=batch, is_training=True,
                                     use_prefetcher=False, num_workers=workers, persistent_workers=workers > 0, **aug)
    opt = timm.optim.create_optimizer_v2(model, "sgd", lr=0.05, momentum=0.9, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        for x, y in loader:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--n-per-class", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3, help="per measurement; the first is warm-up")
    ap.add_argument("--no-timm", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    dev = resolve_device("cpu", "auto", "auto", None, args.size)
    data = load_dataset("phantom_skin", {"n_per_class": args.n_per_class, "size": args.size})
    images = prepare_images(data.images, args.size)
    n = len(data)
    res: dict = {"machine": {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                             "python": platform.python_version()},
                 "settings": {"size": args.size, "batch": args.batch, "images": n, "dtype": dev.dtype,
                              "channels_last": dev.channels_last, "rounds": args.rounds, "epochs": args.epochs},
                 "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "runs": []}

    def record(label, secs):
        ips = [n / s for s in secs[1:]]
        res["runs"].append({"label": label, "img_s": ips})
        print(f"{label:42s} {statistics.median(ips):8.1f} img/s  ({', '.join(f'{v:.0f}' for v in ips)})", flush=True)

    tmp = Path(tempfile.mkdtemp())
    if not args.no_timm:
        write_imagefolder(tmp / "phantoms", images, data.labels)
        folder = load_dataset("imagefolder", {"root": str(tmp / "phantoms"), "size": args.size})
    fp32 = resolve_device("cpu", "fp32", False, None, args.size)
    for r in range(args.rounds):  # interleaved: every configuration once per round
        record("medattn-bench trainer", trainer_epochs(images, data.labels, args.size, args.batch, dev, args.epochs))
        record("medattn-bench trainer, fp32 NCHW", trainer_epochs(images, data.labels, args.size, args.batch, fp32, args.epochs))
        record("bare loop (pre-made tensors)", bare_epochs(n, args.size, args.batch, dev, args.epochs))
        if args.no_timm:
            continue
        record("medattn-bench trainer (from ImageFolder)",
               trainer_epochs(folder.images, folder.labels, args.size, args.batch, dev, args.epochs))
        for w in (0, 1, 2):
            record(f"timm best: bf16, channels_last, workers={w}",
                   timm_epochs(tmp / "phantoms", args.size, args.batch, args.epochs, True, True, w, False))
        record("timm defaults: fp32, NCHW, workers=1, default aug",
               timm_epochs(tmp / "phantoms", args.size, args.batch, args.epochs, False, False, 1, True))
    med = {}
    for run in res["runs"]:
        med.setdefault(run["label"], []).extend(run["img_s"])
    med = {k: statistics.median(v) for k, v in med.items()}
    res["median_img_s"] = med
    res["harness_ratio"] = med["medattn-bench trainer"] / med["bare loop (pre-made tensors)"]
    res["bf16_speedup"] = med["medattn-bench trainer"] / med["medattn-bench trainer, fp32 NCHW"]
    print(f"harness overhead: trainer / bare loop = {res['harness_ratio']:.3f}; "
          f"bf16+channels_last vs fp32 NCHW trainer: {res['bf16_speedup']:.2f}x")
    if not args.no_timm:
        best = max(v for k, v in med.items() if k.startswith("timm best"))
        res["timm_best_img_s"] = best
        res["vs_timm_best"] = med["medattn-bench trainer (from ImageFolder)"] / best
        res["vs_timm_defaults"] = med["medattn-bench trainer (from ImageFolder)"] / med["timm defaults: fp32, NCHW, workers=1, default aug"]
        print(f"medattn-bench / timm best = {res['vs_timm_best']:.2f}; / timm defaults = {res['vs_timm_defaults']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"train-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(res, indent=1))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
