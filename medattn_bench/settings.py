"""The settings a suite declares, one pydantic model per YAML section (``train``, ``eval.split``,
``eval.stats``, ``splits``, ...): plain values with their validation, below every layer that reads
them. The records, the analysis and the engine take these; :mod:`medattn_bench.suite` composes them
into a ``Suite`` and loads suite files."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A name from a suite becomes a folder of the records tree: letters, digits and _ . + - only, not
# starting with a dot, so no name can climb out of the records folder or hide in it.
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,99}$"
# ... and no folder name may look like a file the records folder keeps beside its records
RESERVED_ENDINGS = (".json", ".lock", ".tmp", ".damaged")


def _folder_name(value: str | None) -> str | None:
    if value is not None and (value.lower().endswith(RESERVED_ENDINGS) or ".damaged" in value.lower()):
        raise ValueError(f"{value!r} would name a records folder like a file kept beside the records; "
                         f"a name must not end in {', '.join(RESERVED_ENDINGS)} nor hold .damaged")
    return value


class DatasetSpec(_Strict):
    name: str = Field(description="registered data set name (medattn-bench list datasets)", pattern=SAFE_NAME)
    options: dict[str, Any] = Field(default_factory=dict)

    _folder = field_validator("name")(_folder_name)


class AttentionSpec(_Strict):
    name: str = Field(description="registered attention block name (medattn-bench list attention)", pattern=SAFE_NAME)
    label: str | None = Field(None, description="leaderboard row name; defaults to name (letters, digits, _ . + -)",
                              pattern=SAFE_NAME)
    hparams: dict[str, Any] = Field(default_factory=dict)

    _folder = field_validator("label")(_folder_name)
    init_offset: int = Field(0, ge=0, description="shifts this row's initialisation seeds; an A/A check lists the "
                             "baseline twice, the copy with init_offset: 1")

    @property
    def key(self) -> str:
        return self.label or self.name


class AugmentSpec(_Strict):
    hflip: bool = True
    vflip: bool = False
    rotate_deg: float = Field(0.0, ge=0, le=180)
    translate: float = Field(0.0, ge=0, le=0.5)
    scale: tuple[float, float] = (1.0, 1.0)


class TrainSpec(_Strict):
    epochs: int = Field(100, ge=1, le=100_000)
    epochs_per_dataset: dict[str, Annotated[int, Field(ge=1, le=100_000)]] = Field(default_factory=dict, description="data set name -> epochs")
    batch_size: int = Field(64, ge=2, le=65_536)
    lr: float = Field(0.05, gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0, le=1)
    lr_milestones: list[float] = Field(default_factory=lambda: [0.3, 0.6, 0.9])
    lr_gamma: float = Field(0.1, gt=0, le=1)
    image_size: int = Field(224, ge=16, le=1024)
    augment: AugmentSpec = Field(default_factory=AugmentSpec)
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    channels_last: Literal["auto"] | bool = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1)

    @field_validator("lr_milestones")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        bad = [f for f in v if not 0 < f < 1]
        if bad:
            raise ValueError(f"milestones are fractions of the epochs in (0, 1), got {bad}")
        return sorted(v)


class SplitSpec(_Strict):
    kind: Literal["stratified", "official", "kfold"] = Field(
        "stratified", description="stratified: a fresh 80/20 split per seed (test sets overlap across seeds); "
        "kfold: seed s is fold s % folds of repeat s // folds, so each image is tested once per repeat; "
        "official: the source's own train/test split")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="stratified splits only")
    folds: int = Field(5, ge=2, le=50, description="kfold splits only")
    group_duplicates: bool = True
    patient_groups: bool = Field(True, description="keep each patient's (or source case's) images on one side, "
                                 "where the file names carry it (cxr, ct, csv group column, imagefolder group_pattern)")


class StatsSpec(_Strict):
    baseline: str = "none"
    test: Literal["split_t", "random_effects", "split_bootstrap"] = Field(
        "split_t", description="the decisive test of a variant against the baseline (each carries training "
        "variance; see the A/A suite): the mean of per-split ΔAUC with a t interval over splits, DerSimonian-Laird "
        "+ Hartung-Knapp, or a bootstrap over splits (benchmarks/sim_pooled.py compares them)")
    alpha: float = Field(0.05, gt=0, lt=0.5)
    margin: float = Field(1.0, gt=0, le=50, description="the smallest ΔAUC that matters, in AUC points: a variant is "
                          "'equivalent' to the baseline when two one-sided tests (Holm across the suite) put ΔAUC "
                          "inside ± margin. 1 point is below every gain Rao et al. reported as an improvement (the "
                          "smallest, SE on skin, is +1.78) and about the sd of a full-data ΔAUC between splits")
    power: float = Field(0.8, gt=0.5, lt=1, description="for the minimum detectable difference")
    n_resamples: int = Field(10000, ge=100, le=200_000)
    ci_level: float = Field(0.95, gt=0.5, lt=1)
    ci_method: Literal["bca", "percentile"] = Field("bca", description="CI of the case-only bootstrap")
    correction: Literal["holm", "bonferroni", "bh", "none"] = "holm"
    aa_block: int = Field(3, ge=2, description="splits per simulated suite when an A/A pair's false-positive rate "
                          "is measured")
    aa_looks: list[int] = Field(default_factory=list, description="also measure an A/A pair's false-positive rate "
                                "under a sequential suite's rule with looks at these split counts (e.g. [3, 6, 9], "
                                "as `splits: {min: 3, max: 9, step: 3}` gives): disjoint blocks of the last look's "
                                "size, each one simulated sequential suite")
    seed: int = 0

    @field_validator("aa_looks")
    @classmethod
    def _looks_increase(cls, v: list[int]) -> list[int]:
        if v and (v[0] < 2 or any(b <= a for a, b in zip(v, v[1:]))):
            raise ValueError(f"{v}: split counts must increase, the first at least 2 (e.g. [3, 6, 9])")
        return v


class CostSpec(_Strict):
    throughput: bool = True
    repeats: int = Field(5, ge=1)
    warmup: int = Field(2, ge=0)


class CamSpec(_Strict):
    """What each run keeps and measures of what its model looked at."""

    keep_weights: bool | list[int] = Field(False, description="save the final state_dict beside the record (.pt): "
                                           "true for every run, or a list of split seeds (ResNet-18: 45 MB a run)")
    localisation: bool = Field(True, description="Grad-CAM localisation scores on data sets with lesion masks")
    method: Literal["gradcam", "gradcam++"] = "gradcam"
    layer: Literal["layer1", "layer2", "layer3", "layer4"] = Field(
        "layer4", description="ResNet stage the CAM is taken on: layer4 as in the study (7x7 at 224 px; a 1x1 map, "
        "so a flat CAM, below 64 px); layer2 is 4x4 at 32 px")
    top_k: float = Field(0.1, gt=0, le=1, description="share of CAM pixels whose region is compared with the mask")
    max_images: int = Field(200, ge=1, description="positive test images scored per run (the first by id order)")


class EvalSpec(_Strict):
    split: SplitSpec = Field(default_factory=SplitSpec)
    cam: CamSpec = Field(default_factory=CamSpec)
    stats: StatsSpec = Field(default_factory=StatsSpec)
    cost: CostSpec = Field(default_factory=CostSpec)


class ExecutorSpec(_Strict):
    """Where runs execute. Not part of any run's config: the same run gives the same record anywhere."""

    kind: Literal["local", "slurm"] = "local"
    workers: int = Field(1, ge=1, description="local: runs at a time, each in its own process")
    runs_per_device: int = Field(1, ge=1, description="local, CUDA: runs sharing each GPU at once, each in its own "
                                 "process (a ResNet-18 on small images leaves most of a GPU idle); ignored on CPU")
    partition: str | None = Field(None, description="slurm: partition (default: the cluster's)")
    time_min: int = Field(60, ge=1, description="slurm: time limit per run in minutes")
    gpus: int = Field(0, ge=0, description="slurm: GPUs per run")
    cpus: int = Field(2, ge=1, description="slurm: CPUs per run (also its torch threads)")
    mem_gb: float = Field(8, gt=0, description="slurm: memory per run")
    array_parallelism: int = Field(16, ge=1, description="slurm: runs of the array at a time")


