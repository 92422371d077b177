"""Observability: /metrics counts exactly what was sent, the health probes, /openapi.json
(valid, complete, every documented path answers as documented), /docs (Swagger UI rendered
by headless Chromium with every host but 127.0.0.1 unresolvable) and schemathesis against
the document (unsigned requests only: operational endpoints and S3's 403/404/501 answers).

Tools: Chromium from Debian (tests/e2e/install_chromium.sh) and schemathesis in its own
venv (tests/e2e/install_schemathesis.sh). run_e2e.sh should run both scripts; when it did
not, the tests run them (they are idempotent) rather than skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from s3helpers import REPO_ROOT, strip_ns, unique_name

HERE = Path(__file__).resolve().parent
ARTIFACTS = REPO_ROOT / "target" / "e2e-observe"
NOT_IMPLEMENTED_TAG = "Not implemented (501)"


def get(endpoint: str, path: str, **kw) -> requests.Response:
    return requests.get(endpoint + path, timeout=30, **kw)


@pytest.fixture(scope="module")
def spec(endpoint) -> dict:
    r = get(endpoint, "/openapi.json")
    assert r.status_code == 200, r.text[:500]
    return r.json()


# ---- /metrics ---------------------------------------------------------------------------

def scrape(endpoint: str) -> dict[str, list]:
    """Metric families by name, parsed by prometheus_client (so the format is checked too)."""
    r = get(endpoint, "/metrics")
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def sample_value(families, sample_name: str, **labels) -> float:
    family = sample_name.removesuffix("_total").removesuffix("_count").removesuffix("_sum")
    f = families.get(family)
    if f is None:
        return 0.0
    want = {k: str(v) for k, v in labels.items()}
    return sum(s.value for s in f.samples if s.name == sample_name and s.labels == want)


def test_metrics_count_exactly_the_workload(endpoint, s3, bucket):
    n_put, n_get, n_missing = 7, 5, 3
    expected = {  # (method, operation, status) -> requests sent
        ("PUT", "PutObject", 200): n_put,
        ("GET", "GetObject", 200): n_get,
        ("GET", "GetObject", 404): n_missing,
    }

    def counts(families):
        out = {}
        for (m, op, st) in expected:
            out[("http", m, op, st)] = sample_value(
                families, "bleepstore_http_requests_total", method=m, operation=op, status=st)
            out[("ops", m, op, st)] = sample_value(
                families, "bleepstore_s3_operations_total", operation=op, status=st)
        for op in ("PutObject", "GetObject"):
            out[("latency", op)] = sample_value(
                families, "bleepstore_http_request_duration_seconds_count", operation=op)
        return out

    before = counts(scrape(endpoint))
    for i in range(n_put):
        s3.put_object(Bucket=bucket, Key=f"metrics/{i}", Body=b"x" * (100 * i))
    for i in range(n_get):
        s3.get_object(Bucket=bucket, Key=f"metrics/{i}")["Body"].read()
    for i in range(n_missing):
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key=f"metrics/missing-{i}")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    want = {}
    for (m, op, st), n in expected.items():
        want[("http", m, op, st)] = before[("http", m, op, st)] + n
        want[("ops", m, op, st)] = before[("ops", m, op, st)] + n
    want[("latency", "PutObject")] = before[("latency", "PutObject")] + n_put
    want[("latency", "GetObject")] = before[("latency", "GetObject")] + n_get + n_missing

    # A request is counted when its response has been written, which can be a moment
    # after the client has read it: wait briefly for the last ones, then demand equality.
    deadline = time.monotonic() + 5
    while True:
        families = scrape(endpoint)
        after = counts(families)
        if all(after[k] >= v for k, v in want.items()) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    diffs = {k: (after[k] - before[k], want[k] - before[k]) for k in want if after[k] != want[k]}
    assert not diffs, f"counter increase (got, sent) differs: {diffs}"

    # Histograms: cumulative buckets never decrease, +Inf equals _count.
    histograms = [f for f in families.values() if f.type == "histogram"]
    assert {"bleepstore_http_request_duration_seconds", "bleepstore_http_request_size_bytes",
            "bleepstore_http_response_size_bytes"} <= {f.name for f in histograms}
    for f in histograms:
        series = defaultdict(list)
        totals = {}
        for s in f.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            if s.name.endswith("_bucket"):
                series[labels].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                totals[labels] = s.value
        assert series, f.name
        for labels, buckets in series.items():
            buckets.sort()
            values = [v for _, v in buckets]
            assert values == sorted(values), f"{f.name}{dict(labels)} buckets decrease: {buckets}"
            assert buckets[-1][0] == float("inf"), f"{f.name}{dict(labels)} has no +Inf bucket"
            assert buckets[-1][1] == totals[labels], f"{f.name}{dict(labels)}: +Inf != _count"

    for name in ("process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds",
                 "process_start_time_seconds"):
        assert name in families, f"{name} missing"
        assert families[name].samples[0].value > 0, name


# ---- health probes ------------------------------------------------------------------------

def test_health_probes(endpoint):
    r = get(endpoint, "/healthz")
    assert (r.status_code, r.text) == (200, "ok\n")
    r = get(endpoint, "/readyz")
    assert (r.status_code, r.text) == (200, "ready\n")
    r = get(endpoint, "/health")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    h = r.json()
    assert h["status"] == "ok" and h["ready"] is True
    shards = h["metadata"]
    assert shards, "no metadata shard reported"
    assert sorted(s["shard"] for s in shards) == list(range(len(shards)))
    assert all(s["status"] == "ok" for s in shards), shards
    assert h["storage"]["status"] == "ok"


# ---- /openapi.json ------------------------------------------------------------------------

def test_openapi_document_is_complete(spec):
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"] and spec["info"]["version"]
    ops = {o["operationId"]: (m, p) for p, item in spec["paths"].items() for m, o in item.items()}
    for name in ("ListBuckets", "CreateBucket", "ListObjectsV2", "PutObject", "CopyObject",
                 "GetObject", "HeadObject", "DeleteObjects", "CreateMultipartUpload",
                 "UploadPart", "UploadPartCopy", "CompleteMultipartUpload", "ListParts",
                 "GetBucketPolicy", "PostObject", "Healthz", "Metrics", "OpenApi", "Docs"):
        assert name in ops, name
    assert ops["ListObjectsV2"] == ("get", "/{bucket}?list-type=2")
    assert ops["CompleteMultipartUpload"] == ("post", "/{bucket}/{key}")
    schemes = spec["components"]["securitySchemes"]
    assert schemes["sigv4"] == {**schemes["sigv4"], "type": "apiKey", "in": "header",
                                "name": "Authorization"}
    assert schemes["sigv4Presigned"]["in"] == "query"
    err = spec["components"]["schemas"]["Error"]
    assert err["xml"]["name"] == "Error" and {"Code", "Message"} <= set(err["required"])


def test_operational_paths_answer(endpoint, spec):
    tested = 0
    for path, item in spec["paths"].items():
        op = item.get("get")
        if not op or op.get("security") is None or "{bucket}" in path:
            continue  # S3 operations carry the global SigV4 security; these override it
        urls = [path]
        if "{asset}" in path:
            enum = next(p for p in op["parameters"] if p["name"] == "asset")["schema"]["enum"]
            urls = [path.replace("{asset}", a) for a in enum]
        for u in urls:
            r = get(endpoint, u)
            assert r.status_code == 200, (u, r.status_code, r.text[:300])
            documented = set(op["responses"]["200"].get("content", {}))
            ctype = r.headers["content-type"].split(";")[0]
            assert ctype in documented, (u, ctype, documented)
            tested += 1
    assert tested >= 7
    r = get(endpoint, "/docs/swagger-ui-bundle.js?v=x")
    assert "max-age=31536000" in r.headers["cache-control"]
    assert "connect-src 'self'" in get(endpoint, "/docs").headers["content-security-policy"]


def sample_request(path: str, op: dict) -> tuple[str, dict, dict]:
    """URL path+query and headers for an unsigned request to a documented S3 operation."""
    bucket = unique_name("nobucket")
    url = path.replace("{bucket}", bucket).replace("{key}", "dir/sub/key.txt")
    query, headers = {}, {}
    for p in op.get("parameters", []):
        if "$ref" in p or not p.get("required") or p["in"] == "path":
            continue
        (query if p["in"] == "query" else headers)[p["name"]] = str(p["example"])
    if query:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
    return url, headers, op["responses"]


def test_every_s3_operation_answers_unsigned_requests_as_documented(endpoint, spec):
    """No credentials, no such bucket: each S3 operation must answer one of its documented
    statuses with a well-formed S3 error document (501 for the unimplemented ones)."""
    count = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if op.get("security") is not None:
                continue  # operational
            url, headers, responses = sample_request(path, op)
            body = b"<x/>" if "requestBody" in op else None
            r = requests.request(method.upper(), endpoint + url, headers=headers, data=body,
                                 timeout=30)
            assert str(r.status_code) in responses, (op["operationId"], r.status_code, r.text)
            assert r.status_code >= 400, (op["operationId"], r.status_code)
            assert r.headers.get("x-amz-request-id"), op["operationId"]
            if NOT_IMPLEMENTED_TAG in op["tags"]:
                assert r.status_code == 501, (op["operationId"], r.status_code)
            if method == "head":
                assert r.content == b""
                continue
            assert r.headers["content-type"] == "application/xml", op["operationId"]
            root = ET.fromstring(r.content)
            assert strip_ns(root.tag) == "Error"
            assert root.findtext("Code") and root.findtext("Message") is not None
            count += 1
    assert count >= 80


# ---- /docs in headless Chromium -------------------------------------------------------------

def chromium_binary() -> str:
    exe = shutil.which("chromium")
    if exe:
        return exe
    script = HERE / "install_chromium.sh"
    p = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=270)
    exe = shutil.which("chromium")
    assert exe, (f"chromium is not installed and {script} could not install it "
                 f"(exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return exe


def run_chromium(exe: str, profile: Path, url: str, *mode: str) -> subprocess.CompletedProcess:
    cmd = [
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions",
        "--disable-default-apps", "--hide-scrollbars", "--mute-audio",
        # Every host name but the server's address resolves to nothing: the page can only
        # work if everything it needs comes from the server.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}", "--window-size=1280,2000",
        "--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0", *mode, url,
    ]
    return subprocess.run(cmd, capture_output=True, timeout=120)


def console_problems(stderr: bytes) -> list[str]:
    lines = stderr.decode(errors="replace").splitlines()
    return [ln for ln in lines if ":CONSOLE" in ln
            and re.search(r"Uncaught|Refused|Failed to|ERR_|error", ln, re.I)]


def test_docs_render_offline_in_chromium(endpoint, spec, tmp_path):
    exe = chromium_binary()
    url = endpoint + "/docs"
    assert urllib.parse.urlsplit(endpoint).hostname == "127.0.0.1"

    dom = run_chromium(exe, tmp_path / "profile-dom", url, "--dump-dom")
    html = dom.stdout.decode(errors="replace")
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-3000:]
    # Operation ids are only in the DOM if Swagger UI loaded, fetched /openapi.json and
    # rendered it: the page as served has none.
    rendered = set(re.findall(r'class="opblock-summary-operation-id"[^>]*>([^<]+)<', html))
    documented = {o["operationId"] for item in spec["paths"].values() for o in item.values()}
    for name in ("ListObjectsV2", "PutObject", "CompleteMultipartUpload", "GetBucketPolicy",
                 "Healthz"):
        assert name in rendered, f"{name} not rendered; DOM starts {html[:1500]!r}"
    assert rendered == documented, (documented - rendered, rendered - documented)
    assert "BleepStore S3 API" in html
    problems = console_problems(dom.stderr)
    assert not problems, problems

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / "docs.png"
    png.unlink(missing_ok=True)
    shot = run_chromium(exe, tmp_path / "profile-shot", url, f"--screenshot={png}")
    assert shot.returncode == 0 and png.exists(), shot.stderr.decode(errors="replace")[-3000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 2000)
    assert len(data) > 50_000, "screenshot looks blank"  # a rendered page is ~300 KB


# ---- schemathesis ------------------------------------------------------------------------------

def schemathesis_binary() -> str:
    venv = Path(os.environ.get("SCHEMATHESIS_VENV", REPO_ROOT / ".venv" / "schemathesis"))
    script = HERE / "install_schemathesis.sh"
    p = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=270)
    exe = venv / "bin" / "schemathesis"
    assert p.returncode == 0 and exe.exists(), (
        f"{script} failed (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return str(exe)


SCHEMATHESIS_CONFIG = """\
# 501 NotImplemented is a deliberate, well-formed S3 answer (unimplemented operations,
# unsupported Transfer-Encoding, and the router's PostObject for POSTs it does not know),
# documented on every S3 operation; any other 5xx is a server error.
[checks.not_a_server_error]
expected-statuses = ["1xx", "2xx", "3xx", "4xx", "501"]

