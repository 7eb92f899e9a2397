"""The codec on a real round's uplinks: per payload (encode / decode, the reference)
against the batch path (encode_uplinks / decode_uplinks), interleaved in one process.

    python benchmarks/codec.py [--shape ml100k|ml1m-synth|scale] [--repeat 7] [--batch-only]

Prints the median time of each, in total and per payload. The batch encode includes
building the columns from the compressed batch; the batch decode includes every check
decode makes and the columns the server then checks; the per-payload decode is
``decode()`` alone.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from fedras import rng
from fedras.codec import decode, encode
from fedras.compression import Context, Updates
from fedras.config import Config
from fedras.engine import Simulation
from fedras.protocol.payloads import decode_uplinks, encode_uplinks, uplink_template
from fedras.rounds import plan_round

from alternate import alternate, median_ms


def round_uplinks(shape: str):
    """A trained round's compressed uplinks: (compressor, batch, updates, n_items)."""
    from round import SHAPES  # benchmarks/round.py: the shapes of the round benchmark

    sim = Simulation(Config(**SHAPES[shape], progress=False))
    clients = sim.select(1)
    plan = plan_round(sim.train_ptr, sim.train_items, clients, sim.sampler, epochs=sim.cfg.local_epochs,
                      n_neg=sim.cfg.negatives, n_items=sim.n_items, generator=rng.generator(0, 1, "negatives"))
    trained = sim._train(plan, None)
    upd = Updates(trained.updates.ids, trained.updates.ptr, trained.updates.rows, trained.updates.values.clone())
    k = torch.minimum(torch.full((plan.n_clients,), sim.cfg.k), plan.row_ptr.diff().clamp(min=1))
    batch = sim.compressor.compress(upd, Context(1, sim.ops, k, None))
    return sim.compressor, batch, upd, sim.n_items, sim.cfg.dim


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", default="ml100k", help="a shape of benchmarks/round.py")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--batch-only", action="store_true", help="skip the per-payload reference codec")
    args = p.parse_args()
    comp, batch, upd, n_items, dim = round_uplinks(args.shape)
    ids, rows, ptr = upd.ids.tolist(), upd.rows.numpy(), upd.ptr.numpy()
    n_samples = np.zeros(len(ids), np.int64)

    def batch_encode():
        return encode_uplinks(comp.name, 1, ids, rows, ptr, comp.columns(batch), n_samples, {}, n_items)[0]

    wires = batch_encode()
    msgs = [decode(w) for w in wires]
    template = uplink_template(comp.template(dim), n_items, {})

    def per_payload_encode():
        return [encode(m) for m in msgs]

    def per_payload_decode():
        return [decode(w) for w in wires]

    def batch_decode():
        return decode_uplinks(wires, comp.name, template)

    funcs = (batch_encode, batch_decode) if args.batch_only else \
        (per_payload_encode, batch_encode, per_payload_decode, batch_decode)
    times, _ = alternate({f.__name__: f for f in funcs}, args.repeat, warmup=False)
    print(f"{args.shape}: {len(wires)} uplinks, {sum(map(len, wires)) / 1e6:.2f} MB, median of {args.repeat}")
    for name, ts in times.items():
        med = median_ms(ts)
        print(f"  {name:<20} {med:8.1f} ms  {med / len(wires) * 1e3:7.1f} us/payload")


if __name__ == "__main__":
    main()
