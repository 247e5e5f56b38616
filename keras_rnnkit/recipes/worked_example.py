"""The tutorial's two-step RNN by hand: NumPy next to Keras, to the 6th decimal.

The tutorial opens with a worked example of one recurrent cell (its figure
RNN-03): a state of 2 units, an input and an output of 1 number,

    W1 = [[0.1, 0.2],    rows 1-2 act on the previous state
          [0.3, 0.4],
          [0.5, 0.6]]    row 3 acts on the input
    b1 = [0.1, -0.1]     W2 = [1.0, 2.0]     b2 = 0.1

with the inputs 1 then 2 and a zero initial state. Each step computes
``state = tanh([state, x] . W1 + b1)`` and ``output = state . W2 + b2``.

This recipe computes the two steps by hand with NumPy, then sets the same
weights into two Keras models and runs them:

- `keras.layers.SimpleRNN(2)` (kernel = the input row of W1, recurrent
  kernel = the two state rows) followed by `keras.layers.Dense(1)` (W2, b2);
- `keras_rnnkit.DynamicRNN` over `keras_rnnkit.OutputProjectionWrapper(
  SimpleRNNCell(2), output_size=1)`, TF1's way of putting the output layer
  inside the cell.

It prints the states and outputs of every step next to the values the
tutorial's example prints, checks that they all agree to 1e-6 (it raises
`AssertionError` otherwise) and saves a bar plot of them. Nothing is
trained: `quick`, `epochs` and `seed` change nothing.
"""

import numpy as np

from keras_rnnkit.recipes import _common

W1 = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
B1 = np.array([0.1, -0.1])
W2 = np.array([1.0, 2.0])
B2 = 0.1
INPUTS = np.array([1.0, 2.0])
# What the example printed (8 decimals), step by step.
PRINTED = {
    "before_activation": [[0.6, 0.5], [1.2923401, 1.39225678]],
    "state": [[0.53704957, 0.46211716], [0.85973818, 0.88366641]],
    "output": [1.56128388, 2.72707101],
}
TOLERANCE = 1e-6


def by_hand(inputs=INPUTS):
    """The recurrence with NumPy (float64): per-step pre-activations, states
    and outputs."""
    state = np.zeros(2)
    steps = {"before_activation": [], "state": [], "output": []}
    for x in inputs:
        before_activation = np.concatenate([state, [x]]) @ W1 + B1
        state = np.tanh(before_activation)
        steps["before_activation"].append(before_activation)
        steps["state"].append(state)
        steps["output"].append(state @ W2 + B2)
    return {name: np.array(values) for name, values in steps.items()}


def keras_model():
    """`SimpleRNN` + `Dense` with the tutorial's weights; outputs the states
    and the outputs of every step."""
    import keras

    steps = keras.Input((len(INPUTS), 1), name="x")
    rnn = keras.layers.SimpleRNN(2, return_sequences=True, name="cell")
    dense = keras.layers.Dense(1, name="output_layer")
    states = rnn(steps)
    model = keras.Model(steps, [states, dense(states)], name="worked_example")
    rnn.cell.kernel.assign(W1[2:])  # (1 input, 2 units): the input row
    rnn.cell.recurrent_kernel.assign(W1[:2])  # (2, 2): the state rows
    rnn.cell.bias.assign(B1)
    dense.kernel.assign(W2[:, None])
    dense.bias.assign([B2])
    return model


def projection_model():
    """TF1's `OutputProjectionWrapper` version: the output layer inside the
    cell; outputs every step's output and the final state."""
    import keras

    import keras_rnnkit

    cell = keras_rnnkit.OutputProjectionWrapper(
        keras.layers.SimpleRNNCell(2), output_size=1
    )
    steps = keras.Input((len(INPUTS), 1), name="x")
    outputs, final_state = keras_rnnkit.DynamicRNN(
        cell, return_sequences=True, return_state=True, name="rnn"
    )(steps)
    model = keras.Model(steps, [outputs, final_state], name="projection")
    cell.cell.kernel.assign(W1[2:])
    cell.cell.recurrent_kernel.assign(W1[:2])
    cell.cell.bias.assign(B1)
    cell.kernel.assign(W2[:, None])
    cell.bias.assign([B2])
    return model


def check(name, actual, expected, tolerance=TOLERANCE):
    """Raises AssertionError when `actual` and `expected` differ by more than
    `tolerance`; returns the largest difference."""
    difference = float(np.max(np.abs(np.asarray(actual) - np.asarray(expected))))
    if not difference <= tolerance:
        raise AssertionError(
            f"{name}: {np.asarray(actual).tolist()} differs from "
            f"{np.asarray(expected).tolist()} by {difference:.3g} "
            f"(tolerance {tolerance:g})"
        )
    return difference


