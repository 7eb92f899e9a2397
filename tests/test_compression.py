"""Each compressor's reconstruction on known inputs, and the wire round trip."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import fedras_ext
from fedras import csr
from fedras.compression import Context, Dense, FedRAS, LowRank, Quant, SVD, TopK, Updates, random_basis
from fedras.compression.base import Verdicts
from fedras.protocol.payloads import decode_uplinks, encode_uplinks, uplink_template


def updates(values_per_segment, ids=None):
    ptr = csr.from_lengths(torch.tensor([v.shape[0] for v in values_per_segment]))
    rows = torch.cat([torch.arange(v.shape[0]) * 3 for v in values_per_segment])
    ids = torch.arange(len(values_per_segment)) if ids is None else ids
    return Updates(ids, ptr, rows, torch.cat(values_per_segment))


def ctx(k=None, basis=None, seed=0):
    return Context(seed, fedras_ext, None if k is None else torch.as_tensor(k), basis)


def recon(comp, upd, c):
    return comp.actions(comp.compress(upd, c)).reconstruct(upd.ptr)


def test_fedras_exact_when_rows_take_k_values():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 8, generator=g)
    seg0 = centres[torch.randint(0, 4, (50,), generator=g)]
    seg1 = centres[:2][torch.randint(0, 2, (30,), generator=g)]
    upd = updates([seg0, seg1])
    out = recon(FedRAS(), upd, ctx([4, 2]))
    torch.testing.assert_close(out, upd.values, rtol=0, atol=1e-6)


def test_fedras_one_action_is_the_mean():
    x = torch.randn(20, 5)
    out = recon(FedRAS(), updates([x]), ctx([1]))
    torch.testing.assert_close(out, x.mean(0).expand_as(x), rtol=1e-5, atol=1e-6)


def test_fedras_cosine_reconstructs_projection():
    g = torch.Generator().manual_seed(1)
    dirs = torch.nn.functional.normalize(torch.randn(3, 6, generator=g), dim=1)
    scales = torch.rand(40, generator=g) + 0.5
    x = dirs[torch.arange(40) % 3] * scales[:, None]
    out = recon(FedRAS(assign="cosine"), updates([x]), ctx([3]))
    torch.testing.assert_close(out, x, rtol=2e-3, atol=2e-3)  # the scale travels as float16


def test_dense_is_exact():
    x = torch.randn(10, 4)
    assert torch.equal(recon(Dense(), updates([x]), ctx()), x)


def test_topk_keeps_the_largest_entries():
    x = torch.zeros(5, 4)
    x[1, 2], x[3, 0], x[4, 3] = 9.0, -8.0, 0.5
    out = recon(TopK(2 / 20), updates([x]), ctx())
    want = torch.zeros_like(x)
    want[1, 2], want[3, 0] = 9.0, -8.0
    assert torch.equal(out, want)


def test_quant8_error_bound_and_quant1_scaled_sign():
    x = torch.randn(30, 16)
    out8 = recon(Quant(8), updates([x]), ctx())
    step = x.abs().amax(1, keepdim=True) / 127
    assert ((out8 - x).abs() <= step / 2 + 1e-6).all()
    out1 = recon(Quant(1), updates([x]), ctx())
    torch.testing.assert_close(out1, torch.where(x >= 0, 1.0, -1.0) * x.abs().mean(1, keepdim=True))


def test_lowrank_is_the_projection_onto_the_basis():
    basis = random_basis(2, 8, torch.Generator().manual_seed(3))
    torch.testing.assert_close(basis @ basis.T, 4.0 * torch.eye(2), rtol=1e-5, atol=1e-5)
    a = torch.randn(12, 2)
    inside = a @ basis
    torch.testing.assert_close(recon(LowRank(2), updates([inside]), ctx(basis=basis)), inside, rtol=1e-5, atol=1e-5)
    x = torch.randn(12, 8)
    once = recon(LowRank(2), updates([x]), ctx(basis=basis))
    torch.testing.assert_close(recon(LowRank(2), updates([once]), ctx(basis=basis)), once, rtol=1e-5, atol=1e-5)


def test_svd_is_the_best_rank_r_approximation():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(25, 6, generator=g)
    y = torch.randn(9, 6, generator=g)
    out = recon(SVD(2), updates([x, y]), ctx())
    for got, m in ((out[:25], x), (out[25:], y)):
        u, s, vh = torch.linalg.svd(m.double(), full_matrices=False)
        best = (u[:, :2] * s[:2]) @ vh[:2]
        torch.testing.assert_close(got.double(), best, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("comp, k, basis", [
    (Dense(), None, None),
    (FedRAS(), [5, 3, 1], None),
    (FedRAS(assign="cosine", half=True), [5, 3, 1], None),
    (TopK(0.1), None, None),
    (Quant(8), None, None),
    (Quant(1), None, None),
    (LowRank(2), None, random_basis(2, 8, torch.Generator().manual_seed(0))),
    (SVD(1), None, None),
])
def test_wire_round_trip_gives_the_same_reconstruction(comp, k, basis):
    g = torch.Generator().manual_seed(5)
    upd = updates([torch.randn(n, 8, generator=g) for n in (17, 9, 1)], ids=torch.tensor([4, 9, 2]))
    c = ctx(k, basis)
    batch = comp.compress(upd, c)
    before = comp.actions(batch).reconstruct(upd.ptr)
    wires, _ = encode_uplinks(comp.name, 1, upd.ids.tolist(), upd.rows.numpy(), upd.ptr.numpy(), comp.columns(batch),
                              np.full(3, 7), {}, 64)
    ups, errors = decode_uplinks(wires, comp.name, uplink_template(comp.template(8), 64, {}))
    assert errors == {} and ups.index.tolist() == [0, 1, 2]
    own = {k: ups.columns[k] for k in comp.template(8)}
    verdicts = Verdicts(3)
    comp.check(own, ups.columns["rows"].counts, 8, verdicts)
    assert verdicts.reasons == [None] * 3
    joined = comp.assemble(ups.columns["rows"], own, 8, c)
    assert torch.equal(joined.rows, upd.rows)
    torch.testing.assert_close(comp.actions(joined).reconstruct(joined.ptr), before, rtol=0, atol=0)


@pytest.mark.parametrize("comp, k, basis", [
    (Dense(), None, None),
    (FedRAS(), [3, 2], None),
    (FedRAS(assign="cosine", half=True), [3, 2], None),
    (TopK(0.2), None, None),
    (Quant(8), None, None),
    (Quant(1), None, None),
    (LowRank(2), None, random_basis(2, 4, torch.Generator().manual_seed(0))),
    (SVD(1), None, None),
])
def test_check_rejects_a_payload_that_disagrees_with_its_rows(comp, k, basis):
    # The same fields, claimed for no rows at all: every method must notice, and only
    # for that payload.
    g = torch.Generator().manual_seed(1)
    upd = updates([torch.randn(6, 4, generator=g), torch.randn(5, 4, generator=g)])
    columns = comp.columns(comp.compress(upd, ctx(k, basis)))
    verdicts = Verdicts(2)
    comp.check(columns, np.array([6, 5]), 4, verdicts)
    assert verdicts.reasons == [None, None]
    comp.check(columns, np.array([6, 0]), 4, verdicts)
    assert verdicts.reasons[0] is None and verdicts.reasons[1]


def test_fedras_check_names_an_index_past_the_actions():
    comp = FedRAS()
    upd = updates([torch.randn(6, 4), torch.randn(5, 4)])
    columns = comp.columns(comp.compress(upd, ctx([3, 2])))
    columns["assign"].idx[7] = 2  # the second payload has 2 actions
    verdicts = Verdicts(2)
    comp.check(columns, np.array([6, 5]), 4, verdicts)
    assert verdicts.reasons[0] is None and "assign holds index 2 but there are 2 actions" in verdicts.reasons[1]
