"""Data-pipeline clients against the server: pyarrow's S3FileSystem (parquet dataset write and
read, a 40 MiB streamed multipart write), polars (write_parquet / scan_parquet over s3://),
s3fs + pandas (to_csv / read_csv, glob, recursive rm) and deltalake (appends, overwrite, time
travel, conditional-put commits).

The clients live in their own venv (.venv/pipelines, tests/e2e/install_pipelines.sh): s3fs's
aiobotocore pins an older botocore than the suite's boto3. Each test runs its client code in
that venv's python (the code below, configured as a user would: endpoint, keys, region, plain
http) and gets back JSON; what the client wrote is checked here again with boto3.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from s3helpers import DEFAULT, MiB, REGION, REPO_ROOT, det_bytes, md5_hex

HERE = Path(__file__).resolve().parent

# Shared by every client script: parameters in, one JSON result line out.
PRELUDE = """\
import json, os, sys
P = json.loads(sys.argv[1])
EP, AK, SK, B, REGION = P["endpoint"], P["access_key"], P["secret_key"], P["bucket"], P["region"]
def result(obj):
    sys.stdout.write("\\n@@RESULT@@" + json.dumps(obj) + "\\n")
    sys.stdout.flush()
    # Skip interpreter teardown: after deltalake's conflict errors, one of the native
    # libraries' threads sometimes aborts it ("terminate called without an active
    # exception", SIGABRT) after the result is out.
    os._exit(0)
"""


@pytest.fixture(scope="module")
def pipe_python() -> str:
    """The pipelines venv's python; runs the (idempotent) installer if run_e2e.sh did not."""
    venv = Path(os.environ.get("PIPELINES_VENV", REPO_ROOT / ".venv" / "pipelines"))
    script = HERE / "install_pipelines.sh"
    p = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=280)
    exe = venv / "bin" / "python"
    assert p.returncode == 0 and exe.exists(), (
        f"{script} failed (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return str(exe)


@pytest.fixture
def run_client(pipe_python, endpoint, bucket):
    """run_client(code, setup="", **params) -> the dict the script passed to result()."""

    def run(code: str, setup: str = "", timeout: float = 120, **params) -> dict:
        args = {"endpoint": endpoint, "access_key": DEFAULT.access_key,
                "secret_key": DEFAULT.secret_key, "bucket": bucket, "region": REGION,
                **params}
        # conftest.py has already removed the developer's AWS_* settings from os.environ.
        p = subprocess.run([pipe_python, "-c", PRELUDE + setup + textwrap.dedent(code),
                            json.dumps(args)],
                           capture_output=True, text=True, timeout=timeout)
        assert p.returncode == 0, (
            f"client script exited {p.returncode}\nstdout (tail):\n{p.stdout[-3000:]}\n"
            f"stderr (tail):\n{p.stderr[-5000:]}")
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("@@RESULT@@")]
        assert len(lines) == 1, f"no result from the client script:\n{p.stdout[-3000:]}"
        return json.loads(lines[0][len("@@RESULT@@"):])

    return run


def keys_under(s3, bucket: str, prefix: str = "") -> dict[str, int]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = o["Size"]
    return out


# ---- pyarrow ---------------------------------------------------------------------------------

# request_timeout: the C++ SDK's default cuts a request after 3 s without a byte; through a
# gateway a PUT answers only once the upstream has the bytes (Azurite / fake-gcs-server on a
# busy 2-core box: 3-6 s seen), and each cut request's retry then queues on the key's turn.
PYARROW_FS = """\
import pyarrow.fs as pafs
fs = pafs.S3FileSystem(access_key=AK, secret_key=SK, region=REGION,
                       endpoint_override=EP, scheme="http", request_timeout=30)
"""


