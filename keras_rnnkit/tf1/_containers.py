"""TF1 planners of what holds cells (see _plan.py): recurrent layers,
stacks, wrappers and the bidirectional encoder."""

import keras

from keras_rnnkit.bidirectional_encoder import BidirectionalEncoder
from keras_rnnkit.dropout_wrapper import DropoutWrapper
from keras_rnnkit.multi_rnn_cell import MultiRNNCell
from keras_rnnkit.output_projection_wrapper import OutputProjectionWrapper
from keras_rnnkit.residual_wrapper import ResidualWrapper
from keras_rnnkit.tf1._names import MULTI, PROJECTION
from keras_rnnkit.tf1._plan import (
    join,
    plan_cell,
    register_planner,
    shape_of,
    weights_of,
)
from keras_rnnkit.zoneout_wrapper import ZoneoutWrapper


@register_planner(keras.layers.RNN)
def _plan_layer(layer, scope, plan):
    """`dynamic_rnn(cell)`: the layer's cell, in the same scope."""
    plan_cell(layer.cell, scope, plan)


@register_planner(BidirectionalEncoder)
def _plan_bidirectional(encoder, scope, plan):
    """`bidirectional_dynamic_rnn`: the two cells under `fw` and `bw`."""
    plan_cell(encoder.forward_layer.cell, join(scope, "fw"), plan)
    plan_cell(encoder.backward_layer.cell, join(scope, "bw"), plan)


@register_planner(MultiRNNCell, keras.layers.StackedRNNCells)
def _plan_stack(stack, scope, plan):
    """`MultiRNNCell`: `multi_rnn_cell/cell_k` per layer."""
    for k, inner in enumerate(stack.cells):
        plan_cell(inner, f"{join(scope, MULTI)}/cell_{k}", plan)


@register_planner(DropoutWrapper, ResidualWrapper, ZoneoutWrapper)
def _plan_variable_free_wrapper(wrapper, scope, plan):
    """Wrappers without variables or scope of their own (TF1 had no
    `ZoneoutWrapper`; a model may add it)."""
    plan_cell(wrapper.cell, scope, plan)


@register_planner(OutputProjectionWrapper)
def _plan_projection(cell, scope, plan):
    inner = join(scope, PROJECTION)
    plan_cell(cell.cell, inner, plan)
    weights_of(cell, "OutputProjectionWrapper")
    p = inner + "/"
    plan.need(p + "kernel", shape_of(cell.kernel), "the projection")
    plan.need(p + "bias", shape_of(cell.bias), "the projection")
    plan.write(
        lambda values: [
            (p + "kernel", cell.kernel, values[p + "kernel"]),
            (p + "bias", cell.bias, values[p + "bias"]),
        ]
    )
