"""Every registered block: contract, formula parity, official initialisation, parameter counts."""

import math

import pytest
import torch
from torch import nn

from medattn_bench.attention import ATTENTION, build_attention, hparam_names
from medattn_bench.models import attention_modules, resnet18

BLOCKS = ATTENTION.names()
STAGE_CHANNELS = (64, 64, 128, 128, 256, 256, 512, 512)  # the 8 BasicBlocks of ResNet-18


def _randomise(module: nn.Module) -> None:
    # Zero-initialised parts (GC's last conv, CBAM's spatial BN) would hide dead gradients.
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.2)


@pytest.mark.parametrize("name", BLOCKS)
def test_block_contract(name):
    torch.manual_seed(0)
    # 64 channels, ResNet-18's smallest stage: at 16, GC's C/16 = 1-unit LayerNorm passes no gradient.
    block = build_attention(name, 64)
    _randomise(block)
    x = torch.randn(2, 64, 8, 8, requires_grad=True)
    y = block(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all()
    for pname, p in block.named_parameters():
        assert p.grad is not None, f"{name}: {pname} gets no gradient"
        assert p.grad.abs().sum() > 0, f"{name}: {pname} gets a zero gradient"


def test_se_matches_formula():
    torch.manual_seed(1)
    se = build_attention("se", 32)
    x = torch.randn(2, 32, 5, 5)
    w1, b1, w2, b2 = se.fc1.weight, se.fc1.bias, se.fc2.weight, se.fc2.bias
    assert w1.shape == (2, 32)  # C/16 hidden units, official C // r
    z = x.mean(dim=(2, 3))
    s = torch.sigmoid(torch.relu(z @ w1.T + b1) @ w2.T + b2)
    torch.testing.assert_close(se(x), x * s[:, :, None, None])


def test_cbam_matches_formula():
    torch.manual_seed(2)
    cbam = build_attention("cbam", 32)
    _randomise(cbam)
    cbam.eval()
    bn = cbam.spatial.bn
    with torch.no_grad():
        bn.running_mean.fill_(0.1)
        bn.running_var.fill_(2.0)
    x = torch.randn(2, 32, 6, 6)
    mlp = cbam.channel.mlp
    w1, b1, w2, b2 = mlp[0].weight, mlp[0].bias, mlp[2].weight, mlp[2].bias

    def shared(v):
        return torch.relu(v @ w1.T + b1) @ w2.T + b2

    mc = torch.sigmoid(shared(x.mean((2, 3))) + shared(x.amax((2, 3))))
    f1 = x * mc[:, :, None, None]
    pooled = torch.stack([f1.amax(1), f1.mean(1)], dim=1)
    conv = nn.functional.conv2d(pooled, cbam.spatial.conv.weight, padding=3)
    bnout = (conv - 0.1) / math.sqrt(2.0 + bn.eps) * bn.weight + bn.bias
    expected = f1 * torch.sigmoid(bnout)
    torch.testing.assert_close(cbam(x), expected)


def test_gc_matches_formula():
    torch.manual_seed(3)
    gc = build_attention("gc", 32)
    _randomise(gc)
    x = torch.randn(2, 32, 4, 5)
    wk, bk = gc.conv_mask.weight.reshape(1, 32), gc.conv_mask.bias
    logits = torch.einsum("kc,nchw->nhw", wk, x).reshape(2, -1) + bk
    attn = torch.softmax(logits, dim=1)
    context = torch.einsum("nc p,np->nc".replace(" ", ""), x.reshape(2, 32, -1), attn)
    c1, ln, _, c2 = gc.transform
    h = context @ c1.weight.reshape(2, 32).T + c1.bias
    h = (h - h.mean(1, keepdim=True)) / torch.sqrt(h.var(1, unbiased=False, keepdim=True) + ln.eps)
    h = torch.relu(h * ln.weight.reshape(1, 2) + ln.bias.reshape(1, 2))
    t = h @ c2.weight.reshape(32, 2).T + c2.bias
    torch.testing.assert_close(gc(x), x + t[:, :, None, None])


def test_gc_is_identity_at_init_inside_the_model():
    # Checked in the built model: torchvision's ResNet init must not have undone the zero init.
    model = resnet18("gc")
    x = torch.randn(2, 64, 8, 8)
    for block in attention_modules(model):
        assert torch.equal(block.transform[-1].weight, torch.zeros_like(block.transform[-1].weight))
    first = attention_modules(model)[0]
    torch.testing.assert_close(first(x), x)


def test_cbam_spatial_bn_weight_is_zero_inside_the_model():
    model = resnet18("cbam")
    for block in attention_modules(model):
        assert block.spatial.bn.weight.item() == 0.0
        assert block.spatial.bn.momentum == 0.01


def _per_block_params(name: str, c: int) -> int:
    r = c // 16
    if name == "se":
        return c * r + r + r * c + c
    if name == "cbam":
        return (c * r + r + r * c + c) + 2 * 7 * 7 + 2  # shared MLP + 7x7 conv (no bias) + BN affine
    if name == "gc":
        return (c + 1) + (c * r + r) + 2 * r + (r * c + c)  # conv_mask, conv1, LayerNorm, conv2
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["none", "se", "cbam", "gc"])
def test_resnet18_parameter_counts(name):
    model = resnet18(name, num_classes=1000)
    expected = 11_689_512 + (0 if name == "none" else sum(_per_block_params(name, c) for c in STAGE_CHANNELS))
    assert sum(p.numel() for p in model.parameters()) == expected


def test_block_sits_after_bn2_before_residual_addition():
    model = resnet18("se").eval()
    block = model.layer1[0]
    seen = []
    block.attn.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    x = torch.randn(1, 64, 8, 8)
    block(x)
    expected = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x)))))
    torch.testing.assert_close(seen[0], expected)


def test_unknown_hparam_names_the_valid_ones():
    from medattn_bench.errors import PluginError

    with pytest.raises(PluginError, match="no hyper-parameter 'reduction'.*valid: rd_ratio, rd_divisor"):
        build_attention("se", 64, reduction=8)
    assert hparam_names("gc") == ["rd_ratio", "pooling", "fusion"]


def test_suite_hparams_change_the_block():
    se = build_attention("se", 64, rd_ratio=0.25)
    assert se.fc1.out_features == 16


def test_after_conv1_placement_puts_one_block_after_the_stem():
    from medattn_bench.attention import register_attention

    @register_attention("test_stem_gate", paper="test only", placement="after_conv1")
    class StemGate(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(channels))

        def forward(self, x):
            return x * self.scale[None, :, None, None]

    try:
        model = resnet18("test_stem_gate")
        blocks = attention_modules(model)
        assert len(blocks) == 1 and isinstance(blocks[0], StemGate) and blocks[0].scale.numel() == 64
        assert model.maxpool[1] is blocks[0]
        assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 2)
    finally:
        ATTENTION.unregister("test_stem_gate")
