"""A hub model missing from the local cache fails in seconds with one line (w2s.core.hub), instead of
minutes of retries. The network is never touched: the cache is a folder built here, and the probe
is either patched or pointed at this machine."""

import logging
import os
import socket
import threading
import time

import pytest

from w2s.cli import main
from w2s.core import hub
from w2s.core.errors import MissingWeightsError

MODEL = "w2s-tests/not-a-cached-vlm"


def fake_cache(root, repo_id: str, files: list[str]):
    """A Hugging Face hub cache holding ``files`` of ``repo_id`` at one revision, as `hf download` leaves it."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    for name in files:
        (snapshot / name).write_text("{}")
    return snapshot


@pytest.fixture
def cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.fixture
def online(monkeypatch):
    """Downloads allowed (the suite runs with HF_HUB_OFFLINE=1); the probe must be patched by the test."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "offline", lambda: False)


def no_probe(*args, **kwargs):
    raise AssertionError("the hub was probed")


def test_a_folder_is_passed_through_without_a_lookup(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "cached_model", no_probe)
    monkeypatch.setattr(hub, "reachable", no_probe)
    assert hub.ensure_local(str(tmp_path)) == tmp_path


def test_a_cached_model_loads_from_its_snapshot_and_half_a_download_does_not(cache, monkeypatch):
    monkeypatch.setattr(hub, "reachable", no_probe)
    snapshot = fake_cache(cache, "owner/whole", ["config.json", "model.safetensors"])
    assert hub.cached_model("owner/whole") == snapshot
    assert hub.ensure_local("owner/whole") == snapshot
    fake_cache(cache, "owner/half", ["config.json"])  # config fetched, weights never came
    assert hub.cached_model("owner/half") is None
    assert hub.cached_model("owner/absent") is None


def test_offline_and_not_cached_fails_at_once_naming_how_to_get_it(cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "reachable", no_probe)
    with pytest.raises(MissingWeightsError) as err:
        hub.ensure_local(MODEL, f"vlm:{MODEL}")
    text = str(err.value)
    assert text.startswith(f"vlm:{MODEL}: '{MODEL}' is not in the local Hugging Face cache ({cache})")
    assert "downloads are off (HF_HUB_OFFLINE=1)" in text and f"`hf download {MODEL}`" in text
    assert "\n" not in text


def test_unreachable_hub_fails_within_seconds(cache, online, monkeypatch):
    monkeypatch.setattr(hub, "reachable", lambda *a, **k: False)
    start = time.perf_counter()
    with pytest.raises(MissingWeightsError) as err:
        hub.ensure_local(MODEL, f"vlm:{MODEL}")
    assert time.perf_counter() - start < 2
    text = str(err.value)
    assert f"vlm:{MODEL}: '{MODEL}' is not in the local Hugging Face cache" in text
    assert "https://huggingface.co cannot be reached (no answer from huggingface.co:443 in 3 s)" in text
    assert f"`hf download {MODEL}`" in text and f"`huggingface-cli download {MODEL}`" in text
    assert "set HF_HUB_OFFLINE=1" in text


def test_a_reachable_hub_lets_the_download_go(cache, online, monkeypatch):
    monkeypatch.setattr(hub, "reachable", lambda *a, **k: True)
    assert hub.ensure_local(MODEL) is None  # load by id: transformers downloads it


def test_the_probe_answers_within_its_timeout(monkeypatch):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    assert hub.reachable(f"https://127.0.0.1:{port}", timeout=2)
    server.close()
    assert not hub.reachable(f"https://127.0.0.1:{port}", timeout=2)  # refused: no one listens now

    released = threading.Event()

    def hang(*args, **kwargs):  # a name lookup or a connect that does not answer (until the test ends)
        released.wait(5)
        raise OSError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.perf_counter()
    try:
        assert not hub.reachable("https://127.0.0.1:9", timeout=0.2)
        assert time.perf_counter() - start < 1
    finally:
        released.set()


def test_the_probe_goes_to_the_proxy_when_one_is_set(monkeypatch):
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    assert hub._target("https://huggingface.co") == ("proxy.example", 3128)
    monkeypatch.setenv("no_proxy", "huggingface.co")
    assert hub._target("https://huggingface.co") == ("huggingface.co", 443)


def test_a_vlm_not_cached_never_reaches_transformers(cache, online, monkeypatch):
    import transformers

    from students.vlm_backbone import VLMBackbone

    monkeypatch.setattr(hub, "reachable", lambda *a, **k: False)
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", no_probe)
    with pytest.raises(MissingWeightsError, match=f"^vlm:{MODEL}: '{MODEL}' is not in the local Hugging Face cache"):
        VLMBackbone(MODEL)


def test_a_cached_vlm_loads_from_its_folder_without_the_network(cache, monkeypatch):
    import transformers

    from students.vlm_backbone import VLMBackbone

    snapshot = fake_cache(cache, "owner/vlm", ["config.json", "model.safetensors"])
    monkeypatch.setattr(hub, "reachable", no_probe)
    asked = []

    class Stop(Exception):
        pass

    def record(ref, **kwargs):
        asked.append((ref, kwargs.get("local_files_only")))
        raise Stop

    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", record)
    with pytest.raises(Stop):
        VLMBackbone("owner/vlm")
    assert asked == [(str(snapshot), True)]


def test_score_with_an_uncached_model_is_one_line_and_exit_2(cache, online, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(hub, "reachable", lambda *a, **k: False)
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    start = time.perf_counter()
    assert main(["score", "--model", f"vlm:{MODEL}", str(image), "--out", str(tmp_path / "s.csv")]) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"w2s: error: vlm:{MODEL}: '{MODEL}' is not in the local")
    assert "hf download" in err


def test_without_v_the_hub_libraries_only_speak_on_errors(monkeypatch, tmp_path):
    """transformers and huggingface_hub print through their own handlers: quietened by main, and by the
    variables their import reads (a user's own setting kept)."""
    for variable in ("TRANSFORMERS_VERBOSITY", "HF_HUB_VERBOSITY"):
        monkeypatch.setenv(variable, "info")  # recorded, so the deletion below is undone after the test
        monkeypatch.delenv(variable)
    loggers = [logging.getLogger(n) for n in ("transformers", "huggingface_hub")]
    before = [logger.level for logger in loggers]
    argv = ["score", "--model", "pyiqa:no_such_metric", "x.png", "--out", str(tmp_path / "s.csv")]
    try:
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        main(argv)
        assert [logger.level for logger in loggers] == [logging.ERROR, logging.ERROR]
        assert os.environ["TRANSFORMERS_VERBOSITY"] == os.environ["HF_HUB_VERBOSITY"] == "error"
        monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")
        loggers[0].setLevel(logging.INFO)
        main(argv)
        assert loggers[0].level == logging.INFO  # asked for by the user: left alone
    finally:
        for logger, level in zip(loggers, before):
            logger.setLevel(level)
