"""The blocks beyond the paper's three: each against an independent computation of its paper's
formula for fixed (random) weights, and its parameter count against the formula."""

import math

import pytest
import torch
import torch.nn.functional as F

from medattn_bench.attention import ATTENTION, build_attention
from medattn_bench.attention.eca import eca_kernel_size
from medattn_bench.models import resnet18


def _rand(block, scale=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return block.eval()


def _bn_eval(x, bn):
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return (x - bn.running_mean.reshape(shape)) / torch.sqrt(bn.running_var.reshape(shape) + bn.eps) * bn.weight.reshape(shape) + bn.bias.reshape(shape)


X = torch.randn(2, 64, 6, 5, generator=torch.Generator().manual_seed(1))


def test_eca():
    assert [eca_kernel_size(c) for c in (64, 128, 256, 512)] == [3, 5, 5, 5]
    b = _rand(build_attention("eca", 64))
    w = b.conv.weight.reshape(-1)
    y = F.pad(X.mean((2, 3)), (1, 1))
    att = torch.stack([(y[:, i:i + 3] * w).sum(1) for i in range(64)], 1)
    torch.testing.assert_close(b(X), X * torch.sigmoid(att)[:, :, None, None])
    assert sum(p.numel() for p in b.parameters()) == 3


def test_srm():
    b = _rand(build_attention("srm", 64))
    flat = X.reshape(2, 64, -1)
    t = torch.stack([flat.mean(-1), (flat.var(-1, unbiased=True) + 1e-5).sqrt()], -1)
    z = (t * b.cfc).sum(-1)
    torch.testing.assert_close(b(X), X * torch.sigmoid(_bn_eval(z, b.bn))[:, :, None, None])
    assert sum(p.numel() for p in b.parameters()) == 64 * 2 + 64 * 2
    assert torch.equal(build_attention("srm", 8).cfc, torch.zeros(8, 2))  # official zero init


def test_gather_excite_global_and_extent():
    b = build_attention("gather_excite", 64)
    torch.testing.assert_close(b(X), X * torch.sigmoid(X.mean((2, 3), keepdim=True)))
    assert sum(p.numel() for p in b.parameters()) == 0
    b2 = build_attention("gather_excite", 64, extent=2)
    x = torch.randn(1, 64, 4, 4)
    pooled = x.reshape(1, 64, 2, 2, 2, 2).mean((3, 5))
    torch.testing.assert_close(b2(x), x * torch.sigmoid(pooled.repeat_interleave(2, 2).repeat_interleave(2, 3)))
    b3 = build_attention("gather_excite", 64, extent=4, extra_params=True)
    assert sum(p.numel() for p in b3.parameters()) == 2 * (64 * 9 + 2 * 64)


def test_coordinate_attention():
    b = _rand(build_attention("coord", 64))
    mip = max(8, 64 // 32)
    w1, b1 = b.conv1.weight.reshape(mip, 64), b.conv1.bias
    pool_h, pool_w = X.mean(3), X.mean(2)  # N,C,H and N,C,W

    def shared(v):  # v: N, C, L
        z = torch.einsum("mc,ncl->nml", w1, v) + b1[None, :, None]
        z = _bn_eval(z, b.bn1)
        return z * F.relu6(z + 3) / 6

    a_h = torch.sigmoid(torch.einsum("cm,nml->ncl", b.conv_h.weight.reshape(64, mip), shared(pool_h)) + b.conv_h.bias[None, :, None])
    a_w = torch.sigmoid(torch.einsum("cm,nml->ncl", b.conv_w.weight.reshape(64, mip), shared(pool_w)) + b.conv_w.bias[None, :, None])
    torch.testing.assert_close(b(X), X * a_h[:, :, :, None] * a_w[:, :, None, :])
    assert sum(p.numel() for p in b.parameters()) == (64 * mip + mip) + 2 * mip + 2 * (mip * 64 + 64)


def test_simam():
    b = build_attention("simam", 64)
    n = 6 * 5 - 1
    mu = X.mean((2, 3), keepdim=True)
    var = ((X - mu) ** 2).sum((2, 3), keepdim=True) / n
    torch.testing.assert_close(b(X), X * torch.sigmoid((X - mu) ** 2 / (4 * (var + 1e-4)) + 0.5))


def test_nonlocal_embedded_gaussian():
    b = _rand(build_attention("nonlocal", 64, sub_sample=False))
    flat = X.reshape(2, 64, -1)

    def conv(m, v):
        return torch.einsum("oc,ncl->nol", m.weight.reshape(m.out_channels, -1), v) + m.bias[None, :, None]

    th, ph, g = conv(b.theta, flat), conv(b.phi, flat), conv(b.g, flat)
    f = torch.softmax(torch.einsum("nci,ncj->nij", th, ph), dim=-1)
    y = torch.einsum("nij,ncj->nci", f, g)
    z = _bn_eval(conv(b.w, y).reshape_as(X), b.bn) + X
    torch.testing.assert_close(b(X), z, atol=1e-4, rtol=1e-4)  # large softmax logits in fp32
    assert sum(p.numel() for p in b.parameters()) == 3 * (64 * 32 + 32) + (32 * 64 + 64) + 2 * 64
    fresh = build_attention("nonlocal", 64)
    torch.testing.assert_close(fresh.eval()(X), X)  # zero-initialised BN: identity at start


def test_criss_cross_against_explicit_loop():
    b = _rand(build_attention("criss_cross", 64, recurrence=1))
    x = X[:1]
    q = torch.einsum("oc,chw->ohw", b.query.weight.reshape(8, 64), x[0]) + b.query.bias[:, None, None]
    k = torch.einsum("oc,chw->ohw", b.key.weight.reshape(8, 64), x[0]) + b.key.bias[:, None, None]
    v = torch.einsum("oc,chw->ohw", b.value.weight.reshape(64, 64), x[0]) + b.value.bias[:, None, None]
    h, w = x.shape[-2:]
    out = torch.empty_like(x[0])
    for i in range(h):
        for j in range(w):
            keys = [(r, j) for r in range(h) if r != i] + [(i, c) for c in range(w)]  # criss-cross, self once
            e = torch.stack([(q[:, i, j] * k[:, r, c]).sum() for r, c in keys])
            a = torch.softmax(e, 0)
            out[:, i, j] = sum(a[t] * v[:, r, c] for t, (r, c) in enumerate(keys))
    torch.testing.assert_close(b(x)[0], b.gamma * out + x[0])
    assert build_attention("criss_cross", 64).gamma.item() == 0.0
    assert sum(p.numel() for p in b.parameters()) == 2 * (64 * 8 + 8) + (64 * 64 + 64) + 1


def test_triplet():
    b = _rand(build_attention("triplet", 64))

    def gate(x, g):
        z = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1)
        return x * torch.sigmoid(_bn_eval(F.conv2d(z, g.conv.weight, padding=3), g.bn))

    o1 = gate(X.permute(0, 2, 1, 3), b.cw).permute(0, 2, 1, 3)
    o2 = gate(X.permute(0, 3, 2, 1), b.hc).permute(0, 3, 2, 1)
    torch.testing.assert_close(b(X), (o1 + o2 + gate(X, b.hw)) / 3)
    assert sum(p.numel() for p in b.parameters()) == 3 * (2 * 49 + 2)


def test_bam_and_its_placement():
    b = _rand(build_attention("bam", 64))
    ch = b.channel
    v = X.mean((2, 3)) @ ch[0].weight.T + ch[0].bias
    mc = torch.relu(_bn_eval(v, ch[1])) @ ch[3].weight.T + ch[3].bias
    s = X
    for layer in b.spatial:
        s = _bn_eval(s, layer) if isinstance(layer, torch.nn.BatchNorm2d) else layer(s)
    torch.testing.assert_close(b(X), X * (1 + torch.sigmoid(mc[:, :, None, None] * s)))
    rd = 4
    assert sum(p.numel() for p in b.parameters()) == (64 * rd + rd + 2 * rd + rd * 64 + 64) + (
        64 * rd + rd + 2 * rd + 2 * (rd * rd * 9 + rd + 2 * rd) + rd + 1)
    model = resnet18("bam")
    assert [type(getattr(model, f"layer{i}")[-1]).__name__ for i in (1, 2, 3)] == ["BAM"] * 3
    assert type(model.layer4[-1]).__name__ == "AttnBasicBlock"


def test_effective_se():
    b = _rand(build_attention("ese", 64))
    z = X.mean((2, 3)) @ b.fc.weight.reshape(64, 64).T + b.fc.bias
    torch.testing.assert_close(b(X), X * (F.relu6(z + 3) / 6)[:, :, None, None])
    assert sum(p.numel() for p in b.parameters()) == 64 * 64 + 64


@pytest.mark.parametrize("name, per_block", [
    ("eca", lambda c: eca_kernel_size(c)),
    ("srm", lambda c: 4 * c),
    ("triplet", lambda c: 300),
    ("ese", lambda c: c * c + c),
    ("simam", lambda c: 0),
])
def test_resnet18_totals(name, per_block):
    model = resnet18(name, num_classes=1000)
    channels = (64, 64, 128, 128, 256, 256, 512, 512)
    assert sum(p.numel() for p in model.parameters()) == 11_689_512 + sum(per_block(c) for c in channels)
    assert math.isfinite(model.eval()(torch.randn(1, 3, 64, 64)).sum().item())


@pytest.mark.parametrize("name", ATTENTION.names())
def test_every_registered_block_passes_the_plugin_contract(name):
    from medattn_bench.contract import check_block

    report = check_block(name)
    assert report.ok, report.failures
