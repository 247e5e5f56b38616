"""The torch LSTM loop's per-step products: `torch.mm` (MKL) against oneDNN.

Times, for a few (batch, units) points, one step's recurrent product plus
its input as the loop computed it before (`torch.addmm`) and as it does now
(a matrix packed once for oneDNN, `keras_rnnkit/_torch_gemm.py`), the
backward pass's product with the transposed matrix both ways, and the
packing itself, in microseconds (medians of --rounds rounds of --calls
calls). Also `torch.tanh` against `torch.sigmoid` on one step's cell,
which shows where the element-wise part of a step goes.

    python benchmarks/torch_products.py [--threads N] [--rounds 7] [--calls 400]

CPU only; the ratios, not the microseconds, carry over between machines.
"""

import argparse
import os
import statistics
import time

os.environ["KERAS_BACKEND"] = "torch"  # torch operations only


def per_call(fn, calls, rounds):
    """Median over `rounds` of the mean time of `calls` calls, in us."""
    for _ in range(max(10, calls // 10)):
        fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times)


def point(batch, units, generator, time_it, args):
    """((addmm, oneDNN) forward, (mm, oneDNN) backward, packing) in us."""
    import torch

    from keras_rnnkit import _compat

    reorder, linear = _compat.onednn_linear()
    h = torch.randn(batch, units, generator=generator)
    x = torch.randn(batch, 4 * units, generator=generator)  # also d_z backward
    kernel = torch.randn(units, 4 * units, generator=generator)
    packed = reorder(kernel.t().contiguous(), batch)
    packed_t = reorder(kernel.contiguous(), batch)
    forward = (
        time_it(lambda: torch.addmm(x, h, kernel)),
        time_it(lambda: linear.binary(h, x, packed, None, "add")),
    )
    backward = (
        time_it(lambda: torch.mm(x, kernel.t())),
        time_it(lambda: linear(x, packed_t, None, "none", [], "")),
    )
    packing = per_call(lambda: reorder(kernel.t().contiguous(), batch), 20, args.rounds)
    return forward, backward, packing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    import torch

    from keras_rnnkit import _torch_gemm

    if args.threads:
        torch.set_num_threads(args.threads)
    if not _torch_gemm.available():
        raise SystemExit("this torch has no working oneDNN linear operations")
    time_it = lambda fn: per_call(fn, args.calls, args.rounds)  # noqa: E731
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        "us per call, medians"
    )
    header = (
        "batch units | forward: addmm  oneDNN  ratio | backward: mm  oneDNN  ratio"
        " | packing"
    )
    print(header)
    generator = torch.Generator().manual_seed(0)
    for batch, units in ((32, 64), (64, 128), (128, 256)):
        forward, backward, packing = point(batch, units, generator, time_it, args)
        print(
            f"{batch:5d} {units:5d} | {forward[0]:14.1f} {forward[1]:7.1f} "
            f"{forward[1] / forward[0]:6.2f} | {backward[0]:12.1f} "
            f"{backward[1]:7.1f} {backward[1] / backward[0]:6.2f} | {packing:7.1f}"
        )
    cell = torch.randn(64, 128, generator=generator)
    tanh, sigmoid = (
        time_it(lambda: torch.tanh(cell)),
        time_it(lambda: torch.sigmoid(cell)),
    )
    print(
        f"(64, 128): torch.tanh {tanh:.1f} us, torch.sigmoid {sigmoid:.1f} us "
        f"({tanh / sigmoid:.1f}x)"
    )


if __name__ == "__main__":
    main()
