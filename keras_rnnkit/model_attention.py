"""The attention weights a trained model gives its inputs, in one call."""

import keras

from keras_rnnkit import _compat
from keras_rnnkit.attention_pooling import AttentionPooling
from keras_rnnkit.hierarchical_encoder import HierarchicalEncoder
from keras_rnnkit.seq2seq.with_memory import WithMemory

ATTENTION_LAYERS = (HierarchicalEncoder, AttentionPooling, WithMemory)


def attention_weights(model, inputs, layer=None, batch_size=None):
    """The attention weights of `model`'s attention layer for `inputs`.

    A trained model holds its attention layer somewhere in the middle: a
    `HierarchicalEncoder` after an embedding, an `AttentionPooling` after
    an encoder, a `keras_rnnkit.seq2seq.WithMemory` decoder after an
    encoder. This runs `model`'s own layers from its inputs up to that
    layer, masks included, and returns the weights the layer gives (the
    same numbers as calling the layer with `return_weights=True`, or
    `return_alignments=True` for `WithMemory`, on what the model feeds it).
    It works on a model reloaded from a `.keras` file, Sequential or
    functional, and changes nothing in `model`.

    For an encoder-decoder trained with teacher forcing, the alignments are
    those of the decoder inputs given: to see where the model looked while
    it wrote an output, give that output (shifted behind the start symbol)
    as the decoder inputs; greedy decoding then takes the same steps.

    Args:
        model: A built Keras model (functional or Sequential) with the
            attention layer among its own layers (not inside a nested
            model). A layer the model calls more than once gives the
            weights of its first call.
        inputs: What `model.predict` takes.
        layer: Which attention layer, by name or as the layer itself;
            needed only when the model has more than one.
        batch_size: Passed to `predict` (default 32).

    Returns:
        NumPy arrays. For a `HierarchicalEncoder`, `(word_weights,
        sentence_weights)` of shapes `(batch, sentences, words)` and
        `(batch, sentences)`; for an `AttentionPooling`, `weights` of shape
        `(batch, steps)`; for a `WithMemory` decoder, the alignments
        `(batch, decoder_steps, memory_steps)` (a list of one per attention
        mechanism with several). Padding gets exactly 0 (memory padding
        always; decoder steps past a masked input's end too).

    Raises:
        ValueError: if the model has no attention layer, several and
            `layer` is not given, or `layer` is not one of them; if a
            `HierarchicalEncoder` does not pool with attention at both
            levels; if a `WithMemory` layer runs a decoder (alignments come
            from the teacher-forced RNN layer) or was not called on the
            model's tensors.

    Example:

    >>> import keras, numpy as np, keras_rnnkit
    >>> model = keras.Sequential([
    ...     keras.Input((None, 3)),
    ...     keras.layers.Masking(0.0),
    ...     keras_rnnkit.AttentionPooling(4),
    ...     keras.layers.Dense(2, activation="softmax"),
    ... ])
    >>> x = np.ones((2, 5, 3), "float32")
    >>> x[1, 3:] = 0.0  # padding
    >>> weights = keras_rnnkit.attention_weights(model, x)
    >>> weights.shape
    (2, 5)
    >>> weights[1, 3:].tolist(), float(weights[1].sum().round(5))
    ([0.0, 0.0], 1.0)
    """
    target = _attention_layer(model, layer)
    if isinstance(target, WithMemory):
        return _alignments(model, target, inputs, batch_size)
    fed = target.input  # of its first call
    if isinstance(fed, (list, tuple)):  # [inputs, the mask Keras passed]
        fed = fed[0]
    if isinstance(target, HierarchicalEncoder):
        target._check_weights(True)
    weights = keras.Model(model.inputs, _Weights(target)(fed))
    outputs = weights.predict(inputs, batch_size=batch_size, verbose=0)
    return tuple(outputs) if isinstance(target, HierarchicalEncoder) else outputs