def plot(hand, path):
    plt = _common.pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = ["state[0]", "state[1]", "output"]
    width = 0.35
    for step in range(len(INPUTS)):
        values = [*hand["state"][step], hand["output"][step]]
        positions = np.arange(3) + (step - 0.5) * width
        bars = ax.bar(positions, values, width, label=f"step {step + 1}")
        ax.bar_label(bars, fmt="%.4f", fontsize=8)
    ax.set_xticks(range(3), labels)
    ax.set_ylabel("value")
    ax.set_title("Two steps of the tutorial's RNN (inputs 1, then 2)")
    ax.legend()
    _common.save_figure(fig, path)
    return path


def run(quick=False, out="runs/worked-example", epochs=None, seed=0):
    """Runs the example by hand and in Keras; returns the figures."""
    import keras

    out = _common.setup(out, seed)
    with _common.Timer() as total:
        _common.header("The tutorial's worked example: 2 steps of a simple RNN")
        print("W1 (rows 1-2: previous state, row 3: input) =", W1.tolist())
        print(f"b1 = {B1.tolist()}, W2 = {W2.tolist()}, b2 = {B2}")
        print(f"inputs {INPUTS.tolist()}, initial state [0, 0]")
        hand = by_hand()
        x = INPUTS.reshape(1, -1, 1).astype("float32")
        # convert_to_numpy: torch's outputs carry autograd history
        numpy = keras.ops.convert_to_numpy
        states, outputs = (numpy(v)[0] for v in keras_model()(x))
        projected, final_state = (numpy(v)[0] for v in projection_model()(x))
        outputs, projected = outputs[:, 0], projected[:, 0]

        differences = {
            "hand vs printed, pre-activation": check(
                "pre-activation by hand",
                hand["before_activation"],
                PRINTED["before_activation"],
            ),
            "hand vs printed, state": check(
                "state by hand", hand["state"], PRINTED["state"]
            ),
            "hand vs printed, output": check(
                "output by hand", hand["output"], PRINTED["output"]
            ),
            "SimpleRNN vs hand, state": check("SimpleRNN state", states, hand["state"]),
            "Dense vs hand, output": check("Dense output", outputs, hand["output"]),
            "OutputProjectionWrapper vs hand, output": check(
                "OutputProjectionWrapper output", projected, hand["output"]
            ),
            "DynamicRNN final state vs hand": check(
                "DynamicRNN final state", final_state, hand["state"][-1]
            ),
        }

        for step, value in enumerate(INPUTS):
            _common.header(f"step {step + 1}: input x = {value:g}")
            print(
                "before activation [state, x] . W1 + b1 = "
                f"{_vector(hand['before_activation'][step])} "
                f"(printed: {PRINTED['before_activation'][step]})"
            )
            print(f"{'':26s}{'state = tanh(...)':28s}output = state . W2 + b2")
            rows = (
                ("by hand (NumPy)", hand["state"][step], hand["output"][step]),
                ("tutorial (printed)", PRINTED["state"][step], PRINTED["output"][step]),
                ("SimpleRNN + Dense", states[step], outputs[step]),
                ("OutputProjectionWrapper", None, projected[step]),
            )
            for name, state, output in rows:
                state = "-" if state is None else _vector(state)
                print(f"{name:26s}{state:28s}{output:.8f}")
        print(f"\nDynamicRNN final state {_vector(final_state)} = the state of step 2")

        _common.header("agreement (largest absolute difference)")
        for name, difference in differences.items():
            print(f"{name:42s} {difference:.2e}")
        print(f"all within {TOLERANCE:g}: the Keras models compute the tutorial's RNN")
        plots = [plot(hand, out / "worked_example.png")]
    print(f"plots: {', '.join(map(str, plots))}; {total.seconds:.1f} s in all")
    figures = {
        f"state_step{step + 1}_unit{unit}": float(states[step, unit])
        for step in range(2)
        for unit in range(2)
    }
    figures.update(
        {f"output_step{step + 1}": float(outputs[step]) for step in range(2)}
    )
    figures["max_difference"] = max(differences.values())
    figures["plots"] = [str(path) for path in plots]
    figures["seconds"] = total.seconds
    return figures


def _vector(values):
    return "[" + ", ".join(f"{v:.8f}" for v in np.asarray(values)) + "]"
