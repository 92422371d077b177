"""Third-party S3 clients against the server: rclone (copy, sync, check, lsf, delete,
purge) and s3cmd (mb, put, get, ls, del, rb), each with a generated configuration file.

Round trips are compared by sha256, file by file, over a tree of ~200 files with nested
directories and awkward names (spaces, '+', '%', '&', '=', unicode). The expectations
are what AWS S3 does, not what this server happens to do.

The tools come from Debian (tests/e2e/install_tools.sh); if one is missing the
installer is run once, and a tool that is still missing fails the test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from s3helpers import (DEFAULT, MiB, REGION, det_bytes, file_sha256, multipart_etag,
                       s3_error, unique_name)

HERE = Path(__file__).resolve().parent
INSTALLER = HERE / "install_tools.sh"


# --------------------------------------------------------------------------------------
# Tools and their configuration
# --------------------------------------------------------------------------------------

def ensure_tools(*names: str) -> None:
    if all(shutil.which(n) for n in names):
        return
    p = subprocess.run(["bash", str(INSTALLER)], capture_output=True, text=True, timeout=900)
    missing = [n for n in names if not shutil.which(n)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed and {INSTALLER} could not install "
                    f"them (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")


def clean_env(home: Path) -> dict:
    """The caller's environment minus anything that would steer the tools elsewhere
    (AWS_* such as AWS_CA_BUNDLE breaks rclone's plain-HTTP transport; RCLONE_*)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "RCLONE_", "S3CMD"))}
    env["HOME"] = str(home)
    env["LC_ALL"] = "C.UTF-8"
    env["LANG"] = "C.UTF-8"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


class Tool:
    def __init__(self, argv0: list[str], env: dict):
        self.argv0 = argv0
        self.env = env

    def run(self, *args, check: bool = True, timeout: float = 600, cwd=None):
        cmd = [*self.argv0, *[str(a) for a in args]]
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True,
                           timeout=timeout, cwd=cwd)
        if check and p.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {p.returncode}\n"
                f"stdout (tail):\n{p.stdout[-3000:]}\nstderr (tail):\n{p.stderr[-3000:]}")
        return p

    __call__ = run


def rclone_tool(endpoint: str, home: Path) -> Tool:
    conf = home / "rclone.conf"
    conf.write_text(
        "[bs]\n"
        "type = s3\n"
        "provider = Other\n"
        f"endpoint = {endpoint}\n"
        f"access_key_id = {DEFAULT.access_key}\n"
        f"secret_access_key = {DEFAULT.secret_key}\n"
        f"region = {REGION}\n"
        "force_path_style = true\n"
    )
    # no retries: every failure the server causes must show, not be papered over
    return Tool(["rclone", "--config", str(conf), "--retries", "1", "--low-level-retries", "1",
                 "--contimeout", "10s", "--timeout", "60s"], clean_env(home))


def s3cmd_tool(endpoint: str, home: Path) -> Tool:
    hostport = endpoint.split("://", 1)[1]
    cfg = home / "s3cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {DEFAULT.access_key}\n"
        f"secret_key = {DEFAULT.secret_key}\n"
        f"host_base = {hostport}\n"
        # no %(bucket)s in host_bucket: path-style requests
        f"host_bucket = {hostport}\n"
        f"bucket_location = {REGION}\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "check_ssl_certificate = False\n"
        "progress_meter = False\n"
        "max_retries = 1\n"
        "socket_timeout = 60\n"
        "guess_mime_type = False\n"
    )
    return Tool(["s3cmd", "-c", str(cfg), "--no-progress"], clean_env(home))


@pytest.fixture(scope="module")
def tools_home(tmp_path_factory):
    return tmp_path_factory.mktemp("tools-home")


@pytest.fixture(scope="module")
def rclone(endpoint, tools_home):
    ensure_tools("rclone")
    return rclone_tool(endpoint, tools_home)


@pytest.fixture(scope="module")
def s3cmd(endpoint, tools_home):
    ensure_tools("s3cmd")
    return s3cmd_tool(endpoint, tools_home)


