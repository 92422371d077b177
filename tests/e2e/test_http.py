"""HTTP/1.1 protocol behaviour on raw sockets: keep-alive, pipelining, 100-continue,
HEAD framing, connection close, oversized / malformed heads, chunked bodies, common
response headers, health/metrics endpoints and virtual-hosted-style addressing."""

import datetime as dt
import email.utils
import hashlib
import socket
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from s3helpers import (DEFAULT, Creds, RawConn, det_bytes, key_path,
                       s3_error, sha256_hex, sign_headers, unique_name, xml_find,
                       xml_findall, xml_text)


def head_bytes(method, target, headers):
    return (f"{method} {target} HTTP/1.1\r\n" +
            "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()


# ---- connection management --------------------------------------------------------------

def test_keep_alive_sequential_requests(raw, s3, bucket):
    with raw.conn() as c:
        for i in range(6):
            body = f"body {i}".encode()
            c.send(raw.build("PUT", key_path(bucket, f"ka/{i}"), body=body))
            r = c.read_response("PUT")
            assert r.status == 200, r
            assert not r.wants_close
            c.send(raw.build("GET", key_path(bucket, f"ka/{i}")))
            r = c.read_response("GET")
            assert r.status == 200, r
            assert r.body == body
        c.send(raw.build("GET", "/" + bucket, query=[("list-type", "2"), ("prefix", "ka/")]))
        r = c.read_response("GET")
        assert r.status == 200
        assert len(xml_findall(r.xml(), "Contents")) == 6


def test_keep_alive_survives_error_responses(raw, bucket):
    with raw.conn() as c:
        c.send(raw.build("GET", key_path(bucket, "missing")))
        r = c.read_response("GET")
        assert r.status == 404 and r.error_code == "NoSuchKey"
        c.send(raw.build("GET", "/" + bucket, creds=Creds(DEFAULT.access_key, "bad")))
        r = c.read_response("GET")
        assert r.status == 403
        c.send(raw.build("GET", "/" + bucket))
        r = c.read_response("GET")
        assert r.status == 200, r


def test_pipelined_requests(raw, s3, bucket):
    bodies = {f"p{i}": det_bytes(f"pipe{i}", 1000 * (i + 1)) for i in range(3)}
    for k, v in bodies.items():
        s3.put_object(Bucket=bucket, Key=k, Body=v)
    reqs = [("GET", "p0"), ("HEAD", "p1"), ("GET", "p1"), ("GET", "p2")]
    data = b"".join(raw.build(m, key_path(bucket, k)) for m, k in reqs)
    with raw.conn() as c:
        c.send(data)
        for m, k in reqs:
            r = c.read_response(m)
            assert r.status == 200, (m, k, r)
            assert r.header("Content-Length") == str(len(bodies[k]))
            assert r.header("ETag") == f'"{hashlib.md5(bodies[k]).hexdigest()}"'
            if m == "GET":
                assert r.body == bodies[k]
        # and the connection is still usable afterwards
        c.send(raw.build("GET", key_path(bucket, "p0")))
        assert c.read_response("GET").body == bodies["p0"]


def test_pipelined_three_gets_in_one_write(raw, s3, bucket):
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"g{i}", Body=f"value-{i}".encode() * (i + 1))
    with raw.conn() as c:
        c.send(b"".join(raw.build("GET", key_path(bucket, f"g{i}")) for i in range(3)))
        got = [c.read_response("GET") for _ in range(3)]
    assert [r.status for r in got] == [200, 200, 200]
    assert [r.body for r in got] == [f"value-{i}".encode() * (i + 1) for i in range(3)]


def test_connection_close_honoured(raw, bucket):
    with raw.conn() as c:
        c.send(raw.build("GET", "/" + bucket, headers={"Connection": "close"}))
        r = c.read_response("GET")
        assert r.status == 200
        assert "close" in (r.header("Connection") or "").lower()
        assert c.at_eof(10), "server kept the connection open after Connection: close"


def test_http10_closes_by_default(raw):
    with raw.conn() as c:
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        r = c.read_response("GET")
        assert r.status == 200
        assert c.at_eof(10)