def test_pyarrow_parquet_dataset(run_client, s3, bucket):
    n = 1000
    r = run_client(setup=PYARROW_FS, code="""
        import pyarrow as pa, pyarrow.dataset as ds, pyarrow.parquet as pq
        n = P["n"]
        table = pa.table({
            "id": pa.array(range(n), pa.int64()),
            "name": [f"row-{i}" for i in range(n)],
            "value": [i * 0.5 for i in range(n)],
            "part": [f"p{i % 4}" for i in range(n)],
        })
        ds.write_dataset(table, f"{B}/ds", format="parquet", filesystem=fs,
                         partitioning=["part"], partitioning_flavor="hive",
                         basename_template="chunk-{i}.parquet")
        pq.write_table(table, f"{B}/single/table.parquet", filesystem=fs, row_group_size=300)

        dataset = ds.dataset(f"{B}/ds", filesystem=fs, format="parquet", partitioning="hive")
        back = dataset.to_table().sort_by("id")
        single = pq.ParquetFile(f"{B}/single/table.parquet", filesystem=fs)
        result({
            "files": sorted(dataset.files),
            "rows": [back.column(c).to_pylist() for c in ("id", "name", "value", "part")],
            "p1_rows": dataset.count_rows(filter=ds.field("part") == "p1"),
            "high_ids": sorted(dataset.to_table(filter=ds.field("id") >= 990)
                               .column("id").to_pylist()),
            "single_rows": single.metadata.num_rows,
            "single_row_groups": single.metadata.num_row_groups,
            "single_equal": single.read().equals(table),
        })
    """, n=n)
    want_files = sorted(f"{bucket}/ds/part=p{p}/chunk-0.parquet" for p in range(4))
    assert r["files"] == want_files
    ids, names, values, parts = r["rows"]
    assert ids == list(range(n))
    assert names == [f"row-{i}" for i in range(n)]
    assert values == [i * 0.5 for i in range(n)]
    assert parts == [f"p{i % 4}" for i in range(n)]
    assert r["p1_rows"] == n // 4
    assert r["high_ids"] == list(range(990, 1000))
    assert (r["single_rows"], r["single_row_groups"], r["single_equal"]) == (n, 4, True)

    # What pyarrow stored, seen by boto3: the parquet files (PAR1 at both ends), and at most
    # empty "directory" markers besides them.
    listed = keys_under(s3, bucket)
    parquet = sorted(k for k in listed if k.endswith(".parquet"))
    assert parquet == sorted([f.split("/", 1)[1] for f in want_files] + ["single/table.parquet"])
    assert all(k.endswith("/") and size == 0 for k, size in listed.items() if k not in parquet)
    for k in parquet:
        body = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
        assert body[:4] == b"PAR1" and body[-4:] == b"PAR1" and len(body) == listed[k]


