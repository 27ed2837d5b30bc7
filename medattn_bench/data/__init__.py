"""Data sets: the registry, the in-memory image set, splits and the embedded phantoms.

A data set factory takes its validated options (a pydantic model declared with the
registration) and returns an :class:`ImageSet`: decoded uint8 images kept in memory, so training
never decodes files per epoch. The registry lives in :mod:`.base`; importing this package
registers the built-in data sets.
"""

from .base import DATASETS, DatasetEntry, DatasetOptions, ImageSet, load_dataset, register_dataset  # noqa: F401

from . import phantoms, real  # noqa: E402,F401,I001  (register the built-in data sets)
