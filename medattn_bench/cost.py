"""What a variant costs: parameters, multiply-accumulates and throughput.

MACs come from fvcore's ``FlopCountAnalysis``, which counts one fused multiply-add as one "flop",
i.e. MACs, the unit the ResNet, SE and CBAM papers call FLOPs. fvcore silently skips element-wise
operators (mul, add, sigmoid, softmax, mean, amax, max_pool2d, ...), which hides exactly the cost
of attention gates, so handlers are added: one op per output element for element-wise ops, one
per input element for reductions, kernel area per output for pooling. Pure data movement (view,
cat, permute, ...) is registered as zero so that anything still uncounted shows up in
``uncounted_ops``. ``torch.utils.flop_counter.FlopCounterMode`` (2 FLOPs per multiply-add, conv
and matmul only) serves as a cross-check.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import warnings

import torch
from torch import nn

with warnings.catch_warnings():  # fvcore's import calls torch.jit.script, deprecated in torch 2.x
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import FlopCountAnalysis

from .attention import ATTENTION
from .engine.device import DeviceInfo
from .engine.train import autocast
from .models import attention_modules, resnet18
from .timing import TIMER, time_calls, time_once

_ELEMENTWISE = ["add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "sigmoid", "sigmoid_", "relu", "relu_",
                "softmax", "exp", "tanh", "gelu", "silu", "silu_", "hardsigmoid", "hardswish", "neg", "rsub",
                "pow", "sqrt", "rsqrt", "abs", "clamp", "clamp_", "clamp_min", "clamp_max", "where", "hardtanh", "relu6",
                "hardtanh_", "reciprocal", "sign", "log", "minimum", "maximum"]
_REDUCTIONS = ["mean", "amax", "amin", "max", "min", "sum", "std", "var", "norm", "linalg_vector_norm", "logsumexp"]
_POOLS = ["max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d"]
_FREE = ["view", "reshape", "flatten", "permute", "transpose", "t", "contiguous", "expand", "expand_as", "cat",
         "stack", "unsqueeze", "squeeze", "size", "select", "slice", "chunk", "split", "narrow", "to", "type_as",
         "detach", "dropout", "numpy_T", "repeat", "zeros", "ones", "zeros_like", "ones_like", "full", "arange",
         "Int", "ScalarImplicit", "eq", "ne", "gt", "lt", "ge", "le", "copy_", "clone", "flip", "roll", "pad",
         "constant_pad_nd", "new_zeros", "new_empty", "empty", "index", "gather", "diagonal", "unbind", "broadcast_to",
         "split_with_sizes", "unflatten", "mT", "movedim", "adaptive_max_pool2d_with_indices", "floor_divide",
         "floor", "scalarImplicit", "alias", "lift_fresh", "masked_fill", "fill_", "zero_", "topk", "sort", "argsort",
         "eye", "logical_not", "bitwise_not"]


def _numel(v: Any) -> int:
    try:
        shape = v.type().sizes()
    except Exception:
        return 0
    return math.prod(shape) if shape else 0


def _out_elems(inputs: list, outputs: list) -> Counter:
    return Counter({"elementwise": _numel(outputs[0]) if outputs else 0})


def _in_elems(inputs: list, outputs: list) -> Counter:
    return Counter({"reduction": _numel(inputs[0]) if inputs else 0})


def _pool(inputs: list, outputs: list) -> Counter:
    node = inputs[1].node()  # kernel_size: a ListConstruct of constants in the traced graph
    sizes = [i.toIValue() for i in node.inputs()] if node.kind() == "prim::ListConstruct" else [inputs[1].toIValue()]
    k = math.prod(sizes) if len(sizes) > 1 else (sizes[0] or 1) ** 2
    return Counter({"pool": _numel(outputs[0]) * int(k)})


def _free(inputs: list, outputs: list) -> Counter:
    return Counter()


def flop_analysis(model: nn.Module, image_size: int) -> FlopCountAnalysis:
    """fvcore analysis of ``model`` on one image with every operator accounted for."""
    fa = FlopCountAnalysis(model.eval(), torch.zeros(1, 3, image_size, image_size))
    # A handle takes precedence over fvcore's ignore list (relu, clamp, max, ... are counted by the
    # handlers below); what it still skips silently is data movement and comparisons, zero here too.
    fa.set_op_handle(**{f"aten::{op}": _out_elems for op in _ELEMENTWISE})
    fa.set_op_handle(**{f"aten::{op}": _in_elems for op in _REDUCTIONS})
    fa.set_op_handle(**{f"aten::{op}": _pool for op in _POOLS})
    fa.set_op_handle(**{f"aten::{op}": _free for op in _FREE})
    fa.unsupported_ops_warnings(False)
    fa.uncalled_modules_warnings(False)
    fa.tracer_warnings("none")
    return fa


@dataclass(frozen=True)
class StaticCost:
    params: int
    params_attention: int
    macs: int
    macs_attention: int
    macs_by_operator: dict[str, int]
    uncounted_ops: dict[str, int]
    image_size: int
    counter: str = "fvcore FlopCountAnalysis + element-wise handlers (1 MAC per multiply-add)"

    def to_dict(self) -> dict:
        return asdict(self)


def static_cost(attention: str, hparams: dict | None = None, image_size: int = 224, num_classes: int = 2) -> StaticCost:
    """Parameters and MACs of ResNet-18 + ``attention`` at ``image_size``, with the attention share.
    Remembered per process (a suite, a pytest run and ``blocks`` ask again for the same variants):
    keyed by the registered factory itself and its placement, so a block registered anew under the same
    name is counted anew."""
    entry = ATTENTION.entry(attention)
    key = json.dumps(hparams or {}, sort_keys=True, default=repr)
    found = _static_cost(attention, entry.obj, str(entry.meta.get("placement")), key, image_size, num_classes)
    return copy.deepcopy(found)  # its dicts stay the memo's own


@lru_cache(maxsize=512)
def _static_cost(attention: str, factory: Any, placement: str, hparams_key: str, image_size: int,
                 num_classes: int) -> StaticCost:
    hparams = json.loads(hparams_key) or None
    model = resnet18(attention, hparams, num_classes=num_classes)
    attn_ids = {id(m) for m in attention_modules(model)}
    names = [n for n, m in model.named_modules() if id(m) in attn_ids]
    params = sum(p.numel() for p in model.parameters())
    params_attn = sum(p.numel() for m in attention_modules(model) for p in m.parameters())
    with torch.no_grad():
        fa = flop_analysis(model, image_size)
        total = int(fa.total())
        by_module = fa.by_module()
        macs_attn = int(sum(by_module.get(n, 0) for n in names))
        by_op = {k: int(v) for k, v in fa.by_operator().items()}
        uncounted = {k: int(v) for k, v in fa.unsupported_ops().items()}
    return StaticCost(params, params_attn, total, macs_attn, by_op, uncounted, image_size)


def static_costs(attention: str, hparams: dict | None, image_size: int) -> dict:
    """A record's ``cost``: parameters and MACs at the run's size (``static``) and at the study's
    224 px (``static_224``, parameters and MACs only)."""
    return {"static": static_cost(attention, hparams, image_size).to_dict(),
            "static_224": {k: v for k, v in static_cost(attention, hparams, 224).to_dict().items()
                           if k in ("params", "params_attention", "macs", "macs_attention")}}


def flop_counter_macs(model: nn.Module, image_size: int) -> int:
    """torch's FlopCounterMode total halved (it counts 2 FLOPs per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model.eval()(torch.zeros(1, 3, image_size, image_size))
    return fc.get_total_flops() // 2


