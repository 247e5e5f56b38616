"""A linear-chain CRF output layer (`CRF`) and its loss (`CRFLoss`).

How `fit` trains it without a custom `train_step`: the layer returns the
Viterbi tags, so that `predict` gives tags, and its output carries the
potentials, the mask and the transition scores the way every Keras output
carries its mask; `CRFLoss` reads them from `y_pred` and returns the
negative log-likelihood of `y_true`. See docs/api/CRF.md ("Why the output
carries the potentials").
"""

import weakref
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_rnnkit import _validation as check
from keras_rnnkit import crf
from keras_rnnkit._registration import register
from keras_rnnkit._types import Initializer, Regularizer, Tensor
from keras_rnnkit.dynamic_rnn import mask_from_lengths

# -- what a CRF output carries -------------------------------------------------

_ATTRIBUTE = "_keras_rnnkit_crf"
# tensors that take no attribute (JAX arrays and tracers): id -> state, each
# entry removed when its tensor is garbage-collected (as Keras does for masks)
_BY_ID = {}


class _Potentials:
    """What `CRFLoss` needs from one call of a `CRF` layer: the potentials
    (float32, zero at padding), the mask and the transition scores as the
    loss uses them (forbidden transitions penalized, if constrained)."""

    def __init__(self, layer, potentials, mask, transitions, start, end):
        self.layer_name = layer.name
        self.num_tags = layer.num_tags
        self.potentials = potentials
        self.mask = mask
        self.transitions = transitions
        self.start = start
        self.end = end

    def negative_log_likelihood(self, tags):
        """`(batch,)` float32: -log p(tags | potentials), 0 for empty rows."""
        tags = ops.where(self.mask, ops.cast(tags, "int32"), 0)
        tags = ops.clip(tags, 0, self.num_tags - 1)
        args = (self.potentials, tags, self.mask, self.transitions)
        score = crf.path_score(*args, self.start, self.end)
        log_z = crf.log_partition(
            self.potentials, self.mask, self.transitions, self.start, self.end
        )
        return log_z - score


def _attach(tensor, potentials):
    try:
        setattr(tensor, _ATTRIBUTE, potentials)
    except AttributeError:
        _BY_ID[id(tensor)] = potentials
        weakref.finalize(tensor, _BY_ID.pop, id(tensor), None)


def attached(tensor):
    """The `_Potentials` a `CRF` attached to its output `tensor`, or None."""
    found = getattr(tensor, _ATTRIBUTE, None)
    return found if found is not None else _BY_ID.get(id(tensor))


# -- the layer ---------------------------------------------------------------