def test_head_has_no_body(raw, s3, bucket):
    data = det_bytes("head", 1000)
    s3.put_object(Bucket=bucket, Key="h", Body=data)
    with raw.conn() as c:
        c.send(raw.build("HEAD", key_path(bucket, "h")))
        r = c.read_response("HEAD")
        assert r.status == 200
        assert r.header("Content-Length") == "1000"
        # any stray body bytes would corrupt the next response on this connection
        c.send(raw.build("GET", key_path(bucket, "h")))
        r2 = c.read_response("GET")
        assert r2.status == 200, r2
        assert r2.body == data
        # HEAD of an error: status and headers, no XML body
        c.send(raw.build("HEAD", key_path(bucket, "nope")))
        r3 = c.read_response("HEAD")
        assert r3.status == 404
        c.send(raw.build("GET", "/healthz", sign=False))
        assert c.read_response("GET").status == 200


# ---- 100-continue ----------------------------------------------------------------------------

def test_expect_100_continue(raw, s3, bucket):
    body = det_bytes("expect", 100_000)
    path = key_path(bucket, "expect")
    h = sign_headers("PUT", path, [], {"Host": raw.netloc, "Content-Length": str(len(body)),
                                       "Expect": "100-continue"},
                     sha256_hex(body), DEFAULT, signed=["content-length"]).headers
    with raw.conn(timeout=10) as c:
        c.send(head_bytes("PUT", path, h))
        interim = c.read_response("PUT")
        assert interim.status == 100, interim
        c.send(body)
        final = c.read_response("PUT")
        assert final.status == 200, final
    assert s3.get_object(Bucket=bucket, Key="expect")["Body"].read() == body


def test_expect_100_continue_bad_signature(raw, s3, bucket):
    body = det_bytes("expect-bad", 100_000)
    path = key_path(bucket, "expect-bad")
    h = sign_headers("PUT", path, [], {"Host": raw.netloc, "Content-Length": str(len(body)),
                                       "Expect": "100-continue"},
                     sha256_hex(body), Creds(DEFAULT.access_key, "wrong-secret"),
                     signed=["content-length"]).headers
    with raw.conn(timeout=10) as c:
        c.send(head_bytes("PUT", path, h))
        r = c.read_response("PUT")
        assert r.status == 403, r
        assert r.error_code == "SignatureDoesNotMatch"
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="expect-bad")


# ---- request framing ----------------------------------------------------------------------

@pytest.mark.parametrize("payload_hash", ["signed", "UNSIGNED-PAYLOAD"])
def test_chunked_transfer_encoding_put(raw, s3, bucket, payload_hash):
    data = det_bytes("te-chunked", 300_000)
    sizes = [1, 4095, 65536, 100_000, 7]
    pieces, pos = [], 0
    for n in sizes:
        pieces.append(data[pos:pos + n])
        pos += n
    pieces.append(data[pos:])
    encoded = b""
    for i, p in enumerate(pieces):
        ext = ";ext=1" if i == 2 else ""
        encoded += f"{len(p):X}{ext}\r\n".encode() + p + b"\r\n"
    encoded += b"0\r\n\r\n"
    path = key_path(bucket, f"te-{payload_hash}")
    ph = sha256_hex(data) if payload_hash == "signed" else payload_hash
    h = sign_headers("PUT", path, [], {"Host": raw.netloc, "Transfer-Encoding": "chunked"},
                     ph, DEFAULT, signed=[]).headers
    with raw.conn() as c:
        c.send(head_bytes("PUT", path, h))
        # dribble the body so chunk boundaries straddle TCP segments
        for i in range(0, len(encoded), 50_003):
            c.send(encoded[i:i + 50_003])
        r = c.read_response("PUT")
    assert r.status == 200, r
    assert r.header("ETag") == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key=f"te-{payload_hash}")
    assert got["ContentLength"] == len(data)
    assert got["Body"].read() == data


def test_put_without_length_rejected(raw, s3, bucket):
    path = key_path(bucket, "nolength")
    h = sign_headers("PUT", path, [], {"Host": raw.netloc}, "UNSIGNED-PAYLOAD", DEFAULT).headers
    with raw.conn(timeout=10) as c:
        c.send(head_bytes("PUT", path, h) + b"some bytes")
        r = c.read_response("PUT")
    assert r.status == 411, r
    assert r.error_code == "MissingContentLength"


def test_content_length_and_chunked_closes_connection(raw, bucket):
    """RFC 9112 §6.1: with both Content-Length and Transfer-Encoding the server may
    reject or use the chunked framing, but must close the connection afterwards."""
    path = key_path(bucket, "smuggle")
    h = sign_headers("PUT", path, [], {"Host": raw.netloc, "Transfer-Encoding": "chunked",
                                       "Content-Length": "5"},
                     "UNSIGNED-PAYLOAD", DEFAULT, signed=[]).headers
    with raw.conn(timeout=10) as c:
        c.send(head_bytes("PUT", path, h) + b"5\r\nhello\r\n0\r\n\r\n")
        r = c.read_response("PUT")
        assert r.status in (200, 400), r
        assert c.at_eof(10)


