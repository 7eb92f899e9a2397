"""Data sets, leave-one-out splits and negative sampling.

Typical use::

    from fedras.data import load_dataset, leave_one_out, NegativeSampler

    inter = load_dataset("ml-100k")          # or "ml-1m", "synthetic", or a path
    split = leave_one_out(inter)
    sampler = NegativeSampler(split, device="cpu")
    eval_negatives = sampler.eval_negatives(n_neg=99, seed=0)   # int64 [n_users, 99]
"""
from .negatives import NegativeSampler
from .readers import FORMATS, DataError, Interactions, detect_format, read_interactions
from .sources import (DEFAULT_DATASET, REMOTE_DATASETS, RemoteFile, dataset_path,
                      default_cache_dir, fetch_dataset, load_dataset)
from .split import Split, leave_one_out
from .synthetic import make_synthetic

__all__ = [
    "DEFAULT_DATASET", "FORMATS", "REMOTE_DATASETS",
    "DataError", "Interactions", "NegativeSampler", "RemoteFile", "Split",
    "dataset_path", "default_cache_dir", "detect_format", "fetch_dataset", "leave_one_out",
    "load_dataset", "make_synthetic", "read_interactions",
]