# --------------------------------------------------------------------------------------
# A tree of awkwardly named files
# --------------------------------------------------------------------------------------

DIRS = [
    "",
    "plain",
    "plain/deeper",
    "plain/deeper/and deeper",
    "with space",
    "with space/in+plus",
    "ünïcödé",
    "ünïcödé/日本語",
    "ünïcödé/日本語/emoji 🎉",
    "percent%20not-escaped",
    "a&b=c",
    "x/y/z/w/v",
]
STEMS = [
    "file", "two words", "a+b", "c++", "100%", "caf\u00e9", "na\u00efve r\u00e9sum\u00e9",
    "\u0444\u0430\u0439\u043b", "\u6587\u4ef6", "smile \U0001F600", "q=1&r=2", "tilde~",
    "(paren)", "comma,semi;colon", "dash-under_dot.", "@at", "'quote'", "UPPER lower",
]
EXTS = [".txt", ".bin", "", ".tar.gz", ".json"]
# mostly small, some straddling the 64 KiB inline threshold, a few larger
SIZES = [0, 1, 2, 17, 100, 512, 1000, 4096, 4097, 10_000, 65_535, 65_536, 65_537,
         100_000, 300_000, 1 * MiB + 3]


def tree_spec(n: int = 200, seed: str = "tree") -> dict[str, int]:
    """relative path -> size; names are NFC so no tool renormalizes them."""
    import random
    rng = random.Random(seed)
    out: dict[str, int] = {}
    i = 0
    while len(out) < n:
        d = DIRS[i % len(DIRS)]
        stem = STEMS[(i * 7) % len(STEMS)]
        name = f"{stem} {i:03d}{EXTS[i % len(EXTS)]}"
        rel = unicodedata.normalize("NFC", f"{d}/{name}" if d else name)
        size = SIZES[rng.randrange(len(SIZES))] if i % 4 else rng.randrange(0, 3000)
        out[rel] = size
        i += 1
    return out


def write_tree(root: Path, spec: dict[str, int], seed: str = "tree") -> dict[str, str]:
    """Writes the tree; returns relative path -> sha256."""
    shas = {}
    for rel, size in spec.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        data = det_bytes(f"{seed}/{rel}", size)
        p.write_bytes(data)
        shas[rel] = hashlib.sha256(data).hexdigest()
    return shas


def tree_shas(root: Path) -> dict[str, str]:
    out = {}
    for p in root.rglob("*"):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = file_sha256(p)
    return out


def remote_objects(s3, bucket: str, prefix: str = "") -> dict[str, dict]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = o
    return out


def remote_sha(s3, bucket: str, key: str) -> str:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    h = hashlib.sha256()
    for chunk in body.iter_chunks(1 * MiB):
        h.update(chunk)
    return h.hexdigest()


def assert_same_tree(want: dict[str, str], got: dict[str, str], what: str):
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    differ = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    assert not (missing or extra or differ), (
        f"{what}: {len(missing)} missing {missing[:5]}, {len(extra)} unexpected {extra[:5]}, "
        f"{len(differ)} with other bytes {differ[:5]}")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree") / "src"
    spec = tree_spec()
    shas = write_tree(root, spec)
    return root, spec, shas


# --------------------------------------------------------------------------------------
# rclone
# --------------------------------------------------------------------------------------

