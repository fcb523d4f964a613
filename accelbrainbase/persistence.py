"""Model files: hyper-parameters, weights, optimizer state and extra state in one file, loaded safely.

A model file is one ``mx.nd.save`` dictionary (the format of Gluon's ``.params`` files):

- ``__accelbrainbase_config__``: a JSON record - the class, its constructor arguments
  (`encode_config`), the training history;
- the parameters under their structural names (what ``save_parameters`` writes);
- ``__accelbrainbase_optimizer__:<trainer>``: each trainer's optimizer state, as bytes;
- ``__accelbrainbase_state__:<name>``: the model's extra state (persistent chains, a detector...).

Loading never runs code from the file. A class named in a file is only constructed when it is
*trusted*: a public class of the library (exported by one of its packages) or a class the caller
names in ``custom_objects``. Anything else is refused before any import or call, naming the class
path found in the file; constructor arguments are plain JSON values.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional, Tuple

import mxnet as mx
import numpy as np

__all__ = ["encode_config", "decode_config", "class_path", "trusted_classes", "resolve_class",
           "write_model_file", "read_model_file", "UntrustedClassError", "CONFIG_KEY", "OPTIMIZER_PREFIX",
           "STATE_PREFIX"]

CONFIG_KEY = "__accelbrainbase_config__"
OPTIMIZER_PREFIX = "__accelbrainbase_optimizer__:"
STATE_PREFIX = "__accelbrainbase_state__:"


class UntrustedClassError(TypeError):
    """A model file names a class that is neither the library's nor in ``custom_objects``."""


def class_path(cls: type) -> str:
    """``"package.module:Qual.Name"``, how a file names a class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def encode_config(value: Any, name: str = "config") -> Any:
    """A constructor argument as JSON: plain values as they are, parts (anything with
    ``get_config()``) as ``{"__class__": path, "config": ...}``.

    A part without ``get_config()`` (a plain Gluon block) cannot be rebuilt from a file: this
    raises at save time, saying what to do instead.

    Example:
        >>> encode_config({"hidden_dims": (64, 32), "rate": np.float32(0.5)})
        {'hidden_dims': [64, 32], 'rate': 0.5}
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [encode_config(v, name) for v in value]
    if isinstance(value, dict):
        return {str(k): encode_config(v, f"{name}.{k}") for k, v in value.items()}
    get_config = getattr(value, "get_config", None)
    if callable(get_config):
        try:
            config = get_config()
        except TypeError as err:
            # A part's own get_config names its arguments from its class: name them from here.
            message = str(err)
            prefix = f"cannot save argument '{type(value).__name__}"
            if message.startswith(prefix):
                raise TypeError(message.replace(prefix, f"cannot save argument '{name}", 1)) from None
            raise
        return {"__class__": class_path(type(value)), "config": encode_config(config, name)}
    raise TypeError(
        f"cannot save argument {name!r}: a {type(value).__name__} has no get_config(), so a file could not "
        "rebuild it. Use save_parameters(path) and load_parameters(path) on an identically built model instead, "
        f"or give {type(value).__name__} a get_config() returning its constructor arguments (and pass the class "
        "to load(..., custom_objects={...}))")


def trusted_classes() -> Dict[str, type]:
    """The library's public classes by path: what `decode_config` constructs without being told."""
    import accelbrainbase
    from accelbrainbase import controllers, data, losses, models, regularizers

    found: Dict[str, type] = {}
    for package in (accelbrainbase, models, controllers, data, losses, regularizers):
        for name in getattr(package, "__all__", ()):
            obj = getattr(package, name, None)
            if isinstance(obj, type):
                found[class_path(obj)] = obj
    return found


