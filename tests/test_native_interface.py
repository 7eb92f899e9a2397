"""The native module's contract: DLPack in, caller-allocated out, safe on direct calls,
registered as torch custom ops that work with opcheck and torch.compile."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.dlpack import to_dlpack

import fedras_ext as fx
from fedras_ext import _C
from helpers import csr


def test_build_info_keys():
    info = fx.build_info()
    for key in ("version", "cuda_compiled", "cuda_archs", "openmp_threads", "gpu_available"):
        assert key in info
    assert isinstance(info["cuda_archs"], list) and all(isinstance(a, int) for a in info["cuda_archs"])
    assert info["links_libtorch"] is False
    if info["cuda_compiled"]:
        assert 80 in info["cuda_archs"] and 90 in info["cuda_archs"]
    assert info["openmp_threads"] >= 1


def test_module_does_not_link_libtorch():
    import pathlib
    import subprocess

    so = pathlib.Path(_C.__file__)
    out = subprocess.run(["ldd", str(so)], capture_output=True, text=True).stdout
    assert "libtorch" not in out and "libc10" not in out


def _kmeans_args():
    x = torch.randn(40, 4)
    off = csr([10, 0, 30])
    return x, off, csr([3, 0, 5]), 8


def test_opcheck_all_ops():
    x, off, koff, total = _kmeans_args()
    torch.library.opcheck(
        torch.ops.fedras.segmented_kmeans.default, (x, off, koff, None, total, 10, 0.0, 1, "kmeans++", "l2", True)
    )
    torch.library.opcheck(
        torch.ops.fedras.segmented_kmeans.default,
        (x, off, koff, torch.tensor([7, 8, 9]), total, 10, 0.0, 1, "random", "cosine", True),
    )
    torch.library.opcheck(torch.ops.fedras.project_directions.default, (x, off, torch.randn(8, 4), koff, True))
    table = torch.randn(20, 4)
    rows = torch.tensor([1, 5, 5, 19], dtype=torch.int64)
    idx = torch.tensor([0, 1, 0, 2], dtype=torch.int32)
    seg = torch.tensor([0, 0, 2, 2], dtype=torch.int32)
    torch.library.opcheck(
        torch.ops.fedras.apply_actions.default,
        (table, rows, idx, torch.randn(8, 4), koff, seg, None, 0.5, "mean", True, True),
    )
    packed_idx = torch.randint(0, 8, (21,), dtype=torch.int32)
    torch.library.opcheck(torch.ops.fedras.pack_indices.default, (packed_idx, 3, True))
    torch.library.opcheck(torch.ops.fedras.unpack_indices.default, (fx.pack_indices(packed_idx, 3), 3, 21))
    torch.library.opcheck(torch.ops.fedras.touched_rows.default,
                          (torch.tensor([0, 2, 2, 3]), torch.tensor([4, 1, 4]), torch.tensor([[[1], [0], [2]]]), 5))


def test_opcheck_codec_ops():
    """The CPU byte ops of the batch codec (data-dependent output sizes included)."""
    data = torch.randint(0, 256, (100,), dtype=torch.uint8)
    start, length = torch.tensor([0, 10, 50]), torch.tensor([5, 0, 30])
    ids, id_start, id_count = torch.tensor([1, 5, 900, 2, 3]), torch.tensor([0, 3]), torch.tensor([3, 2])
    cases = [
        (torch.ops.fedras.crc32_segments.default, (data, start, length)),
        (torch.ops.fedras.copy_segments.default,
         (data, start, length, torch.zeros(60, dtype=torch.uint8), torch.tensor([0, 5, 5]))),
        (torch.ops.fedras.varint_gap_bytes.default, (ids, id_start, id_count)),
        (torch.ops.fedras.encode_varint_gaps.default,
         (ids, id_start, id_count, torch.zeros(10, dtype=torch.uint8), torch.tensor([0, 4]))),
        (torch.ops.fedras.decode_varint_gaps.default,
         (torch.tensor([1, 4, 0x87, 0x07, 2, 1], dtype=torch.uint8), torch.tensor([0, 4]), torch.tensor([4, 2]),
          id_count, 1000)),
        (torch.ops.fedras.encode_bitmap_ids.default,
         (ids, id_start, id_count, 1000, torch.zeros(300, dtype=torch.uint8), torch.tensor([0, 125]))),
        (torch.ops.fedras.decode_bitmap_ids.default,  # ids {1, 5, 9}, then {0, 1} of a universe of 10
         (torch.tensor([0x22, 0x02, 0x03, 0x00], dtype=torch.uint8), torch.tensor([0, 2]), torch.tensor([3, 2]), 10)),
        (torch.ops.fedras.pack_index_segments.default,
         (torch.tensor([1, 2, 3, 0, 1], dtype=torch.int32), id_start, id_count, 2)),
        (torch.ops.fedras.unpack_index_segments.default,
         (torch.tensor([57, 4], dtype=torch.uint8), torch.tensor([0, 1]), id_count, 2)),
    ]
    for op, args in cases:
        torch.library.opcheck(op, args)


def test_runs_under_torch_compile():
    x, off, koff, total = _kmeans_args()
    table = torch.zeros(50, 4)

    def round_step(x, off, koff, table, rows, seg):
        cent, assign, inertia, _ = torch.ops.fedras.segmented_kmeans(x, off, koff, None, total, 10, 0.0, 3, "kmeans++", "l2", True)
        torch.ops.fedras.apply_actions(table, rows, assign, cent, koff, seg, None, 1.0, "mean", True, True)
        return inertia.sum()

    rows = torch.randperm(50)[:40]
    seg = torch.repeat_interleave(torch.arange(3, dtype=torch.int32), torch.tensor([10, 0, 30]))
    eager_table = table.clone()
    want = round_step(x, off, koff, eager_table, rows, seg)
    compiled = torch.compile(round_step, backend="aot_eager", fullgraph=True)
    got = compiled(x, off, koff, table, rows, seg)
    assert torch.equal(got, want)
    assert torch.equal(table, eager_table)


def test_plain_eager_calls_skip_the_dispatcher_and_torch_dynamo(tmp_path):
    """A plain eager call runs the op's function directly: importing torch._dynamo (which
    the dispatcher's path does on a process's first custom-op call) takes seconds."""
    import subprocess
    import sys

    code = ("import sys, torch, fedras_ext as fx; "
            "fx.segmented_kmeans(torch.randn(20, 4), torch.tensor([0, 20]), 3); "
            "print('torch._dynamo' in sys.modules)")
    # From an empty directory: in a source checkout's root, the uncompiled fedras_ext/
    # would shadow the installed package.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_traced_calls_go_through_the_registered_op():
    """Fake tensors (what torch.compile and export trace with) must reach the fake
    implementation, never the native code."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from fedras_ext.kmeans import _segmented_kmeans_op

    x, off, koff, total = _kmeans_args()
    with FakeTensorMode() as mode:
        args = (mode.from_tensor(x), mode.from_tensor(off), mode.from_tensor(koff))
        cent, assign, inertia, n_iter = _segmented_kmeans_op(*args, None, total, 10, 0.0, 3, "kmeans++", "l2", True)
    assert cent.shape == (total, 4) and assign.shape == (40,) and inertia.shape == (3,)


