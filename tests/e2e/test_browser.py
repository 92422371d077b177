"""Browser uploads and CORS in a real browser (issue 18): headless Chromium (Debian's, see
install_chromium.sh) loads pages served from ANOTHER origin (a small python http.server on
http://localhost:<port>, while the server is http://127.0.0.1:<port>):

1. an HTML form POST upload (policy and SigV4 signature computed here) that the browser
   submits; the server answers 303 to the page's origin with bucket, key and etag;
2. fetch() PUT with a presigned URL, then fetch() GET of it (both need CORS: a preflight for
   the PUT, Access-Control-Allow-Origin to read the GET);
3. the same page from an origin the bucket's CORS rules do not allow (127.0.0.2): its
   fetches fail, the page reports it, and nothing is written.

Objects are read back with boto3 and their bytes compared."""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import html
import json
import re
import shutil
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from s3helpers import (DEFAULT, REGION, free_port, key_path, md5_hex, presign_url, s3_error,
                       signing_key)

HERE = Path(__file__).resolve().parent


def chromium_binary() -> str:
    exe = shutil.which("chromium")
    if exe:
        return exe
    script = HERE / "install_chromium.sh"
    p = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=270)
    exe = shutil.which("chromium")
    if not exe:
        pytest.skip(f"chromium could not be installed (exit {p.returncode}): {p.stderr[-500:]}")
    return exe


def run_chromium(exe: str, profile: Path, url: str) -> str:
    cmd = [
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions",
        "--disable-default-apps", "--mute-audio", f"--user-data-dir={profile}",
        "--virtual-time-budget=15000", "--dump-dom", url,
    ]
    p = subprocess.run(cmd, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-3000:]
    return p.stdout.decode(errors="replace")