def resolve_class(path: object, custom_objects: Optional[Mapping[str, type]] = None) -> type:
    """The class a file names, if trusted; raises `UntrustedClassError` otherwise (nothing is
    imported or called).

    ``custom_objects`` maps names to classes: a key may be the class path found in the file
    (``"mypkg.blocks:MyBlock"``) or the bare class name (``"MyBlock"``).
    """
    if not isinstance(path, str):
        raise UntrustedClassError(f"a model file names a class as {path!r}, which is not a class path")
    for key in (path, path.rsplit(":", 1)[-1], path.rsplit(".", 1)[-1]):
        cls = (custom_objects or {}).get(key)
        if cls is not None:
            if not isinstance(cls, type):
                raise TypeError(f"custom_objects[{key!r}] must be a class, got {type(cls).__name__}")
            return cls
    cls = trusted_classes().get(path)
    if cls is None:
        raise UntrustedClassError(
            f"the file names class {path!r}, which is not a class of accelbrainbase: refusing to construct it. "
            "If you trust the file, pass the class: load(path, custom_objects={" + repr(path.rsplit(':', 1)[-1])
            + ": TheClass})")
    return cls


def decode_config(value: Any, custom_objects: Optional[Mapping[str, type]] = None) -> Any:
    """Inverse of `encode_config`: nested parts are rebuilt from trusted classes only."""
    if isinstance(value, list):
        return [decode_config(v, custom_objects) for v in value]
    if isinstance(value, dict):
        if "__class__" in value:
            cls = resolve_class(value["__class__"], custom_objects)
            kwargs = decode_config(value.get("config", {}), custom_objects)
            if not isinstance(kwargs, dict):
                raise ValueError(f"the config of {value['__class__']} must be a dict of arguments")
            return cls(**kwargs)
        return {k: decode_config(v, custom_objects) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"a model file holds a configuration value of type {type(value).__name__}")


def _bytes_array(data: bytes) -> mx.nd.NDArray:
    return mx.nd.array(np.frombuffer(data, dtype=np.uint8), dtype=np.uint8)


def write_model_file(path: str, record: Dict[str, Any], params: Dict[str, mx.nd.NDArray],
                     optimizer: Dict[str, bytes], extra: Dict[str, np.ndarray]) -> None:
    """Write one model file atomically (a crash leaves the old file or the complete new one)."""
    from .training import atomic_write  # training imports this module's neighbours

    arrays: Dict[str, mx.nd.NDArray] = {name: value.copyto(mx.cpu()) for name, value in params.items()}
    for name, data in optimizer.items():
        arrays[OPTIMIZER_PREFIX + name] = _bytes_array(data)
    for name, value in extra.items():
        value = np.asarray(value)
        arrays[STATE_PREFIX + name] = mx.nd.array(value, dtype=value.dtype)
    arrays[CONFIG_KEY] = _bytes_array(json.dumps(record).encode())
    atomic_write(path, lambda tmp: mx.nd.save(tmp, arrays))


def read_model_file(path: str) -> Tuple[Dict[str, Any], Dict[str, mx.nd.NDArray], Dict[str, bytes],
                                         Dict[str, np.ndarray]]:
    """``(record, params, optimizer, extra)`` of a file written by `write_model_file`.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the path for a
    truncated, foreign or bare-parameter file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {path}")
    try:
        arrays = mx.nd.load(path)
    except mx.MXNetError:
        raise ValueError(f"cannot read {path}: it is truncated or not an MXNet parameter file") from None
    if not isinstance(arrays, dict) or CONFIG_KEY not in arrays:
        raise ValueError(f"{path} was not written by save() (no hyper-parameters in it); use load_parameters() "
                         "on an identically built model for a bare parameter file")
    try:
        record = json.loads(arrays.pop(CONFIG_KEY).asnumpy().tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{path}: its hyper-parameter record is corrupt") from None
    optimizer = {key[len(OPTIMIZER_PREFIX):]: arrays.pop(key).asnumpy().tobytes()
                 for key in list(arrays) if key.startswith(OPTIMIZER_PREFIX)}
    extra = {key[len(STATE_PREFIX):]: arrays.pop(key).asnumpy()
             for key in list(arrays) if key.startswith(STATE_PREFIX)}
    return record, arrays, optimizer, extra
