"""The TF1 planner of the `CRF` layer: `tf.contrib.crf` (see _plan.py).

`tf.contrib.crf.crf_log_likelihood` (and `tfa.text`'s) creates one variable,
`transitions` of shape `(num_tags, num_tags)` (row: the tag at step t,
column: the tag at step t + 1), in the variable scope it is called in
(often none, or the scope of the model's output layer). It has no start
and end scores: a layer with `start_end_transitions=True` gets zeros there,
which is what TF1 computed.
"""

import numpy as np

from keras_rnnkit.crf_layer import CRF
from keras_rnnkit.tf1._plan import join, register_planner, weights_of


def _scopes(layer, shapes):
    """The scopes of every square `transitions` variable of the layer's size."""
    size = (layer.num_tags, layer.num_tags)
    return sorted(
        name.rpartition("/")[0]
        for name, shape in shapes.items()
        if name.rpartition("/")[2] == "transitions" and tuple(shape) == size
    )


@register_planner(CRF, scopes=_scopes)
def _plan_crf(layer, scope, plan):
    weights_of(layer, "CRF", bias=False)
    name = join(scope, "transitions")
    size = layer.num_tags
    plan.need(name, (size, size), "the transition scores of tf.contrib.crf")

    def write(values):
        out = [(name, layer.transitions, values[name])]
        for boundary in (layer.start_transitions, layer.end_transitions):
            if boundary is not None:  # not a TF1 variable: no name
                out.append(((), boundary, np.zeros(size)))
        return out

    plan.write(write)