# ------------------------------------------------------------------------------------ throughput


@dataclass(frozen=True)
class Throughput:
    train_img_s: float
    train_img_s_min: float
    train_img_s_max: float
    infer_img_s: float
    infer_img_s_min: float
    infer_img_s_max: float
    repeats: int
    batch_size: int
    image_size: int
    device: str
    device_name: str
    dtype: str
    channels_last: bool
    threads: int
    peak_memory_mb: float | None
    timer: str
    # Measured beside the suite's baseline, interleaved (variant, baseline, variant, ...) in this
    # process on this device: per round the ratio variant / baseline, then their median and range.
    baseline: str | None = None
    baseline_train_img_s: float | None = None
    baseline_infer_img_s: float | None = None
    train_ratio: float | None = None
    train_ratio_min: float | None = None
    train_ratio_max: float | None = None
    infer_ratio: float | None = None
    infer_ratio_min: float | None = None
    infer_ratio_max: float | None = None
    load_avg: float | None = None  # the OS's 1-minute load average at the end of the measurement
    cpu_count: int | None = None
    isa: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _steps(attention: str, hparams: dict | None, image_size: int, batch_size: int, dev: DeviceInfo):
    """(train_step, infer_step, model) of one variant on random data of the given shape."""
    torch.manual_seed(0)
    device = torch.device(dev.device)
    fmt = torch.channels_last if dev.channels_last else torch.contiguous_format
    model = resnet18(attention, hparams).to(device, memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch_size, 3, image_size, image_size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 2, (batch_size,), device=device)

    def train_step() -> None:
        model.train()
        with autocast(dev):
            loss = nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer_step() -> None:
        model.eval()
        with torch.inference_mode(), autocast(dev):
            model(x)

    return train_step, infer_step, model


