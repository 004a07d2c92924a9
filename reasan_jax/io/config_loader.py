"""Loading ml-collections configs by name or path, with dotted command-line overrides.

``load_config("loco", ["--config.ppo.num_envs=512"])`` returns the ``configs/loco.py`` config with
``ppo.num_envs`` set to 512. The first argument is either

* a task name of :mod:`reasan_jax.registry` (its config module's ``get_config``), or
* a path to a Python file defining ``get_config`` (ml-collections' config-file convention).

Either form may end in ``:arg`` (``loco:gpu``, ``my_cfg.py:small``), which is passed to
``get_config(arg)``.

Override values are parsed with the type of the field they replace (int, float, bool, str, tuple;
``None`` fields take a Python literal or, failing that, the raw string), using ml-collections' own
flag parsers, and assigned through :class:`ml_collections.ConfigDict`'s type-safe ``__setitem__``.

Every failure raises :class:`ConfigError` (a ``ValueError``) with a one-sentence message.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import inspect
import json
import os
import pathlib
from typing import Any, Iterable, Sequence

import ml_collections
from absl import flags as absl_flags
from ml_collections.config_flags import tuple_parser

from reasan_jax import registry

OVERRIDE_PREFIX = "--config."


class ConfigError(ValueError):
  """A config name, config file or override that cannot be used (one-sentence message)."""


# ---------------------------------------------------------------------------------------------
# Loading.


def _split_arg(spec: str) -> tuple[str, str | None]:
  """Splits ``"name_or_path:arg"`` into its two parts (``arg`` None when absent)."""
  if ":" in spec:
    head, arg = spec.rsplit(":", 1)
    # Only a real ``:arg`` suffix, never a drive letter or a path containing ':'.
    if head and "/" not in arg and "\\" not in arg and not arg.endswith(".py"):
      return head, arg
  return spec, None


def _looks_like_path(spec: str) -> bool:
  return spec.endswith(".py") or os.sep in spec or "/" in spec or os.path.isfile(spec)


def _call_get_config(module: Any, arg: str | None, what: str) -> ml_collections.ConfigDict:
  get_config = getattr(module, "get_config", None)
  if not callable(get_config):
    raise ConfigError(f"{what} does not define a get_config() function.")
  if arg is not None and not inspect.signature(get_config).parameters:
    raise ConfigError(f"{what}'s get_config() does not take an argument, but ':{arg}' was given.")
  try:
    config = get_config() if arg is None else get_config(arg)
  except ValueError as e:  # the config module rejects ``arg`` (one sentence of its own)
    raise ConfigError(str(e)) from e
  if isinstance(config, dict):
    config = ml_collections.ConfigDict(config)
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f"{what}'s get_config() returned a {type(config).__name__}, not a ConfigDict.")
  return config


def _load_module_from_file(path: pathlib.Path) -> Any:
  name = "reasan_jax_user_config_" + "".join(c if c.isalnum() else "_" for c in str(path.resolve()))
  spec = importlib.util.spec_from_file_location(name, path)
  if spec is None or spec.loader is None:
    raise ConfigError(f"Config file {path} cannot be imported as a Python module.")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load_base_config(name_or_path: str) -> ml_collections.ConfigDict:
  """The config named by ``name_or_path`` without overrides (see :func:`load_config`).

  Raises:
    ConfigError: unknown name (the message lists the available ones), missing file, or a module
      without a usable ``get_config``.
  """
  spec, arg = _split_arg(name_or_path)
  if _looks_like_path(spec):
    path = pathlib.Path(spec).expanduser()
    if not path.is_file():
      raise ConfigError(f"Config file {path} does not exist.")
    return _call_get_config(_load_module_from_file(path), arg, f"Config file {path}")
  if spec not in registry.TASKS:
    raise ConfigError(
        f"Unknown config {spec!r}; available configs: {', '.join(registry.list_tasks())} "
        "(or pass a path to a config file).")
  module = registry.get_task(spec).load_config_module()
  return _call_get_config(module, arg, f"Config {spec!r}")


def load_config(name_or_path: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
  """Loads a config by registered name or file path and applies dotted overrides.

  Args:
    name_or_path: ``"loco"``, ``"loco:gpu"``, ``"path/to/cfg.py"`` or ``"path/to/cfg.py:arg"``.
    overrides: items like ``"--config.ppo.num_envs=512"`` (the ``--config.`` prefix is optional).

  Returns:
    The resulting (unlocked) ConfigDict.

  Raises:
    ConfigError: unknown config name, missing config file, unknown override key (the message names
      the nearest valid keys) or a value that does not fit the field's type.
  """
  config = load_base_config(name_or_path)
  apply_overrides(config, overrides)
  return config


# ---------------------------------------------------------------------------------------------
# Overrides.


def _leaf_keys(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
  """Dotted names of every field (sections included) below ``config``."""
  out = []
  for key in config.keys():
    full = f"{prefix}{key}"
    out.append(full)
    value = config[key]
    if isinstance(value, ml_collections.ConfigDict):
      out.extend(_leaf_keys(value, full + "."))
  return out


def _nearest_keys(config: ml_collections.ConfigDict, key: str, section: str) -> list[str]:
  """Up to three valid dotted keys closest to the unknown ``key``."""
  candidates = _leaf_keys(config)
  near = difflib.get_close_matches(key, candidates, n=3, cutoff=0.6)
  if near:
    return near
  # Compare the last component within the deepest section that does exist.
  last = key.rsplit(".", 1)[-1]
  pool = [c for c in candidates if c.startswith(section) and "." not in c[len(section):]]
  by_last = {c.rsplit(".", 1)[-1]: c for c in pool}
  near = [by_last[n] for n in difflib.get_close_matches(last, list(by_last), n=3, cutoff=0.5)]
  return near or pool[:6]


def _split_override(item: str) -> tuple[str, str]:
  text = item
  for prefix in (OVERRIDE_PREFIX, "config."):
    if text.startswith(prefix):
      text = text[len(prefix):]
      break
  if "=" not in text or not text.split("=", 1)[0]:
    raise ConfigError(f"Override {item!r} must have the form --config.some.key=value.")
  key, value = text.split("=", 1)
  return key.strip(), value


def _strip_quotes(text: str) -> str:
  if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
    return text[1:-1]
  return text


def _coerce_tuple(value: tuple, current: tuple, key: str, raw: str) -> tuple:
  """Converts a parsed tuple's elements to the element type of the current tuple, if uniform."""
  types = {type(v) for v in current}
  if len(types) != 1:
    return value
  (elem_type,) = types
  out = []
  for v in value:
    if elem_type is float and isinstance(v, int) and not isinstance(v, bool):
      v = float(v)
    elif elem_type is int and isinstance(v, float) and v.is_integer():
      v = int(v)
    if type(v) is not elem_type:
      raise ConfigError(
          f"Override {key}={raw} has a {type(v).__name__} element {v!r}, but {key} is a tuple of "
          f"{elem_type.__name__} (currently {current!r}).")
    out.append(v)
  return tuple(out)


