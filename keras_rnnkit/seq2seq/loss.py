"""Weighted cross-entropy over sequences (tfa's `sequence_loss`, `SequenceLoss`)."""

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from keras_rnnkit import _validation as check
from keras_rnnkit._compat import get_keras_mask
from keras_rnnkit._registration import register


def _check_reductions(
    average_across_timesteps, average_across_batch, sum_over_timesteps, sum_over_batch
):
    flags = {
        "average_across_timesteps": average_across_timesteps,
        "average_across_batch": average_across_batch,
        "sum_over_timesteps": sum_over_timesteps,
        "sum_over_batch": sum_over_batch,
    }
    for name, value in flags.items():
        check.boolean(name, value)
    for first, second, why in (
        ("average_across_timesteps", "sum_over_timesteps", ""),
        ("average_across_batch", "sum_over_batch", ""),
        ("average_across_batch", "sum_over_timesteps", " (ambiguous order)"),
        ("sum_over_batch", "average_across_timesteps", " (ambiguous order)"),
    ):
        if flags[first] and flags[second]:
            raise ValueError(
                f"Arguments `{first}` and `{second}` cannot both be True{why}. "
                f"Received: {first}=True, {second}=True"
            )


def sequence_loss(
    logits: Any,
    targets: Any,
    weights: Any,
    average_across_timesteps: bool = True,
    average_across_batch: bool = True,
    sum_over_timesteps: bool = False,
    sum_over_batch: bool = False,
    softmax_loss_function: Callable | None = None,
    name: str | None = None,
) -> Any:
    """Weighted cross-entropy of a batch of sequences of logits.

    tensorflow-addons' `tfa.seq2seq.sequence_loss` and TF1's
    `tf.contrib.seq2seq.sequence_loss`. The per-step cross-entropy is
    multiplied by `weights` (a 0/1 mask of the valid steps, or any
    non-negative weights), then reduced:

    | flags | result | divided by |
    | --- | --- | --- |
    | both `average_*` (the default here) | scalar | `sum(weights)` |
    | both `sum_over_*` (`SequenceLoss`'s) | scalar | count of non-zero weights |
    | `average_across_timesteps` only | `(batch,)` | each row's `sum(weights)` |
    | `average_across_batch` only | `(timesteps,)` | each step's `sum(weights)` |
    | `sum_over_timesteps` only | `(batch,)` | each row's count of non-zero weights |
    | `sum_over_batch` only | `(timesteps,)` | each step's count of non-zero weights |
    | none | `(batch, timesteps)` | - |

    A division by zero (no weight at all) gives 0. With 0/1 weights the two
    scalar forms agree; with other weights they differ.

    Args:
        logits: Float tensor `(batch, timesteps, num_classes)`.
        targets: Integer tensor `(batch, timesteps)` of class ids, or a
            float tensor `(batch, timesteps, num_classes)` of (one-hot)
            probabilities.
        weights: Float tensor `(batch, timesteps)`.
        average_across_timesteps: Boolean (default `True`).
        average_across_batch: Boolean (default `True`).
        sum_over_timesteps: Boolean (default `False`).
        sum_over_batch: Boolean (default `False`).
        softmax_loss_function: Optional function `(labels=, logits=)` of the
            flattened targets `(batch * timesteps,)` and logits
            `(batch * timesteps, num_classes)`, instead of the softmax
            cross-entropy.
        name: Ignored; kept for tensorflow-addons' signature.

    Returns:
        A float tensor, shaped as in the table.

    Raises:
        ValueError: Tensors of the wrong rank, or forbidden combinations:
            `average_across_timesteps` with `sum_over_timesteps`,
            `average_across_batch` with `sum_over_batch`,
            `average_across_batch` with `sum_over_timesteps`, or
            `sum_over_batch` with `average_across_timesteps`.

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> from keras_rnnkit.seq2seq import sequence_loss
        >>> logits = np.zeros((2, 3, 5), "float32")  # uniform over 5 classes
        >>> targets = np.array([[1, 2, 0], [4, 0, 0]])
        >>> weights = np.array([[1, 1, 0], [1, 0, 0]], "float32")
        >>> round(float(sequence_loss(logits, targets, weights)), 5)  # ln 5
        1.60944
    """
    _check_reductions(
        average_across_timesteps,
        average_across_batch,
        sum_over_timesteps,
        sum_over_batch,
    )
    logits = ops.convert_to_tensor(logits)
    targets = ops.convert_to_tensor(targets)
    weights = ops.convert_to_tensor(weights)
    if len(logits.shape) != 3:
        raise ValueError(
            "Argument `logits` must be shaped (batch, timesteps, num_classes). "
            f"Received: logits.shape={tuple(logits.shape)}"
        )
    if len(targets.shape) not in (2, 3):
        raise ValueError(
            "Argument `targets` must be shaped (batch, timesteps) (class ids) or "
            "(batch, timesteps, num_classes) (one-hot). Received: "
            f"targets.shape={tuple(targets.shape)}"
        )
    if len(weights.shape) != 2:
        raise ValueError(
            "Argument `weights` must be shaped (batch, timesteps). Received: "
            f"weights.shape={tuple(weights.shape)}"
        )
    dtype = logits.dtype
    weights = ops.cast(weights, dtype)
    shape = ops.shape(logits)
    flat_logits = ops.reshape(logits, (-1, shape[2]))
    if softmax_loss_function is not None:
        crossent = softmax_loss_function(
            labels=ops.reshape(targets, (-1,)), logits=flat_logits
        )
    elif len(targets.shape) == 2:
        crossent = ops.sparse_categorical_crossentropy(
            ops.reshape(targets, (-1,)), flat_logits, from_logits=True
        )
    else:
        crossent = ops.categorical_crossentropy(
            ops.reshape(ops.cast(targets, dtype), (-1, shape[2])),
            flat_logits,
            from_logits=True,
        )
    crossent = ops.reshape(ops.cast(crossent, dtype), (shape[0], shape[1])) * weights
    nonzero = ops.cast(ops.not_equal(weights, 0), dtype)
    if average_across_timesteps and average_across_batch:
        return ops.divide_no_nan(ops.sum(crossent), ops.sum(weights))
    if sum_over_timesteps and sum_over_batch:
        return ops.divide_no_nan(ops.sum(crossent), ops.sum(nonzero))
    if average_across_timesteps or average_across_batch:
        axis = 0 if average_across_batch else 1
        return ops.divide_no_nan(
            ops.sum(crossent, axis=axis), ops.sum(weights, axis=axis)
        )
    if sum_over_timesteps or sum_over_batch:
        axis = 0 if sum_over_batch else 1
        return ops.divide_no_nan(
            ops.sum(crossent, axis=axis), ops.sum(nonzero, axis=axis)
        )
    return crossent


