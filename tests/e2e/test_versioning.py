"""Versioning: bucket state, versions on PUT / copy / multipart, GET/HEAD/DELETE by version
id, delete markers, ListObjectVersions paging, suspended buckets' null version,
DeleteObjects with versions, and the refusals."""

import hashlib

from s3helpers import s3_error


def enable(s3, bucket, status="Enabled"):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


def hdrs(resp) -> dict:
    return resp["ResponseMetadata"]["HTTPHeaders"]


def versions_of(s3, bucket, **kw):
    r = s3.list_object_versions(Bucket=bucket, **kw)
    return r, r.get("Versions", []), r.get("DeleteMarkers", [])


# ---- Put/GetBucketVersioning ------------------------------------------------------------

def test_bucket_versioning_state(s3, bucket):
    r = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in r
    enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    enable(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_bucket_versioning_refusals(s3, s3_bob, bucket):
    with s3_error("NotImplemented", 501):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={
            "Status": "Enabled", "MFADelete": "Enabled"}, MFA="serial 123456")
    with s3_error("MalformedXML", 400):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "On"})
    with s3_error("AccessDenied", 403):
        s3_bob.put_bucket_versioning(Bucket=bucket,
                                     VersioningConfiguration={"Status": "Enabled"})
    with s3_error("NoSuchBucket", 404):
        s3.get_bucket_versioning(Bucket=bucket + "-absent")
    # Nothing refused changed the state.
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_malformed_versioning_body(s3, raw, bucket):
    r = raw.request("PUT", "/" + bucket, query=[("versioning", None)],
                    body=b"<VersioningConfiguration>")
    assert r.status == 400 and b"MalformedXML" in r.body


# ---- versions, GET/HEAD by id, delete markers --------------------------------------------

def test_put_get_head_by_version(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v0")  # before versioning: the null version
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"v2")["VersionId"]
    assert v1 and v2 and v1 != v2 and "null" not in (v1, v2)
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"v2" and got["VersionId"] == v2
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"v1"
    old = s3.get_object(Bucket=bucket, Key="k", VersionId="null")
    assert old["Body"].read() == b"v0" and old["VersionId"] == "null"
    head = s3.head_object(Bucket=bucket, Key="k", VersionId=v1)
    assert head["VersionId"] == v1 and head["ContentLength"] == 2
    # ListObjectsV2 shows the current version only.
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("k", 2)]
    assert listed[0]["ETag"] == '"%s"' % hashlib.md5(b"v2").hexdigest()


def test_unknown_and_malformed_version_ids(s3, bucket):
    enable(s3, bucket)
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    unknown = ("0" if v[0] != "0" else "1") + v[1:]
    with s3_error("NoSuchVersion", 404):
        s3.get_object(Bucket=bucket, Key="k", VersionId=unknown)
    with s3_error(status=404):
        s3.head_object(Bucket=bucket, Key="k", VersionId=unknown)
    with s3_error("InvalidArgument", 400):
        s3.get_object(Bucket=bucket, Key="k", VersionId="not-a-version")
    with s3_error("InvalidArgument", 400):
        s3.delete_object(Bucket=bucket, Key="k", VersionId="not-a-version")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_unversioned_bucket_has_no_version_header(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "VersionId" not in put
    assert "VersionId" not in s3.get_object(Bucket=bucket, Key="k")
    # The null version is addressable, as in AWS.
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"x"
    _, versions, markers = versions_of(s3, bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] == [("k", "null", True)]
    assert markers == []


def test_delete_marker(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["VersionId"]
    d = s3.delete_object(Bucket=bucket, Key="k")
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert d["DeleteMarker"] is True
    marker = d["VersionId"]
    assert marker and marker != v1
    with s3_error("NoSuchKey", 404) as err:
        s3.get_object(Bucket=bucket, Key="k")
    h = err.exc.response["ResponseMetadata"]["HTTPHeaders"]
    assert h["x-amz-delete-marker"] == "true" and h["x-amz-version-id"] == marker
    with s3_error(status=404) as err:
        s3.head_object(Bucket=bucket, Key="k")
    assert err.exc.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    # A marker named by version id: 405, as AWS.
    with s3_error("MethodNotAllowed", 405):
        s3.get_object(Bucket=bucket, Key="k", VersionId=marker)
    # The old version is still there; listings show nothing current.
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"v1"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    _, versions, markers = versions_of(s3, bucket)
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [(marker, True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v1, False)]
    # Removing the marker for good brings the object back.
    d = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert d["DeleteMarker"] is True and d["VersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"


def test_delete_version_promotes_previous(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"v2")["VersionId"]
    d = s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert d["VersionId"] == v2 and "DeleteMarker" not in d
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"v1" and got["VersionId"] == v1
    with s3_error("NoSuchVersion", 404):
        s3.get_object(Bucket=bucket, Key="k", VersionId=v2)
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v1)
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="k")
    _, versions, markers = versions_of(s3, bucket)
    assert versions == [] and markers == []
    s3.delete_bucket(Bucket=bucket)  # empty again: no versions left behind


def test_bucket_with_versions_is_not_empty(s3, bucket):
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="k")
    with s3_error("BucketNotEmpty", 409):
        s3.delete_bucket(Bucket=bucket)


