"""The first minutes of a new user (issue #15, items 2-5): a second server on a served
address, oversized and stalled uploads, colour-free logs, the default-credentials warning
and the data dir's mode."""

import os
import stat
import subprocess
import time
import uuid

from s3helpers import (DEFAULT, MiB, ConnectionClosed, Raw, RawConn, http_probe, key_path,
                       make_client)


def _wait_for_marker(srv, limit_s: float = 10.0) -> str:
    """Sends a request whose path carries a fresh marker and waits (bounded) for its access
    line: every line queued before it (start-up messages) is in the log by then."""
    marker = f"barrier-{uuid.uuid4().hex}"
    with RawConn("127.0.0.1", srv.port) as c:
        c.send(f"GET /{marker} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        c.read_response("GET")
    deadline = time.monotonic() + limit_s
    while True:
        text = srv.log_path.read_text(errors="replace")
        if marker in text:
            return text
        assert time.monotonic() < deadline, srv.log_tail()
        time.sleep(0.01)  # poll interval


# ---- #15.2 a second server on a served address --------------------------------------

def test_second_server_on_same_address_refuses_to_start(server_factory, tmp_path):
    first = server_factory().start()
    c = make_client(first.endpoint, DEFAULT)
    c.create_bucket(Bucket="first")
    t0 = time.monotonic()
    p = subprocess.run(
        [str(first.binary), "--bind", f"127.0.0.1:{first.port}", "--data-dir",
         str(tmp_path / "second-data"), "--config", str(first.config_path)],
        capture_output=True, text=True, timeout=30, env=dict(os.environ, NO_COLOR="1"),
        stdin=subprocess.DEVNULL)
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert time.monotonic() - t0 < 10
    lines = [ln for ln in (p.stdout + p.stderr).splitlines() if "address in use" in ln]
    assert len(lines) == 1, p.stderr[-2000:]
    # the first server alone still answers, with its own data
    for _ in range(12):
        c.head_bucket(Bucket="first")
    assert http_probe("127.0.0.1", first.port, "/readyz") == 200


# ---- #15.3 oversized and stalled uploads -------------------------------------------

def test_oversized_put_answered_at_once(server_factory):
    srv = server_factory(config_overrides={"limits": {"object_size_max": 1 * MiB}}).start()
    make_client(srv.endpoint, DEFAULT).create_bucket(Bucket="big")
    raw = Raw(srv.endpoint)
    head = raw.build("PUT", key_path("big", "k"), headers={"Content-Length": str(100 * MiB)},
                     payload_hash="UNSIGNED-PAYLOAD")
    with raw.conn(10) as c:
        t0 = time.monotonic()
        c.send(head + b"x" * 4096)  # no Expect: 100-continue, and then nothing more
        r = c.read_response("PUT")
        took = time.monotonic() - t0
        assert r.status == 400 and r.error_code == "EntityTooLarge", r
        assert took < 2.0, took
        assert c.at_eof(5), "connection left open after EntityTooLarge"
    assert raw.request("HEAD", key_path("big", "k")).status == 404


def test_stalled_upload_cut_after_body_timeout(server_factory):
    srv = server_factory(config_overrides={"server": {"body_timeout_ms": 1000}}).start()
    make_client(srv.endpoint, DEFAULT).create_bucket(Bucket="stall")
    raw = Raw(srv.endpoint)
    head = raw.build("PUT", key_path("stall", "k"), headers={"Content-Length": str(MiB)},
                     payload_hash="UNSIGNED-PAYLOAD")
    with raw.conn(15) as c:
        c.send(head + b"x" * 4096)
        t0 = time.monotonic()
        try:
            r = c.read_response("PUT")
        except ConnectionClosed:
            r = None
        took = time.monotonic() - t0
        assert r is not None and r.status == 400 and r.error_code == "RequestTimeout", r
        assert 0.8 < took < 1.8, took  # once body_timeout_ms, not twice
        assert c.at_eof(5)
    assert raw.request("HEAD", key_path("stall", "k")).status == 404


# ---- #15.4 no colour codes in logs that go to a file -------------------------------

def test_no_ansi_escapes_in_log_file(server_factory):
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    for i, e in enumerate([env, dict(env, NO_COLOR="1")]):
        srv = server_factory(log_args=("--log-level", "debug")).start_custom(env=e)
        make_client(srv.endpoint, DEFAULT).list_buckets()
        text = _wait_for_marker(srv)
        srv.stop()
        assert "INFO" in text or "DEBUG" in text, text[-2000:]
        assert "\x1b[" not in text, (i, text[-2000:])


# ---- #15.5 default credentials warning, data dir modes ------------------------------

def _credential_warnings(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if "default credentials" in ln]


def test_default_credentials_warned_beyond_loopback(server_factory):
    srv = server_factory(use_config=False).start_custom(host="0.0.0.0")
    warned = _credential_warnings(_wait_for_marker(srv))
    assert len(warned) == 1, warned
    assert "WARN" in warned[0]


def test_no_warning_on_loopback_or_own_credentials(server_factory):
    loop = server_factory(use_config=False).start()
    assert _credential_warnings(_wait_for_marker(loop)) == []
    own = server_factory(config_overrides={"auth": {"access_key": "mine", "secret_key": "s"}})
    own.start_custom(host="0.0.0.0")
    assert _credential_warnings(_wait_for_marker(own)) == []


def test_existing_data_dir_keeps_its_mode(server_factory):
    srv = server_factory()
    srv.data_dir.mkdir()
    os.chmod(srv.data_dir, 0o755)
    srv.start()
    make_client(srv.endpoint, DEFAULT).create_bucket(Bucket="modes")
    assert stat.S_IMODE(srv.data_dir.stat().st_mode) == 0o755
    fresh = server_factory().start()
    assert stat.S_IMODE(fresh.data_dir.stat().st_mode) == 0o700