def _attention_layer(model, layer):
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"attention_weights: `model` must be a Keras model. Received: "
            f"model={model!r} of type {type(model).__name__}"
        )
    if not model.built or not getattr(model, "inputs", None):
        raise ValueError(
            f"attention_weights: model '{model.name}' has no inputs yet: "
            "build it with keras.Input (functional) or start a Sequential "
            "model with keras.Input(shape)."
        )
    found = [x for x in model.layers if isinstance(x, ATTENTION_LAYERS)]
    names = [x.name for x in found]
    allowed = " or ".join(cls.__name__ for cls in ATTENTION_LAYERS)
    if layer is None:
        if len(found) == 1:
            return found[0]
        if not found:
            raise ValueError(
                f"attention_weights: model '{model.name}' has no {allowed} "
                "among its layers (model.layers; a layer inside a nested "
                "model is not searched)."
            )
        raise ValueError(
            f"attention_weights: model '{model.name}' has {len(found)} "
            f"attention layers {names}: pass layer= one of them."
        )
    for x in found:
        if x is layer or x.name == layer:
            return x
    raise ValueError(
        f"attention_weights: layer={layer!r} is not an attention layer "
        f"({allowed}) of model '{model.name}'. Its attention layers: {names}"
    )


def _alignments(model, target, inputs, batch_size):
    if target._decoder:
        raise ValueError(
            f"attention_weights: WithMemory layer '{target.name}' runs a "
            f"{type(target.layer).__name__}; alignments come from the "
            "teacher-forced model (a WithMemory around an RNN layer): give it "
            "the decoded ids as decoder inputs."
        )
    called = _compat.first_call_arguments(target)
    if called is None:
        raise ValueError(
            f"attention_weights: WithMemory layer '{target.name}' was not "
            f"called on model '{model.name}''s tensors."
        )
    args, kwargs = called
    names = (
        "memory_sequence_length",
        "memory_mask",
        "initial_cell_state",
        "sequence_length",
        "mask",
    )
    kwargs = {k: v for k, v in kwargs.items() if k in names and v is not None}
    alignments = _Alignments(target)(*args, **kwargs)
    outputs = keras.Model(model.inputs, alignments).predict(
        inputs, batch_size=batch_size, verbose=0
    )
    return list(outputs) if isinstance(outputs, (list, tuple)) else outputs


class _Alignments(keras.layers.Layer):
    """Calls a `WithMemory` layer with `return_alignments=True` and returns
    the alignments only, zero at masked decoder steps (a layer of its own,
    for the reason `_Weights` gives)."""

    def __init__(self, layer, **kwargs):
        super().__init__(name=f"{layer.name}_alignments", **kwargs)
        self.layer = layer
        self.supports_masking = True

    def call(
        self,
        inputs,
        memory,
        memory_sequence_length=None,
        memory_mask=None,
        initial_cell_state=None,
        sequence_length=None,
        mask=None,
    ):
        outputs = self.layer(
            inputs,
            memory,
            memory_sequence_length=memory_sequence_length,
            memory_mask=memory_mask,
            initial_cell_state=initial_cell_state,
            sequence_length=sequence_length,
            mask=mask,
            return_alignments=True,
        )
        alignments = outputs[-1]
        if mask is None:  # Keras fills `mask` only for a call on one tensor
            mask = _compat.get_keras_mask(inputs)
        if mask is None:
            return alignments
        keep = keras.ops.expand_dims(mask, -1)
        if isinstance(alignments, (list, tuple)):
            return [a * keras.ops.cast(keep, a.dtype) for a in alignments]
        return alignments * keras.ops.cast(keep, alignments.dtype)

    def compute_mask(self, inputs, previous_mask=None):
        return None


class _Weights(keras.layers.Layer):
    """Calls `layer` with `return_weights=True` and returns the weights only.

    A layer of its own, so that the graph gets one new node whose outputs
    are the weights (a second node of the attention layer itself, with more
    outputs than its first, is not connected by Keras's graph check).
    """

    def __init__(self, layer, **kwargs):
        super().__init__(name=f"{layer.name}_weights", **kwargs)
        self.layer = layer
        self.supports_masking = True

    def call(self, inputs, mask=None):
        outputs = self.layer(inputs, mask=mask, return_weights=True)
        return outputs[1] if len(outputs) == 2 else tuple(outputs[1:])

    def compute_mask(self, inputs, mask=None):
        return None
