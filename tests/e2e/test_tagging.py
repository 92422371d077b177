"""Tagging (issue 17): Put/Get/DeleteObjectTagging, x-amz-tagging on PutObject,
CreateMultipartUpload and CopyObject (x-amz-tagging-directive), x-amz-tagging-count on
GET and HEAD, Put/Get/DeleteBucketTagging, and every refusal AWS gives."""

from __future__ import annotations

import pytest

from s3helpers import key_path, md5_b64, s3_error, unique_name


def tag_set(pairs) -> list:
    return [{"Key": k, "Value": v} for k, v in pairs]


def tags_of(s3, bucket, key, **kw) -> list:
    return [(t["Key"], t["Value"]) for t in s3.get_object_tagging(Bucket=bucket, Key=key, **kw)["TagSet"]]


def count_header(resp) -> str | None:
    return resp["ResponseMetadata"]["HTTPHeaders"].get("x-amz-tagging-count")


# ---- object tagging ---------------------------------------------------------------------------

def test_object_tagging_put_get_delete(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    assert tags_of(s3, bucket, "k") == []
    assert count_header(s3.head_object(Bucket=bucket, Key="k")) is None
    pairs = [("project", "blue"), ("ключ", "значение ü"), ("a+b-c=d._:/@", ""), ("sp ace", "v v")]
    r = s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(pairs)})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert tags_of(s3, bucket, "k") == pairs
    assert tags_of(s3, bucket, "k", VersionId="null") == pairs
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["TagCount"] == 4 and got["Body"].read() == b"data"
    assert got["ETag"] == put["ETag"]
    assert count_header(s3.head_object(Bucket=bucket, Key="k")) == "4"
    # A new set replaces the old one whole.
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set([("x", "1")])})
    assert tags_of(s3, bucket, "k") == [("x", "1")]
    r = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(s3, bucket, "k") == []
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")
    # Deleting tags of an untagged object is fine too.
    s3.delete_object_tagging(Bucket=bucket, Key="k")


def test_tagging_header_on_put_and_overwrite(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1&b%20c=d+e&empty=")
    assert tags_of(s3, bucket, "k") == [("a", "1"), ("b c", "d e"), ("empty", "")]
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 3
    # An overwrite without the header is a new object: no tags.
    s3.put_object(Bucket=bucket, Key="k", Body=b"y")
    assert tags_of(s3, bucket, "k") == []


def test_tagging_header_on_multipart(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="m", Tagging="team=data&tier=1")
    part = s3.upload_part(Bucket=bucket, Key="m", UploadId=up["UploadId"], PartNumber=1,
                          Body=b"part")
    s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1,
                                                             "ETag": part["ETag"]}]})
    assert tags_of(s3, bucket, "m") == [("team", "data"), ("tier", "1")]
    assert count_header(s3.head_object(Bucket=bucket, Key="m")) == "2"


def test_copy_tagging_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"src", Tagging="s=1&t=2")
    source = {"Bucket": bucket, "Key": "src"}
    s3.copy_object(Bucket=bucket, Key="default", CopySource=source)
    assert tags_of(s3, bucket, "default") == [("s", "1"), ("t", "2")]
    # COPY ignores x-amz-tagging.
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=source, TaggingDirective="COPY",
                   Tagging="ignored=1")
    assert tags_of(s3, bucket, "copy") == [("s", "1"), ("t", "2")]
    s3.copy_object(Bucket=bucket, Key="replace", CopySource=source, TaggingDirective="REPLACE",
                   Tagging="r=9")
    assert tags_of(s3, bucket, "replace") == [("r", "9")]
    s3.copy_object(Bucket=bucket, Key="none", CopySource=source, TaggingDirective="REPLACE")
    assert tags_of(s3, bucket, "none") == []
    # The metadata directive does not decide the tags.
    s3.copy_object(Bucket=bucket, Key="meta", CopySource=source, MetadataDirective="REPLACE",
                   Metadata={"m": "1"})
    assert tags_of(s3, bucket, "meta") == [("s", "1"), ("t", "2")]
    with s3_error("InvalidArgument", 400):
        s3.copy_object(Bucket=bucket, Key="bad", CopySource=source, TaggingDirective="MERGE")
    with s3_error("BadRequest", 400):
        s3.copy_object(Bucket=bucket, Key="bad", CopySource=source, TaggingDirective="REPLACE",
                       Tagging="&".join(f"k{i}=v" for i in range(11)))
    with s3_error(status=404):
        s3.head_object(Bucket=bucket, Key="bad")