def test_incomplete_body_creates_nothing(raw, s3, bucket):
    path = key_path(bucket, "incomplete")
    h = sign_headers("PUT", path, [], {"Host": raw.netloc, "Content-Length": "100000"},
                     "UNSIGNED-PAYLOAD", DEFAULT).headers
    c = RawConn(raw.host, raw.port, timeout=15)
    try:
        c.send(head_bytes("PUT", path, h) + b"x" * 40_000)
        c.sock.shutdown(socket.SHUT_WR)
        try:
            r = c.read_response("PUT")
            assert r.status == 400, r
            assert r.error_code in ("IncompleteBody", "RequestTimeout"), r
        except (ConnectionError, OSError, ValueError):
            pass  # closing without a response is acceptable; the object must not exist
    finally:
        c.close()
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="incomplete")


def test_huge_request_head_rejected_and_server_still_serves(raw, s3, bucket):
    c = RawConn(raw.host, raw.port, timeout=30)
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * (1024 * 1024) + b"\r\n\r\n"
    errors = []

    def sender():
        try:
            for i in range(0, len(big), 65536):
                c.sock.sendall(big[i:i + 65536])
        except OSError as e:  # the server may stop reading once it has answered
            errors.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        r = c.read_response("GET")
        assert r.status == 400, r
        assert r.error_code == "RequestHeaderSectionTooLarge", r
    finally:
        c.close()
        t.join(30)
    # other clients are unaffected
    with raw.conn() as c2:
        c2.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c2.read_response("GET").status == 200
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_too_many_headers_rejected(raw):
    hdrs = "".join(f"X-H{i}: v\r\n" for i in range(300))
    with raw.conn(timeout=10) as c:
        c.send(f"GET /healthz HTTP/1.1\r\nHost: x\r\n{hdrs}\r\n".encode())
        r = c.read_response("GET")
    assert r.status == 400, r
    assert r.error_code is not None, r


