"""`billing-desk sandbox` in the foreground: the ready line, real traffic, clean stops."""

from __future__ import annotations

import json
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import stripe

from billing_desk.cli import main
from billing_desk.sandbox import new_test_key

READY_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _first_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(READY_TIMEOUT):
            proc.kill()
            pytest.fail("the sandbox never said it was listening")
    return proc.stdout.readline()


@contextmanager
def _sandbox(*args: str, json_output: bool = False) -> Iterator[subprocess.Popen[str]]:
    flags = ["--json"] if json_output else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "billing_desk", *flags, "sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_foreground_server_announces_itself_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    state = tmp_path / "state.json"
    with _sandbox("--port", str(port), "--state", str(state)) as proc:
        assert _first_line(proc) == f"listening on http://127.0.0.1:{port}\n"
        client = stripe.StripeClient(
            new_test_key(),
            base_addresses={"api": f"http://127.0.0.1:{port}"},
            max_network_retries=0,
        )
        created = client.v1.customers.create(params={"name": "Over the wire"})
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert out == ""  # exactly one line in all
    saved = json.loads(state.read_text())
    objects = [o for account in saved["accounts"].values() for o in account["objects"]]
    assert created.id in {o["id"] for o in objects}


def test_sigint_stops_cleanly_and_json_mode_prints_the_url() -> None:
    with _sandbox("--port", "0", "--seed", "demo", json_output=True) as proc:
        assert json.loads(_first_line(proc))["url"].startswith("http://127.0.0.1:")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert out == ""


def test_a_busy_port_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["sandbox", "--port", str(port)]) == 5
    captured = capsys.readouterr()
    assert f"can't listen on 127.0.0.1:{port}" in captured.err
    assert captured.out == ""


def test_bad_options_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args, message in (
        (["--fail-rate", "1.5"], "--fail-rate: 1.5 is not between 0 and 1"),
        (["--rate-limit", "0"], "--rate-limit: must be above 0"),
        (["--seed", "lots"], "--seed: invalid choice"),
        (["--port", "99999"], "is not a port number"),
    ):
        with pytest.raises(SystemExit) as exited:
            main(["sandbox", *args])
        assert exited.value.code == 2
        assert message in capsys.readouterr().err
    bad = tmp_path / "not-a-snapshot.json"
    bad.write_text("{}")
    assert main(["sandbox", "--port", "0", "--state", str(bad)]) == 1
    assert "not a sandbox snapshot" in capsys.readouterr().err