class Pages:
    """A tiny web server for the test's pages; records the requests it gets."""

    def __init__(self):
        self.pages: dict[str, str] = {}
        self.seen: list[str] = []
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                pages.seen.append(self.path)
                path = urllib.parse.urlsplit(self.path).path
                if path == "/done":
                    q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                    body = "<html><body><pre id='done'>" + html.escape(json.dumps(
                        {k: v[0] for k, v in q.items()})) + "</pre></body></html>"
                elif path in pages.pages:
                    body = pages.pages[path]
                else:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.port = free_port()
        self.httpd = ThreadingHTTPServer(("0.0.0.0", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def pages():
    p = Pages()
    yield p
    p.close()


def iso(offset_s: int) -> str:
    t = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=offset_s)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def form_page(endpoint: str, bucket: str, key: str, redirect: str, content: str) -> str:
    now = _dt.datetime.now(_dt.timezone.utc)
    date, amz_date = now.strftime("%Y%m%d"), now.strftime("%Y%m%dT%H%M%SZ")
    credential = f"{DEFAULT.access_key}/{date}/{REGION}/s3/aws4_request"
    policy = {"expiration": iso(600), "conditions": [
        {"bucket": bucket}, ["starts-with", "$key", "browser/"],
        {"success_action_redirect": redirect}, ["starts-with", "$Content-Type", "text/"],
        {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": credential},
        {"x-amz-date": amz_date}, ["content-length-range", 1, 1048576]]}
    b64 = base64.b64encode(json.dumps(policy).encode()).decode()
    sig = hmac.new(signing_key(DEFAULT.secret_key, date), b64.encode(),
                   hashlib.sha256).hexdigest()
    fields = [("key", key), ("success_action_redirect", redirect),
              ("Content-Type", "text/plain"), ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
              ("x-amz-credential", credential), ("x-amz-date", amz_date), ("policy", b64),
              ("x-amz-signature", sig)]
    inputs = "\n".join(f'<input type="hidden" name="{html.escape(n)}" value="{html.escape(v)}">'
                       for n, v in fields)
    return f"""<!doctype html><html><body>
<form id="f" action="{endpoint}/{bucket}" method="post" enctype="multipart/form-data">
{inputs}
<input type="file" name="file" id="file">
</form>
<script>
const dt = new DataTransfer();
dt.items.add(new File([{json.dumps(content)}], "from-browser.txt", {{type: "text/plain"}}));
document.getElementById("file").files = dt.files;
document.getElementById("f").submit();
</script></body></html>"""


def fetch_page(put_url: str, get_url: str, content: str) -> str:
    return f"""<!doctype html><html><body><pre id="out">running</pre>
<script>
(async () => {{
  const out = document.getElementById("out");
  try {{
    const put = await fetch({json.dumps(put_url)}, {{method: "PUT", body: {json.dumps(content)}}});
    const etag = put.headers.get("ETag");
    const got = await fetch({json.dumps(get_url)});
    const text = await got.text();
    out.textContent = "OK " + JSON.stringify({{put: put.status, etag: etag, get: got.status, text: text}});
  }} catch (e) {{
    out.textContent = "FAIL " + e.name + ": " + e.message;
  }}
}})();
</script></body></html>"""


def result_of(dom: str, element: str) -> str:
    m = re.search(rf'<pre id="{element}">(.*?)</pre>', dom, re.S)
    assert m, f"no #{element} in the page: {dom[:2000]!r}"
    return html.unescape(m.group(1))


def test_browser_form_post_and_cors_fetches(endpoint, s3, bucket, pages, tmp_path):
    exe = chromium_binary()
    assert urllib.parse.urlsplit(endpoint).hostname == "127.0.0.1"
    page_origin = f"http://localhost:{pages.port}"
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": [page_origin], "AllowedMethods": ["GET", "PUT", "POST"],
        "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60}]})

    # 1. The HTML form upload, submitted by the browser, redirected back to the page's origin.
    content = "uploaded by a real browser form \u2713"
    key = "browser/form.txt"
    pages.pages["/form.html"] = form_page(endpoint, bucket, key, page_origin + "/done", content)
    dom = run_chromium(exe, tmp_path / "profile-form", page_origin + "/form.html")
    done = json.loads(result_of(dom, "done"))
    want_etag = f"\"{md5_hex(content.encode())}\""
    assert done == {"bucket": bucket, "key": key, "etag": want_etag}, dom[:2000]
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == content.encode()
    assert got["ContentType"] == "text/plain"

    # 2. fetch() PUT with a presigned URL, then fetch() GET, from the allowed origin.
    fkey = "browser/fetch.txt"
    # SigV4 presigned URLs (host signed only): the browser adds its own Content-Type.
    put_url = presign_url(endpoint, "PUT", key_path(bucket, fkey), DEFAULT, 600)
    get_url = presign_url(endpoint, "GET", key_path(bucket, fkey), DEFAULT, 600)
    fcontent = "put by fetch() across origins"
    pages.pages["/fetch.html"] = fetch_page(put_url, get_url, fcontent)
    dom = run_chromium(exe, tmp_path / "profile-fetch", page_origin + "/fetch.html")
    out = result_of(dom, "out")
    assert out.startswith("OK "), out
    res = json.loads(out[3:])
    assert res == {"put": 200, "etag": f"\"{md5_hex(fcontent.encode())}\"", "get": 200,
                   "text": fcontent}, res
    assert s3.get_object(Bucket=bucket, Key=fkey)["Body"].read() == fcontent.encode()

    # 3. The same page from an origin no rule allows: the preflight is refused, the fetch
    # fails, nothing is written.
    bkey = "browser/blocked.txt"
    # SigV4 presigned URLs (host signed only): the browser adds its own Content-Type.
    put_url = presign_url(endpoint, "PUT", key_path(bucket, bkey), DEFAULT, 600)
    get_url = presign_url(endpoint, "GET", key_path(bucket, bkey), DEFAULT, 600)
    pages.pages["/blocked.html"] = fetch_page(put_url, get_url, "must not arrive")
    dom = run_chromium(exe, tmp_path / "profile-blocked",
                       f"http://127.0.0.2:{pages.port}/blocked.html")
    out = result_of(dom, "out")
    assert out.startswith("FAIL TypeError"), out
    with s3_error(status=404):
        s3.head_object(Bucket=bucket, Key=bkey)