INTERLEAVED = "time.perf_counter per call, round-robin over the baseline and the variants, accelerator synchronised"


def _finish(tr: list[float], inf: list[float], batch_size: int, image_size: int, dev: DeviceInfo, timer: str,
            extra: dict) -> Throughput:
    import os

    from .names import isa_label

    peak = torch.cuda.max_memory_allocated() / 2**20 if dev.device == "cuda" else None
    isa = None
    if dev.device == "cpu":
        from .engine.device import instruction_sets

        isa = isa_label(instruction_sets())
    return Throughput(statistics.median(tr), min(tr), max(tr), statistics.median(inf), min(inf), max(inf),
                      min(len(tr), len(inf)), batch_size, image_size, dev.device, dev.name, dev.dtype,
                      dev.channels_last, dev.threads, peak, timer, **extra,
                      load_avg=os.getloadavg()[0] if hasattr(os, "getloadavg") else None, cpu_count=os.cpu_count(),
                      isa=isa)


def measure_beside_baseline(variants: list[tuple[str, dict | None]], baseline: tuple[str, dict | None], image_size: int,
                            batch_size: int, dev: DeviceInfo, repeats: int = 5, warmup: int = 2) -> list[Throughput]:
    """Throughput of several variants and their baseline, measured together: ``warmup`` untimed
    calls each (at least one), then ``repeats`` rounds, each timing one training step of the baseline and
    of every variant in turn (then the same for inference). Per round each variant's ratio to the
    baseline's step of that round: drift and neighbours hit all of them alike, and the baseline
    is timed once per round for all variants, not once per variant. The baseline's own entry, if
    it is among ``variants``, has ratio 1."""
    cuda = dev.device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    steps = [_steps(baseline[0], baseline[1], image_size, batch_size, dev)]
    steps += [_steps(n, h, image_size, batch_size, dev) for n, h in variants]
    times: dict[str, list[list[float]]] = {}
    for kind in (0, 1):  # 0: a training step, 1: inference
        fns = [s[kind] for s in steps]
        for fn in fns:
            for _ in range(max(warmup, 1)):
                fn()
        rounds = [[time_once(fn, cuda) for fn in fns] for _ in range(max(repeats, 1))]
        times["train" if kind == 0 else "infer"] = [list(col) for col in zip(*rounds)]  # per model, per round
    out = []
    base_tr, base_inf = times["train"][0], times["infer"][0]
    for i, (name, hparams) in enumerate(variants, start=1):
        same = name == baseline[0] and (hparams or None) == (baseline[1] or None)
        tr_t, inf_t = (base_tr, base_inf) if same else (times["train"][i], times["infer"][i])
        rt = [b / a for a, b in zip(tr_t, base_tr)]  # variant img/s over baseline img/s
        ri = [b / a for a, b in zip(inf_t, base_inf)]
        extra = dict(baseline=baseline[0], baseline_train_img_s=statistics.median(batch_size / t for t in base_tr),
                     baseline_infer_img_s=statistics.median(batch_size / t for t in base_inf),
                     train_ratio=statistics.median(rt), train_ratio_min=min(rt), train_ratio_max=max(rt),
                     infer_ratio=statistics.median(ri), infer_ratio_min=min(ri), infer_ratio_max=max(ri))
        out.append(_finish([batch_size / t for t in tr_t], [batch_size / t for t in inf_t], batch_size, image_size, dev,
                           INTERLEAVED, extra))
    return out