BAD_OBJECT_TAG_SETS = [
    ("eleven", [(f"k{i}", "v") for i in range(11)], "BadRequest",
     "Object tags cannot be greater than 10"),
    ("duplicate", [("a", "1"), ("a", "2")], "InvalidTag",
     "Cannot provide multiple Tags with the same key"),
    ("long key", [("k" * 129, "v")], "InvalidTag", "The TagKey you have provided is too long, max 128"),
    ("long value", [("k", "v" * 257)], "InvalidTag",
     "The TagValue you have provided is too long, max 256"),
    ("aws prefix", [("aws:owner", "me")], "InvalidTag", "Your TagKey cannot be prefixed with aws:"),
    ("bad key char", [("a*b", "v")], "InvalidTag", "The TagKey you have provided is invalid"),
    ("bad value char", [("k", "<v>")], "InvalidTag", "The TagValue you have provided is invalid"),
]


@pytest.mark.parametrize("name,pairs,code,message", BAD_OBJECT_TAG_SETS,
                         ids=[c[0] for c in BAD_OBJECT_TAG_SETS])
def test_object_tagging_refusals(s3, bucket, name, pairs, code, message):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="keep=1")
    with s3_error(code, 400) as e:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(pairs)})
    assert e.response["Error"]["Message"] == message
    assert tags_of(s3, bucket, "k") == [("keep", "1")]
    # The same set in x-amz-tagging refuses the PUT and stores nothing.
    header = "&".join(f"{k}={v}" for k, v in pairs).replace("<", "%3C").replace(">", "%3E")
    expected = "InvalidArgument" if name == "duplicate" else code
    with s3_error(expected, 400):
        s3.put_object(Bucket=bucket, Key="new", Body=b"x", Tagging=header)
    with s3_error(status=404):
        s3.head_object(Bucket=bucket, Key="new")


def test_object_tagging_missing_and_versions(s3, bucket):
    good = {"TagSet": tag_set([("a", "1")])}
    with s3_error("NoSuchKey", 404):
        s3.get_object_tagging(Bucket=bucket, Key="nope")
    with s3_error("NoSuchKey", 404):
        s3.put_object_tagging(Bucket=bucket, Key="nope", Tagging=good)
    with s3_error("NoSuchKey", 404):
        s3.delete_object_tagging(Bucket=bucket, Key="nope")
    missing = unique_name("nosuch")
    with s3_error("NoSuchBucket", 404):
        s3.get_object_tagging(Bucket=missing, Key="k")
    with s3_error("NoSuchBucket", 404):
        s3.put_object_tagging(Bucket=missing, Key="k", Tagging=good)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with s3_error("InvalidArgument", 400):
        s3.get_object_tagging(Bucket=bucket, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ")
    with s3_error("InvalidArgument", 400):
        s3.put_object_tagging(Bucket=bucket, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ", Tagging=good)


def test_object_tagging_per_version(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="gen=one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"2", Tagging="gen=two")["VersionId"]
    assert v1 != v2
    # Each version keeps its own tags; the current one is read without an id.
    assert tags_of(s3, bucket, "k") == [("gen", "two")]
    assert tags_of(s3, bucket, "k", VersionId=v1) == [("gen", "one")]
    got = s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)
    assert got["VersionId"] == v1
    # The current version's tags change by id or without one, and the answer names it.
    r = s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v2,
                              Tagging={"TagSet": tag_set([("gen", "2b")])})
    assert r["VersionId"] == v2
    assert tags_of(s3, bucket, "k") == [("gen", "2b")]
    assert tags_of(s3, bucket, "k", VersionId=v1) == [("gen", "one")]
    # A noncurrent version's tags change by its id; the current version keeps its own.
    r = s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v1,
                              Tagging={"TagSet": tag_set([("gen", "x")])})
    assert r["VersionId"] == v1
    assert tags_of(s3, bucket, "k", VersionId=v1) == [("gen", "x")]
    assert tags_of(s3, bucket, "k") == [("gen", "2b")]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["TagCount"] == 1
    r = s3.delete_object_tagging(Bucket=bucket, Key="k", VersionId=v1)
    assert r["VersionId"] == v1 and r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(s3, bucket, "k", VersionId=v1) == []
    assert tags_of(s3, bucket, "k") == [("gen", "2b")]
    # The version's bytes and place are unchanged by a tag change.
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"1"
    listed = [(v["VersionId"], v["IsLatest"]) for v in
              s3.list_object_versions(Bucket=bucket)["Versions"]]
    assert listed == [(v2, True), (v1, False)]
    with s3_error("NoSuchVersion", 404):
        s3.get_object_tagging(Bucket=bucket, Key="k", VersionId="00000000000000ff")
    with s3_error("NoSuchVersion", 404):
        s3.put_object_tagging(Bucket=bucket, Key="k", VersionId="00000000000000ff",
                              Tagging={"TagSet": tag_set([("gen", "x")])})
    # Behind a delete marker the key has no current object.
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    with s3_error("NoSuchKey", 404):
        s3.get_object_tagging(Bucket=bucket, Key="k")
    with s3_error("NoSuchKey", 404):
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set([("a", "1")])})
    assert tags_of(s3, bucket, "k", VersionId=v2) == [("gen", "2b")]
    # A version id naming the delete marker: 405, as AWS.
    with s3_error("MethodNotAllowed", 405):
        s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=marker,
                              Tagging={"TagSet": tag_set([("a", "1")])})
    with s3_error("MethodNotAllowed", 405):
        s3.delete_object_tagging(Bucket=bucket, Key="k", VersionId=marker)
    # Noncurrent now, v2's tags still change by id.
    s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v2,
                          Tagging={"TagSet": tag_set([("gen", "2c")])})
    assert tags_of(s3, bucket, "k", VersionId=v2) == [("gen", "2c")]


