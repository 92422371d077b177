"""The server process itself: defaults without a config file, configuration errors,
configuration overrides (limits, multipart, metrics token) and log format."""

import json
import time

import pytest

from s3helpers import (ALICE, BACKEND, DEFAULT, MiB, RawConn, ServerStartError, det_bytes, make_client,
                       s3_error)


def test_defaults_without_config_file(server_factory):
    srv = server_factory(use_config=False).start()
    c = make_client(srv.endpoint, DEFAULT)
    c.create_bucket(Bucket="defaults")
    c.put_object(Bucket="defaults", Key="k", Body=b"v")
    assert c.get_object(Bucket="defaults", Key="k")["Body"].read() == b"v"
    # the extra users exist only in the test config
    with s3_error("InvalidAccessKeyId", 403):
        make_client(srv.endpoint, ALICE).list_buckets()


@pytest.mark.parametrize("overrides,needle", [
    ({"server": {"no_such_setting": 1}}, "no_such_setting"),
    ({"limits": {"metadata_bytes_max": "lots"}}, "metadata_bytes_max"),
    ({"bogus_section": {"x": 1}}, "bogus_section"),
])
def test_bad_configuration_stops_startup(server_factory, overrides, needle):
    srv = server_factory(config_overrides=overrides)
    srv.ready_timeout = 20
    with pytest.raises(ServerStartError):
        srv.start()
    assert srv.proc.returncode == 2
    assert needle in srv.log_tail(), srv.log_tail()


def test_object_size_limit_override(server_factory):
    srv = server_factory(config_overrides={"limits": {"object_size_max": 1 * MiB}}).start()
    c = make_client(srv.endpoint, DEFAULT)
    c.create_bucket(Bucket="limits")
    c.put_object(Bucket="limits", Key="fits", Body=det_bytes("fits", 1 * MiB))
    with s3_error("EntityTooLarge", 400):
        c.put_object(Bucket="limits", Key="big", Body=det_bytes("big", 1 * MiB + 1))
    with s3_error("404", 404):
        c.head_object(Bucket="limits", Key="big")


def test_metadata_limit_override(server_factory):
    srv = server_factory(config_overrides={"limits": {"metadata_bytes_max": 100}}).start()
    c = make_client(srv.endpoint, DEFAULT)
    c.create_bucket(Bucket="metalimit")
    c.put_object(Bucket="metalimit", Key="ok", Body=b"x", Metadata={"a": "b" * 50})
    with s3_error("MetadataTooLarge", 400):
        c.put_object(Bucket="metalimit", Key="no", Body=b"x", Metadata={"a": "b" * 200})


def test_part_size_min_override(server_factory):
    srv = server_factory(config_overrides={"multipart": {"part_size_min": 1 * MiB}}).start()
    c = make_client(srv.endpoint, DEFAULT)
    c.create_bucket(Bucket="parts")

    def mpu(key, sizes):
        uid = c.create_multipart_upload(Bucket="parts", Key=key)["UploadId"]
        parts = []
        for i, n in enumerate(sizes, 1):
            e = c.upload_part(Bucket="parts", Key=key, UploadId=uid, PartNumber=i,
                              Body=det_bytes(f"{key}{i}", n))["ETag"]
            parts.append({"PartNumber": i, "ETag": e})
        return c.complete_multipart_upload(Bucket="parts", Key=key, UploadId=uid,
                                           MultipartUpload={"Parts": parts})

    mpu("ok", [1 * MiB, 1 * MiB, 10])
    assert c.head_object(Bucket="parts", Key="ok")["ContentLength"] == 2 * MiB + 10
    with s3_error("EntityTooSmall", 400):
        mpu("small", [MiB - 1, 10])


def test_metrics_token(server_factory):
    srv = server_factory(config_overrides={"server": {"metrics_token": "t0ken"}}).start()

    def get(headers=""):
        with RawConn("127.0.0.1", srv.port) as c:
            c.send(f"GET /metrics HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
            return c.read_response("GET")

    assert get().status in (401, 403)
    assert get("Authorization: Bearer wrong\r\n").status in (401, 403)
    r = get("Authorization: Bearer t0ken\r\n")
    assert r.status == 200
    assert b"# TYPE" in r.body
    # health endpoints stay open
    with RawConn("127.0.0.1", srv.port) as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response("GET").status == 200


def test_json_log_format(server_factory):
    srv = server_factory(log_args=("--log-level", "info", "--log-format", "json")).start()
    c = make_client(srv.endpoint, DEFAULT)
    c.create_bucket(Bucket="jsonlog")
    c.put_object(Bucket="jsonlog", Key="logged-key", Body=b"x")
    # The access line is written once the response has gone out: wait for it (bounded),
    # then kill.
    deadline = time.monotonic() + 10
    while "logged-key" not in srv.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)  # poll interval
    srv.kill9()
    lines = [ln for ln in srv.log_path.read_text().splitlines() if ln.startswith("{")]
    assert lines, srv.log_tail()
    records = [json.loads(ln) for ln in lines]
    assert any("logged-key" in json.dumps(r) for r in records), lines[-5:]


def _read_until_eof(conn, limit_s):
    """Everything the server sends until it closes the connection (or limit_s passes)."""
    import socket
    import time
    conn.sock.settimeout(0.2)
    deadline = time.monotonic() + limit_s
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = conn.sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def test_header_timeout_closes_slow_client(server_factory):
    import time
    srv = server_factory(config_overrides={"server": {"header_timeout_ms": 500}}).start()
    with RawConn("127.0.0.1", srv.port) as c:
        t0 = time.monotonic()
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        data, closed = _read_until_eof(c, 10)
        elapsed = time.monotonic() - t0
    assert closed, "server kept a half-sent request head open"
    assert elapsed >= 0.4, elapsed
    assert data == b"" or data.startswith(b"HTTP/1.1 4"), data[:100]
    # a well-behaved client is unaffected
    with RawConn("127.0.0.1", srv.port) as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response("GET").status == 200


def test_idle_keep_alive_connection_closed(server_factory):
    srv = server_factory(config_overrides={"server": {"idle_timeout_ms": 500}}).start()
    with RawConn("127.0.0.1", srv.port) as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response("GET").status == 200
        data, closed = _read_until_eof(c, 10)
    assert closed and data == b"", data[:100]


def test_request_head_limit_override(server_factory):
    srv = server_factory(config_overrides={"server": {"request_head_bytes_max": 2048}}).start()
    with RawConn("127.0.0.1", srv.port) as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 1500 + b"\r\n\r\n")
        assert c.read_response("GET").status == 200
    with RawConn("127.0.0.1", srv.port) as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 3000 + b"\r\n\r\n")
        r = c.read_response("GET")
    assert r.status == 400, r


def test_data_dir_is_private_to_the_server_user(server_factory):
    """The data directory is 0700 and every file the server creates is 0600 (keys and
    bodies are readable by nobody else on the box)."""
    import os
    import stat
    srv = server_factory().start()
    c = make_client(srv.endpoint, DEFAULT)
    c.create_bucket(Bucket="private")
    c.put_object(Bucket="private", Key="big", Body=os.urandom(300_000))
    c.put_object(Bucket="private", Key="small", Body=b"x")
    assert stat.S_IMODE(srv.data_dir.stat().st_mode) == 0o700
    files = [p for p in srv.data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".redb" for p in files), files
    if BACKEND == "local":
        assert any("objects" in p.parts for p in files), "no data file written"
    for p in srv.data_dir.rglob("*"):
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode & 0o077 == 0, f"{p} has mode {oct(mode)}"