# ---- ListObjectVersions ------------------------------------------------------------------

def test_list_versions_order_paging_prefix_delimiter(s3, bucket):
    enable(s3, bucket)
    ids = {}
    for key in ["a", "a", "a", "d/x", "d/y", "e"]:
        ids.setdefault(key, []).append(
            s3.put_object(Bucket=bucket, Key=key, Body=key.encode())["VersionId"])
    marker_e = s3.delete_object(Bucket=bucket, Key="e")["VersionId"]
    r, versions, markers = versions_of(s3, bucket)
    assert r["IsTruncated"] is False
    got = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions]
    assert got == [("a", ids["a"][2], True), ("a", ids["a"][1], False),
                   ("a", ids["a"][0], False), ("d/x", ids["d/x"][0], True),
                   ("d/y", ids["d/y"][0], True), ("e", ids["e"][0], False)]
    assert [(m["Key"], m["VersionId"]) for m in markers] == [("e", marker_e)]
    assert versions[0]["Size"] == 1 and versions[0]["ETag"].startswith('"')
    assert versions[0]["Owner"]["ID"]
    # Paging: two entries a page, resumed by key and version id markers.
    seen, kw = [], {}
    for _ in range(10):
        r = s3.list_object_versions(Bucket=bucket, MaxKeys=2, **kw)
        entries = r.get("Versions", []) + r.get("DeleteMarkers", [])
        assert len(entries) <= 2
        seen += [(e["Key"], e["VersionId"]) for e in entries]
        if not r["IsTruncated"]:
            break
        kw = {"KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r["NextVersionIdMarker"]}
    assert sorted(seen) == sorted([(k, v) for k, vs in ids.items() for v in vs]
                                  + [("e", marker_e)])
    assert len(seen) == 7
    # A key marker alone starts after that key.
    r, versions, _ = versions_of(s3, bucket, KeyMarker="a")
    assert [v["Key"] for v in versions] == ["d/x", "d/y", "e"]
    # Prefix and delimiter.
    r, versions, markers = versions_of(s3, bucket, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["d/"]
    assert {v["Key"] for v in versions} == {"a", "e"}
    r, versions, _ = versions_of(s3, bucket, Prefix="d/")
    assert [v["Key"] for v in versions] == ["d/x", "d/y"]


def test_list_versions_url_encoding_and_refusals(s3, raw, bucket):
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="sp ace", Body=b"x")
    r = raw.request("GET", "/" + bucket, query=[("versions", None), ("encoding-type", "url")])
    assert r.status == 200 and b"<Key>sp%20ace</Key>" in r.body
    with s3_error("InvalidArgument", 400):
        s3.list_object_versions(Bucket=bucket, VersionIdMarker="null")
    with s3_error("InvalidArgument", 400):
        s3.list_object_versions(Bucket=bucket, KeyMarker="a", VersionIdMarker="bogus")


# ---- Suspended ----------------------------------------------------------------------------

def test_suspended_null_version_rules(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["VersionId"]
    enable(s3, bucket, "Suspended")
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"n1")
    assert put["VersionId"] == "null"
    s3.put_object(Bucket=bucket, Key="k", Body=b"n2")  # replaces the null version
    _, versions, _ = versions_of(s3, bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [("null", True), (v1, False)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"n2"
    d = s3.delete_object(Bucket=bucket, Key="k")
    assert d["DeleteMarker"] is True and d["VersionId"] == "null"
    _, versions, markers = versions_of(s3, bucket)
    assert [v["VersionId"] for v in versions] == [v1]
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [("null", True)]
    # Enabled again: new versions get ids, the null marker stays history.
    enable(s3, bucket)
    v3 = s3.put_object(Bucket=bucket, Key="k", Body=b"v3")["VersionId"]
    assert v3 not in ("null", v1)
    _, versions, markers = versions_of(s3, bucket)
    assert [v["VersionId"] for v in versions] == [v3, v1]
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [("null", False)]


# ---- copy, multipart, DeleteObjects -------------------------------------------------------

def test_copy_creates_version_and_copies_a_version(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="src", Body=b"one")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"two")
    c = s3.copy_object(Bucket=bucket, Key="dst",
                       CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1})
    assert c["CopySourceVersionId"] == v1
    assert c["VersionId"] and c["VersionId"] != v1
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"one"
    with s3_error("NoSuchVersion", 404):
        s3.copy_object(Bucket=bucket, Key="dst2",
                       CopySource={"Bucket": bucket, "Key": "src",
                                   "VersionId": "0" * 15 + "1"})
    marker = s3.delete_object(Bucket=bucket, Key="src")["VersionId"]
    with s3_error("InvalidRequest", 400):
        s3.copy_object(Bucket=bucket, Key="dst3",
                       CopySource={"Bucket": bucket, "Key": "src", "VersionId": marker})


def test_upload_part_copy_from_a_version(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="src", Body=b"first")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"second")
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part_copy(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1,
                               CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1})
    assert part["CopySourceVersionId"] == v1
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1,
                                    "ETag": part["CopyPartResult"]["ETag"]}]})
    assert done["VersionId"] and done["VersionId"] != "null"
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == b"first" and got["VersionId"] == done["VersionId"]