@register
class CRF(keras.layers.Layer):
    """A linear-chain conditional random field over per-step tag scores.

    The output layer of a tagger: it reads the scores of every tag at every
    step (the unary potentials, e.g. a `Dense(num_tags)` over an RNN's
    outputs), learns the scores of going from one tag to the next, and
    returns the best tag path of each sequence (Viterbi decoding). Train it
    with `keras_rnnkit.CRFLoss`, the negative log-likelihood of the gold
    tags; nothing else is needed:

        model.compile("adam", loss=keras_rnnkit.CRFLoss(),
                      metrics=[keras.metrics.Accuracy()])
        model.fit(x, tags)                 # integer tags (batch, time)
        model.predict(x)                   # Viterbi tags (batch, time)

    The score of a path `y_0 .. y_{L-1}` is `start[y_0] + sum_t
    potentials[t, y_t] + sum_t transitions[y_{t-1}, y_t] + end[y_{L-1}]`;
    `transitions[i, j]` scores tag `i` followed by tag `j` (the
    convention of `tf.contrib.crf`, whose `transitions` variable is this
    layer's weight of the same name). The potentials, transitions and
    scores are computed in float32 under any dtype policy.

    Masks: padded steps (a Keras mask from `Embedding(mask_zero=True)` or
    `Masking`, or `sequence_length`) are skipped: a row's path runs over its
    valid steps in order, which need not come first (left padding works),
    transitions join consecutive valid steps, and the padded steps' scores
    (NaN included) change neither the tags nor the loss or its gradients.
    Output tags are 0 at padded steps, and the output carries the mask, so
    that masked metrics leave padding out. A row without valid steps gets
    tags 0 and loss 0.

    Constraints: `constraints` lists the allowed `(from, to)` tag pairs
    (`keras_rnnkit.crf.allowed_transitions` makes them for the BIO, IOB1,
    BIOUL and BMES schemes), with index `num_tags` for START and
    `num_tags + 1` for END. Decoding never takes a forbidden transition (it
    scores them -inf). With `constrain_training=True` (the default) the
    loss normalises over the allowed paths only: forbidden transitions get
    a score of -10,000 and no gradient, so a training sequence that breaks
    a constraint shows up as a loss of about 10,000 per broken transition
    instead of a NaN.

    Args:
        num_tags: Positive int, the number of tags; the inputs' last axis.
        start_end_transitions: Boolean (default `True`): learn a score for
            the first tag (`start_transitions`) and for the last one
            (`end_transitions`) of each path, as pytorch-crf and AllenNLP
            do (tensorflow-addons' boundaries). `False` is TF1's
            `tf.contrib.crf`: transitions only.
        constraints: Optional list of allowed `(from, to)` index pairs
            (START = `num_tags`, END = `num_tags + 1`). A side that no pair
            mentions (no pair from START, or none to END) is unconstrained.
        constrain_training: Boolean (default `True`): whether the loss, too,
            forbids what `constraints` forbid (decoding always does).
        transitions_initializer: Initializer of `transitions` (default
            `"glorot_uniform"`, what TF1's `crf_log_likelihood` used).
        boundary_initializer: Initializer of `start_transitions` and
            `end_transitions` (default `"zeros"`).
        transitions_regularizer: Optional regularizer of `transitions`.
        boundary_regularizer: Optional regularizer of the start and end
            scores.
        top_k: Optional positive int: return the `top_k` best paths of each
            row, best first, `(batch, top_k, time)`, instead of the best one
            (k-best Viterbi; see `keras_rnnkit.crf.crf_decode_top_k`).
            `CRFLoss` trains such a layer as well.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Float tensor `(batch, time, num_tags)` of unary potentials.
        mask: Optional boolean tensor `(batch, time)`, True at valid steps;
            Keras passes it on from `Embedding(mask_zero=True)`, `Masking`
            and the layers in between.
        sequence_length: Optional integer tensor `(batch,)`: steps
            `t >= length` are padding (instead of, or agreeing with, a mask).

    Returns:
        Int32 tags `(batch, time)`: the Viterbi path of each row, 0 at
        padded steps; with `top_k`, `(batch, top_k, time)`.

    Raises:
        ValueError: At construction: a `num_tags`, flag or constraint that
            is not allowed (the message names it). When called: inputs not
            of shape `(batch, time, num_tags)`, a mask or `sequence_length`
            that does not fit, lengths outside `[0, time]`.
        TypeError: Integer inputs, or non-integer `sequence_length`.

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> crf = keras_rnnkit.CRF(3)
        >>> model = keras.Sequential([
        ...     keras.Input((None,), dtype="int32"),
        ...     keras.layers.Embedding(20, 8, mask_zero=True),
        ...     keras.layers.Dense(3),
        ...     crf,
        ... ])
        >>> model.compile("adam", loss=keras_rnnkit.CRFLoss())
        >>> x = np.array([[4, 5, 6, 0], [7, 8, 0, 0]])  # 0: padding
        >>> y = np.array([[0, 1, 2, 0], [2, 1, 0, 0]])
        >>> history = model.fit(x, y, epochs=2, verbose=0)
        >>> tags = model.predict(x, verbose=0)
        >>> tags.shape, tags.dtype, tags[1, 2:].tolist()  # 0 at padding
        ((2, 4), dtype('int32'), [0, 0])
        >>> tuple(crf.transitions.shape)  # tf.contrib.crf's `transitions`
        (3, 3)
    """

    def __init__(
        self,
        num_tags: int,
        start_end_transitions: bool = True,
        constraints: list | None = None,
        constrain_training: bool = True,
        transitions_initializer: Initializer = "glorot_uniform",
        boundary_initializer: Initializer = "zeros",
        transitions_regularizer: Regularizer = None,
        boundary_regularizer: Regularizer = None,
        top_k: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_tags = check.positive_int("num_tags", num_tags)
        self.start_end_transitions = check.boolean(
            "start_end_transitions", start_end_transitions
        )
        self.constrain_training = check.boolean(
            "constrain_training", constrain_training
        )
        self.constraints = None
        self._masks = None
        if constraints is not None:
            self._masks = crf.constraint_masks(constraints, self.num_tags)
            self.constraints = sorted({(int(i), int(j)) for i, j in constraints})
        self.transitions_initializer = keras.initializers.get(transitions_initializer)
        self.boundary_initializer = keras.initializers.get(boundary_initializer)
        self.transitions_regularizer = keras.regularizers.get(transitions_regularizer)
        self.boundary_regularizer = keras.regularizers.get(boundary_regularizer)
        self.top_k = check.positive_int("top_k", top_k, allow_none=True)
        self.supports_masking = True

    def _check_shape(self, shape):
        if len(shape) != 3 or shape[-1] != self.num_tags:
            raise ValueError(
                f"Layer '{self.name}' (CRF) expects inputs of shape (batch, "
                f"time, num_tags) = (batch, time, {self.num_tags}): the score "
                "of every tag at every step (e.g. from "
                f"keras.layers.Dense({self.num_tags})). Received: "
                f"input_shape={tuple(shape)}"
            )

    def build(self, input_shape):
        self._check_shape(input_shape)
        n = self.num_tags
        # autocast=False: read in float32 under a mixed-precision policy too
        self.transitions = self.add_weight(
            name="transitions",
            shape=(n, n),
            initializer=self.transitions_initializer,
            regularizer=self.transitions_regularizer,
            autocast=False,
        )
        self.start_transitions = self.end_transitions = None
        if self.start_end_transitions:
            self.start_transitions, self.end_transitions = (
                self.add_weight(
                    name=name,
                    shape=(n,),
                    initializer=self.boundary_initializer,
                    regularizer=self.boundary_regularizer,
                    autocast=False,
                )
                for name in ("start_transitions", "end_transitions")
            )

    def _scores(self, forbidden=None):
        """(transitions, start, end) in float32; with a `forbidden` score,
        the transitions the constraints forbid get it (start/end are None
        when the layer has none and nothing constrains them)."""
        transitions = ops.cast(self.transitions, "float32")
        start = end = None
        if self.start_end_transitions:
            start = ops.cast(self.start_transitions, "float32")
            end = ops.cast(self.end_transitions, "float32")
        if self._masks is None or forbidden is None:
            return transitions, start, end
        inner, first, last = self._masks
        fill = ops.convert_to_tensor(np.float32(forbidden))
        transitions = ops.where(inner, transitions, fill)
        if not first.all():
            start = ops.where(first, 0.0 if start is None else start, fill)
        if not last.all():
            end = ops.where(last, 0.0 if end is None else end, fill)
        return transitions, start, end

    def call(
        self,
        inputs: Tensor,
        mask: Tensor | None = None,
        sequence_length: Tensor | None = None,
    ):
        check.floating_inputs(self, "inputs", inputs)
        self._check_shape(inputs.shape)
        if mask is not None:
            check.sequence_mask_matches(self, inputs, mask)
        if sequence_length is not None:
            mask = mask_from_lengths(self, inputs, sequence_length, mask)
        if mask is None:
            mask = ops.ones_like(inputs[:, :, 0], dtype="bool")
        mask = ops.cast(mask, "bool")
        potentials = crf.zero_padding(inputs, mask)
        transitions, start, end = self._scores(-np.inf)
        if self.top_k is None:
            tags, _ = crf.viterbi(potentials, mask, transitions, start, end)
        else:
            tags, _ = crf.viterbi_top_k(
                potentials, mask, transitions, self.top_k, start, end
            )
        penalty = crf.TRAINING_PENALTY if self.constrain_training else None
        _attach(tags, _Potentials(self, potentials, mask, *self._scores(penalty)))
        return tags

    def compute_output_spec(self, inputs, mask=None, sequence_length=None):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), "int32")

    def compute_output_shape(self, input_shape):
        if self.top_k is None:
            return tuple(input_shape[:2])
        return (input_shape[0], self.top_k, input_shape[1])

    def compute_mask(self, inputs, mask=None):
        return mask if self.top_k is None else None

    def get_config(self):
        pairs = (
            None if self.constraints is None else [list(p) for p in self.constraints]
        )
        config = {
            "num_tags": self.num_tags,
            "start_end_transitions": self.start_end_transitions,
            "constraints": pairs,
            "constrain_training": self.constrain_training,
            "transitions_initializer": keras.initializers.serialize(
                self.transitions_initializer
            ),
            "boundary_initializer": keras.initializers.serialize(
                self.boundary_initializer
            ),
            "transitions_regularizer": keras.regularizers.serialize(
                self.transitions_regularizer
            ),
            "boundary_regularizer": keras.regularizers.serialize(
                self.boundary_regularizer
            ),
            "top_k": self.top_k,
        }
        return {**super().get_config(), **config}


