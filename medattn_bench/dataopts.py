"""Options of every built-in data set, as pydantic models, importable without torch: planning a
suite (``run --dry-run``) validates data-set options with these before any data code loads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DatasetOptions(BaseModel):
    """Base of every data set's options model; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class PhantomOptions(DatasetOptions):
    n_per_class: int = Field(200, ge=2, description="images per class")
    size: int = Field(32, ge=16, le=512, description="side in pixels")
    difficulty: float = Field(1.0, ge=0.0, le=3.0, description="0 easy ... 1 default ... 3 very hard")
    seed: int = Field(0, description="generator seed (the data, not the training run)")


class RealOptions(DatasetOptions):
    root: str | None = Field(None, description="folder of this data set (overrides --data-root / MEDATTN_DATA)")
    size: int = Field(128, ge=16, le=1024, description="decoded side in pixels (shorter side resized, centre crop)")
    channels: Literal[1, 3] | None = Field(None, description="1 (grayscale) or 3 (RGB); default per data set")
    skip_corrupt: bool = Field(False, description="skip unreadable images (counted in the run record) instead of failing")
    near_duplicates: bool = Field(True, description="group near-duplicates (perceptual hash) as well as exact ones")
    hash_threshold: int = Field(8, ge=0, le=64, description="max Hamming distance of 256-bit dHashes in one group")


class FolderOptions(RealOptions):
    root: str = Field(description="folder with exactly two class subfolders (or train/test folders holding them)")
    classes: tuple[str, str] | None = Field(None, description="(negative, positive) subfolder names; default sorted")
    group_pattern: str | None = Field(None, description="regular expression whose first group, searched in each "
                                      "file name, names its patient (images of one patient stay on one side)")


class CsvOptions(RealOptions):
    root: str = Field(description="CSV file with columns path,label (optional split, group)")
    positive: str = Field("1", description="label value of the positive class")
    negative: str | None = Field(None, description="label value of the negative class (default: the one value "
                                 "other than positive; more than one is an error); '*' makes every other value negative")


class MedmnistOptions(DatasetOptions):
    path: str = Field(description="a MedMNIST .npz file (keys train_images, train_labels, val_..., test_...)")
    positive: list[int] = Field(default_factory=lambda: [1], description="label values that form the positive class")
    size: int | None = Field(None, ge=8, le=1024, description="resize to this side (default: as stored)")


def options_model(name: str) -> type[DatasetOptions] | None:
    """The options model of a built-in data set, by name (None for a name this table lacks)."""
    if name.startswith("phantom_"):
        return PhantomOptions
    return {"ct": RealOptions, "cxr": RealOptions, "mri": RealOptions, "skin": RealOptions,
            "imagefolder": FolderOptions, "csv": CsvOptions, "medmnist": MedmnistOptions}.get(name)
