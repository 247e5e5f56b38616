"""Optional compiled kernels for the torch LSTM loop (opt-in).

`_torch_lstm.LSTMSequence` runs its time loop in Python, each step's
element-wise work (gates, peepholes, clipping and their gradients) as
about ten torch operations. With ``KERAS_RNNKIT_TORCH_KERNELS=1`` in the
environment it runs the forward and backward loops in C++ instead
(`_torch_lstm_kernels.cpp`: per step one matmul and one element-wise
kernel), compiled on first use by `torch.utils.cpp_extension` (a C++
compiler and ninja needed; about 20 s once, then cached by torch under
``~/.cache/torch_extensions`` or ``$TORCH_EXTENSIONS_DIR``, one build per
CPU type). float32 only; other dtypes, and any build failure (warned
once), use the Python loop. The numbers agree with the Python loop's to
float32 rounding (tested).
"""

import hashlib
import os
import pathlib
import threading
import warnings

VARIABLE = "KERAS_RNNKIT_TORCH_KERNELS"
SOURCE = pathlib.Path(__file__).with_name("_torch_lstm_kernels.cpp")
FLAGS = ["-O3", "-march=native", "-ffast-math", "-fopenmp-simd"]

_lock = threading.Lock()
_module = None
_failure = None


def requested():
    """Whether the environment asks for the compiled kernels."""
    return os.environ.get(VARIABLE, "").strip().lower() not in ("", "0", "false")


def failure():
    """Why the kernels did not build (a line), or None."""
    return _failure


def load():
    """The compiled module when requested and built, else None."""
    global _module, _failure
    if not requested() or _failure is not None:
        return None
    if _module is None:
        with _lock:
            if _module is None and _failure is None:
                _module, _failure = _build()
                if _failure is not None:
                    warnings.warn(
                        f"{VARIABLE} is set, but keras_rnnkit's torch LSTM kernels "
                        f"could not be compiled ({_failure}); the Python loop "
                        "runs instead.",
                        RuntimeWarning,
                        stacklevel=2,
                    )
    return _module


def _cpu_key():
    """A short key of this CPU's instruction sets: `-march=native` builds
    for this CPU, and torch's cache of builds (a folder per name, maybe in
    a home shared between machines) must not hand it to another."""
    try:
        with open("/proc/cpuinfo") as info:
            flags = next((line for line in info if line.startswith("flags")), "")
    except OSError:
        import platform

        flags = platform.processor() or platform.machine()
    return hashlib.sha256(flags.encode()).hexdigest()[:10]


def _build():
    try:
        from torch.utils import cpp_extension

        module = cpp_extension.load(
            name=f"keras_rnnkit_lstm_kernels_{_cpu_key()}",
            sources=[str(SOURCE)],
            extra_cflags=FLAGS,
            verbose=False,
        )
    except Exception as error:  # a compiler, ninja or a header missing
        first = str(error).strip().splitlines()[:1] or [""]
        return None, f"{type(error).__name__}: {first[0][:300]}"
    return module, None
