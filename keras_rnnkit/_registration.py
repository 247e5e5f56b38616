"""One decorator that registers every public class with Keras serialization."""

import keras

PACKAGE = "keras_rnnkit"


def register(cls):
    """Registers `cls` as Keras-serializable under the `keras_rnnkit` package.

    Objects registered this way reload from `.keras` files with
    `safe_mode=True` and no `custom_objects`, once `keras_rnnkit` is imported.
    """
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