@pytest.mark.parametrize("line", [b"GARBAGE\r\n\r\n",
                                  b"GET / FTP/1.0\r\nHost: x\r\n\r\n",
                                  b"GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n",
                                  b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"])
def test_malformed_request_line(raw, line):
    with raw.conn(timeout=10) as c:
        c.send(line)
        r = c.read_response("GET")
        assert r.status == 400, r
        root = r.xml()
        assert root.tag == "Error"
        assert xml_text(root, "Code"), r
        assert xml_text(root, "Message") is not None
        assert c.at_eof(10), "connection not closed after a malformed request"
    with raw.conn() as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response("GET").status == 200


def test_missing_host_header_rejected(raw):
    with raw.conn(timeout=10) as c:
        c.send(b"GET /healthz HTTP/1.1\r\n\r\n")
        r = c.read_response("GET")
    assert r.status == 400, r


# ---- common response headers ------------------------------------------------------------------

def test_every_response_has_common_headers(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    reqs = [
        raw.build("GET", "/"),
        raw.build("GET", key_path(bucket, "k")),
        raw.build("HEAD", key_path(bucket, "k")),
        raw.build("GET", key_path(bucket, "absent")),
        raw.build("GET", key_path(bucket, "k"), sign=False),
        raw.build("PUT", key_path(bucket, "k2"), body=b"x"),
        raw.build("DELETE", key_path(bucket, "k2")),
        raw.build("GET", key_path(bucket, "k"), headers={"Range": "bytes=5-9"}),
        raw.build("GET", key_path(bucket, "k"),
                  headers={"If-None-Match": f'"{hashlib.md5(b"v").hexdigest()}"'}),
    ]
    methods = ["GET", "GET", "HEAD", "GET", "GET", "PUT", "DELETE", "GET", "GET"]
    expected = [200, 200, 200, 404, 403, 200, 204, 416, 304]
    ids = set()
    now = dt.datetime.now(dt.timezone.utc)
    with raw.conn() as c:
        for req, m, want in zip(reqs, methods, expected):
            c.send(req)
            r = c.read_response(m)
            assert r.status == want, r
            rid = r.header("x-amz-request-id")
            assert rid, r
            assert rid not in ids
            ids.add(rid)
            assert r.header("x-amz-id-2"), r
            assert r.header("Server"), r
            date = r.header("Date")
            assert date, r
            parsed = email.utils.parsedate_to_datetime(date)
            assert date.endswith(" GMT"), date
            assert abs((parsed - now).total_seconds()) < 300


def test_healthz_and_readyz(raw):
    with raw.conn() as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response("GET").status == 200
        c.send(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response("GET").status == 200


def test_metrics_prometheus_text(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="m", Body=b"metrics")
    s3.get_object(Bucket=bucket, Key="m")["Body"].read()
    with raw.conn() as c:
        c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response("GET")
    assert r.status == 200, r
    assert (r.header("Content-Type") or "").startswith("text/plain"), r
    families = list(text_string_to_metric_families(r.body.decode()))
    assert families, "no metric families"
    samples = [s for f in families for s in f.samples]
    assert any(s.value > 0 for s in samples)
    for f in families:
        assert f.name and f.type in ("counter", "gauge", "histogram", "summary", "untyped",
                                     "info", "stateset", "gaugehistogram", "unknown")


# ---- virtual-hosted-style addressing (server.domain = s3.local) ------------------------------

def test_virtual_hosted_style_object_round_trip(raw, s3, bucket):
    host = f"{bucket}.s3.local:{raw.port}"
    data = b"written through the virtual host"
    r = raw.request("PUT", "/dir/" + "vh%20key", body=data, host=host)
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="dir/vh key")["Body"].read() == data
    r = raw.request("GET", "/dir/vh%20key", host=host)
    assert r.status == 200, r
    assert r.body == data
    r = raw.request("GET", "/", query=[("list-type", "2")], host=host)
    assert r.status == 200, r
    root = r.xml()
    assert xml_text(root, "Name") == bucket
    assert [xml_text(e, "Key") for e in xml_findall(root, "Contents")] == ["dir/vh key"]
    r = raw.request("DELETE", "/dir/vh%20key", host=host)
    assert r.status == 204, r
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="dir/vh key")


def test_virtual_hosted_style_dotted_bucket(raw, s3, bucket_factory):
    name = bucket_factory("vh.dotted")
    host = f"{name}.s3.local:{raw.port}"
    r = raw.request("PUT", "/k", body=b"dots", host=host)
    assert r.status == 200, r
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"dots"


def test_virtual_hosted_style_bucket_operations(raw, s3, bucket_factory):
    name = unique_name("vhcreate")
    bucket_factory.track(name)
    host = f"{name}.s3.local:{raw.port}"
    r = raw.request("PUT", "/", host=host)
    assert r.status == 200, r
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    r = raw.request("HEAD", "/", host=host)
    assert r.status == 200, r
    r = raw.request("GET", "/", query=[("location", None)], host=host)
    assert r.status == 200, r
    # the bare domain is the service endpoint
    r = raw.request("GET", "/", host=f"s3.local:{raw.port}")
    assert r.status == 200, r
    assert name in [xml_text(b, "Name") for b in xml_findall(r.xml(), "Bucket")]
    r = raw.request("DELETE", "/", host=host)
    assert r.status == 204, r
    with s3_error("404", 404):
        s3.head_bucket(Bucket=name)


def test_virtual_hosted_style_missing_bucket(raw):
    host = f"{unique_name('vhmissing')}.s3.local:{raw.port}"
    r = raw.request("GET", "/key", host=host)
    assert r.status == 404, r
    assert r.error_code == "NoSuchBucket"
    assert xml_find(r.xml(), "BucketName") is not None


# ---- load shapes ------------------------------------------------------------------------------

def test_many_concurrent_connections(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared", Body=b"shared body")
    conns = [raw.conn(timeout=30) for _ in range(200)]
    try:
        for i, c in enumerate(conns):
            if i % 2:
                c.send(raw.build("GET", key_path(bucket, "shared")))
            else:
                c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for i, c in enumerate(conns):
            r = c.read_response("GET")
            assert r.status == 200, (i, r)
            if i % 2:
                assert r.body == b"shared body"
        # all of them are still usable (keep-alive)
        for c in conns[::10]:
            c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert c.read_response("GET").status == 200
    finally:
        for c in conns:
            c.close()


def test_entity_too_large_rejected_before_body(raw, s3, bucket):
    path = key_path(bucket, "huge")
    size = 6 * 1024 ** 3  # over the 5 GiB single-PUT limit
    h = sign_headers("PUT", path, [], {"Host": raw.netloc, "Content-Length": str(size),
                                       "Expect": "100-continue"},
                     "UNSIGNED-PAYLOAD", DEFAULT).headers
    with raw.conn(timeout=10) as c:
        c.send(head_bytes("PUT", path, h))
        r = c.read_response("PUT")
    assert r.status == 400, r
    assert r.error_code == "EntityTooLarge", r
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="huge")
