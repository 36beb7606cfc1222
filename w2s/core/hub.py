"""Models named by a Hugging Face hub id: loaded from the local cache, or a fast, one-line failure.

Left to itself, transformers asks the hub about a model that is not cached and
retries an unreachable hub for minutes, printing a line per retry. So before
anything loads a hub id, :func:`ensure_local` looks in the local cache (no
network); a model found there loads from its cached folder and never touches
the network. A model not found there is downloaded only when the hub answers a
connection within :data:`PROBE_SECONDS`; with ``HF_HUB_OFFLINE=1`` or no answer
it is a :class:`MissingWeightsError` at once that names the model and how to get it.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from w2s.core.errors import MissingWeightsError

PROBE_SECONDS = 3.0  # how long the hub (or the proxy in front of it) gets to accept a connection
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")  # a cached folder without one is half a download


def offline() -> bool:
    """Whether downloads are switched off (``HF_HUB_OFFLINE=1``, read now, not at import)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except (ImportError, AttributeError):  # pragma: no cover - very old huggingface_hub
        return False


def hub_cache() -> str:
    """The folder the hub cache lives in (``HF_HUB_CACHE``, else ``HF_HOME/hub``)."""
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except (ImportError, AttributeError):  # pragma: no cover
        return str(Path.home() / ".cache" / "huggingface" / "hub")


def endpoint() -> str:
    """The hub's address (``HF_ENDPOINT``, e.g. a mirror; else https://huggingface.co)."""
    try:
        from huggingface_hub import constants

        return str(constants.ENDPOINT)
    except (ImportError, AttributeError):  # pragma: no cover
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def cached_model(repo_id: str) -> Path | None:
    """The cached snapshot folder of ``repo_id`` with its config and weights (no network), or None."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not found, a bad id, an unreadable cache: all mean "not cached"
        return None
    has_weights = any(p.name.endswith(WEIGHT_SUFFIXES) for p in folder.rglob("*"))
    return folder if (folder / "config.json").is_file() and has_weights else None


def _target(url: str) -> tuple[str, int]:
    """(host, port) a connection to ``url`` opens first: its HTTPS proxy, where one is set and applies."""
    parsed = urlparse(url)
    proxy = urllib.request.getproxies().get(parsed.scheme or "https")
    if proxy and not urllib.request.proxy_bypass(parsed.hostname or ""):
        parsed = urlparse(proxy if "://" in proxy else f"http://{proxy}")
    return parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)


def reachable(url: str | None = None, timeout: float = PROBE_SECONDS) -> bool:
    """Whether a TCP connection to the hub (or its proxy) opens within ``timeout`` seconds.

    In a thread, so that a name lookup that hangs (no DNS answer) counts against the timeout too.
    """
    host, port = _target(url or endpoint())
    opened = threading.Event()

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            opened.set()
        except OSError:
            pass

    threading.Thread(target=connect, name="hub-probe", daemon=True).start()
    return opened.wait(timeout)


def how_to_get(repo_id: str) -> str:
    """The ways to put ``repo_id`` where :func:`ensure_local` finds it, as the end of a message."""
    return (f"on a machine with network run `hf download {repo_id}` (older huggingface_hub: `huggingface-cli "
            f"download {repo_id}`) and copy its ~/.cache/huggingface here (or point HF_HOME at the copy), "
            "or save the model to a folder and pass that folder instead")


def ensure_local(model: str, label: str | None = None) -> Path | None:
    """Where to load ``model`` (a folder, or a hub id) from without waiting on the network.

    A folder is returned as it is, and a cached hub id as its snapshot folder; a hub id
    that is not cached gives None (load it by id: the hub answered, so it downloads),
    or a :class:`MissingWeightsError` naming ``label`` (default: the id) when downloads
    are off or the hub does not answer within :data:`PROBE_SECONDS`.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    found = cached_model(model)
    if found is not None:
        return found
    name = label or model
    where = f"the local Hugging Face cache ({hub_cache()})"
    if offline():
        raise MissingWeightsError(f"{name}: {model!r} is not in {where} and downloads are off (HF_HUB_OFFLINE=1); "
                                  f"{how_to_get(model)}")
    if not reachable():
        host, port = _target(endpoint())
        raise MissingWeightsError(
            f"{name}: {model!r} is not in {where} and {endpoint()} cannot be reached (no answer from {host}:{port} "
            f"in {PROBE_SECONDS:.0f} s); {how_to_get(model)}; set HF_HUB_OFFLINE=1 to never try the network"
        )
    return None