def test_object_tagging_permissions(s3, s3_alice, bucket):
    s3.put_object(Bucket=bucket, Key="private", Body=b"x", Tagging="a=1")
    with s3_error("AccessDenied", 403):
        s3_alice.get_object_tagging(Bucket=bucket, Key="private")
    with s3_error("AccessDenied", 403):
        s3_alice.put_object_tagging(Bucket=bucket, Key="private",
                                    Tagging={"TagSet": tag_set([("b", "2")])})
    with s3_error("AccessDenied", 403):
        s3_alice.delete_object_tagging(Bucket=bucket, Key="private")
    assert tags_of(s3, bucket, "private") == [("a", "1")]
    # Read access to the object is what GetObjectTagging needs.
    s3.put_object_acl(Bucket=bucket, Key="private", ACL="public-read")
    assert tags_of(s3_alice, bucket, "private") == [("a", "1")]


def test_tagging_bodies_refused_raw(raw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for path in (key_path(bucket, "k"), "/" + bucket):
        for body in (b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>",
                     b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet>",
                     b"<Wrong><TagSet/></Wrong>", b"not xml"):
            r = raw.request("PUT", path, query=[("tagging", "")], body=body,
                            headers={"Content-MD5": md5_b64(body)})
            assert (r.status, r.error_code) == (400, "MalformedXML"), (path, body, r)
        # Without Content-MD5 or a checksum, as AWS.
        body = b"<Tagging><TagSet/></Tagging>"
        r = raw.request("PUT", path, query=[("tagging", "")], body=body)
        assert (r.status, r.error_code) == (400, "InvalidRequest"), r
    assert tags_of(s3, bucket, "k") == []
    with s3_error("NoSuchTagSet", 404):
        s3.get_bucket_tagging(Bucket=bucket)


# ---- bucket tagging ---------------------------------------------------------------------------

def test_bucket_tagging_put_get_delete(s3, bucket):
    with s3_error("NoSuchTagSet", 404):
        s3.get_bucket_tagging(Bucket=bucket)
    pairs = [("cost-center", "42"), ("env", "prod")]
    r = s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set(pairs)})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert [(t["Key"], t["Value"]) for t in got] == pairs
    fifty = [(f"k{i}", str(i)) for i in range(50)]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set(fifty)})
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50
    r = s3.delete_bucket_tagging(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error("NoSuchTagSet", 404):
        s3.get_bucket_tagging(Bucket=bucket)
    # Bucket tags are not object tags.
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set(pairs)})
    assert tags_of(s3, bucket, "k") == []


BAD_BUCKET_TAG_SETS = [
    ("fifty-one", [(f"k{i}", "v") for i in range(51)], "BadRequest",
     "Bucket tag count cannot be greater than 50"),
    ("duplicate", [("a", "1"), ("a", "2")], "InvalidTag",
     "Cannot provide multiple Tags with the same key"),
    ("aws prefix", [("aws:x", "1")], "InvalidTag", "System tags cannot be added/updated by requester"),
    ("long key", [("k" * 129, "v")], "InvalidTag", "The TagKey you have provided is too long, max 128"),
    ("long value", [("k", "v" * 257)], "InvalidTag",
     "The TagValue you have provided is too long, max 256"),
]


@pytest.mark.parametrize("name,pairs,code,message", BAD_BUCKET_TAG_SETS,
                         ids=[c[0] for c in BAD_BUCKET_TAG_SETS])
def test_bucket_tagging_refusals(s3, bucket, name, pairs, code, message):
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set([("keep", "1")])})
    with s3_error(code, 400) as e:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set(pairs)})
    assert e.response["Error"]["Message"] == message
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tag_set([("keep", "1")])


def test_bucket_tagging_owner_only_and_missing(s3, s3_alice, bucket):
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set([("a", "1")])})
    with s3_error("AccessDenied", 403):
        s3_alice.get_bucket_tagging(Bucket=bucket)
    with s3_error("AccessDenied", 403):
        s3_alice.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": []})
    with s3_error("AccessDenied", 403):
        s3_alice.delete_bucket_tagging(Bucket=bucket)
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tag_set([("a", "1")])
    missing = unique_name("nosuch")
    for call in (lambda: s3.get_bucket_tagging(Bucket=missing),
                 lambda: s3.put_bucket_tagging(Bucket=missing, Tagging={"TagSet": []}),
                 lambda: s3.delete_bucket_tagging(Bucket=missing)):
        with s3_error("NoSuchBucket", 404):
            call()