# -- the loss ----------------------------------------------------------------

_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none")


@register
class CRFLoss(keras.losses.Loss):
    """The negative log-likelihood of the gold tags under a `CRF` layer.

    Pass it to `compile` for a model whose output is a `keras_rnnkit.CRF`
    layer's: `y_true` are the integer gold tags `(batch, time)` (any value
    at padded steps), `y_pred` the layer's output, which carries the
    potentials, the mask and the transition scores of the call that made
    it. The loss of a sequence is `log Z - score(y_true)`, computed in
    float32 (0 for a sequence without valid steps).

    Sample weights: `(batch,)` weighs each sequence; `(batch, time)` weighs
    each sequence by the mean of its weights over its valid steps (so the
    0/1 weights of `LengthBatches(..., sample_weight="mask")` weigh every
    sequence 1).

    Args:
        reduction: How the per-sequence losses are combined:
            `"sum_over_batch_size"` (default) and `"mean"` divide their
            weighted sum by the batch size, `"mean_with_sample_weight"` by
            the sum of the weights, `"sum"` does not divide, `"none"` (or
            `None`) returns them `(batch,)`.
        name: Name of the loss (default `"crf_loss"`).
        dtype: The dtype of the returned loss (default float32).

    Call arguments:
        y_true: Integer tensor `(batch, time)`: the gold tags.
        y_pred: The output of a `keras_rnnkit.CRF` layer.
        sample_weight: Optional `(batch,)` or `(batch, time)` weights.

    Returns:
        A float32 scalar (or `(batch,)` with `reduction="none"`).

    Raises:
        ValueError: `y_pred` is not the output of a `CRF` layer (the message
            says what to do), or `y_true` / `sample_weight` do not fit it.

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> crf = keras_rnnkit.CRF(2, start_end_transitions=False)
        >>> crf.build((None, None, 2))
        >>> _ = crf.transitions.assign(np.zeros((2, 2)))
        >>> tags = crf(np.zeros((1, 3, 2), "float32"))  # 8 equally likely paths
        >>> loss = keras_rnnkit.CRFLoss()(np.array([[0, 1, 1]]), tags)
        >>> bool(np.isclose(keras.ops.convert_to_numpy(loss), np.log(8)))
        True
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "crf_loss",
        dtype: str | None = None,
    ) -> None:
        if reduction is None:
            reduction = "none"
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"Argument `reduction` must be one of {', '.join(_REDUCTIONS)} "
                f"or None. Received: reduction={reduction!r}"
            )
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        found = attached(y_pred)
        if found is None:
            return self._without_potentials(y_true, y_pred)
        if sample_weight is not None:
            weights = _sequence_weights(sample_weight, found.mask)
        losses = self.call(y_true, y_pred)
        batch = ops.cast(ops.shape(losses)[0], "float32")
        if sample_weight is not None:
            losses = losses * weights
        if self.reduction == "none":
            return ops.cast(losses, self.dtype)
        total = ops.sum(losses)
        if self.reduction == "sum":
            divisor = None
        elif self.reduction == "mean_with_sample_weight" and sample_weight is not None:
            divisor = ops.sum(weights)
        else:
            divisor = batch
        if divisor is not None:
            total = ops.divide_no_nan(total, divisor)
        return ops.cast(total, self.dtype)

    def call(self, y_true, y_pred):
        """The loss of each sequence, `(batch,)` (no weights, no reduction)."""
        found = attached(y_pred)
        if found is None:
            raise _not_a_crf_output(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if not check.shapes_agree(y_true.shape, found.mask.shape):
            raise ValueError(
                f"CRFLoss expects `y_true` of shape (batch, time) = "
                f"{tuple(found.mask.shape)}, the gold tags of the output of "
                f"CRF layer '{found.layer_name}'. Received: "
                f"y_true.shape={tuple(y_true.shape)}"
            )
        values, valid = check.concrete(y_true), check.concrete(found.mask)
        if values is not None and valid is not None:
            bad = valid & ((values < 0) | (values >= found.num_tags))
            if bad.any():
                raise ValueError(
                    f"CRFLoss expects gold tags in [0, {found.num_tags}) at the "
                    f"valid steps (CRF layer '{found.layer_name}'). Received: "
                    f"{values[bad].tolist()[:10]} at (row, step) "
                    f"{np.argwhere(bad).tolist()[:10]}"
                )
        return found.negative_log_likelihood(y_true)

    def _without_potentials(self, y_true, y_pred):
        """A `y_pred` that carries no potentials: an error, except while
        Keras infers the loss's output shape on placeholders (`fit` does so
        once, on JAX and torch, before the first step)."""
        if check.concrete(y_pred) is not None:
            raise _not_a_crf_output(y_pred)
        # zero, with a gradient path to y_pred (when it is a float), so
        # that Keras goes on to run the step and the check below
        zero = ops.zeros_like(ops.cast(y_true, "float32"))[:, 0]
        if "float" in keras.backend.standardize_dtype(y_pred.dtype):
            flat = ops.reshape(ops.cast(y_pred, "float32"), (ops.shape(y_pred)[0], -1))
            zero = zero + 0.0 * ops.sum(flat, axis=1)
        if self.reduction != "none":
            zero = ops.sum(zero)
        if keras.backend.backend() == "jax":
            import jax

            # Placeholders never run; a compiled step that runs this raises.
            def fail(_):
                raise _not_a_crf_output(y_pred)

            jax.debug.callback(fail, zero)
        elif keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            with tf.control_dependencies(
                [tf.debugging.Assert(False, [str(_not_a_crf_output(y_pred))])]
            ):
                zero = tf.identity(zero)
        return ops.cast(zero, self.dtype)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


def _not_a_crf_output(y_pred):
    return ValueError(
        "CRFLoss computes the loss from the output of a keras_rnnkit.CRF "
        "layer, which carries its potentials: the model's output (y_pred) "
        "must be that layer's output itself, not a tensor computed from it. "
        f"Received: y_pred of shape {tuple(y_pred.shape)} without CRF "
        "potentials. Make the CRF layer the model's (or this output's) last "
        "layer, or compute crf.crf_log_likelihood yourself."
    )


def _sequence_weights(sample_weight, mask):
    """Per-sequence float32 weights `(batch,)` from `(batch,)` or `(batch,
    time)` sample weights (the latter: their mean over each row's valid
    steps)."""
    weights = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
    if len(weights.shape) == 2 and weights.shape[-1] == 1:
        weights = weights[:, 0]
    if len(weights.shape) == 0:
        return weights + ops.zeros_like(ops.cast(mask[:, 0], "float32"))
    if len(weights.shape) == 1:
        return weights
    if len(weights.shape) == 2 and check.shapes_agree(weights.shape, mask.shape):
        valid = ops.cast(mask, "float32")
        count = ops.sum(valid, axis=1)
        return ops.divide_no_nan(ops.sum(weights * valid, axis=1), count)
    raise ValueError(
        "CRFLoss expects `sample_weight` of shape (batch,) or (batch, time) = "
        f"{tuple(mask.shape)}. Received: sample_weight.shape="
        f"{tuple(weights.shape)}"
    )
