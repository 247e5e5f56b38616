"""TF1 reference implementations, run in a process of their own.

TF1's `tf.compat.v1.nn.rnn_cell` classes only run with the legacy Keras 2
(`tf-keras`) selected by `TF_USE_LEGACY_KERAS=1` before TensorFlow is
imported, which cannot be undone in the test process (it uses Keras 3). So
`Oracle` starts this file as a child process once and sends it requests over
a pipe: `{"op": NAME, ...arrays and settings...}` -> dict of float64 arrays.
Everything in the child runs in float64, eagerly.
"""

from child_process import ChildProcess, serve


def Oracle():
    """Starts this file as a child process with legacy Keras selected."""
    return ChildProcess(__file__, TF_USE_LEGACY_KERAS="1", CUDA_VISIBLE_DEVICES="")


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


def _build_cell(tf, spec):
    """A TF1 cell from a spec (a dict with "type"; see the tests)."""
    rnn_cell = tf.compat.v1.nn.rnn_cell
    kind = spec["type"]
    if kind == "lstm":
        cell = rnn_cell.LSTMCell(
            spec["units"],
            use_peepholes=spec.get("use_peepholes", False),
            cell_clip=spec.get("cell_clip"),
            num_proj=spec.get("num_proj"),
            proj_clip=spec.get("proj_clip"),
            forget_bias=spec.get("forget_bias", 1.0),
            dtype=tf.float64,
        )
        cell.build(tf.TensorShape([None, spec["input_dim"]]))
        _assign(cell, spec["variables"])
        return cell
    if kind == "residual":
        return rnn_cell.ResidualWrapper(_build_cell(tf, spec["cell"]))
    if kind == "dropout":
        return rnn_cell.DropoutWrapper(
            _build_cell(tf, spec["cell"]),
            input_keep_prob=spec["input_keep_prob"],
            state_keep_prob=spec["state_keep_prob"],
            output_keep_prob=spec["output_keep_prob"],
        )
    if kind == "multi":
        cells = [_build_cell(tf, inner) for inner in spec["cells"]]
        return rnn_cell.MultiRNNCell(cells, state_is_tuple=True)
    if kind == "projection":
        return _output_projection_wrapper(tf)(
            _build_cell(tf, spec["cell"]), spec["kernel"], spec["bias"]
        )
    raise ValueError(f"unknown cell type {kind!r}")


def _output_projection_wrapper(tf):
    """tf.contrib.rnn.OutputProjectionWrapper (TF 1.15), which TF 2 lacks:
    `output = cell_output @ kernel + bias` (activation None), states as they
    are. Its weights are given as constants instead of created by `_linear`."""
    rnn_cell = tf.compat.v1.nn.rnn_cell

    class OutputProjectionWrapper(rnn_cell.RNNCell):
        def __init__(self, cell, kernel, bias):
            super().__init__()
            self._cell = cell
            self._kernel = tf.constant(kernel, tf.float64)
            self._bias = tf.constant(bias, tf.float64)

        @property
        def state_size(self):
            return self._cell.state_size

        @property
        def output_size(self):
            return self._kernel.shape[-1]

        def zero_state(self, batch_size, dtype):
            return self._cell.zero_state(batch_size, dtype)

        def call(self, inputs, state):
            output, res_state = self._cell(inputs, state)
            projected = tf.matmul(output, self._kernel) + self._bias
            return projected, res_state

    return OutputProjectionWrapper


def _op_dynamic_rnn(tf, request):
    """`dynamic_rnn` over the cell built from `request["cell"]`."""
    cell = _build_cell(tf, request["cell"])
    outputs, state = tf.compat.v1.nn.dynamic_rnn(
        cell,
        tf.constant(request["inputs"], tf.float64),
        sequence_length=request["sequence_length"],
        dtype=tf.float64,
    )
    return {
        "outputs": outputs.numpy(),
        "state": [s.numpy() for s in tf.nest.flatten(state)],
    }


def _op_bidirectional_dynamic_rnn(tf, request):
    """`bidirectional_dynamic_rnn` over the cells of `cell_fw` and `cell_bw`."""
    (out_fw, out_bw), (state_fw, state_bw) = tf.compat.v1.nn.bidirectional_dynamic_rnn(
        _build_cell(tf, request["cell_fw"]),
        _build_cell(tf, request["cell_bw"]),
        tf.constant(request["inputs"], tf.float64),
        sequence_length=request["sequence_length"],
        dtype=tf.float64,
    )
    return {
        "outputs_fw": out_fw.numpy(),
        "outputs_bw": out_bw.numpy(),
        "state_fw": [s.numpy() for s in tf.nest.flatten(state_fw)],
        "state_bw": [s.numpy() for s in tf.nest.flatten(state_bw)],
    }


def _op_lstm_dynamic_rnn(tf, request):
    """`dynamic_rnn` over one `LSTMCell`; state as `c` and `h`."""
    spec = dict(request, type="lstm", input_dim=request["inputs"].shape[-1])
    reply = _op_dynamic_rnn(tf, {**request, "cell": spec})
    c, h = reply.pop("state")
    return {**reply, "c": c, "h": h}


# ----------------------------------------------------------------------------
# Real checkpoints: a structure built, trained and saved by TF1 in graph mode.