@register
class SequenceLoss(keras.losses.Loss):
    """`sequence_loss` as a Keras loss, for `compile` (tfa's `SequenceLoss`).

    **Its defaults differ from the function's**, as in tensorflow-addons:
    `SequenceLoss()` sums over timesteps and batch and divides by the number
    of non-zero weights (`sum_over_* = True`), while `sequence_loss(...)`
    averages, dividing by the sum of the weights (`average_across_* =
    True`). With 0/1 weights both give the mean loss per valid step.

    `y_true` are the targets, `y_pred` the logits `(batch, timesteps,
    num_classes)`. The weights are `sample_weight` `(batch, timesteps)`
    when given (as `fit` passes them); otherwise the mask Keras attached to
    `y_pred` (e.g. from `Embedding(mask_zero=True)` through the decoder);
    otherwise ones. No other reduction is applied: with the flags that
    keep an axis the loss is a vector, which `fit` averages.

    Args:
        average_across_timesteps: Boolean (default `False`).
        average_across_batch: Boolean (default `False`).
        sum_over_timesteps: Boolean (default `True`).
        sum_over_batch: Boolean (default `True`).
        softmax_loss_function: Optional function, as in `sequence_loss`;
            register it with Keras to save the loss in a model.
        name: Optional name.
        dtype: Optional dtype of the loss.

    Raises:
        ValueError: At construction: the forbidden combinations of
            `sequence_loss`, or non-boolean flags.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit.seq2seq import SequenceLoss
        >>> loss = SequenceLoss()
        >>> logits = np.zeros((2, 3, 5), "float32")
        >>> targets = np.array([[1, 2, 0], [4, 0, 0]])
        >>> weights = np.array([[1, 1, 0], [1, 0, 0]], "float32")
        >>> round(float(loss(targets, logits, weights)), 5)
        1.60944
    """

    def __init__(
        self,
        average_across_timesteps: bool = False,
        average_across_batch: bool = False,
        sum_over_timesteps: bool = True,
        sum_over_batch: bool = True,
        softmax_loss_function: Callable | None = None,
        name: str | None = None,
        dtype: Any = None,
        reduction: Any = None,
    ) -> None:
        _check_reductions(
            average_across_timesteps,
            average_across_batch,
            sum_over_timesteps,
            sum_over_batch,
        )
        super().__init__(name=name or "sequence_loss", reduction=None, dtype=dtype)
        self.average_across_timesteps = average_across_timesteps
        self.average_across_batch = average_across_batch
        self.sum_over_timesteps = sum_over_timesteps
        self.sum_over_batch = sum_over_batch
        self.softmax_loss_function = softmax_loss_function

    def __call__(self, y_true, y_pred, sample_weight=None):
        weights = sample_weight
        if weights is None:
            mask = get_keras_mask(y_pred)
            if mask is not None:
                weights = ops.cast(mask, "float32")
            else:
                weights = ops.ones(ops.shape(y_pred)[:2], dtype="float32")
        loss = sequence_loss(
            y_pred,
            y_true,
            weights,
            average_across_timesteps=self.average_across_timesteps,
            average_across_batch=self.average_across_batch,
            sum_over_timesteps=self.sum_over_timesteps,
            sum_over_batch=self.sum_over_batch,
            softmax_loss_function=self.softmax_loss_function,
        )
        return ops.cast(loss, self.dtype)

    def call(self, y_true, y_pred):
        """The unreduced `(batch, timesteps)` cross-entropy (no weights)."""
        return sequence_loss(
            y_pred,
            y_true,
            ops.ones(ops.shape(y_pred)[:2], dtype="float32"),
            average_across_timesteps=False,
            average_across_batch=False,
            sum_over_timesteps=False,
            sum_over_batch=False,
            softmax_loss_function=self.softmax_loss_function,
        )

    def get_config(self):
        config = {
            "name": self.name,
            "dtype": self.dtype,
            "average_across_timesteps": self.average_across_timesteps,
            "average_across_batch": self.average_across_batch,
            "sum_over_timesteps": self.sum_over_timesteps,
            "sum_over_batch": self.sum_over_batch,
            "softmax_loss_function": None
            if self.softmax_loss_function is None
            else keras.saving.serialize_keras_object(self.softmax_loss_function),
        }
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        fn = config.get("softmax_loss_function")
        if fn is not None:
            config["softmax_loss_function"] = keras.saving.deserialize_keras_object(fn)
        return cls(**config)