def test_pyarrow_streamed_40mib_write(run_client, s3, bucket):
    size, chunk = 40 * MiB, 1 * MiB
    r = run_client(setup=PYARROW_FS, code="""
        import hashlib, random
        size, chunk, key = P["size"], P["chunk"], P["key"]
        h = hashlib.sha256()
        # Written 1 MiB at a time: the output stream uploads parts as its buffer fills.
        with fs.open_output_stream(f"{B}/{key}") as out:
            for i in range(size // chunk):
                block = random.Random(f"bleepstore-pipe/{i}").randbytes(chunk)
                h.update(block)
                out.write(block)
        info = fs.get_file_info(f"{B}/{key}")
        with fs.open_input_file(f"{B}/{key}") as f:
            whole = hashlib.sha256(f.read()).hexdigest()
            middle = f.read_at(1000, size // 2 - 500).hex()
        result({"written": h.hexdigest(), "size": info.size, "read": whole, "middle": middle})
    """, size=size, chunk=chunk, key="stream/big.bin", timeout=180)
    want = b"".join(det_bytes(f"pipe/{i}", chunk) for i in range(size // chunk))
    assert r["size"] == size
    assert r["read"] == r["written"]
    assert bytes.fromhex(r["middle"]) == want[size // 2 - 500:size // 2 + 500]

    head = s3.head_object(Bucket=bucket, Key="stream/big.bin")
    assert head["ContentLength"] == size
    etag = head["ETag"].strip('"')
    assert "-" in etag and int(etag.rsplit("-", 1)[1]) >= 2, \
        f"expected a multipart upload, got ETag {etag}"
    body = s3.get_object(Bucket=bucket, Key="stream/big.bin")["Body"].read()
    assert md5_hex(body) == md5_hex(want)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


# ---- polars ----------------------------------------------------------------------------------

def test_polars_write_and_scan_parquet(run_client, s3, bucket):
    r = run_client("""
        import polars as pl
        so = {"aws_access_key_id": AK, "aws_secret_access_key": SK, "aws_region": REGION,
              "aws_endpoint_url": EP, "aws_allow_http": "true"}
        cities = ["Lyon", "Oslo", "Quito"]
        frames = []
        for f in range(3):
            ids = list(range(f * 100, f * 100 + 100))
            df = pl.DataFrame({"id": ids, "city": [cities[i % 3] for i in ids],
                               "temp": [i / 4 for i in ids]})
            df.write_parquet(f"s3://{B}/polars/year=2024/f{f}.parquet", storage_options=so)
            frames.append(df)
        lf = pl.scan_parquet(f"s3://{B}/polars/*/*.parquet", storage_options=so,
                             hive_partitioning=True)
        total = lf.select(pl.len()).collect().item()
        agg = (lf.filter(pl.col("id") % 2 == 0).group_by("city")
               .agg(pl.col("temp").sum(), pl.len().alias("n")).sort("city").collect())
        one = pl.read_parquet(f"s3://{B}/polars/year=2024/f1.parquet", storage_options=so)
        result({
            "total": total,
            "years": lf.select(pl.col("year").unique()).collect()["year"].to_list(),
            "agg": agg.rows(),
            "f1_equal": one.equals(frames[1]),
        })
    """)
    ids = range(300)
    assert r["total"] == 300
    assert r["years"] == [2024]
    want = []
    for c, city in enumerate(["Lyon", "Oslo", "Quito"]):
        sel = [i for i in ids if i % 2 == 0 and i % 3 == c]
        want.append([city, sum(i / 4 for i in sel), len(sel)])
    assert r["agg"] == want
    assert r["f1_equal"] is True
    listed = keys_under(s3, bucket, "polars/")
    assert sorted(listed) == [f"polars/year=2024/f{f}.parquet" for f in range(3)]
    assert all(size > 0 for size in listed.values())


# ---- s3fs + pandas ---------------------------------------------------------------------------

def test_s3fs_pandas_csv_glob_and_recursive_rm(run_client, s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep/other.csv", Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=bucket, Key="csvx/not-under-csv.csv", Body=b"a\n1\n")
    r = run_client("""
        import pandas as pd, s3fs
        so = {"key": AK, "secret": SK, "endpoint_url": EP,
              "client_kwargs": {"region_name": REGION}}
        fs = s3fs.S3FileSystem(**so)
        frames = {}
        for m in (1, 2, 3):
            for d in (1, 2):
                df = pd.DataFrame({"day": [f"2024-{m:02d}-{d:02d}"] * 5, "n": range(m * d, m * d + 5),
                                   "label": ["é-ü", "a,b", 'q"q', "", "x"]})
                path = f"{B}/csv/2024/{m:02d}/{d:02d}.csv"
                df.to_csv(f"s3://{path}", index=False, storage_options=so)
                frames[path] = df
        fs.pipe(f"{B}/csv/README.txt", b"not a csv")
        found = sorted(fs.glob(f"{B}/csv/**/*.csv"))
        month2 = sorted(fs.glob(f"{B}/csv/2024/02/*.csv"))
        same = all(pd.read_csv(f"s3://{p}", storage_options=so, keep_default_na=False)
                   .equals(frames[p]) for p in found)
        both = pd.concat(pd.read_csv(f"s3://{p}", storage_options=so) for p in found)
        fs.rm(f"{B}/csv", recursive=True)
        fs.invalidate_cache()
        result({"found": found, "month2": month2, "same": same, "rows": len(both),
                "n_sum": int(both["n"].sum()), "after": fs.find(f"{B}/csv"),
                "exists": fs.exists(f"{B}/csv/2024/01/01.csv")})
    """)
    want = [f"{bucket}/csv/2024/{m:02d}/{d:02d}.csv" for m in (1, 2, 3) for d in (1, 2)]
    assert r["found"] == want
    assert r["month2"] == [f"{bucket}/csv/2024/02/01.csv", f"{bucket}/csv/2024/02/02.csv"]
    assert r["same"] is True
    assert r["rows"] == 30
    assert r["n_sum"] == sum(m * d * 5 + 10 for m in (1, 2, 3) for d in (1, 2))
    assert r["after"] == [] and r["exists"] is False
    # The recursive rm really removed every key under csv/ and nothing else.
    assert sorted(keys_under(s3, bucket)) == ["csvx/not-under-csv.csv", "keep/other.csv"]


# ---- deltalake -------------------------------------------------------------------------------

DELTA = """\
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError
# conditional_put=etag: each commit is a PUT of _delta_log/<version>.json with
# If-None-Match: *, so of two writers racing for one version exactly one wins.
so = {"AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK, "AWS_REGION": REGION,
      "AWS_ENDPOINT_URL": EP, "AWS_ALLOW_HTTP": "true", "conditional_put": "etag"}
uri = f"s3://{B}/delta/events"
def batch(lo, hi):
    return pa.table({"id": pa.array(range(lo, hi), pa.int64()),
                     "kind": [f"k{i % 3}" for i in range(lo, hi)]})
def ids(dt):
    return sorted(dt.to_pyarrow_table().column("id").to_pylist())
"""


def test_deltalake_appends_overwrite_time_travel(run_client, s3, bucket):
    r = run_client(setup=DELTA, code="""
        write_deltalake(uri, batch(0, 100), mode="append", storage_options=so)    # v0
        write_deltalake(uri, batch(100, 150), mode="append", storage_options=so)  # v1
        write_deltalake(uri, batch(1000, 1010), mode="overwrite", storage_options=so)  # v2
        dt = DeltaTable(uri, storage_options=so)
        out = {"version": dt.version(), "now": ids(dt),
               "ops": [[h["operation"], h["operationParameters"]["mode"]]
                       for h in dt.history()],
               "files": dt.file_uris(),
               "v0": ids(DeltaTable(uri, version=0, storage_options=so))}
        dt.load_as_version(1)
        out["v1"] = ids(dt)
        out["v1_kinds"] = sorted(set(dt.to_pyarrow_table().column("kind").to_pylist()))
        result(out)
    """)
    assert r["version"] == 2
    assert r["now"] == list(range(1000, 1010))
    assert r["ops"] == [["WRITE", "Overwrite"], ["WRITE", "Append"], ["WRITE", "Append"]]
    assert r["v0"] == list(range(100))
    assert r["v1"] == list(range(150))
    assert r["v1_kinds"] == ["k0", "k1", "k2"]
    log = sorted(k for k in keys_under(s3, bucket, "delta/events/_delta_log/")
                 if k.endswith(".json"))
    assert log == [f"delta/events/_delta_log/{v:020d}.json" for v in range(3)]
    # The overwrite removed the older files only from the log (time travel reads them):
    # all three data files are still stored, and the current version names the newest.
    data = [k for k in keys_under(s3, bucket, "delta/events/") if k.endswith(".parquet")]
    assert len(data) == 3
    assert len(r["files"]) == 1 and r["files"][0].startswith(f"s3://{bucket}/delta/events/")
    assert r["files"][0].split(f"s3://{bucket}/", 1)[1] in data


def server_log_lines(needle: str) -> list[str]:
    """Access-log lines of the server under test that contain `needle` (ANSI colour removed)."""
    path = os.environ.get("BLEEPSTORE_SERVER_LOG")
    if not path:
        return []
    with open(path, "rb") as f:
        text = re.sub(r"\x1b\[[0-9;]*m", "", f.read().decode(errors="replace"))
    return [ln for ln in text.splitlines() if needle in ln]


def test_deltalake_concurrent_commits(run_client, s3, bucket):
    writers, rounds = 4, 5
    r = run_client(setup=DELTA, code="""
        import threading
        W, R = P["writers"], P["rounds"]
        write_deltalake(uri, batch(0, 10), mode="append", storage_options=so)     # v0
        # W writers append R times each, all at once: commits race for the same versions.
        # The loser's PUT of _delta_log/<v>.json is refused (412) and delta-rs retries it
        # as the next version; had the server let it overwrite, the winner's rows would be
        # silently lost.
        from deltalake import CommitProperties
        # A writer can lose to every other writer's commit: let it retry that often.
        retries = CommitProperties(max_commit_retries=W * R)
        start, errors = threading.Barrier(W), []
        def writer(w):
            start.wait()
            for i in range(R):
                lo = 100 * (w + 1) + i
                try:
                    write_deltalake(uri, batch(lo, lo + 1), mode="append", storage_options=so,
                                    commit_properties=retries)
                except Exception as e:
                    errors.append(repr(e))
        threads = [threading.Thread(target=writer, args=(w,)) for w in range(W)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out = {"errors": errors, "after_appends": DeltaTable(uri, storage_options=so).version()}
        # Two deletes from the same file, both planned on the same version: the second
        # finds its file already removed by the first and is refused.
        c = DeltaTable(uri, storage_options=so)
        d = DeltaTable(uri, storage_options=so)
        c.delete("id < 5")
        try:
            d.delete("id == 7")
            out["conflict"] = None
        except CommitFailedError as e:
            out["conflict"] = str(e)
        final = DeltaTable(uri, storage_options=so)
        out["version"] = final.version()
        out["ids"] = ids(final)
        result(out)
    """, writers=writers, rounds=rounds)
    commits = writers * rounds
    assert r["errors"] == []
    assert r["after_appends"] == commits
    assert r["conflict"] is not None, "the conflicting delete was committed"
    assert r["version"] == commits + 1
    appended = [100 * (w + 1) + i for w in range(writers) for i in range(rounds)]
    assert r["ids"] == sorted(list(range(5, 10)) + appended)
    log = sorted(k for k in keys_under(s3, bucket, "delta/events/_delta_log/")
                 if k.endswith(".json"))
    assert log == [f"delta/events/_delta_log/{v:020d}.json" for v in range(commits + 2)]
    if os.environ.get("BLEEPSTORE_SERVER_LOG"):
        # The race really happened: some commit PUTs (If-None-Match: *) were refused.
        refused = [ln for ln in server_log_lines(f"/{bucket}/delta/events/_delta_log/")
                   if 'method="PUT"' in ln and "status=412" in ln]
        assert refused, "no commit collided; the race was not exercised"