# Half of the generated requests use a public-read bucket holding one public-read object, so
# anonymous 200/206/304 answers (listings, GET, HEAD, ranges) are checked too, not only
# errors. Nothing is signed: schemathesis cannot compute SigV4, so writes answer 403.
[dictionaries.buckets]
values = ["{bucket}"]

[dictionaries.keys]
values = ["{key}"]

[parameters]
"path.bucket" = {{ dictionary = "buckets", probability = 0.5 }}
"path.key" = {{ dictionary = "keys", probability = 0.5 }}
"""


def test_schemathesis(endpoint, s3, bucket_factory, spec, tmp_path):
    exe = schemathesis_binary()
    public = bucket_factory("st-public", ACL="public-read")
    key = "photos/2024/cat.jpg"
    s3.put_object(Bucket=public, Key=key, Body=bytes(range(256)) * 8, ACL="public-read",
                  ContentType="image/jpeg")
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG.format(bucket=public, key=key))
    seed = os.environ.get("BLEEPSTORE_SCHEMATHESIS_SEED", "20251125")
    max_examples = os.environ.get("BLEEPSTORE_SCHEMATHESIS_EXAMPLES", "10")
    junit = tmp_path / "junit.xml"
    cmd = [
        exe, "--no-color", "--config-file", str(config), "run", endpoint + "/openapi.json",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                    "response_headers_conformance,response_schema_conformance",
        "--mode", "all", "--max-examples", max_examples, "--seed", seed,
        # One worker: with several threads, CPython 3.11's ast module (which hypothesis uses
        # to describe strategies) can fail with "AST constructor recursion depth mismatch".
        "--workers", "1", "--request-timeout", "20", "--max-failures", "20",
        "--suppress-health-check", "all",
        "--report", "junit", "--report-junit-path", str(junit), "--report-dir", str(tmp_path),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    env.update(NO_COLOR="1", TERM="dumb")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=150, cwd=tmp_path, env=env)
    out = p.stdout + p.stderr
    if p.returncode != 0:
        start = min([i for i in (out.find("= FAILURES ="), out.find("= ERRORS =")) if i >= 0],
                    default=0)
        pytest.fail(f"schemathesis failed (exit {p.returncode}); summary:\n{out[:1500]}\n...\n"
                    f"{out[start:start + 8000]}\n...\n{out[-2500:]}", pytrace=False)
    # Every documented operation was exercised (schemathesis leaves out the document's own
    # path, /openapi.json).
    tested = ET.parse(junit).getroot().iter("testcase")
    names = {tc.get("name") for tc in tested}
    documented = sum(len(item) for item in spec["paths"].values())
    assert len(names) >= documented - 1, (len(names), documented, out[-3000:])