def _graph_output_projection_wrapper(tf):
    """tf.contrib.rnn.OutputProjectionWrapper of TF 1.15 (which TF 2 lacks),
    for graph mode: an `RNNCell` (a legacy layer, so its variables live in
    the layer scope `output_projection_wrapper`, the wrapped cell's scope
    inside it) whose `kernel` and `bias` are made by `get_variable`, as TF
    1.15's `_Linear` in tensorflow/contrib/rnn/python/ops/core_rnn_cell.py
    made them."""
    v1 = tf.compat.v1

    class OutputProjectionWrapper(v1.nn.rnn_cell.RNNCell):
        def __init__(self, cell, output_size):
            super().__init__()
            self._cell = cell
            self._output_size = output_size

        @property
        def state_size(self):
            return self._cell.state_size

        @property
        def output_size(self):
            return self._output_size

        def zero_state(self, batch_size, dtype):
            return self._cell.zero_state(batch_size, dtype)

        def call(self, inputs, state):
            output, res_state = self._cell(inputs, state)
            kernel = v1.get_variable(
                "kernel", [output.shape[-1], self._output_size], output.dtype
            )
            bias = v1.get_variable(
                "bias", [self._output_size], output.dtype, v1.zeros_initializer()
            )
            return tf.matmul(output, kernel) + bias, res_state

    return OutputProjectionWrapper


def _graph_cell(tf, spec, keep_prob):
    """A TF1 cell for graph mode from a spec; variables are made on first call."""
    rnn_cell = tf.compat.v1.nn.rnn_cell
    kind = spec["type"]
    if kind == "lstm":
        return rnn_cell.LSTMCell(
            spec["units"],
            use_peepholes=spec.get("use_peepholes", False),
            num_proj=spec.get("num_proj"),
            forget_bias=spec.get("forget_bias", 1.0),
        )
    if kind == "basic_lstm":
        return rnn_cell.BasicLSTMCell(
            spec["units"], forget_bias=spec.get("forget_bias", 1.0)
        )
    if kind == "gru":
        return rnn_cell.GRUCell(spec["units"])
    if kind == "basic_rnn":
        return rnn_cell.BasicRNNCell(spec["units"])
    if kind == "dropout":
        return rnn_cell.DropoutWrapper(
            _graph_cell(tf, spec["cell"], keep_prob),
            input_keep_prob=keep_prob,
            output_keep_prob=keep_prob,
        )
    if kind == "residual":
        return rnn_cell.ResidualWrapper(_graph_cell(tf, spec["cell"], keep_prob))
    if kind == "multi":
        return rnn_cell.MultiRNNCell(
            [_graph_cell(tf, inner, keep_prob) for inner in spec["cells"]]
        )
    if kind == "projection":
        return _graph_output_projection_wrapper(tf)(
            _graph_cell(tf, spec["cell"], keep_prob), spec["output_size"]
        )
    raise ValueError(f"unknown cell type {kind!r}")


def _op_train_and_save(tf, request):
    """Builds `request["cell"]` under `dynamic_rnn` (or, with
    `bidirectional`, the same spec twice under `bidirectional_dynamic_rnn`)
    in a float32 graph, trains it `steps` steps (`optimizer` "sgd" or
    "adam", dropout keep_prob 0.8 while training) on random data, saves it
    with `Saver` to `path` and returns its outputs and flattened final
    states on `inputs` and `sequence_length` (keep_prob 1.0)."""
    import numpy as np

    v1 = tf.compat.v1
    inputs = np.asarray(request["inputs"], np.float32)
    rng = np.random.default_rng(request.get("seed", 0))
    graph = v1.Graph()
    with graph.as_default():
        v1.set_random_seed(request.get("seed", 0))
        x = v1.placeholder(tf.float32, [None, None, inputs.shape[-1]])
        lengths = v1.placeholder(tf.int32, [None])
        keep_prob = v1.placeholder_with_default(1.0, [])
        with v1.variable_scope(request.get("outer_scope") or v1.get_variable_scope()):
            if request.get("bidirectional"):
                outputs, (state_fw, state_bw) = v1.nn.bidirectional_dynamic_rnn(
                    _graph_cell(tf, request["cell"], keep_prob),
                    _graph_cell(tf, request["cell"], keep_prob),
                    x,
                    sequence_length=lengths,
                    dtype=tf.float32,
                )
                states = tf.nest.flatten(state_fw) + tf.nest.flatten(state_bw)
            else:
                out, state = v1.nn.dynamic_rnn(
                    _graph_cell(tf, request["cell"], keep_prob),
                    x,
                    sequence_length=lengths,
                    dtype=tf.float32,
                )
                outputs, states = (out,), tf.nest.flatten(state)
        loss = sum(tf.reduce_mean(tf.square(o - 0.5)) for o in outputs)
        loss += sum(tf.reduce_mean(tf.square(s - 0.3)) for s in states)
        if request.get("optimizer", "sgd") == "adam":
            optimizer = v1.train.AdamOptimizer(0.05)
        else:
            optimizer = v1.train.GradientDescentOptimizer(0.5)
        train = optimizer.minimize(
            loss, global_step=v1.train.get_or_create_global_step()
        )
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            batch, time = 4, max(inputs.shape[1], 1)
            for _ in range(request.get("steps", 3)):
                session.run(
                    train,
                    {
                        x: rng.normal(size=(batch, time, inputs.shape[-1])),
                        lengths: rng.integers(0, time + 1, size=batch),
                        keep_prob: 0.8,
                    },
                )
            path = saver.save(session, request["path"])
            got_outputs, got_states = session.run(
                (outputs, states),
                {x: inputs, lengths: np.asarray(request["sequence_length"])},
            )
            names = [v.name.split(":")[0] for v in v1.global_variables()]
    return {
        "path": path,
        "outputs": [np.asarray(o, np.float64) for o in got_outputs],
        "states": [np.asarray(s, np.float64) for s in got_states],
        "variables": names,
    }


if __name__ == "__main__":
    import tensorflow as tf

    serve(
        {
            name[len("_op_") :]: (lambda request, fn=fn: fn(tf, request))
            for name, fn in dict(globals()).items()
            if name.startswith("_op_")
        }
    )
