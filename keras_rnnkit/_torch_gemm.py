"""Products with one fixed matrix through oneDNN on the CPU (torch only).

The torch LSTM loops (`_torch_lstm.py`) multiply by the same matrix at every
step: the recurrent kernel forward, its transpose backward, the projection.
On the CPU `torch.mm` calls MKL's sgemm, which repacks the matrix at every
call; `torch.nn.LSTM` calls oneDNN instead. `multiplier` packs the matrix
once into oneDNN's blocked layout and multiplies by it, the step's input
added in the same call: the private operations that `torch.compile`'s CPU
backend uses for linear layers (`_compat.onednn_linear`).

Measured on the development machine (2-core AMD EPYC, torch 2.13,
`benchmarks/torch_products.py`): a `(64, 128) @ (128, 512)` product plus
the step's input takes 33 us instead of 57 us (`torch.addmm`),
`(128, 256) @ (256, 1024)` 156 us instead of 478 us; at `(32, 64) @ (64,
256)` oneDNN is slower, and packing costs 0.1-0.3 ms once per call. One
product of 6,400 rows by a `(32, 512)` matrix (an input projection),
packing included, takes 0.56 ms instead of 1.0. So oneDNN is used for
float32 CPU tensors when the matrix's smaller side is at least 128 and it
is used at least 8 times (the per-step products of layers of 128 units or
more; with a projection, of at least 128 outputs), or when one product
has at least 4,096 rows and the matrix's smaller side is at least 32.
Anything else, a torch without oneDNN, `torch.backends.mkldnn.enabled =
False`, or operations that fail their check on first use, uses `torch.mm`
/ `torch.addmm`. The products agree with `torch.mm`'s to float32
rounding (tested). ``KERAS_RNNKIT_ONEDNN=0`` in the environment turns it off
(read at every call).
"""

import os

import torch

from keras_rnnkit import _compat

VARIABLE = "KERAS_RNNKIT_ONEDNN"
_available = None  # decided on first use


def multiplier(matrix, rows, uses=1):
    """`(product, product_plus)`: `(a, bias=None, out=None) -> a @ matrix
    (+ bias)` and `(c, a) -> c + a @ matrix` for `a` of at most `rows` rows,
    called about `uses` times.

    `matrix` is `(in, out)` and stays fixed while the functions are used;
    `bias` is `(out,)`, `c` is `a @ matrix`'s shape; `out`, without a bias,
    receives the product (and is returned).
    """
    packed = pack(matrix, rows, uses)
    if packed is not None:
        _, linear = _compat.onednn_linear()

        def product(a, bias=None, out=None):
            result = linear(a, packed, bias, "none", [], "")
            return result if out is None else out.copy_(result)

        def product_plus(c, a):
            return linear.binary(a, c, packed, None, "add")

        return product, product_plus

    def product(a, bias=None, out=None):
        if bias is not None:
            return torch.addmm(bias, a, matrix)
        return torch.mm(a, matrix, out=out)

    def product_plus(c, a):
        return torch.addmm(c, a, matrix)

    return product, product_plus


def pack(matrix, rows, uses=1):
    """`matrix` `(in, out)` in oneDNN's layout for `_linear_pointwise`, or
    None where `torch.mm` is used (see the module's docstring)."""
    if not _worth_it(matrix, rows, uses):
        return None
    reorder, _ = _compat.onednn_linear()
    return reorder(matrix.t().contiguous(), rows)


def _worth_it(matrix, rows, uses):
    if (
        matrix.dtype != torch.float32
        or matrix.device.type != "cpu"
        or not torch.backends.mkldnn.enabled  # the user's switch for oneDNN
        or os.environ.get(VARIABLE, "").strip().lower() in ("0", "false")
    ):
        return False
    small_side = min(matrix.shape)
    if not ((small_side >= 128 and uses >= 8) or (rows >= 4096 and small_side >= 32)):
        return False
    return available()


def available():
    """Whether this torch's oneDNN linear operations run and agree with
    `torch.mm` (checked once)."""
    global _available
    if _available is None:
        _available = _check()
    return _available


def _check():
    try:
        generator = torch.Generator().manual_seed(0)
        # float32 on the CPU whatever torch's defaults are at the first call
        like = {"generator": generator, "dtype": torch.float32, "device": "cpu"}
        a = torch.randn(5, 40, **like)
        matrix = torch.randn(40, 24, **like)
        c = torch.randn(5, 24, **like)
        reorder, linear = _compat.onednn_linear()
        packed = reorder(matrix.t().contiguous(), 5)
        plain = linear(a, packed, None, "none", [], "")
        plus = linear.binary(a, c, packed, None, "add")
        biased = linear(a, packed, c[0], "none", [], "")
    except Exception:  # no oneDNN, or the private operations changed
        return False
    expected = torch.mm(a, matrix)
    return bool(
        torch.allclose(plain, expected, rtol=1e-5, atol=1e-5)
        and torch.allclose(plus, expected + c, rtol=1e-5, atol=1e-5)
        and torch.allclose(biased, expected + c[0], rtol=1e-5, atol=1e-5)
    )
