"""Masked attention pooling over time (Yang et al. 2016's context attention)."""

from typing import Any

import keras
from keras import ops

from keras_rnnkit import _float64
from keras_rnnkit import _validation as check
from keras_rnnkit._registration import register
from keras_rnnkit._types import Initializer, Tensor
from keras_rnnkit.dynamic_rnn import mask_from_lengths


def masked_softmax(scores, mask):
    """Softmax over the last axis, restricted to the positions where `mask`.

    Exactly 0 on masked positions; a row with no valid position gets all
    zeros (no NaN, in values or gradients). Computed in float32 (float64
    stays float64).
    """
    dtype = "float64" if _float64.is_float64(scores) else "float32"
    scores = ops.cast(scores, dtype)
    if mask is not None:
        # Fill masked scores with the row's minimum: the row maximum is then
        # the maximum over valid positions, whatever the padding holds.
        mask = ops.cast(mask, "bool")
        floor = ops.min(scores, axis=-1, keepdims=True)
        scores = ops.where(mask, scores, floor)
    shifted = scores - ops.stop_gradient(ops.max(scores, axis=-1, keepdims=True))
    weights = ops.exp(shifted)
    if mask is None:  # (keras.ops.softmax warns on a time axis of size 1)
        return weights / ops.sum(weights, axis=-1, keepdims=True)
    weights = weights * ops.cast(mask, dtype)
    total = ops.sum(weights, axis=-1, keepdims=True)
    return weights / ops.where(total > 0, total, ops.ones_like(total))


@register
class AttentionPooling(check.LengthsCheckedFirst, keras.layers.Layer):
    """Pools a sequence into one vector with learned, masked attention.

    The attention of Hierarchical Attention Networks (Yang et al. 2016):
    `u_t = tanh(h_t W + b)`, `score_t = u_t . context`, weights = softmax of
    the scores over the valid time steps only, output = sum_t weights_t h_t.
    The weights sum to 1 over the valid steps of a row and are exactly 0 on
    padding; a row without any valid step pools to zeros (weights all 0),
    never NaN. Values at padded steps never change the result. Inputs with
    no time step at all, `(batch, 0, features)`, are rows without a valid
    step: they pool to zeros, with weights of shape `(batch, 0)` (unlike
    `DynamicRNN`, which has no last output to return and refuses them).

    Args:
        units: Size of the attention's hidden layer `u` (positive integer).
            Default: the input's feature size.
        use_bias: Boolean (default `True`), whether `u` has the bias `b`.
        kernel_initializer: Initializer for `W` (default `"glorot_uniform"`).
        bias_initializer: Initializer for `b` (default `"zeros"`).
        context_initializer: Initializer for the context vector (default
            `"glorot_uniform"`).
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Float tensor `(batch, timesteps, features)`.
        mask: Optional boolean tensor `(batch, timesteps)`, True at valid
            steps. Keras passes it on from `Masking` or
            `Embedding(mask_zero=True)`.
        return_weights: Boolean (default `False`): also return the
            attention weights.
        sequence_length: Optional integer tensor `(batch,)` of row lengths,
            instead of (or agreeing with) a mask: steps `t >= length` are
            padding. In a functional model, give the same lengths Input as
            to `DynamicRNN(..., sequence_length=)`.

    Returns:
        The pooled tensor `(batch, features)`; with `return_weights=True`,
        a tuple `(pooled, weights)` with weights `(batch, timesteps)`.

    Raises:
        TypeError: Integer inputs (embed token ids first), or a
            `sequence_length` that is not of an integer dtype.
        ValueError: A mask or `sequence_length` whose shape does not fit the
            inputs, lengths outside `[0, timesteps]` (when known), or a mask
            that disagrees with `sequence_length`.

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> pooling = keras_rnnkit.AttentionPooling(8)
        >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
        >>> mask = np.array([[True] * 5, [True, True, False, False, False]])
        >>> pooled, weights = pooling(x, mask=mask, return_weights=True)
        >>> tuple(pooled.shape), tuple(weights.shape)
        ((2, 3), (2, 5))
        >>> np.round(keras.ops.convert_to_numpy(weights).sum(axis=1), 5)
        array([1., 1.], dtype=float32)
        >>> keras.ops.convert_to_numpy(weights)[1, 2:]
        array([0., 0., 0.], dtype=float32)
    """

    def __init__(
        self,
        units: int = None,
        use_bias: bool = True,
        kernel_initializer: Initializer = "glorot_uniform",
        bias_initializer: Initializer = "zeros",
        context_initializer: Initializer = "glorot_uniform",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = check.positive_int("units", units, allow_none=True)
        self.use_bias = check.boolean("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.context_initializer = keras.initializers.get(context_initializer)
        self.supports_masking = True

    def _check_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"Layer '{self.name}' (AttentionPooling) expects inputs of shape "
                "(batch, timesteps, features) with a known feature size. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def build(self, input_shape):
        self._check_shape(input_shape)
        features = input_shape[-1]
        units = self.units or features
        self.kernel = self.add_weight(
            name="kernel", shape=(features, units), initializer=self.kernel_initializer
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(units,), initializer=self.bias_initializer
            )
        self.context = self.add_weight(
            name="context", shape=(units, 1), initializer=self.context_initializer
        )

    def call(
        self,
        inputs: Tensor,
        mask: Tensor | None = None,
        return_weights: bool = False,
        sequence_length: Tensor | None = None,
    ):
        check.floating_inputs(self, "inputs", inputs)
        self._check_shape(inputs.shape)  # build saw only the first call's
        if mask is not None:
            check.sequence_mask_matches(self, inputs, mask)
        if sequence_length is not None:
            mask = mask_from_lengths(self, inputs, sequence_length, mask)
        if 0 in inputs.shape[:2]:  # no rows, or no steps: nothing to reduce
            shape = (ops.shape(inputs)[0], inputs.shape[-1])
            pooled = ops.zeros(shape, dtype=self.compute_dtype)
            if not return_weights:
                return pooled
            weights = ops.zeros(ops.shape(inputs)[:2], dtype=self.compute_dtype)
            return pooled, weights
        if mask is not None:
            mask = ops.cast(mask, "bool")
            # Padding may hold anything (even NaN): it never enters the sums.
            inputs = ops.where(mask[..., None], inputs, ops.zeros_like(inputs))
        hidden = _float64.matmul(inputs, self.kernel)
        if self.use_bias:
            hidden = hidden + self.bias
        scores = ops.squeeze(_float64.matmul(ops.tanh(hidden), self.context), -1)
        weights = ops.cast(masked_softmax(scores, mask), inputs.dtype)
        pooled = ops.einsum("bt,btf->bf", weights, inputs)
        return (pooled, weights) if return_weights else pooled

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def compute_output_spec(
        self, inputs, mask=None, return_weights=False, sequence_length=None
    ):
        pooled = keras.KerasTensor(
            self.compute_output_shape(inputs.shape), dtype=self.compute_dtype
        )
        if not return_weights:
            return pooled
        weights = keras.KerasTensor(inputs.shape[:2], dtype=self.compute_dtype)
        return pooled, weights

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = {
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "context_initializer": keras.initializers.serialize(
                self.context_initializer
            ),
        }
        return {**super().get_config(), **config}