class SplitsSpec(_Strict):
    """A sequential suite: split seeds 0, 1, ... are added ``step`` at a time from ``min`` to
    ``max``; after each look a comparison that is better, worse or equivalent stops, and a data set
    stops when all of its comparisons have. Repeated looks spend α (``spending``), shared across the
    comparisons by ``correction``, so the error over all looks and comparisons stays at α."""

    min: int = Field(5, ge=2, le=1000)
    max: int = Field(20, ge=2, le=1000)
    step: int = Field(5, ge=1, le=1000)
    spending: Literal["obf", "linear"] = Field(
        "obf", description="how each comparison's α is spent over the looks: obf (Lan-DeMets O'Brien-Fleming: "
        "almost nothing early) or linear (α·t: a quarter at the first of four equal looks)")
    correction: Literal["holm", "bonferroni"] = Field(
        "holm", description="across the suite's comparisons: holm (each open comparison gets α/m_open, and a "
        "conclusion at any look passes its share on: Maurer & Bretz 2013) or bonferroni (α/m throughout); "
        "benchmarks/sim_sequential.py simulates both")

    @model_validator(mode="after")
    def _order(self) -> SplitsSpec:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self

    def looks(self) -> tuple[int, ...]:
        out = list(range(self.min, self.max + 1, self.step))
        return tuple(out if out[-1] == self.max else out + [self.max])


class OutputSpec(_Strict):
    records: str | None = Field(None, min_length=1, pattern=r"\S",
                                description="records folder; default leaderboard/records/<suite name>")
