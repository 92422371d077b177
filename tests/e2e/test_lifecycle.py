"""Bucket lifecycle (issue 17): Put/Get/DeleteBucketLifecycleConfiguration with every
refusal AWS gives, and the worker that applies the rules: expiration of current objects
(unversioned: removed; versioned: a delete marker), noncurrent version expiration keeping
NewerNoncurrentVersions, expired delete marker cleanup, aborting incomplete uploads,
prefix / tag / size filters, disabled rules, the metrics, and kill -9 in the middle of a
pass.

The tests run their own server with `lifecycle.day_s: 1` (a lifecycle "day" is one
second, due times not rounded to midnight) so rules act within seconds; every wait polls
a condition with a deadline."""

from __future__ import annotations

import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from s3helpers import DEFAULT, Raw, ServerInstance, make_client, md5_b64, s3_error, unique_name

DAY_S = 1
WAIT_S = 30.0


@pytest.fixture(scope="module")
def lc_server(tmp_path_factory):
    inst = ServerInstance(tmp_path_factory.mktemp("lifecycle-server"),
                          config_overrides={"lifecycle": {"day_s": DAY_S}})
    inst.start()
    yield inst
    inst.stop()
    assert not inst.panics(), inst.panics()


@pytest.fixture(scope="module")
def c(lc_server):
    return make_client(lc_server.endpoint, DEFAULT)


@pytest.fixture
def b(c):
    name = unique_name("lc")
    c.create_bucket(Bucket=name)
    return name


def metrics(endpoint: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{endpoint}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("bleepstore_lifecycle_"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def wait_for(cond, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # poll interval


def wait_passes(endpoint: str, n: int = 2, after: float | None = None):
    """Waits until `n` more passes (summed over the cores) have finished, all started
    after the time `after` (monotonic) when given: a rule due by then has been applied."""
    if after is not None:
        wait_for(lambda: time.monotonic() >= after, "the due time")
    start = metrics(endpoint)["bleepstore_lifecycle_passes_total"]
    wait_for(lambda: metrics(endpoint)["bleepstore_lifecycle_passes_total"] >= start + n,
             f"{n} lifecycle passes")


def keys(c, bucket, prefix="") -> list[str]:
    r = c.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in r.get("Contents", [])]


def versions(c, bucket, key):
    r = c.list_object_versions(Bucket=bucket, Prefix=key)
    vs = [(v["VersionId"], v["IsLatest"]) for v in r.get("Versions", []) if v["Key"] == key]
    ms = [(m["VersionId"], m["IsLatest"]) for m in r.get("DeleteMarkers", []) if m["Key"] == key]
    return vs, ms


def put_rules(c, bucket, *rules):
    c.put_bucket_lifecycle_configuration(Bucket=bucket,
                                         LifecycleConfiguration={"Rules": list(rules)})


def expire_rule(filt: dict, days: int = 1, rid: str | None = None, status="Enabled") -> dict:
    r = {"Status": status, "Filter": filt, "Expiration": {"Days": days}}
    if rid:
        r["ID"] = rid
    return r


# ---- configuration ------------------------------------------------------------------------

def test_config_round_trip(c, b):
    with s3_error("NoSuchLifecycleConfiguration", 404):
        c.get_bucket_lifecycle_configuration(Bucket=b)
    rules = [
        {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
         "Expiration": {"Days": 30}},
        {"ID": "tagged", "Status": "Disabled",
         "Filter": {"And": {"Prefix": "p/", "Tags": [{"Key": "k", "Value": "v"}],
                            "ObjectSizeGreaterThan": 10, "ObjectSizeLessThan": 1000}},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 5, "NewerNoncurrentVersions": 2}},
        {"ID": "uploads", "Status": "Enabled", "Filter": {},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
         "Expiration": {"ExpiredObjectDeleteMarker": True}},
        {"ID": "tag", "Status": "Enabled", "Filter": {"Tag": {"Key": "a", "Value": "b"}},
         "Expiration": {"Date": "2031-01-01T00:00:00Z"}},
        {"ID": "size", "Status": "Enabled", "Filter": {"ObjectSizeLessThan": 5},
         "Expiration": {"Days": 1}},
    ]
    put_rules(c, b, *rules)
    got = c.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
    assert [r["ID"] for r in got] == ["logs", "tagged", "uploads", "tag", "size"]
    assert got[0]["Filter"] == {"Prefix": "logs/"} and got[0]["Expiration"] == {"Days": 30}
    assert got[1]["Status"] == "Disabled"
    assert got[1]["Filter"]["And"] == rules[1]["Filter"]["And"]
    assert got[1]["NoncurrentVersionExpiration"] == rules[1]["NoncurrentVersionExpiration"]
    assert got[2]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert got[2]["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    assert got[3]["Filter"] == {"Tag": {"Key": "a", "Value": "b"}}
    assert got[3]["Expiration"]["Date"].isoformat().startswith("2031-01-01T00:00:00")
    assert got[4]["Filter"] == {"ObjectSizeLessThan": 5}
    # the legacy top-level Prefix form
    c.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
        {"ID": "legacy", "Status": "Enabled", "Prefix": "old/", "Expiration": {"Days": 2}}]})
    got = c.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
    assert got == [{"ID": "legacy", "Status": "Enabled", "Prefix": "old/",
                    "Expiration": {"Days": 2}}]
    r = c.delete_bucket_lifecycle(Bucket=b)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error("NoSuchLifecycleConfiguration", 404):
        c.get_bucket_lifecycle_configuration(Bucket=b)
    # deleting again is fine
    c.delete_bucket_lifecycle(Bucket=b)


