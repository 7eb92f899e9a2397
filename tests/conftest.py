"""Shared fixtures: the devices every native op is tested on.

CUDA cases are collected everywhere and skip cleanly where no GPU is usable, so a
CPU-only run shows exactly which GPU checks it did not make.
"""
from __future__ import annotations

import pytest
import torch

import fedras_ext

GPU = bool(fedras_ext.build_info()["gpu_available"]) and torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not GPU, reason="no usable CUDA device (or fedras_ext built without CUDA)")

DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=[needs_cuda, pytest.mark.cuda])]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param

