"""Rebuilding the kit's layers from their configs, with short errors.

Keras wraps a `TypeError` raised while a nested object is deserialized in
another `TypeError` that repeats the whole config, once per level of nesting:
11-21k characters with the cause at the very end. The kit's `from_config`
methods build their nested layers through `load_nested` and themselves
through `construct`, which raise one `ConfigLoadError`: the cause, in one
line, and the path of nested layers that led to it.
"""

import keras

_KERAS_WRAPPER = "Exception encountered: "


class ConfigLoadError(ValueError):
    """A layer could not be rebuilt from its config (e.g. a tampered `.keras`
    file). `steps` is the path below the layer named in the message, `cause`
    the original error's text."""

    def __init__(self, cls, name, steps, cause):
        self.steps, self.cause = list(steps), cause
        where = f" at {' > '.join(self.steps)}" if self.steps else ""
        super().__init__(
            f"Could not rebuild {cls.__name__} '{name}' from its config{where}: {cause}"
        )


def _cause(error):
    """The original error's type and text, without Keras's wrapping (Keras
    re-raises a layer's constructor error as a `TypeError` holding the
    config; the original is in the exception chain)."""
    text = str(error)
    start = text.rfind(_KERAS_WRAPPER)
    if start >= 0:
        text = text[start + len(_KERAS_WRAPPER) :]
        inner = error.__cause__ or error.__context__
        while inner is not None:
            if str(inner).strip() == text.strip():
                error = inner
                break
            inner = inner.__cause__ or inner.__context__
    text = " ".join(text.split())
    if len(text) > 800:
        text = text[:800] + " ..."
    return f"{type(error).__name__}: {text}"


def _describe(value):
    if not isinstance(value, dict):
        return type(value).__name__
    inner = value.get("config")
    name = inner.get("name") if isinstance(inner, dict) else None
    return f"{value.get('class_name')} '{name}'"


def load_nested(cls, config, key, value):
    """Deserializes the nested object `value` found under `key` in the config
    of a `cls` layer; an error becomes a `ConfigLoadError` naming the path."""
    try:
        return keras.saving.deserialize_keras_object(value)
    except Exception as error:  # any failure: re-raised, short, with its path
        step = f"{key} ({_describe(value)})"
        if isinstance(error, ConfigLoadError):
            steps, cause = [step, *error.steps], error.cause
        else:
            steps, cause = [step], _cause(error)
        raise ConfigLoadError(cls, config.get("name"), steps, cause) from None


def construct(cls, config, *args, **kwargs):
    """`cls(*args, **kwargs)`, its argument errors as a `ConfigLoadError`."""
    try:
        return cls(*args, **kwargs)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigLoadError):
            raise
        raise ConfigLoadError(cls, config.get("name"), [], _cause(error)) from None