def measure_throughput(attention: str, hparams: dict | None, image_size: int, batch_size: int, dev: DeviceInfo,
                       repeats: int = 5, warmup: int = 2, baseline: str | None = None,
                       baseline_hparams: dict | None = None) -> Throughput:
    """Training-step and inference images/s: median of ``repeats`` timed batches (with min/max).

    With ``baseline``, the baseline is measured in the same process, interleaved round by round
    (:func:`measure_beside_baseline`), and the record keeps both and the per-round ratio: a block's
    cost relative to the model it modifies, which a busy or different machine shifts far less than
    absolute images/s."""
    if baseline is not None:
        return measure_beside_baseline([(attention, hparams)], (baseline, baseline_hparams), image_size, batch_size,
                                       dev, repeats, warmup)[0]
    if dev.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    train_a, infer_a, _ = _steps(attention, hparams, image_size, batch_size, dev)
    tr = [batch_size / t for t in time_calls(train_a, repeats, warmup)]
    inf = [batch_size / t for t in time_calls(infer_a, repeats, warmup)]
    return _finish(tr, inf, batch_size, image_size, dev, TIMER, {})


def attention_table(pattern: str, with_cost: bool) -> tuple[list[str], list[list[str]]]:
    """``medattn-bench list attention --params/--cost``: each registered block matching ``pattern``
    with its parameters at 64 channels, and with ``with_cost`` its overhead on ResNet-18 at 224 px."""
    from .attention import build_attention

    base = static_cost("none", None, 224) if with_cost else None
    rows = []
    for e in ATTENTION.entries(pattern):
        n_params = sum(p.numel() for p in build_attention(e.name, 64).parameters())
        row = [e.name, e.origin, e.meta.get("paper", ""), e.meta.get("placement", "block"), f"{n_params:,}"]
        if base is not None:
            s = static_cost(e.name, None, 224)
            row += [f"{s.params - base.params:+,}", f"{(s.macs - base.macs) / 1e6:+.2f}", f"{100 * (s.macs / base.macs - 1):+.2f}"]
        rows.append(row)
    headers = ["name", "origin", "paper", "placement", "params @64ch"]
    if with_cost:
        headers += ["Δparams ResNet-18", "ΔMMACs @224", "ΔMACs %"]
    return headers, rows


def profile_lines(attention: str, size: int, batch: int, dev: DeviceInfo, repeats: int):
    """``medattn-bench profile``: parameters, MACs (total and attention share) and throughput."""
    s = static_cost(attention, None, size)
    base = static_cost("none", None, size)
    yield f"ResNet-18 + {attention} at {size} px, 2 classes"
    yield f"params      {s.params:,} (attention {s.params_attention:,}; +{s.params - base.params:,} vs baseline)"
    yield (f"MACs        {s.macs / 1e9:.4f} G (attention {s.macs_attention / 1e6:.2f} M = "
           f"{100 * s.macs_attention / s.macs:.2f} %; {100 * (s.macs / base.macs - 1):+.2f} % vs baseline) [{s.counter}]")
    yield f"uncounted   {s.uncounted_ops or 'none'}"
    t = measure_throughput(attention, None, size, batch, dev, repeats)
    yield (f"device      {t.device} ({t.device_name}), {t.dtype}, channels_last={t.channels_last}, "
           f"{t.threads} threads, batch {t.batch_size}, timer: {t.timer}")
    yield f"train       {t.train_img_s:.1f} img/s (median of {t.repeats}; min {t.train_img_s_min:.1f}, max {t.train_img_s_max:.1f})"
    yield f"inference   {t.infer_img_s:.1f} img/s (median of {t.repeats}; min {t.infer_img_s_min:.1f}, max {t.infer_img_s_max:.1f})"
    if t.peak_memory_mb is not None:
        yield f"peak memory {t.peak_memory_mb:.0f} MiB"
