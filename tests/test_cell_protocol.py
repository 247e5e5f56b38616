"""The cell protocol (keras_rnnkit/cell_protocol.py): what cells say they are.

- Every cell and wrapper of the kit, and Keras's own cells, declare their
  carries and whether their output is state 0; a user's own cell that
  declares the same is treated the same, on every backend.
- `fused_form` is tied to `call`: a subclass that overrides `call` runs its
  own math; and every `get_config` key of a cell with a fused form is read
  by `fused_form` or declared irrelevant to it, so a new setting cannot
  slip past the fast path unnoticed.
- No layer changes its own attributes during a call: one layer called from
  several threads keeps its settings and gives each thread its own result.
"""

import inspect
import re
import threading

import keras
import numpy as np
import pytest
from keras import ops

from keras_rnnkit import (
    BidirectionalEncoder,
    DropoutWrapper,
    DynamicRNN,
    LayerNormLSTMCell,
    MultiRNNCell,
    OutputProjectionWrapper,
    PeepholeLSTMCell,
    ResidualWrapper,
    ZoneoutWrapper,
    cell_protocol,
)


@keras.saving.register_keras_serializable("tests")
class CoupledLSTMCell(keras.layers.Layer):
    """An LSTM whose forget gate is 1 - its input gate (CIFG), declaring
    its traits as a user would."""

    carry_states = (False, True)
    output_is_first_state = True

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 3 * self.units))
        self.recurrent_kernel = self.add_weight(shape=(self.units, 3 * self.units))

    def call(self, inputs, states):
        h, c = states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel)
        z_i, z_c, z_o = ops.split(z, 3, axis=-1)
        i = ops.sigmoid(z_i)
        c = (1 - i) * c + i * ops.tanh(z_c)
        h = ops.sigmoid(z_o) * ops.tanh(c)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class UndeclaredCoupledLSTMCell(CoupledLSTMCell):
    """The same cell, declaring nothing (its parent's declarations set to
    the defaults): TF1's defaults apply."""

    carry_states = (False, False)
    output_is_first_state = False


def lstm():
    return keras.layers.LSTMCell(3)


DECLARED = [  # (cell, carry_states, output_is_first_state)
    (keras.layers.LSTMCell(3), (False, True), True),
    (keras.layers.GRUCell(3), (False,), True),
    (keras.layers.SimpleRNNCell(3), (False,), True),
    (PeepholeLSTMCell(3, num_proj=2), (False, True), True),
    (LayerNormLSTMCell(3), (False, True), True),
    (CoupledLSTMCell(3), (False, True), True),
    (
        keras.layers.StackedRNNCells([lstm(), keras.layers.GRUCell(2)]),
        (False, True, False),
        False,
    ),
    (MultiRNNCell([lstm(), keras.layers.GRUCell(2)]), (False, True, False), False),
    (MultiRNNCell([lstm(), lstm()], state_is_tuple=False), (False,), False),
    (DropoutWrapper(lstm(), input_rate=0.3), (False, True), True),
    (DropoutWrapper(lstm(), output_rate=0.3), (False, True), False),
    (DropoutWrapper(lstm(), state_rate=0.3), (False, True), False),
    (ZoneoutWrapper(lstm(), zoneout_h=0.1), (False, True), True),
    (ResidualWrapper(lstm()), (False, True), False),
    (OutputProjectionWrapper(lstm(), 2), (False, True), False),
    (DropoutWrapper(CoupledLSTMCell(3)), (False, True), True),
]


@pytest.mark.parametrize(
    "cell, carries, output_first", DECLARED, ids=[type(c[0]).__name__ for c in DECLARED]
)
def test_every_cell_says_what_it_is(cell, carries, output_first):
    assert cell_protocol.carry_states(cell) == carries
    assert cell_protocol.output_is_first_state(cell) is output_first


def test_undeclared_cells_get_tf1_defaults():
    class Plain(keras.layers.Layer):
        state_size = [2, 3]

    assert cell_protocol.carry_states(Plain()) == (False, False)
    assert cell_protocol.output_is_first_state(Plain()) is False
    assert cell_protocol.fused_form(Plain()) is None


@pytest.mark.parametrize(
    "attribute, value, message",
    [
        ("carry_states", (True,), "one boolean per state"),
        ("carry_states", (1, 0), "one boolean per state"),
        ("output_is_first_state", "yes", "must be True or False"),
    ],
)
def test_a_wrong_declaration_is_named(attribute, value, message):
    cell = type("Declares", (CoupledLSTMCell,), {attribute: value})(2)
    with pytest.raises(ValueError, match=re.escape(f"{attribute}={value!r}")) as info:
        getattr(cell_protocol, attribute)(cell)
    assert message in str(info.value)