def test_direct_calls_bump_the_version_of_what_they_mutate():
    """Autograd sees in-place writes through version counters: a direct call bumps
    them as the dispatcher would."""
    x, off, _, _ = _kmeans_args()
    res = fx.segmented_kmeans(x, off, 3)
    table = torch.zeros(50, 4)
    before = table._version
    rows = torch.randperm(50)[:40]
    seg = torch.repeat_interleave(torch.arange(3, dtype=torch.int32), torch.tensor([10, 0, 30]))
    fx.apply_actions(table, rows, res.assignment, res.centroids, res.centroid_offsets, seg)
    assert table._version > before


# --------------------------------------------------------------------------- direct _C calls


def _direct_kmeans(x, off, koff, centroids, assignment=None, check=True):
    n, s = x.shape[0], off.numel() - 1
    assignment = torch.empty(n, dtype=torch.int32) if assignment is None else assignment
    return _C.segmented_kmeans(
        to_dlpack(x), to_dlpack(off), to_dlpack(koff), None, to_dlpack(centroids), to_dlpack(assignment),
        to_dlpack(torch.empty(s, dtype=torch.float64)), to_dlpack(torch.empty(s, dtype=torch.int32)),
        None, 10, 0.0, 0, "kmeans++", "l2", check, 1, 0,
    )


