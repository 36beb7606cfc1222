"""What a run records about itself (the resolved config, package versions, the git sha), and the
check that a rerun uses the config its folder was made with."""

from __future__ import annotations

import dataclasses
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import yaml

from w2s.config import RunConfig
from w2s.core import io
from w2s.core.errors import ConfigError

# config keys that may change between a run and its rerun without invalidating its files
RESUMABLE_KEYS = {"rounds"}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("w2s-vqa", "torch", "transformers", "accelerate", "pyiqa", "kornia", "av"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5)
        out["git_sha"] = sha.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        out["git_sha"] = None
    return out


def config_changes(previous: dict, current: dict, section=RunConfig, where: str = "") -> list[str]:
    """Dotted keys whose value differs between a recorded config and the current one.

    A config field the recorded config lacks counts as at its default: a field
    added to the framework since the run started leaves the run resumable. Only
    fields of the config's sections get that reading; a family or teacher option
    missing from a recorded mapping is a change.
    """
    fields = {f.name: f for f in dataclasses.fields(section)}
    defaults = section().__dict__
    out = []
    for key in sorted(set(previous) | set(current)):
        path = f"{where}.{key}" if where else str(key)
        if path in RESUMABLE_KEYS:
            continue
        field = fields.get(key)
        default = dataclasses.asdict(defaults[key]) if field and dataclasses.is_dataclass(defaults[key]) else defaults.get(key)
        before = previous.get(key, default) if field else previous.get(key)
        after = current.get(key, default) if field else current.get(key)
        if field and dataclasses.is_dataclass(defaults[key]) and isinstance(before, dict) and isinstance(after, dict):
            out += config_changes(before, after, type(defaults[key]), path)
        elif before != after:
            out.append(path)
    return out


def write_run_config(config: RunConfig, path: Path) -> None:
    """Record the resolved config; refuse to mix two different configs in one run folder."""
    current = config.to_dict()
    if path.exists():
        previous = (yaml.safe_load(path.read_text()) or {}).get("config", {})
        changed = config_changes(previous, current)
        if changed:
            raise ConfigError(
                f"{config.run_dir} was made with a different config ({', '.join(changed)} changed): "
                f"give the run a new name (`--set name=NEW --reuse {config.run_dir}` computes only what changed), "
                "or delete that folder"
            )
    io.write_text(yaml.safe_dump({"config": current, "versions": versions()}, sort_keys=False), path)
