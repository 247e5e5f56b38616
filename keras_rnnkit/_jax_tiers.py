"""Work that follows the data under JAX's `jit`, in a few fixed sizes.

Under `jit` every shape is fixed when the function is traced, so a layer
cannot encode only the rows a batch really holds: `HierarchicalEncoder`
would encode every sentence slot, padded or not. Instead it traces its
encoder at a few sizes (all the rows, then about half, a quarter, ...:
`sizes`) and picks at run time, with `jax.lax.switch`, the smallest that
holds the valid rows (`smallest_fitting`). The work then follows the data
to within a factor of about two, for the price of compiling the encoder
once per size.

Keras layers change variables while they run (a dropout layer advances its
seed generator, a normalization layer its moving statistics). Inside a
`switch` branch those new values would be tracers of the branch, unusable
outside it. `switch` therefore runs the branch's layers in a
`keras.StatelessScope` of its own that maps every variable to its current
value, returns the variables' new values with the branch's outputs, and
assigns them after the switch: in `fit`, Keras's own stateless scope
collects them as it does for any layer.
"""

import jax
import jax.numpy as jnp
import keras

from keras_rnnkit import _compat


def sizes(total, most=5):
    """Descending sizes from `total`: `total`, then halved (rounded up)
    down to 1, at most `most` of them. ``sizes(20) == [20, 10, 5, 3, 2]``."""
    out = [int(total)]
    while len(out) < most and out[-1] > 1:
        out.append(-(-out[-1] // 2))
    return out


def smallest_fitting(sizes, needed):
    """The (traced) index of the smallest of the descending `sizes` that is
    at least `needed` (a traced integer no larger than `sizes[0]`)."""
    fits = jnp.asarray(sizes) >= needed
    return jnp.sum(fits.astype("int32")) - 1


def switch(index, sizes, owner, layers, branch, *operands, remat=True):
    """`branch(sizes[index], *operands)`, with every size traced once.

    `layers`: every Keras layer `branch` calls (None entries are skipped);
    they must own all the state they use. Their variables go into each
    branch as values (so gradients flow to them), and the values the layers
    give them (seed generators, moving statistics) come out and are
    assigned after the switch; a branch that changes any other variable
    raises. The losses the layers add (activity regularizers, `add_loss`)
    come out summed and are added to `owner`, the layer calling this. With
    `remat` (for calls that will be differentiated: training), each branch
    is rematerialized (`jax.checkpoint`): differentiating a `switch`
    otherwise keeps every branch's intermediates, and measured 6x slower
    here. Without it (inference), the branches run as they are, free of
    `jax.checkpoint`'s optimization barriers (predict on 20 slots: a
    median 1.28x of 2 slots' time against 1.38x with them, within this
    machine's noise). Returns what `branch` returns, which must have the
    same structure, shapes and dtypes for every size.
    """
    if len(sizes) == 1:
        return branch(sizes[0], *operands)
    variables, seen = [], set()
    used = [layer for layer in layers if layer is not None]
    for layer in used:
        for variable in [*layer.variables, *layer.metrics_variables]:
            if id(variable) not in seen:
                seen.add(id(variable))
                variables.append(variable)
    values = _compat.variable_values(variables)
    changed, with_losses = set(), []

    def at(size):
        def run(values, operands):
            mapping = list(zip(variables, values, strict=True))
            with keras.StatelessScope(
                state_mapping=mapping, collect_losses=True
            ) as scope:
                before = [scope.get_current_value(v) for v in variables]
                outputs = branch(size, *operands)
                after = [scope.get_current_value(v) for v in variables]
            if set(scope.state_mapping) - seen:
                raise RuntimeError(
                    f"Layer '{owner.name}' ({type(owner).__name__}) runs its "
                    "encoders at one of several sizes under JAX's jit, which "
                    "needs every variable they change to belong to them; one "
                    "of them changed a variable of another layer. Build the "
                    "layer with skip_padded_sentences=False (every slot "
                    "encoded, one size)."
                )
            for i, (old, new) in enumerate(zip(before, after, strict=True)):
                if new is not old:
                    changed.add(i)
            loss = jnp.zeros((), "float32")
            if scope.losses:
                with_losses.append(size)
                for value in scope.losses:
                    loss = loss + jnp.asarray(value, "float32")
                _compat.forget_losses(used, scope.losses)
            return outputs, after, loss

        return run

    branches = [jax.checkpoint(at(size)) if remat else at(size) for size in sizes]
    outputs, after, loss = jax.lax.switch(index, branches, values, operands)
    for i in sorted(changed):
        variables[i].assign(after[i])
    if with_losses:
        owner.add_loss(loss)
    return outputs