def test_rules_without_an_id_get_one(c, b):
    # AWS makes up a unique ID for a rule that has none; GetBucketLifecycle returns it.
    put_rules(c, b, expire_rule({"Prefix": "a/"}), expire_rule({"Prefix": "b/"}, rid="named"),
              expire_rule({"Prefix": "c/"}))
    got = c.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
    ids = [r.get("ID", "") for r in got]
    assert ids[1] == "named"
    assert ids[0] and ids[2] and len(set(ids)) == 3, ids
    assert all(len(i) <= 255 for i in ids)
    assert [r["Filter"] for r in got] == [{"Prefix": "a/"}, {"Prefix": "b/"}, {"Prefix": "c/"}]
    # Stored with the rules: read again, the same IDs.
    assert [r["ID"] for r in c.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]] == ids


def test_config_belongs_to_the_owner(lc_server, c, b):
    from s3helpers import ALICE
    alice = make_client(lc_server.endpoint, ALICE)
    with s3_error("AccessDenied", 403):
        alice.get_bucket_lifecycle_configuration(Bucket=b)
    with s3_error("AccessDenied", 403):
        put_rules(alice, b, expire_rule({}))
    with s3_error("NoSuchBucket", 404):
        c.get_bucket_lifecycle_configuration(Bucket=unique_name("absent"))


def refusal(c, b, rules, code, status=400, message=None):
    with s3_error(code, status) as e:
        put_rules(c, b, *rules)
    if message is not None:
        assert e.exc.response["Error"]["Message"] == message