def test_declare_covers_a_class_you_cannot_edit():
    class Library(keras.layers.Layer):
        state_size = [2, 2]

    class Subclass(Library):
        pass

    cell_protocol.declare(Library, carry_states=(False, True))
    assert cell_protocol.carry_states(Subclass()) == (False, True)
    assert cell_protocol.output_is_first_state(Subclass()) is False


def test_a_users_cell_keeps_its_declared_carry_under_state_dropout():
    x = np.random.default_rng(0).normal(size=(64, 5, 3)).astype("float32")
    for cell_class, carry_kept in (
        (CoupledLSTMCell, True),
        (UndeclaredCoupledLSTMCell, False),
    ):
        inner = cell_class(4)
        layer = DynamicRNN(
            DropoutWrapper(inner, state_keep_prob=0.5, seed=3), return_state=True
        )
        layer(x)  # builds
        _, h, c = (ops.convert_to_numpy(t) for t in layer(x, training=True))
        # Dropped units are exact zeros of the final state.
        assert 0.3 < (h == 0).mean() < 0.7
        if carry_kept:
            assert (c == 0).mean() < 0.01
        else:
            assert 0.3 < (c == 0).mean() < 0.7


def test_zoneout_c_needs_a_declared_carry():
    cell = ZoneoutWrapper(CoupledLSTMCell(4), zoneout_h=0.1, zoneout_c=0.5, seed=1)
    assert cell._rates == [(0.1, 4), (0.5, 4)]
    with pytest.raises(ValueError, match="zoneout_c.*no carry.*carry_states"):
        ZoneoutWrapper(UndeclaredCoupledLSTMCell(4), zoneout_c=0.5)


def test_zoneout_c_acts_on_a_users_carry_in_training():
    # zoneout_h=0, zoneout_c close to 1: h is the cell's own, c keeps its
    # old value (the initial zeros) almost everywhere.
    x = np.random.default_rng(1).normal(size=(8, 4, 3)).astype("float32")
    layer = DynamicRNN(
        ZoneoutWrapper(CoupledLSTMCell(5), zoneout_c=0.999, seed=2), return_state=True
    )
    _, h, c = (ops.convert_to_numpy(t) for t in layer(x, training=True))
    assert (c == 0).mean() > 0.95
    assert (h != 0).mean() > 0.95


# -- the fused form is tied to `call` ----------------------------------------


def test_a_subclass_that_overrides_call_runs_its_own_math():
    class Doubled(PeepholeLSTMCell):
        def call(self, inputs, states, training=False):
            h, (h, c) = super().call(inputs, states, training)
            return 2 * h, [h, c]

    class Renamed(PeepholeLSTMCell):
        pass

    for cls, has_form in ((PeepholeLSTMCell, True), (Renamed, True), (Doubled, False)):
        cell = cls(3)
        cell.build((None, 2))
        assert (cell_protocol.fused_form(cell) is not None) is has_form, cls
    x = np.random.default_rng(2).normal(size=(2, 4, 2)).astype("float32")
    plain, doubled = DynamicRNN(PeepholeLSTMCell(3)), DynamicRNN(Doubled(3))
    plain(x)
    doubled(x)
    doubled.set_weights(plain.get_weights())
    # Doubled's output is twice the plain cell's (its states are the same),
    # on every backend: on torch the fused path would have ignored its call.
    np.testing.assert_allclose(
        ops.convert_to_numpy(doubled(x)),
        2 * ops.convert_to_numpy(plain(x)),
        rtol=1e-5,
        atol=1e-6,
    )


class _Reads:
    """Stands in for a cell inside its `fused_form`, recording every
    attribute it reads."""

    def __init__(self, cell):
        object.__setattr__(self, "_cell", cell)
        object.__setattr__(self, "read", set())

    def __getattr__(self, name):
        self.read.add(name)
        found = inspect.getattr_static(type(self._cell), name, None)
        if isinstance(found, property):  # its own reads count too
            return found.fget(self)
        if inspect.isfunction(found) and found.__module__.startswith("keras_rnnkit"):
            return found.__get__(self)  # the kit's own methods: their reads too
        return getattr(self._cell, name)


STANDARD_KEYS = {"name", "dtype", "trainable"}


def _built(cell, features=3):
    cell.build((None, features))
    return cell


