"""Type aliases for the public signatures (light hints: what a caller passes).

Keras accepts a name, an object or a config dict for initializers,
regularizers and constraints, and backend tensors, NumPy arrays or symbolic
`keras.KerasTensor`s wherever a layer takes a tensor: the aliases say so and
no more.
"""

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import keras

# a backend tensor, a NumPy array or a symbolic keras.KerasTensor
Tensor: TypeAlias = Any
# a Keras recurrent cell: a layer with `state_size` and `call(inputs, states)`
Cell: TypeAlias = keras.layers.Layer
States: TypeAlias = Sequence[Tensor] | Tensor
Activation: TypeAlias = str | Callable[[Tensor], Tensor] | None
Initializer: TypeAlias = str | keras.initializers.Initializer | dict[str, Any]
Regularizer: TypeAlias = str | keras.regularizers.Regularizer | None
Constraint: TypeAlias = str | keras.constraints.Constraint | None
