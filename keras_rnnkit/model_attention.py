"""The attention weights a trained model gives its inputs, in one call."""

import keras

from keras_rnnkit.attention_pooling import AttentionPooling
from keras_rnnkit.hierarchical_encoder import HierarchicalEncoder

ATTENTION_LAYERS = (HierarchicalEncoder, AttentionPooling)


def attention_weights(model, inputs, layer=None, batch_size=None):
    """The attention weights of `model`'s attention layer for `inputs`.

    A trained classifier holds its attention layer somewhere in the middle:
    a `HierarchicalEncoder` after an embedding, an `AttentionPooling` after
    an encoder. This runs `model`'s own layers from its inputs up to that
    layer, masks included, and returns the weights the layer gives (the
    same numbers as calling the layer with `return_weights=True` on what
    the model feeds it). It works on a model reloaded from a `.keras` file,
    Sequential or functional, and changes nothing in `model`.

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
        `(batch, steps)`. Padding gets exactly 0.

    Raises:
        ValueError: if the model has no attention layer, several and
            `layer` is not given, or `layer` is not one of them; if a
            `HierarchicalEncoder` does not pool with attention at both
            levels.

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