def test_rclone_copy_lsf_check_roundtrip(rclone, s3, bucket, tree, workdir):
    root, spec, shas = tree
    assert len(spec) == 200
    rclone("copy", root, f"bs:{bucket}/up")

    # every file is an object under the prefix, with its exact size and S3 ETag
    objs = remote_objects(s3, bucket, "up/")
    assert sorted(objs) == sorted("up/" + rel for rel in spec)
    for rel, size in spec.items():
        o = objs["up/" + rel]
        assert o["Size"] == size, rel
        data = (root / rel).read_bytes()
        assert o["ETag"] == f'"{hashlib.md5(data).hexdigest()}"', rel

    # lsf -R lists the files (and the implied directories) by their exact names
    p = rclone("lsf", "-R", "--files-only", f"bs:{bucket}/up")
    assert sorted(p.stdout.splitlines()) == sorted(spec)
    p = rclone("lsf", "-R", "--dirs-only", f"bs:{bucket}/up")
    want_dirs = set()
    for rel in spec:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            want_dirs.add("/".join(parts[:i]) + "/")
    assert sorted(p.stdout.splitlines()) == sorted(want_dirs)
    p = rclone("lsf", "--format", "ps", "--separator", "\t", "-R", "--files-only",
               f"bs:{bucket}/up")
    listed = dict(line.rsplit("\t", 1) for line in p.stdout.splitlines())
    assert {k: int(v) for k, v in listed.items()} == spec

    # check: sizes and MD5s (the ETags) agree with the local files
    p = rclone("check", root, f"bs:{bucket}/up")
    assert "0 differences found" in p.stderr, p.stderr[-2000:]
    assert f"{len(spec)} matching files" in p.stderr, p.stderr[-2000:]
    p = rclone("check", "--download", root, f"bs:{bucket}/up")
    assert "0 differences found" in p.stderr, p.stderr[-2000:]

    # and back down, byte-identical
    down = workdir / "down"
    rclone("copy", f"bs:{bucket}/up", down)
    assert_same_tree(shas, tree_shas(down), "rclone copy down")


def test_rclone_check_sees_a_changed_object(rclone, s3, bucket, workdir):
    src = workdir / "src"
    (src / "d").mkdir(parents=True)
    for i in range(5):
        (src / "d" / f"f {i}.bin").write_bytes(det_bytes(f"chk{i}", 5000 + i))
    rclone("copy", src, f"bs:{bucket}")
    assert "0 differences found" in rclone("check", src, f"bs:{bucket}").stderr
    # same size, other bytes, behind rclone's back: the MD5 (ETag) must change
    s3.put_object(Bucket=bucket, Key="d/f 2.bin", Body=det_bytes("other", 5002))
    p = rclone("check", src, f"bs:{bucket}", check=False)
    assert p.returncode != 0
    assert "1 differences found" in p.stderr, p.stderr[-2000:]
    assert "f 2.bin" in p.stderr
    # a missing object is a difference too
    s3.delete_object(Bucket=bucket, Key="d/f 4.bin")
    p = rclone("check", src, f"bs:{bucket}", check=False)
    assert p.returncode != 0
    assert "2 differences found" in p.stderr, p.stderr[-2000:]


def test_rclone_multipart_upload(rclone, s3, bucket, workdir):
    """rclone switches to multipart above --s3-upload-cutoff; 5 MiB chunks here."""
    src = workdir / "mp"
    src.mkdir()
    size = 17 * MiB + 12345
    data = det_bytes("rclone-mp", size)
    (src / "big file+1.bin").write_bytes(data)
    rclone("copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M",
           "--s3-upload-concurrency", "4", src, f"bs:{bucket}/mp")
    head = s3.head_object(Bucket=bucket, Key="mp/big file+1.bin")
    assert head["ContentLength"] == size
    chunks = [data[i:i + 5 * MiB] for i in range(0, size, 5 * MiB)]
    assert head["ETag"] == multipart_etag(chunks)
    assert remote_sha(s3, bucket, "mp/big file+1.bin") == hashlib.sha256(data).hexdigest()
    p = rclone("check", src, f"bs:{bucket}/mp")
    assert "0 differences found" in p.stderr, p.stderr[-2000:]
    down = workdir / "mp-down"
    rclone("copy", f"bs:{bucket}/mp", down)
    assert file_sha256(down / "big file+1.bin") == hashlib.sha256(data).hexdigest()


