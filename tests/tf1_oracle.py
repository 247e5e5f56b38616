"""TF1 reference implementations, run in a process of their own.

TF1's `tf.compat.v1.nn.rnn_cell` classes only run with the legacy Keras 2
(`tf-keras`) selected by `TF_USE_LEGACY_KERAS=1` before TensorFlow is
imported, which cannot be undone in the test process (it uses Keras 3). So
`Oracle` starts this file as a child process once and sends it requests over
a pipe: `{"op": NAME, ...arrays and settings...}` -> dict of float64 arrays.
Everything in the child runs in float64, eagerly.
"""

import os
import pickle
import struct
import subprocess
import sys


def _send(stream, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream):
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError("the TF1 oracle process closed its pipe")
    (size,) = struct.unpack("<Q", header)
    return pickle.loads(stream.read(size))


class Oracle:
    """Handle on the child process; `oracle(op, **request)` returns arrays."""

    def __init__(self):
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
        env["CUDA_VISIBLE_DEVICES"] = ""
        self._process = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        ready = _receive(self._process.stdout)
        if ready != "ready":
            raise RuntimeError(f"TF1 oracle failed to start: {ready}")

    def __call__(self, op, **request):
        _send(self._process.stdin, {"op": op, **request})
        reply = _receive(self._process.stdout)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def close(self):
        self._process.stdin.close()
        self._process.wait(timeout=30)
        self._process.stdout.close()


# ----------------------------------------------------------------------------
# The child process.


def _assign(cell, variables):
    """Assigns `variables` (short TF1 names) to the cell's built variables."""
    import tensorflow as tf

    names = sorted(variables, key=len, reverse=True)
    for var in cell.variables:
        short = var.name.split(":")[0]
        name = next(n for n in names if short.endswith(n))
        var.assign(tf.constant(variables[name], tf.float64))


def _lstm_cell(tf, request):
    return tf.compat.v1.nn.rnn_cell.LSTMCell(
        request["units"],
        use_peepholes=request["use_peepholes"],
        cell_clip=request["cell_clip"],
        num_proj=request["num_proj"],
        proj_clip=request["proj_clip"],
        forget_bias=request["forget_bias"],
        dtype=tf.float64,
    )


def _op_lstm_dynamic_rnn(tf, request):
    """`dynamic_rnn` over one `LSTMCell` with `sequence_length`."""
    cell = _lstm_cell(tf, request)
    inputs = tf.constant(request["inputs"], tf.float64)
    cell.build(tf.TensorShape([None, inputs.shape[-1]]))
    _assign(cell, request["variables"])
    outputs, state = tf.compat.v1.nn.dynamic_rnn(
        cell,
        inputs,
        sequence_length=request["sequence_length"],
        dtype=tf.float64,
    )
    return {"outputs": outputs.numpy(), "c": state.c.numpy(), "h": state.h.numpy()}


def _serve():
    import tensorflow as tf

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # keep stray prints off the pipe
    ops = {
        name[len("_op_") :]: fn
        for name, fn in globals().items()
        if name.startswith("_op_")
    }
    _send(stdout, "ready")
    while True:
        try:
            request = _receive(stdin)
        except EOFError:
            return
        try:
            reply = ops[request.pop("op")](tf, request)
        except Exception as e:  # sent back and raised in the test process
            reply = RuntimeError(f"TF1 oracle: {type(e).__name__}: {e}")
        _send(stdout, reply)


if __name__ == "__main__":
    _serve()
