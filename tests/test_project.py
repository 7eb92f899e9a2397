"""project_directions against its reference."""
from __future__ import annotations

import pytest
import torch

import fedras_ext as fx
import fedras_ext.reference as ref
from helpers import csr


def test_matches_reference(device):
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        segments = int(torch.randint(1, 8, (1,), generator=g))
        sizes = torch.randint(0, 50, (segments,), generator=g).tolist()
        ks = torch.randint(1, 9, (segments,), generator=g).tolist()
        d = [1, 5, 32][seed % 3]
        x, dirs = torch.randn(sum(sizes), d, generator=g), torch.randn(sum(ks), d, generator=g)
        args = (x, csr(sizes), dirs, csr(ks))
        idx, scale = fx.project_directions(*(a.to(device) for a in args))
        ridx, rscale = ref.project_directions(*args)
        assert torch.equal(idx.cpu(), ridx)
        torch.testing.assert_close(scale.cpu(), rscale, rtol=1e-5, atol=1e-5)
        # The scale is the projection onto the unit direction.
        unit = ref.normalize_rows(dirs)
        seg = torch.repeat_interleave(torch.arange(segments), torch.tensor(sizes))
        chosen = unit[csr(ks)[seg] + idx.cpu().long()]
        torch.testing.assert_close(scale.cpu(), (x * chosen).sum(1), rtol=1e-4, atol=1e-5)


def test_ties_zero_rows_and_zero_directions(device):
    x = torch.tensor([[1.0, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    dirs = torch.tensor([[2.0, 0.0], [5.0, 0.0], [0.0, 0.0]])  # 0 and 1 tie; 2 is zero
    idx, scale = fx.project_directions(x.to(device), csr([3]).to(device), dirs.to(device), csr([3]).to(device))
    assert idx.cpu().tolist() == [0, 0, 2]  # tie -> lowest; zero row -> 0; all-negative -> zero direction
    assert scale.cpu().tolist() == [1.0, 0.0, 0.0]


def test_segment_without_directions_is_an_error(device):
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="segment 1"):
        fx.project_directions(x.to(device), csr([2, 2]).to(device), torch.randn(2, 3).to(device), csr([2, 0]).to(device))
    # ... unless it has no rows either.
    idx, _ = fx.project_directions(x.to(device), csr([4, 0]).to(device), torch.randn(2, 3).to(device),
                                   csr([2, 0]).to(device))
    assert idx.shape == (4,)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_rejected(device, bad):
    x = torch.randn(4, 3)
    x[2, 1] = bad
    with pytest.raises(ValueError, match="x must be finite"):
        fx.project_directions(x.to(device), csr([4]).to(device), torch.randn(2, 3).to(device), csr([2]).to(device))


def test_shape_and_dtype_errors():
    x, dirs = torch.randn(4, 3), torch.randn(2, 3)
    with pytest.raises(ValueError, match="directions.shape"):
        fx.project_directions(x, csr([4]), torch.randn(2, 4), csr([2]))
    with pytest.raises(ValueError, match="directions must be float32"):
        fx.project_directions(x, csr([4]), dirs.double(), csr([2]))
    with pytest.raises(ValueError, match="as many entries"):
        fx.project_directions(x, csr([4]), dirs, csr([1, 1]))