@pytest.mark.parametrize("check", [True, False])
def test_direct_calls_validate_structure(check):
    x = torch.randn(10, 3)
    cent = torch.empty(4, 3)
    with pytest.raises(ValueError, match="non-decreasing"):
        _direct_kmeans(x, torch.tensor([0, 8, 4, 10]), torch.tensor([0, 1, 2, 4]), cent, check=check)
    with pytest.raises(ValueError, match="must equal x.shape"):
        _direct_kmeans(x, torch.tensor([0, 5, 1000]), torch.tensor([0, 2, 4]), cent, check=check)
    with pytest.raises(ValueError, match="clusters but it has"):
        _direct_kmeans(x, torch.tensor([0, 1, 10]), torch.tensor([0, 2, 4]), cent, check=check)
    with pytest.raises(ValueError, match="centroids.shape"):
        _direct_kmeans(x, torch.tensor([0, 5, 10]), torch.tensor([0, 2, 4]), torch.empty(4, 3)[:, :2].contiguous(), check=check)
    with pytest.raises(ValueError, match="assignment.shape"):
        _direct_kmeans(x, torch.tensor([0, 5, 10]), torch.tensor([0, 2, 4]), cent, torch.empty(3, dtype=torch.int32), check=check)


@pytest.mark.parametrize("check", [True, False])
def test_direct_scatter_never_writes_out_of_bounds(check):
    table = torch.zeros(4, 2)
    args = lambda rows: (  # noqa: E731
        to_dlpack(table), to_dlpack(rows), to_dlpack(torch.zeros(2, dtype=torch.int32)), to_dlpack(torch.ones(1, 2)),
        to_dlpack(torch.tensor([0, 1])), to_dlpack(torch.zeros(2, dtype=torch.int32)), None, None, 1.0, "sum", True,
        check, 1, 0,
    )
    with pytest.raises(IndexError, match="out of range"):
        _C.apply_actions(*args(torch.tensor([0, 1 << 40])))
    assert table.abs().sum() == 0


def test_non_dlpack_objects_and_used_capsules_are_rejected():
    with pytest.raises(ValueError, match="DLPack"):
        _C.pack_indices([1, 2, 3], 2, to_dlpack(torch.empty(1, dtype=torch.uint8)), None, True, 1, 0)
    cap = to_dlpack(torch.zeros(3, dtype=torch.int32))
    torch.from_dlpack(cap)  # consumes the capsule (renamed "used_dltensor")
    with pytest.raises(ValueError, match="not an unused DLPack"):
        _C.pack_indices(cap, 2, to_dlpack(torch.empty(1, dtype=torch.uint8)), None, True, 1, 0)


def test_tensors_are_accepted_directly_via_dunder_dlpack():
    out = torch.empty(1, dtype=torch.uint8)
    _C.pack_indices(torch.tensor([1, 2, 3], dtype=torch.int32), 2, out, None, True, 1, 0)
    assert out.tolist() == [0b111001]


def test_read_only_output_is_refused():
    out = np.zeros(1, dtype=np.uint8)
    out.flags.writeable = False
    with pytest.raises((ValueError, BufferError, TypeError)):
        _C.pack_indices(torch.tensor([1, 2, 3], dtype=torch.int32), 2, out, None, True, 1, 0)


def test_cuda_tensors_without_cuda_build_are_a_clear_error():
    if fx.build_info()["cuda_compiled"] or not torch.cuda.is_available():
        pytest.skip("only meaningful for a CPU-only build on a machine with a GPU")
    with pytest.raises(ValueError, match="no CUDA kernels"):
        fx.pack_indices(torch.zeros(3, dtype=torch.int32, device="cuda"), 2)
