"""CSR helpers (fedras.csr) against torch.repeat_interleave, empty segments included."""
from __future__ import annotations

import pytest
import torch

from fedras import csr


@pytest.mark.parametrize("counts", [[0, 3, 0, 2], [], [5], [0, 0], [1] * 50])
def test_segment_of_and_gather_match_repeat_interleave(counts, device):
    c = torch.tensor(counts, dtype=torch.int64, device=device)
    ptr = csr.from_lengths(c)
    want = torch.repeat_interleave(torch.arange(len(counts), device=device), c)
    got = csr.segment_of(ptr)
    assert got.device == want.device and got.dtype == torch.int64 and torch.equal(got, want)
    members = torch.arange(len(counts), device=device).flip(0)
    flat = torch.arange(int(ptr[-1]), device=device)
    want_gather = torch.cat([flat[ptr[m]: ptr[m + 1]] for m in members.tolist()] or [flat[:0]])
    assert torch.equal(csr.gather(ptr, members), want_gather)


def test_repeat_keeps_dtype_and_refuses_negative_counts():
    values = torch.tensor([7, 8], dtype=torch.int32)
    out = csr.repeat(values, torch.tensor([2, 1]))
    assert out.dtype == torch.int32 and out.tolist() == [7, 7, 8]
    with pytest.raises((ValueError, RuntimeError)):
        csr.repeat(values, torch.tensor([1, -1]))
