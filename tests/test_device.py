import pytest
import torch

from medattn_bench.engine.device import MIN_BF16_CPU_IMAGE, cpu_supports_bf16, resolve_device


def test_auto_precision_avoids_bf16_below_32px():
    assert resolve_device("cpu", "auto", image_size=16).dtype == "fp32"
    expected = "bf16" if cpu_supports_bf16() else "fp32"
    assert resolve_device("cpu", "auto", image_size=MIN_BF16_CPU_IMAGE).dtype == expected
    with pytest.warns(UserWarning, match="NaN gradients on 1x1 maps"):
        assert resolve_device("cpu", "bf16", image_size=16).dtype == "bf16"


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
