"""TF1 planners of `seq2seq.AttentionWrapper` and `seq2seq.WithMemory`:
`tf.contrib.seq2seq` attention decoders (see _plan.py).

Where TF 1.15's `tf.contrib.seq2seq` puts the variables, for a wrapper
built and run in the decoder scope `S` (tensorflow/nmt: `S =
dynamic_seq2seq/decoder`, the wrapper named `"attention"`; without `name=`
TF1 names it `"attention_wrapper"`), mechanism `i` of kind `k`:

| variable (`B` = `S/W/bahdanau_attention{_n}`) | shape |
| --- | --- |
| `S/memory_layer{_i}/kernel` | `(memory depth, units)` |
| `B/query_layer/kernel` | `(query depth, units)` |
| `B/attention_v` | `(units,)` |
| `B/attention_g`, `B/attention_b` (`normalize=True`) | `()`, `(units,)` |
| `S/W/luong_attention{_n}/attention_g` (`scale=True`) | `()` |
| `S/W/*_monotonic_attention{_n}/attention_score_bias` | `()` |
| `S/W/attention_layer{_i}/kernel` | `(query depth + memory depth, size)` |
| `S/W/<cell>/...` | the wrapped cell's (its own planner) |

Each goes to the Keras weight of the same name (`memory_layer.kernel`,
`query_layer.kernel`, `attention_v`, ..., `attention_layers[i].kernel`).
`W` is the wrapper's name; `memory_layer` is created when the mechanism is
constructed (TF1 passed it the memory), so it sits in `S`, outside the
wrapper; `{_i}` and `{_n}` are TF1's numbering of layers and scopes of the
same name (`_1`, `_2`, ...: the `n`-th mechanism of that kind).

Sources: the nmt names (`memory_layer`, `attention/...`, `attention_layer`,
`luong_attention/attention_g`, `bahdanau_attention/{query_layer/kernel,
attention_v, attention_g, attention_b}`, `output_projection`) are
tensorflow/nmt's nmt/model_test.py expected variable names; the monotonic
scopes and `attention_score_bias`, the `attention_layer` Dense (no bias,
over `[cell_output, context]`) and the wrapper's `name=None` are TF 1.15's
contrib/seq2seq/python/ops/attention_wrapper.py. The default name
`attention_wrapper` (a TF1 layer named after its class) and the `_1`
numbering of a second mechanism's layers and scopes (TF1's unique scope
names) follow from TF1's layer naming; no nmt test shows them.

A model holding one such `WithMemory` decoder is a target too: its decoder
is planned as above and, if it has a `Dense` layer named
`output_projection`, nmt's `S/output_projection/kernel` (and `bias` if the
layer has one) goes there.
"""

import keras

from keras_rnnkit.seq2seq.attention_wrapper import AttentionWrapper
from keras_rnnkit.seq2seq.bahdanau_attention import (
    BahdanauAttention,
    BahdanauMonotonicAttention,
)
from keras_rnnkit.seq2seq.luong_attention import LuongAttention, LuongMonotonicAttention
from keras_rnnkit.seq2seq.with_memory import WithMemory
from keras_rnnkit.tf1._plan import join, plan_cell, register_planner, shape_of

# the wrapper's scope: nmt's name, then TF1's default
WRAPPER_NAMES = ("attention", "attention_wrapper")
_KINDS = (  # subclasses first
    (BahdanauMonotonicAttention, "bahdanau_monotonic_attention"),
    (LuongMonotonicAttention, "luong_monotonic_attention"),
    (BahdanauAttention, "bahdanau_attention"),
    (LuongAttention, "luong_attention"),
)


def _numbered(name, i):
    return f"{name}_{i}" if i else name


def _scopes(target, shapes):
    """Scopes holding a `memory_layer/kernel`: where a mechanism was built."""
    leaf = "memory_layer/kernel"
    return sorted(
        {
            name[: -len(leaf)].rstrip("/")
            for name in shapes
            if name == leaf or name.endswith("/" + leaf)
        }
    )


def _wrapper_scope(scope, plan):
    for name in WRAPPER_NAMES:
        if any(n.startswith(join(scope, name) + "/") for n in plan.shapes):
            return join(scope, name)
    return join(scope, WRAPPER_NAMES[0])


def _built(layer, what):
    if not layer.built:
        raise ValueError(
            f"{what} ('{layer.name}') is not built yet, so it has no weights to "
            "load into. Build the target first: call it on data (decoder inputs "
            "and a memory of the TF1 model's sizes)."
        )


