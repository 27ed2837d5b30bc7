import numpy as np
import pytest

from medattn_bench.data import load_dataset
from medattn_bench.data.splits import stratified_split


@pytest.mark.parametrize("modality", ["skin", "cxr", "mri", "ct"])
def test_phantoms_are_deterministic_with_masks(modality):
    a = load_dataset(f"phantom_{modality}", {"n_per_class": 6, "size": 24})
    b = load_dataset(f"phantom_{modality}", {"n_per_class": 6, "size": 24})
    c = load_dataset(f"phantom_{modality}", {"n_per_class": 6, "size": 24, "seed": 1})
    assert a.images.shape[0] == 12 and a.images.shape[-2:] == (24, 24)
    assert a.images.dtype.is_floating_point is False
    assert (a.images == b.images).all() and not (a.images == c.images).all()
    assert a.labels.tolist() == [0, 1] * 6
    masks = a.masks.reshape(12, -1).any(1).numpy()
    if modality == "skin":
        assert masks.all()  # benign and malignant images both show a lesion
    else:
        assert not masks[a.labels == 0].any()  # negatives carry no finding
    assert masks[a.labels == 1].mean() >= 0.5


def test_difficulty_changes_the_images():
    easy = load_dataset("phantom_mri", {"n_per_class": 4, "size": 24, "difficulty": 0})
    hard = load_dataset("phantom_mri", {"n_per_class": 4, "size": 24, "difficulty": 2})
    assert not (easy.images == hard.images).all()


def test_split_is_stratified_and_depends_only_on_dataset_and_seed():
    labels = np.array([0] * 60 + [1] * 40)
    tr, te = stratified_split(labels, "x", 0)
    assert len(te) == 20 and labels[te].sum() == 8
    assert set(tr).isdisjoint(te) and len(tr) + len(te) == 100
    tr2, te2 = stratified_split(labels, "x", 0)
    assert (te == te2).all()
    assert not np.array_equal(te, stratified_split(labels, "x", 1)[1])
    assert not np.array_equal(te, stratified_split(labels, "y", 0)[1])


def test_group_aware_split_keeps_duplicates_together():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 50 + [1] * 50)
    groups = np.arange(100)
    dup = rng.choice(100, size=30, replace=False)
    groups[dup[:15]] = groups[dup[15:]]  # 15 planted duplicate pairs
    for seed in range(5):
        tr, te = stratified_split(labels, "dups", seed, groups=groups)
        assert set(groups[tr]).isdisjoint(groups[te])
        assert 15 <= len(te) <= 25
