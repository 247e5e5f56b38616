"""A `.keras` file (or config) that cannot be rebuilt gives one short error
that names the path of nested layers and the cause, never Keras's 11-21k
characters of repeated configs."""

import json
import zipfile

import keras
import pytest

from keras_rnnkit import (
    BidirectionalEncoder,
    DropoutWrapper,
    DynamicRNN,
    HierarchicalEncoder,
    MultiRNNCell,
    PeepholeLSTM,
    PeepholeLSTMCell,
)
from keras_rnnkit._serialization import ConfigLoadError


def _bidirectional_model():
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(50, 8, mask_zero=True)(tokens)
    stack = MultiRNNCell(
        [
            DropoutWrapper(
                PeepholeLSTMCell(6, name="peep"), input_rate=0.3, name="drop"
            ),
            keras.layers.GRUCell(5, name="gru"),
        ],
        name="stack",
    )
    outputs = BidirectionalEncoder(stack, name="encoder")(x)
    return keras.Model(tokens, outputs)


def _hierarchical_model():
    documents = keras.Input((3, 4, 5))
    words = DynamicRNN(PeepholeLSTMCell(4, name="word_cell"), return_sequences=True)
    encoder = HierarchicalEncoder(
        word_encoder=words,
        sentence_encoder=PeepholeLSTM(3, return_sequences=True, name="sentences"),
        name="documents",
    )
    return keras.Model(documents, encoder(documents))


def _tampered(model, tmp_path, edit):
    """Saves `model`, applies `edit` to its config dict, returns the path."""
    path = tmp_path / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    edit(config)
    files["config.json"] = json.dumps(config).encode()
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(bad, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return bad


def _find(config, name):
    """The config dict of the nested layer called `name`."""
    if isinstance(config, dict):
        inner = config.get("config")
        if isinstance(inner, dict) and inner.get("name") == name:
            return inner
        values = config.values()
    elif isinstance(config, list):
        values = config
    else:
        return None
    for value in values:
        found = _find(value, name)
        if found is not None:
            return found
    return None


def _set(name, key, value):
    def edit(config):
        _find(config, name)[key] = value

    return edit


@pytest.mark.parametrize(
    "make, edit, path, cause",
    [
        (
            _bidirectional_model,
            _set("peep", "units", -6),
            "layer (MultiRNNCell 'stack') > cells[0] (DropoutWrapper 'drop') > "
            "cell (PeepholeLSTMCell 'peep')",
            "`units` must be a positive integer. Received: units=-6",
        ),
        (
            _bidirectional_model,
            _set("drop", "input_rate", 2.0),
            "layer (MultiRNNCell 'stack') > cells[0] (DropoutWrapper 'drop')",
            "`input_rate` must be a float in [0, 1). Received: input_rate=2.0",
        ),
        (
            _bidirectional_model,
            _set("gru", "units", "five"),
            "cells[1] (GRUCell 'gru')",
            "TypeError",
        ),
        (
            _bidirectional_model,
            _set("stack", "state_is_tuple", 3),
            "layer (MultiRNNCell 'stack'):",
            "`state_is_tuple` must be True or False",
        ),
        (
            _hierarchical_model,
            _set("word_cell", "cell_clip", -1.0),
            "word_encoder (DynamicRNN 'dynamic_rnn') > cell (PeepholeLSTMCell "
            "'word_cell')",
            "cell_clip",
        ),
        (
            _hierarchical_model,
            _set("sentences", "num_proj", 0),
            "sentence_encoder (PeepholeLSTM 'sentences'):",
            "num_proj",
        ),
    ],
    ids=["cell", "wrapper", "keras-cell", "stack", "word-level", "sentence-level"],
)
def test_a_bad_nested_config_gives_one_short_error(make, edit, path, cause, tmp_path):
    keras.backend.clear_session()  # the default layer names below
    bad = _tampered(make(), tmp_path, edit)
    with pytest.raises(ValueError) as caught:
        keras.saving.load_model(bad)
    message = str(caught.value)
    assert isinstance(caught.value, ConfigLoadError)
    assert len(message) < 1000, message
    assert path in message and cause in message, message
    assert message.startswith("Could not rebuild ")


def test_an_unsafe_nested_object_is_still_refused(tmp_path):
    def lambda_cell(config):
        stack = _find(config, "stack")
        stack["cells"][1] = {
            "module": "keras.layers",
            "class_name": "Lambda",
            "config": {
                "name": "evil",
                "function": {
                    "class_name": "__lambda__",
                    "config": {"code": "x", "defaults": None, "closure": None},
                },
            },
            "registered_name": None,
        }

    bad = _tampered(_bidirectional_model(), tmp_path, lambda_cell)
    with pytest.raises(ValueError, match="cells\\[1\\] \\(Lambda 'evil'\\).*safe_mode"):
        keras.saving.load_model(bad, safe_mode=True)


def test_from_config_of_a_good_config_is_unchanged():
    layer = BidirectionalEncoder(
        MultiRNNCell([PeepholeLSTMCell(3), PeepholeLSTMCell(2)])
    )
    clone = BidirectionalEncoder.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