def test_rclone_sync_delete_purge(rclone, s3, bucket_factory, tree, workdir):
    bucket = bucket_factory("rcsync")
    root, spec, _ = tree
    local = workdir / "local"
    shutil.copytree(root, local)
    rclone("sync", local, f"bs:{bucket}")
    assert sorted(remote_objects(s3, bucket)) == sorted(spec)

    # change the local side: drop some files, rewrite some, add some
    rels = sorted(spec)
    removed = rels[::9]
    changed = rels[4::11]
    added = ["new dir/new file 1.txt", "ünïcödé/new + 2.bin", "plain/deeper/new%3.json"]
    for r in removed:
        (local / r).unlink()
    for r in changed:
        if r not in removed:
            (local / r).write_bytes(det_bytes(f"changed/{r}", 7777))
    for r in added:
        (local / r).parent.mkdir(parents=True, exist_ok=True)
        (local / r).write_bytes(det_bytes(f"added/{r}", 3333))
    want = tree_shas(local)
    rclone("sync", local, f"bs:{bucket}")

    objs = remote_objects(s3, bucket)
    assert sorted(objs) == sorted(want)
    got = {k: remote_sha(s3, bucket, k) for k in objs}
    assert_same_tree(want, got, "after rclone sync")
    assert "0 differences found" in rclone("check", local, f"bs:{bucket}").stderr

    # sync from the bucket into a fresh directory mirrors it exactly
    mirror = workdir / "mirror"
    (mirror / "stale").mkdir(parents=True)
    (mirror / "stale" / "gone.txt").write_bytes(b"not in the bucket")
    rclone("sync", f"bs:{bucket}", mirror)
    assert_same_tree(want, tree_shas(mirror), "rclone sync down")

    # delete with a filter removes exactly the matching objects
    rclone("delete", "--include", "ünïcödé/**", f"bs:{bucket}")
    left = remote_objects(s3, bucket)
    assert sorted(left) == sorted(k for k in want if not k.startswith("ünïcödé/"))
    # deletefile of one awkward key
    victim = next(k for k in left if "+" in k)
    rclone("deletefile", f"bs:{bucket}/{victim}")
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key=victim)

    # purge of the bucket root removes every object and the bucket itself
    rclone("purge", f"bs:{bucket}")
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=bucket)
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_rclone_mkdir_rmdir_bucket(rclone, s3, bucket_factory):
    name = unique_name("rcmk")
    bucket_factory.track(name)
    rclone("mkdir", f"bs:{name}")
    s3.head_bucket(Bucket=name)
    assert f"{name}/" in rclone("lsf", "bs:").stdout.splitlines()
    s3.put_object(Bucket=name, Key="k", Body=b"v")
    # rmdir of a non-empty bucket fails (BucketNotEmpty) and leaves it alone
    p = rclone("rmdir", f"bs:{name}", check=False)
    assert p.returncode != 0
    s3.head_bucket(Bucket=name)
    s3.delete_object(Bucket=name, Key="k")
    rclone("rmdir", f"bs:{name}")
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)


# --------------------------------------------------------------------------------------
# s3cmd
# --------------------------------------------------------------------------------------