# Cells with a fused form, each in two configurations (what `fused_form`
# reads may depend on the settings: the reads of both count).
FUSED = {
    "PeepholeLSTMCell": lambda **kw: PeepholeLSTMCell(3, num_proj=2, **kw),
    "LSTMCell": lambda **kw: keras.layers.LSTMCell(3, **kw),
    "LayerNormLSTMCell": lambda **kw: LayerNormLSTMCell(3, **kw),
    "OutputProjectionWrapper": lambda **kw: OutputProjectionWrapper(lstm(), 2, **kw),
    "ResidualWrapper": lambda **kw: ResidualWrapper(keras.layers.LSTMCell(3), **kw),
    "DropoutWrapper": lambda **kw: DropoutWrapper(lstm(), **kw),
    "MultiRNNCell": lambda **kw: MultiRNNCell([lstm(), lstm()], **kw),
}
VARIANTS = {
    "PeepholeLSTMCell": {"dropout": 0.1, "recurrent_dropout": 0.1},
    "LSTMCell": {"dropout": 0.1, "recurrent_dropout": 0.1},
    "LayerNormLSTMCell": {"dropout": 0.1, "norm": "per_gate", "use_peepholes": True},
    "DropoutWrapper": {"input_rate": 0.1, "state_rate": 0.1, "output_rate": 0.1},
}


@pytest.mark.parametrize("name", FUSED)
def test_fused_form_reads_every_setting_that_is_not_declared_irrelevant(name):
    read, keys = set(), set()
    for kwargs in ({}, VARIANTS.get(name, {})):
        cell = _built(FUSED[name](**kwargs))
        owner = cell_protocol._owner(type(cell), "fused_form")
        if "fused_form" in vars(owner):
            fused_form = type(cell).fused_form
        else:
            fused_form = cell_protocol._DECLARED[owner]["fused_form"]
        reads = _Reads(cell)
        for training in (True, False):
            fused_form(reads, training)
        read |= reads.read
        keys |= set(cell.get_config())
    ignored = set(cell_protocol.fused_form_ignores(cell))
    unused = keys - STANDARD_KEYS - ignored - read
    assert unused == set(), (
        f"{name}'s config keys {sorted(unused)} are neither read by its "
        "fused_form nor listed in its fused_form_ignores: describe them in the "
        "form (or return None when they are set), or declare them irrelevant"
    )
    assert ignored <= keys, "ignores a key the config lacks"


# -- no layer changes itself during a call -----------------------------------


def test_one_layer_called_from_four_threads_keeps_its_settings():
    # A masked call used to flip the layer's own `return_sequences` and
    # `zero_output_for_mask` for its duration: other threads then got
    # sequences instead of last outputs, and the flags could stay flipped.
    rng = np.random.default_rng(3)
    cell = DropoutWrapper(keras.layers.GRUCell(4), output_rate=0.5, seed=0)
    layer = DynamicRNN(cell)
    batches = {n: rng.normal(size=(n, 5, 3)).astype("float32") for n in (2, 3, 4, 5)}
    masks = {
        n: np.arange(5)[None, :] < rng.integers(1, 6, size=(n, 1)) for n in batches
    }
    layer(batches[2], mask=masks[2])
    want = {
        n: ops.convert_to_numpy(layer(x, mask=masks[n])) for n, x in batches.items()
    }
    # 25 calls per thread on TensorFlow's eager mode, where the race showed;
    # eager JAX compiles its loop at every call, so fewer there (and torch).
    calls = 25 if keras.backend.backend() == "tensorflow" else 4
    problems = []
    start = threading.Barrier(4)

    def work(n):
        start.wait()
        for k in range(calls):
            training = k % 2 == 1
            got = ops.convert_to_numpy(
                layer(batches[n], mask=masks[n], training=training)
            )
            if got.shape != (n, 4):
                problems.append((n, k, got.shape))
            elif not training and not np.allclose(got, want[n], atol=1e-6):
                problems.append((n, k, "values"))
            elif training and not np.all(
                (got == 0) | np.isclose(got, 2 * want[n], atol=1e-5)
            ):
                problems.append((n, k, "dropout"))

    threads = [threading.Thread(target=work, args=(n,)) for n in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    assert layer.return_sequences is False and layer.zero_output_for_mask is True


def test_the_kit_layers_on_a_users_cell(tmp_path):
    # The user's cell through the kit's layers, a .keras reload and a
    # compiled fit (JAX jit on JAX).
    inputs = keras.Input((None, 3))
    encoder = BidirectionalEncoder(
        MultiRNNCell(
            [
                ZoneoutWrapper(CoupledLSTMCell(4), zoneout_h=0.1, zoneout_c=0.1),
                ResidualWrapper(
                    DropoutWrapper(CoupledLSTMCell(4), state_keep_prob=0.8)
                ),
            ]
        ),
        return_sequences=False,
    )
    model = keras.Model(inputs, keras.layers.Dense(1)(encoder(inputs)))
    model.compile("adam", "mse")  # compiled on JAX (jit) and TF
    x = np.random.default_rng(4).normal(size=(8, 5, 3)).astype("float32")
    history = model.fit(x, np.ones((8, 1)), epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    path = tmp_path / "model.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(
        again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
