"""The suite-wide network guard (tests/conftest.py): outward connects refused and named, loopback allowed."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# TEST-NET addresses (RFC 5737 / RFC 3849): reserved for documentation, never routed, so even
# a broken guard could not reach anyone; the guard must refuse them before trying.
OUTWARD = [
    (socket.AF_INET, ("203.0.113.7", 80)),
    (socket.AF_INET6, ("2001:db8::7", 443, 0, 0)),
    (socket.AF_INET, ("example.com", 80)),  # a name: refused unresolved
    (socket.AF_INET6, ("::ffff:203.0.113.7", 80, 0, 0)),  # IPv4-mapped, not loopback
]


@pytest.mark.parametrize("method", ["connect", "connect_ex"])
@pytest.mark.parametrize("family, address", OUTWARD, ids=[a[0] for _, a in OUTWARD])
def test_outward_connect_raises_naming_the_address(network_guard, method, family, address):
    with socket.socket(family, socket.SOCK_STREAM) as s, pytest.raises(RuntimeError) as err:
        s.settimeout(2.0)  # were the guard broken, fail fast instead of waiting out a SYN timeout
        getattr(s, method)(address)
    assert type(err.value).__name__ == "OutwardConnectionRefused"
    assert not isinstance(err.value, OSError)  # else `except OSError` retry/fallback code would swallow it
    assert repr(address) in str(err.value) and "offline" in str(err.value)
    # recorded too, so the test would fail at teardown even had the error been caught; consume it
    assert network_guard == [repr(address)]
    network_guard.clear()


def _serve(family: int, host: str) -> socket.socket:
    server = socket.socket(family, socket.SOCK_STREAM)
    server.bind((host, 0))
    server.listen(2)
    return server


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "::ffff:127.0.0.1"])
def test_loopback_connects_go_through(host, network_guard):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        server = _serve(family, "::" if host.startswith("::ffff:") else host)
    except OSError as e:  # no IPv6 on this machine: nothing to check
        pytest.skip(f"cannot listen on {host}: {e}")
    with server, socket.socket(family, socket.SOCK_STREAM) as a, socket.socket(family, socket.SOCK_STREAM) as b:
        port = server.getsockname()[1]
        a.connect((host, port))
        assert b.connect_ex((host, port)) == 0
        conn, _ = server.accept()
        with conn:
            a.sendall(b"ping")
            assert conn.recv(4) == b"ping"  # a real connection, not a stub
    assert network_guard == []


def test_unix_socket_connects_go_through(network_guard):
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no unix sockets here")
    with tempfile.TemporaryDirectory(dir="/tmp") as d:  # a short path: unix socket paths max out near 108 bytes
        path = str(Path(d) / "s")
        with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
            server.bind(path)
            server.listen(1)
            client.connect(path)
            conn, _ = server.accept()
            with conn:
                client.sendall(b"ok")
                assert conn.recv(2) == b"ok"
    assert network_guard == []


def test_a_swallowed_outward_connect_still_fails_the_test(tmp_path):
    """End to end, in a child pytest with this conftest: code that catches every exception
    around a connect must not turn the attempt into a pass."""
    (tmp_path / "conftest.py").write_text((Path(__file__).parent / "conftest.py").read_text())
    (tmp_path / "test_inner.py").write_text(
        "import socket\n\n"
        "def test_swallows():\n"
        "    try:\n"
        "        socket.socket().connect(('203.0.113.9', 80))\n"
        "    except Exception:\n"
        "        pass\n\n"
        "def test_offline():\n"
        "    assert True\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    # test_swallows's body runs to the end, then its teardown errors: pytest counts it among the
    # passed *and* reports the error, which is what fails the run
    assert " 1 error" in out and "failed" not in out, out
    assert "ERROR at teardown of test_swallows" in out and "('203.0.113.9', 80)" in out, out
