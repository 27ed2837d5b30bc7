"""The built-in names, without importing torch: planning a suite (``run --dry-run``) checks names
against these and the installed entry points, and imports no model code. A test keeps these
lists equal to the registries."""

from __future__ import annotations

import difflib

# name -> (paper, placement); `list attention` prints these without importing torch.
BUILTIN_ATTENTION_INFO = {
    "bam": ("Park et al., BAM: Bottleneck Attention Module, BMVC 2018", "stage_end"),
    "cbam": ("Woo et al., CBAM: Convolutional Block Attention Module, ECCV 2018", "block"),
    "coord": ("Hou et al., Coordinate Attention, CVPR 2021", "block"),
    "criss_cross": ("Huang et al., CCNet: Criss-Cross Attention, ICCV 2019", "block"),
    "eca": ("Wang et al., ECA-Net: Efficient Channel Attention, CVPR 2020", "block"),
    "ese": ("Lee & Park, CenterMask (VoVNetV2 effective SE), CVPR 2020", "block"),
    "gather_excite": ("Hu et al., Gather-Excite, NeurIPS 2018", "block"),
    "gc": ("Cao et al., GCNet: Non-local Networks Meet Squeeze-Excitation Networks, ICCVW 2019", "block"),
    "none": ("ResNet-18 baseline (no attention)", "block"),
    "nonlocal": ("Wang et al., Non-local Neural Networks, CVPR 2018", "block"),
    "se": ("Hu et al., Squeeze-and-Excitation Networks, CVPR 2018", "block"),
    "simam": ("Yang et al., SimAM: A Simple, Parameter-Free Attention Module, ICML 2021", "block"),
    "srm": ("Lee et al., SRM: A Style-based Recalibration Module, ICCV 2019", "block"),
    "triplet": ("Misra et al., Rotate to Attend: Convolutional Triplet Attention, WACV 2021", "block"),
}
_FILES = ("root", "size", "channels", "skip_corrupt", "near_duplicates", "hash_threshold")
_PHANTOM = ("n_per_class", "size", "difficulty", "seed")
# name -> (description, options); `list datasets` prints these without importing torch.
BUILTIN_DATASET_INFO = {
    "csv": ("CSV with columns path,label[,split,group]; paths relative to the file", (*_FILES, "positive", "negative")),
    "ct": ("real ct data in its public layout (noncovid / covid)", _FILES),
    "cxr": ("real cxr data in its public layout (normal / pneumonia)", _FILES),
    "imagefolder": ("one subfolder per class (optionally under train/ and test/)", (*_FILES, "classes", "group_pattern")),
    "medmnist": ("MedMNIST v2 .npz; a label subset forms the positive class", ("path", "positive", "size")),
    "mri": ("real mri data in its public layout (no_tumor / tumor)", _FILES),
    "phantom_ct": ("lung slice with vs without ground-glass opacities", _PHANTOM),
    "phantom_cxr": ("lung fields and ribs, with vs without diffuse patchy opacities", _PHANTOM),
    "phantom_mri": ("brain slice with vs without a focal bright mass", _PHANTOM),
    "phantom_skin": ("pigmented lesion: regular border vs irregular, asymmetric, variegated", _PHANTOM),
    "skin": ("real skin data in its public layout (benign / malignant)", _FILES),
}
BUILTIN_ATTENTION = tuple(sorted(BUILTIN_ATTENTION_INFO))
BUILTIN_DATASETS = tuple(sorted(BUILTIN_DATASET_INFO))


def unknown(kind: str, name: str, names: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Available: {', '.join(sorted(names))}"


def entry_point_names() -> tuple[str, ...]:
    """Names of the installed ``medattn_bench.attention`` entry points (read from metadata; nothing
    is imported). By convention an entry point is named after the block it provides."""
    return tuple(entry_point_origins())


def entry_point_origins() -> dict[str, str]:
    """Installed entry-point name -> 'distribution version', from metadata alone."""
    from importlib import metadata

    out = {}
    for ep in metadata.entry_points(group="medattn_bench.attention"):
        dist = ep.dist
        out[ep.name] = f"{dist.name} {dist.version}" if dist is not None else ep.value
    return out


def isa_label(isa: dict | None) -> str:
    """One short name for the instruction sets a record computed with: ATen's CPU capability and
    the kernel oneDNN picked for an fp32 convolution ('not recorded' for records made before
    records named them)."""
    if not isinstance(isa, dict) or not isa:
        return "instruction set not recorded"
    conv = str(isa.get("onednn_fp32_conv") or "?")
    caps = isa.get("caps") if isinstance(isa.get("caps"), dict) else {}
    mkl = f", MKL capped at {caps['MKL_ENABLE_INSTRUCTIONS']}" if caps.get("MKL_ENABLE_INSTRUCTIONS") else ""
    return f"ATen {isa.get('aten') or '?'}, oneDNN {conv.split(':')[-1]}{mkl}"