def test_validation_refusals(c, b):
    ok = expire_rule({})
    refusal(c, b, [dict(ok, ID="x" * 256)], "InvalidArgument",
            message="ID length should not exceed allowed limit of 255")
    refusal(c, b, [dict(ok, ID="same"), dict(ok, ID="same")], "InvalidArgument",
            message="Rule ID must be unique. Found same ID for more than one rule")
    refusal(c, b, [{"ID": "none", "Status": "Enabled", "Filter": {}}], "InvalidRequest",
            message="At least one action needs to be specified in a rule")
    refusal(c, b, [expire_rule({}, days=0)], "InvalidArgument",
            message="'Days' for Expiration action must be a positive integer")
    refusal(c, b, [expire_rule({}, days=-3)], "InvalidArgument")
    refusal(c, b, [{"Status": "Enabled", "Filter": {},
                    "Expiration": {"Date": "2031-01-01T12:00:00Z"}}], "InvalidArgument",
            message="'Date' must be at midnight GMT")
    refusal(c, b, [{"Status": "Enabled", "Filter": {},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 0}}], "InvalidArgument")
    refusal(c, b, [{"Status": "Enabled", "Filter": {},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 1,
                                                    "NewerNoncurrentVersions": 101}}],
            "InvalidArgument")
    refusal(c, b, [{"Status": "Enabled", "Filter": {},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 0}}],
            "InvalidArgument")
    refusal(c, b, [{"Status": "Enabled", "Filter": {"Tag": {"Key": "a", "Value": "b"}},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}],
            "InvalidRequest", message="AbortIncompleteMultipartUpload cannot be specified with Tags.")
    refusal(c, b, [{"Status": "Enabled", "Filter": {"Tag": {"Key": "a", "Value": "b"}},
                    "Expiration": {"ExpiredObjectDeleteMarker": True}}], "InvalidRequest")
    refusal(c, b, [{"Status": "Enabled", "Filter": {"And": {
        "ObjectSizeGreaterThan": 10, "ObjectSizeLessThan": 10}}, "Expiration": {"Days": 1}}],
        "InvalidRequest")
    refusal(c, b, [{"Status": "Enabled", "Filter": {},
                    "Expiration": {"Days": 1, "ExpiredObjectDeleteMarker": True}}],
            "MalformedXML")
    refusal(c, b, [{"Status": "Enabled", "Filter": {"Tag": {"Key": "aws:x", "Value": "b"}},
                    "Expiration": {"Days": 1}}], "InvalidTag")
    refusal(c, b, [dict(ok, ID=f"r{i}") for i in range(1001)], "InvalidRequest")
    # transitions: one storage class here
    refusal(c, b, [{"Status": "Enabled", "Filter": {},
                    "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}],
            "NotImplemented", status=501)
    refusal(c, b, [{"Status": "Enabled", "Filter": {},
                    "NoncurrentVersionTransitions": [{"NoncurrentDays": 30,
                                                      "StorageClass": "GLACIER"}]}],
            "NotImplemented", status=501)
    # nothing was stored by any of those
    with s3_error("NoSuchLifecycleConfiguration", 404):
        c.get_bucket_lifecycle_configuration(Bucket=b)


def raw_put(lc_server, bucket: str, body: bytes, md5: bool = True):
    headers = {"Content-Type": "application/xml"}
    if md5:
        headers["Content-MD5"] = md5_b64(body)
    return Raw(lc_server.endpoint).request("PUT", f"/{bucket}", [("lifecycle", "")],
                                           headers=headers, body=body)


def test_malformed_bodies_and_integrity_header(lc_server, c, b):
    rule = (b"<Rule><ID>r</ID><Status>Enabled</Status><Filter/>"
            b"<Expiration><Days>1</Days></Expiration></Rule>")
    good = b"<LifecycleConfiguration>" + rule + b"</LifecycleConfiguration>"
    r = raw_put(lc_server, b, good, md5=False)
    assert (r.status, r.error_code) == (400, "InvalidRequest")
    for bad in [
        b"<LifecycleConfiguration></LifecycleConfiguration>",
        b"<Other>" + rule + b"</Other>",
        b"<LifecycleConfiguration><Rule><Status>Maybe</Status><Filter/>"
        b"<Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>",
        b"<LifecycleConfiguration><Rule><Status>Enabled</Status>"
        b"<Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>",
        b"<LifecycleConfiguration><Rule><Status>Enabled</Status><Prefix>a</Prefix><Filter/>"
        b"<Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>",
        b"<LifecycleConfiguration><Rule><Status>Enabled</Status><Filter><Prefix>a</Prefix>"
        b"<ObjectSizeLessThan>5</ObjectSizeLessThan></Filter>"
        b"<Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>",
        b"<LifecycleConfiguration><Rule><Status>Enabled</Status><Filter/>"
        b"<Expiration><Days>soon</Days></Expiration></Rule></LifecycleConfiguration>",
        b"<LifecycleConfiguration>" + rule,
    ]:
        r = raw_put(lc_server, b, bad)
        assert (r.status, r.error_code) == (400, "MalformedXML"), bad
    r = raw_put(lc_server, b, b"<LifecycleConfiguration><Rule><Status>Enabled</Status><Filter/>"
                b"<Expiration><Date>next week</Date></Expiration></Rule></LifecycleConfiguration>")
    assert (r.status, r.error_code) == (400, "InvalidArgument")
    big = b"<LifecycleConfiguration>" + b" " * (1024 * 1024) + rule + b"</LifecycleConfiguration>"
    r = raw_put(lc_server, b, big)
    assert r.status == 400 and r.error_code in ("MaxMessageLengthExceeded", "MalformedXML")
    r = raw_put(lc_server, b, good)
    assert r.status == 200
    assert c.get_bucket_lifecycle_configuration(Bucket=b)["Rules"][0]["ID"] == "r"


# ---- the worker ---------------------------------------------------------------------------

def test_expiration_in_an_unversioned_bucket(lc_server, c, b):
    before = metrics(lc_server.endpoint)
    for k in ["exp/a", "exp/b/c", "keep/a", "expx"]:
        c.put_object(Bucket=b, Key=k, Body=b"data")
    put_rules(c, b, expire_rule({"Prefix": "exp/"}))
    wait_for(lambda: keys(c, b, "exp/") == [], "exp/ objects to expire")
    assert keys(c, b) == ["expx", "keep/a"]
    after = metrics(lc_server.endpoint)
    assert (after["bleepstore_lifecycle_objects_expired_total"]
            >= before["bleepstore_lifecycle_objects_expired_total"] + 2)
    assert after["bleepstore_lifecycle_pass_seconds_total"] > 0
    # a new object under the prefix is expired in its turn, a day after it was written
    c.put_object(Bucket=b, Key="exp/new", Body=b"n")
    wait_for(lambda: keys(c, b, "exp/") == [], "the new object to expire")


def test_expiration_in_a_versioned_bucket_adds_a_marker(lc_server, c, b):
    c.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    vid = c.put_object(Bucket=b, Key="k", Body=b"v1")["VersionId"]
    put_rules(c, b, expire_rule({}))

    def marked():
        vs, ms = versions(c, b, "k")
        return ms and ms[0][1] and vs == [(vid, False)]
    wait_for(marked, "a delete marker over the expired version")
    # the version is still there, only hidden
    assert c.get_object(Bucket=b, Key="k", VersionId=vid)["Body"].read() == b"v1"
    with s3_error("NoSuchKey", 404):
        c.get_object(Bucket=b, Key="k")
    # one marker only: a marker is not expired again
    wait_passes(lc_server.endpoint)
    vs, ms = versions(c, b, "k")
    assert len(ms) == 1


def test_noncurrent_expiration_keeps_newer_noncurrent_versions(lc_server, c, b):
    c.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    ids = [c.put_object(Bucket=b, Key="k", Body=f"v{i}".encode())["VersionId"] for i in range(5)]
    other = [c.put_object(Bucket=b, Key="other/k", Body=f"o{i}".encode())["VersionId"]
             for i in range(2)]
    before = metrics(lc_server.endpoint)
    put_rules(c, b, {"ID": "nc", "Status": "Enabled", "Filter": {"Prefix": "k"},
                     "NoncurrentVersionExpiration": {"NoncurrentDays": 1,
                                                     "NewerNoncurrentVersions": 2}})
    want = [(ids[4], True), (ids[3], False), (ids[2], False)]
    wait_for(lambda: versions(c, b, "k")[0] == want, "the two oldest versions to go")
    # the current version is untouched, and keys outside the filter keep every version
    assert c.get_object(Bucket=b, Key="k")["Body"].read() == b"v4"
    assert versions(c, b, "other/k")[0] == [(other[1], True), (other[0], False)]
    after = metrics(lc_server.endpoint)
    assert (after["bleepstore_lifecycle_noncurrent_versions_expired_total"]
            >= before["bleepstore_lifecycle_noncurrent_versions_expired_total"] + 2)
    wait_passes(lc_server.endpoint)
    assert versions(c, b, "k")[0] == want


def test_noncurrent_expiration_removes_noncurrent_delete_markers(lc_server, c, b):
    # AWS's NoncurrentVersionExpiration removes noncurrent delete markers too.
    c.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    history = {}
    for key in ("n/k", "o/k"):
        c.put_object(Bucket=b, Key=key, Body=b"one")
        marker = c.delete_object(Bucket=b, Key=key)["VersionId"]
        latest = c.put_object(Bucket=b, Key=key, Body=b"two")["VersionId"]
        history[key] = (marker, latest)
    before = metrics(lc_server.endpoint)
    put_rules(c, b, {"ID": "nc", "Status": "Enabled", "Filter": {"Prefix": "n/"},
                     "NoncurrentVersionExpiration": {"NoncurrentDays": 1}})
    want = ([(history["n/k"][1], True)], [])
    wait_for(lambda: versions(c, b, "n/k") == want, "the noncurrent version and marker to go")
    after = metrics(lc_server.endpoint)
    assert (after["bleepstore_lifecycle_delete_markers_removed_total"]
            >= before["bleepstore_lifecycle_delete_markers_removed_total"] + 1)
    assert c.get_object(Bucket=b, Key="n/k")["Body"].read() == b"two"
    # outside the filter the marker stays
    vs, ms = versions(c, b, "o/k")
    assert len(vs) == 2 and ms == [(history["o/k"][0], False)]


def test_expired_delete_marker_cleanup(lc_server, c, b):
    c.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    # "alone": a marker is its only version; "kept": a marker over an older version
    vid = c.put_object(Bucket=b, Key="alone", Body=b"a")["VersionId"]
    c.delete_object(Bucket=b, Key="alone")
    c.delete_object(Bucket=b, Key="alone", VersionId=vid)
    c.put_object(Bucket=b, Key="kept", Body=b"k")
    c.delete_object(Bucket=b, Key="kept")
    assert versions(c, b, "alone")[1] and not versions(c, b, "alone")[0]
    before = metrics(lc_server.endpoint)
    put_rules(c, b, {"ID": "m", "Status": "Enabled", "Filter": {},
                     "Expiration": {"ExpiredObjectDeleteMarker": True}})
    wait_for(lambda: versions(c, b, "alone") == ([], []), "the sole marker to go")
    vs, ms = versions(c, b, "kept")
    assert len(vs) == 1 and len(ms) == 1
    after = metrics(lc_server.endpoint)
    assert (after["bleepstore_lifecycle_delete_markers_removed_total"]
            >= before["bleepstore_lifecycle_delete_markers_removed_total"] + 1)


def test_abort_incomplete_multipart_upload(lc_server, c, b):
    old = c.create_multipart_upload(Bucket=b, Key="up/a")["UploadId"]
    c.upload_part(Bucket=b, Key="up/a", UploadId=old, PartNumber=1, Body=b"x" * 1024)
    outside = c.create_multipart_upload(Bucket=b, Key="other")["UploadId"]
    before = metrics(lc_server.endpoint)
    put_rules(c, b, {"ID": "abort", "Status": "Enabled", "Filter": {"Prefix": "up/"},
                     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}})

    def uploads():
        return [u["UploadId"] for u in c.list_multipart_uploads(Bucket=b).get("Uploads", [])]
    wait_for(lambda: uploads() == [outside], "the upload under up/ to be aborted")
    with s3_error("NoSuchUpload", 404):
        c.list_parts(Bucket=b, Key="up/a", UploadId=old)
    after = metrics(lc_server.endpoint)
    assert (after["bleepstore_lifecycle_uploads_aborted_total"]
            >= before["bleepstore_lifecycle_uploads_aborted_total"] + 1)
    c.abort_multipart_upload(Bucket=b, Key="other", UploadId=outside)


def test_filters_by_tag_and_size(lc_server, c, b):
    c.put_object(Bucket=b, Key="t/yes", Body=b"1", Tagging="team=red&x=1")
    c.put_object(Bucket=b, Key="t/no", Body=b"1", Tagging="team=blue")
    c.put_object(Bucket=b, Key="t/none", Body=b"1")
    c.put_object(Bucket=b, Key="s/big", Body=b"x" * 200)
    c.put_object(Bucket=b, Key="s/small", Body=b"x" * 10)
    c.put_object(Bucket=b, Key="a/both", Body=b"x" * 50, Tagging="k=v")
    c.put_object(Bucket=b, Key="a/untagged", Body=b"x" * 50)
    c.put_object(Bucket=b, Key="a/toolarge", Body=b"x" * 500, Tagging="k=v")
    put_rules(
        c, b,
        expire_rule({"Tag": {"Key": "team", "Value": "red"}}, rid="tag"),
        expire_rule({"And": {"Prefix": "s/", "ObjectSizeGreaterThan": 100}}, rid="size"),
        expire_rule({"And": {"Prefix": "a/", "Tags": [{"Key": "k", "Value": "v"}],
                             "ObjectSizeLessThan": 100}}, rid="and"),
    )
    t0 = time.monotonic()
    wait_for(lambda: not ({"t/yes", "s/big", "a/both"} & set(keys(c, b))),
             "the selected objects to expire")
    wait_passes(lc_server.endpoint, after=t0 + 2 * DAY_S)
    assert keys(c, b) == ["a/toolarge", "a/untagged", "s/small", "t/no", "t/none"]


def test_disabled_rules_do_nothing(lc_server, c, b):
    c.put_object(Bucket=b, Key="k", Body=b"stay")
    put_rules(c, b, expire_rule({}, rid="off", status="Disabled"))
    t0 = time.monotonic()
    wait_passes(lc_server.endpoint, n=3, after=t0 + 3 * DAY_S)
    assert keys(c, b) == ["k"]
    # enabling it expires the object
    put_rules(c, b, expire_rule({}, rid="on"))
    wait_for(lambda: keys(c, b) == [], "the object to expire once the rule is enabled")


# ---- kill -9 in the middle of a pass ------------------------------------------------------

def test_kill9_mid_pass_removes_only_selected_objects(server_factory):
    srv = server_factory(config_overrides={"lifecycle": {
        "day_s": DAY_S, "batch_max": 4, "batch_pause_ms": 40}}).start()
    c = make_client(srv.endpoint, DEFAULT, max_pool_connections=32)
    b = "lc-crash"
    c.create_bucket(Bucket=b)
    n_exp, n_keep = 240, 60

    def put(k):
        c.put_object(Bucket=b, Key=k, Body=f"body of {k}".encode())
    exp = [f"exp/{i:04d}" for i in range(n_exp)]
    keep = [f"keep/{i:04d}" for i in range(n_keep)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, exp + keep))
    put_rules(c, b, expire_rule({"Prefix": "exp/"}))
    # kill as soon as the pass has committed some batches, long before all 60
    at_kill = wait_for(
        lambda: metrics(srv.endpoint)["bleepstore_lifecycle_objects_expired_total"] or None,
        "the pass to start expiring")
    srv.kill9()
    assert 0 < at_kill < n_exp, f"the kill came after the pass ({at_kill} expired)"
    srv.start()
    c = make_client(srv.endpoint, DEFAULT)
    # the restarted worker completes the job

    def remaining():
        p = c.get_paginator("list_objects_v2").paginate(Bucket=b, Prefix="exp/")
        return sum(len(page.get("Contents", [])) for page in p)
    wait_for(lambda: remaining() == 0, "the restarted pass to finish", timeout=90)
    listed = []
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=b):
        listed += [o["Key"] for o in page.get("Contents", [])]
    assert listed == keep
    for k in keep[::7]:
        assert c.get_object(Bucket=b, Key=k)["Body"].read() == f"body of {k}".encode()