def one_part_upload(s3, bucket, key, body):
    """A multipart upload of one part, completed: the CompleteMultipartUpload response."""
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=body)["ETag"]
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})


def test_complete_multipart_creates_version(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="mp", Body=b"plain")["VersionId"]
    done = one_part_upload(s3, bucket, "mp", b"multi")
    assert done["VersionId"] not in (None, "null", v1)
    _, versions, _ = versions_of(s3, bucket)
    assert [v["VersionId"] for v in versions] == [done["VersionId"], v1]
    assert s3.get_object(Bucket=bucket, Key="mp", VersionId=v1)["Body"].read() == b"plain"
    # Suspended: the completion makes the null version, and says so (through a gateway the
    # version is named before the upstream assembles the parts, then the commit keeps it).
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    done = one_part_upload(s3, bucket, "mp", b"null one")
    assert done["VersionId"] == "null"
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"null one"


def test_delete_objects_with_versions(s3, bucket):
    enable(s3, bucket)
    a1 = s3.put_object(Bucket=bucket, Key="a", Body=b"a1")["VersionId"]
    a2 = s3.put_object(Bucket=bucket, Key="a", Body=b"a2")["VersionId"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a", "VersionId": a2},
        {"Key": "b"},
        {"Key": "c", "VersionId": "bogus"},
    ]})
    deleted = {d["Key"]: d for d in r["Deleted"]}
    assert deleted["a"]["VersionId"] == a2 and "DeleteMarker" not in deleted["a"]
    assert deleted["b"]["DeleteMarker"] is True and deleted["b"]["DeleteMarkerVersionId"]
    assert [e["Key"] for e in r["Errors"]] == ["c"]
    assert s3.get_object(Bucket=bucket, Key="a")["VersionId"] == a1
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="b")
    # Removing the marker by id through DeleteObjects.
    mid = deleted["b"]["DeleteMarkerVersionId"]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b", "VersionId": mid}]})
    assert r["Deleted"][0]["DeleteMarker"] is True
    assert r["Deleted"][0]["DeleteMarkerVersionId"] == mid
    assert s3.get_object(Bucket=bucket, Key="b")["Body"].read() == b"b"


def test_conditional_put_sees_marker_as_absent(s3, bucket):
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with s3_error("PreconditionFailed", 412):
        s3.put_object(Bucket=bucket, Key="k", Body=b"y", IfNoneMatch="*")
    s3.delete_object(Bucket=bucket, Key="k")
    s3.put_object(Bucket=bucket, Key="k", Body=b"z", IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"z"


def test_acl_and_attributes_by_version(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one", ACL="public-read")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"three")["VersionId"]
    old = s3.get_object_acl(Bucket=bucket, Key="k", VersionId=v1)
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in old["Grants"])
    cur = s3.get_object_acl(Bucket=bucket, Key="k")
    assert not any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in cur["Grants"])
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", VersionId=v1,
                                     ObjectAttributes=["ObjectSize"])
    assert attrs["ObjectSize"] == 3 and attrs["VersionId"] == v1
    s3.put_object_acl(Bucket=bucket, Key="k", VersionId=v2, ACL="private")
    # A noncurrent version's ACL changes by its id, and only that version's.
    s3.put_object_acl(Bucket=bucket, Key="k", VersionId=v1, ACL="private")
    old = s3.get_object_acl(Bucket=bucket, Key="k", VersionId=v1)
    assert not any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in old["Grants"])
    s3.put_object_acl(Bucket=bucket, Key="k", VersionId=v1, ACL="public-read")
    old = s3.get_object_acl(Bucket=bucket, Key="k", VersionId=v1)
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in old["Grants"])
    cur = s3.get_object_acl(Bucket=bucket, Key="k")
    assert not any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in cur["Grants"])
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"one"
    with s3_error("NoSuchVersion", 404):
        s3.put_object_acl(Bucket=bucket, Key="k", VersionId="0" * 15 + "1", ACL="private")
    # A delete marker has no ACL: 405 by its id, NoSuchKey for the key behind it.
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    with s3_error("MethodNotAllowed", 405):
        s3.put_object_acl(Bucket=bucket, Key="k", VersionId=marker, ACL="private")
    with s3_error("NoSuchKey", 404):
        s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="k", VersionId=v2, ACL="public-read")
    now = s3.get_object_acl(Bucket=bucket, Key="k", VersionId=v2)
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in now["Grants"])
    with s3_error("NoSuchVersion", 404):
        s3.get_object_acl(Bucket=bucket, Key="k", VersionId="0" * 15 + "1")