@register_planner(AttentionWrapper, scopes=_scopes)
def _plan_attention_wrapper(wrapper, scope, plan):
    """`AttentionWrapper` under the decoder scope `scope`."""
    _built(wrapper, "AttentionWrapper")
    inner = _wrapper_scope(scope, plan)
    writes = []

    def need(name, variable, why):
        plan.need(name, shape_of(variable), why)
        writes.append((name, variable))

    seen = {}
    for i, mechanism in enumerate(wrapper.attention_mechanisms):
        kind = next(k for cls, k in _KINDS if isinstance(mechanism, cls))
        n = seen.get(kind, 0)
        seen[kind] = n + 1
        what = f"attention mechanism {i} ({type(mechanism).__name__})"
        need(
            join(scope, _numbered("memory_layer", i)) + "/kernel",
            mechanism.memory_layer.kernel,
            f"the memory layer of {what}",
        )
        p = join(inner, _numbered(kind, n)) + "/"
        if isinstance(mechanism, BahdanauAttention):
            need(p + "query_layer/kernel", mechanism.query_layer.kernel, what)
            need(p + "attention_v", mechanism.attention_v, what)
            if mechanism.normalize:
                need(p + "attention_g", mechanism.attention_g, what + ", normalize")
                need(p + "attention_b", mechanism.attention_b, what + ", normalize")
        elif mechanism.scale:
            need(p + "attention_g", mechanism.attention_g, what + ", scale")
        if isinstance(mechanism, (BahdanauMonotonicAttention, LuongMonotonicAttention)):
            need(p + "attention_score_bias", mechanism.attention_score_bias, what)
    if wrapper.attention_layer_size is None and wrapper.attention_layers:
        plan.problem(
            "the target's AttentionWrapper has its own `attention_layer` layers; "
            "only those made by `attention_layer_size` (TF1's) are read from a "
            "TF1 checkpoint: build it with attention_layer_size instead"
        )
    for i, layer in enumerate(wrapper.attention_layers or ()):
        if wrapper.attention_layer_size is None:
            break
        need(
            join(inner, _numbered("attention_layer", i)) + "/kernel",
            layer.kernel,
            f"attention layer {i}, over [cell output, context]",
        )
    plan_cell(wrapper.cell, inner, plan)
    # left over: what TF1 made in the wrapper's scope or as a memory layer
    # and nothing here takes (a mechanism or option the target lacks)
    taken = set(plan.needed)
    for name in sorted(plan.shapes):
        memory = name.startswith(join(scope, "memory_layer"))
        if (name.startswith(inner + "/") or memory) and name not in taken:
            plan.problem(
                f"left-over variable {name!r} (shape {plan.shapes[name]}): the "
                "target's AttentionWrapper has no place for it (another "
                "mechanism, option or cell?)"
            )
    plan.write(lambda values: [(name, v, values[name]) for name, v in writes])


@register_planner(WithMemory, scopes=_scopes)
def _plan_with_memory(layer, scope, plan):
    """`WithMemory(rnn)`: its RNN layer, in the same scope."""
    plan_cell(layer.layer, scope, plan)


def _layers(model):
    """The model's layers, nested models' included (public API only)."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _layers(layer)


def _decoders(model):
    return [layer for layer in _layers(model) if isinstance(layer, WithMemory)]


def _model_scopes(model, shapes):
    return _scopes(model, shapes) if len(_decoders(model)) == 1 else None


@register_planner(keras.Model, scopes=_model_scopes)
def _plan_model(model, scope, plan):
    """A model with one attention decoder (`WithMemory`) and, optionally, a
    `Dense` named `output_projection` (nmt's, under the decoder scope)."""
    decoders = _decoders(model)
    if len(decoders) != 1:
        raise TypeError(
            "load_checkpoint reads a model only when it holds one attention "
            "decoder (a keras_rnnkit.seq2seq.WithMemory layer), found "
            f"{len(decoders)} in model '{model.name}'. Pass the layer to load "
            "(the WithMemory, RNN or cell layer) as the target instead."
        )
    plan_cell(decoders[0], scope, plan)
    dense = [
        layer
        for layer in _layers(model)
        if isinstance(layer, keras.layers.Dense) and layer.name == "output_projection"
    ]
    if not dense:
        return
    layer = dense[0]
    _built(layer, "Dense 'output_projection'")
    p = join(scope, "output_projection") + "/"
    pairs = [(p + "kernel", layer.kernel)]
    if layer.use_bias:
        pairs.append((p + "bias", layer.bias))
    for name, variable in pairs:
        plan.need(name, shape_of(variable), "the output projection")
    if not layer.use_bias and p + "bias" in plan.shapes:
        plan.problem(
            f"left-over variable {p + 'bias'!r}: the Dense 'output_projection' "
            "has use_bias=False"
        )
    plan.write(lambda values: [(name, v, values[name]) for name, v in pairs])