def _parse_value(raw: str, current: Any, key: str) -> Any:
  """Parses the override text ``raw`` with the type of ``current`` (the field's present value)."""
  try:
    if current is None:
      try:
        return ast.literal_eval(raw)
      except (ValueError, SyntaxError):
        return raw
    if isinstance(current, bool):
      return absl_flags.BooleanParser().parse(raw)
    if isinstance(current, int):
      return absl_flags.IntegerParser().parse(raw)
    if isinstance(current, float):
      return absl_flags.FloatParser().parse(raw)
    if isinstance(current, str):
      return _strip_quotes(raw)
    if isinstance(current, tuple):
      return _coerce_tuple(tuple_parser.TupleParser().parse(raw), current, key, raw)
    return ast.literal_eval(raw)
  except ConfigError:
    raise
  except (ValueError, SyntaxError, TypeError) as e:
    raise ConfigError(
        f"Override {key}={raw} is not a valid {type(current).__name__} for {key} "
        f"(currently {current!r}).") from e


def apply_overrides(config: ml_collections.ConfigDict, overrides: Iterable[str]) -> ml_collections.ConfigDict:
  """Applies ``key=value`` overrides in place (see :func:`load_config`); returns ``config``.

  Raises:
    ConfigError: malformed item, unknown key (names the nearest valid keys), a key naming a whole
      section, or a value of the wrong type.
  """
  for item in overrides:
    key, raw = _split_override(item)
    parts = key.split(".")
    node = config
    for depth, part in enumerate(parts[:-1]):
      child = node[part] if part in node else None
      if not isinstance(child, ml_collections.ConfigDict):
        section = ".".join(parts[:depth])
        near = _nearest_keys(config, key, section + "." if section else "")
        raise ConfigError(
            f"Unknown config key {key!r} in override {item!r}; nearest valid keys: {', '.join(near)}.")
      node = child
    last = parts[-1]
    if last not in node:
      section = ".".join(parts[:-1])
      near = _nearest_keys(config, key, section + "." if section else "")
      raise ConfigError(
          f"Unknown config key {key!r} in override {item!r}; nearest valid keys: {', '.join(near)}.")
    current = node[last]
    if isinstance(current, ml_collections.ConfigDict):
      fields = ", ".join(f"{key}.{k}" for k in list(current.keys())[:4])
      raise ConfigError(
          f"Config key {key!r} is a whole section, not a value; override one of its fields "
          f"(e.g. {fields}).")
    value = _parse_value(raw, current, key)
    try:
      node[last] = value
    except TypeError as e:
      raise ConfigError(
          f"Override {key}={raw} has type {type(value).__name__}, but {key} is a "
          f"{type(current).__name__} (currently {current!r}).") from e
  return config


# ---------------------------------------------------------------------------------------------
# JSON round trip (the resolved config stored with every run).


def config_to_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """JSON-ready plain dict of ``config`` (tuples become lists, references are resolved)."""
  return json.loads(config.to_json_best_effort())


def _tuples(value: Any) -> Any:
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  return value


def config_from_dict(data: dict[str, Any]) -> ml_collections.ConfigDict:
  """Inverse of :func:`config_to_dict`: JSON lists become tuples (the configs use tuples only)."""
  return ml_collections.ConfigDict(_tuples(data))


def load_json_config(path: str | os.PathLike) -> ml_collections.ConfigDict:
  """Reads a run's ``config.json`` back into a ConfigDict.

  Raises:
    ConfigError: the file is missing or not valid JSON.
  """
  path = pathlib.Path(path)
  try:
    data = json.loads(path.read_text())
  except FileNotFoundError as e:
    raise ConfigError(f"Run config {path} does not exist.") from e
  except json.JSONDecodeError as e:
    raise ConfigError(f"Run config {path} is not valid JSON ({e.msg} at line {e.lineno}).") from e
  return config_from_dict(data)