def test_s3cmd_bucket_and_object_lifecycle(s3cmd, s3, bucket_factory, workdir):
    name = unique_name("s3cmd")
    bucket_factory.track(name)
    p = s3cmd("mb", f"s3://{name}")
    assert f"Bucket 's3://{name}/' created" in p.stdout
    s3.head_bucket(Bucket=name)
    assert f"s3://{name}" in s3cmd("ls").stdout
    # creating it again: AWS answers BucketAlreadyOwnedByYou (409) outside us-east-1 and
    # 200 in us-east-1; either way the bucket stays and is still ours
    s3cmd("mb", f"s3://{name}", check=False)
    s3.head_bucket(Bucket=name)

    files = {
        "hello.txt": det_bytes("s3cmd-hello", 1234),
        "with space + plus.bin": det_bytes("s3cmd-sp", 70_000),
        "caf\u00e9 \u6587\u4ef6.dat": det_bytes("s3cmd-uni", 0),
        "100%=sure&ok.json": det_bytes("s3cmd-pct", 65_536),
    }
    for fname, data in files.items():
        (workdir / fname).write_bytes(data)
        key = f"dir/{fname}"
        p = s3cmd("put", workdir / fname, f"s3://{name}/{key}")
        assert "upload:" in p.stdout, p.stdout
        head = s3.head_object(Bucket=name, Key=key)
        assert head["ContentLength"] == len(data)
        assert head["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'

    # ls: one line per object with its size and full s3:// name
    p = s3cmd("ls", f"s3://{name}/dir/")
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    assert len(lines) == len(files), p.stdout
    for fname, data in files.items():
        line = next((ln for ln in lines if ln.endswith(f"s3://{name}/dir/{fname}")), None)
        assert line is not None, (fname, p.stdout)
        assert line.split()[2] == str(len(data)), line
    # a non-recursive ls of the root shows the common prefix, not the objects
    p = s3cmd("ls", f"s3://{name}/")
    assert "DIR" in p.stdout and f"s3://{name}/dir/" in p.stdout
    assert "hello.txt" not in p.stdout

    # get: byte-identical
    for fname, data in files.items():
        out = workdir / f"got-{hashlib.md5(fname.encode()).hexdigest()}"
        s3cmd("get", f"s3://{name}/dir/{fname}", out)
        assert file_sha256(out) == hashlib.sha256(data).hexdigest(), fname

    # rb of a non-empty bucket fails (BucketNotEmpty) and leaves everything
    p = s3cmd("rb", f"s3://{name}", check=False)
    assert p.returncode != 0
    assert "BucketNotEmpty" in p.stderr + p.stdout
    assert len(remote_objects(s3, name)) == len(files)

    # del one object, then the rest, then rb
    s3cmd("del", f"s3://{name}/dir/hello.txt")
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=name, Key="dir/hello.txt")
    p = s3cmd("get", f"s3://{name}/dir/hello.txt", workdir / "nope", check=False)
    assert p.returncode != 0
    s3cmd("del", "--recursive", "--force", f"s3://{name}/dir/")
    assert remote_objects(s3, name) == {}
    p = s3cmd("rb", f"s3://{name}")
    assert f"Bucket 's3://{name}/' removed" in p.stdout
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)
    # rb of a bucket that does not exist fails
    assert s3cmd("rb", f"s3://{name}", check=False).returncode != 0


def test_s3cmd_recursive_tree_roundtrip(s3cmd, s3, bucket, tree, workdir):
    root, spec, shas = tree
    s3cmd("put", "--recursive", f"{root}/", f"s3://{bucket}/t/")
    objs = remote_objects(s3, bucket, "t/")
    assert sorted(objs) == sorted("t/" + r for r in spec)
    for rel, size in spec.items():
        assert objs["t/" + rel]["Size"] == size, rel
    p = s3cmd("ls", "--recursive", f"s3://{bucket}/t/")
    names = sorted(ln.split(f"s3://{bucket}/t/", 1)[1] for ln in p.stdout.splitlines()
                   if f"s3://{bucket}/t/" in ln)
    assert names == sorted(spec)
    down = workdir / "down"
    down.mkdir()
    s3cmd("get", "--recursive", f"s3://{bucket}/t/", f"{down}/")
    assert_same_tree(shas, tree_shas(down), "s3cmd get --recursive")
    s3cmd("del", "--recursive", "--force", f"s3://{bucket}/t/")
    assert remote_objects(s3, bucket) == {}


def test_s3cmd_multipart_put_get(s3cmd, s3, bucket, workdir):
    """s3cmd uploads in parts above --multipart-chunk-size-mb (5 MiB here)."""
    size = 12 * MiB + 777
    data = det_bytes("s3cmd-mp", size)
    src = workdir / "big one.bin"
    src.write_bytes(data)
    s3cmd("put", "--multipart-chunk-size-mb=5", src, f"s3://{bucket}/mp/big one.bin")
    head = s3.head_object(Bucket=bucket, Key="mp/big one.bin")
    assert head["ContentLength"] == size
    chunks = [data[i:i + 5 * MiB] for i in range(0, size, 5 * MiB)]
    assert head["ETag"] == multipart_etag(chunks)
    out = workdir / "back.bin"
    s3cmd("get", f"s3://{bucket}/mp/big one.bin", out)
    assert file_sha256(out) == hashlib.sha256(data).hexdigest()
    # nothing left in progress
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
