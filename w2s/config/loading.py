"""Reading a run config: strict YAML (unknown keys fail, every value type-checked), and ``explain``."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml

from w2s.config.ranges import check_plugin_values
from w2s.config.sections import RunConfig
from w2s.core.errors import ConfigError
from w2s.core.registry import suggest


def _build(cls, data: Any, where: str, source: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {where or 'the config'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise ConfigError(f"{source}: unknown key {path!r}: {suggest(str(key), fields)}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value or {}, path, source)
        else:
            kwargs[key] = _check_type(value, hint, path, source)
    return cls(**kwargs)


def _alternatives(hint: Any) -> tuple:
    return typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)


def _check_type(value: Any, hint: Any, path: str, source: str) -> Any:
    allowed = _alternatives(hint)
    if value is None and type(None) in allowed:
        return None
    words = [w for t in allowed if typing.get_origin(t) is Literal for w in typing.get_args(t)]
    if isinstance(value, str) and value in words:
        return value
    for t in allowed:
        t = typing.get_origin(t) or t
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if t is float and isinstance(value, str):
            try:  # YAML 1.1 reads `1e-3` (no dot) as a string
                return float(value)
            except ValueError:
                pass
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if t in (str, bool, dict, list) and isinstance(value, t):
            return value
    if words:
        close = difflib.get_close_matches(value, words, n=1, cutoff=0.6) if isinstance(value, str) else []
        hint_text = f"; did you mean {close[0]!r}?" if close else ""
        shown = "null" if value is None else repr(value)
        raise ConfigError(f"{source}: {path}: {shown} is not one of {', '.join(words)}{hint_text}")
    names = " or ".join(getattr(typing.get_origin(t) or t, "__name__", str(t)) for t in allowed)
    raise ConfigError(f"{source}: {path} must be {names}, got {value!r}")


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML run config; ``overrides`` are ``key.sub=value`` strings (YAML values)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    data = _parse(path.read_text(), str(path)) or {}
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _parse(raw, f"override {item!r}")
    config = _build(RunConfig, data, "", str(path))
    try:  # before any work: a value out of range would otherwise fail on every video, or late
        config.validate()
        check_plugin_values(config)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return config


def _parse(text: str, source: str) -> Any:
    """YAML, or one line naming where it stops being YAML (line and column count from 1)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        context, opened = getattr(e, "context", None), getattr(e, "context_mark", None)
        if context and opened is not None and opened is not mark:  # where the unclosed thing began
            context = f"{context} begun at line {opened.line + 1}, column {opened.column + 1}"
        reason = f"{context}, {problem}" if context else problem
        raise ConfigError(f"{source}{where}: not valid YAML: {reason}") from None


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The resolved config a run recorded in ``run_dir/config.yaml``."""
    from w2s.run.folder import RunFolder

    path = RunFolder(Path(run_dir)).config
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml in it)")
    config = _build(RunConfig, (yaml.safe_load(path.read_text()) or {}).get("config", {}), "", str(path))
    config.validate()
    return config


class Key(NamedTuple):
    """One config key as ``w2s config`` shows it."""

    key: str  # dotted: pool.max_side, student.comparative.anchors
    type: str  # `int`, `str | list`, a Literal's words: `equal | reliability`
    default: str  # as YAML writes it
    help: str


def type_name(hint: Any) -> str:
    """A field's type as a user writes it: ``equal | reliability``, ``dict | null``, ``float``."""
    parts = []
    for t in _alternatives(hint):
        if typing.get_origin(t) is Literal:
            parts += [str(w) for w in typing.get_args(t)]
        else:
            parts.append("null" if t is type(None) else getattr(typing.get_origin(t) or t, "__name__", str(t)))
    return " | ".join(parts)


def yaml_text(value: Any) -> str:
    """A default as it would be written in a config file (flow style: one line)."""
    if isinstance(value, str):
        return value
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6).strip()
    return text.removesuffix("...").strip()


def _keys(cls, where: str) -> list[Key]:
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        path = f"{where}.{f.name}" if where else f.name
        if dataclasses.is_dataclass(hints[f.name]):
            rows += _keys(hints[f.name], path)
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        rows.append(Key(path, type_name(hints[f.name]), yaml_text(default), f.metadata.get("help", "")))
    return rows


def explain(prefix: str = "") -> list[Key]:
    """Every config key (dotted), its type, default and help, in file order; ``prefix`` keeps the keys
    that start with it (``pairs``: pairs.*; ``student.comparative``: that section)."""
    rows = _keys(RunConfig, "")
    if not prefix:
        return rows
    kept = [r for r in rows if r.key == prefix or r.key.startswith(prefix if prefix.endswith(".") else prefix + ".")]
    kept = kept or [r for r in rows if r.key.startswith(prefix)]
    if not kept:
        sections = sorted({r.key.split(".")[0] for r in rows})
        raise ConfigError(f"no config key starts with {prefix!r}: {suggest(prefix, sections)}")
    return kept
