"""Object ownership controls (issue 18): Put/Get/DeleteBucketOwnershipControls,
x-amz-object-ownership on CreateBucket, and BucketOwnerEnforced disabling ACLs."""

from __future__ import annotations

from s3helpers import key_path, s3_error, unique_name


def rules(o) -> dict:
    return {"Rules": [{"ObjectOwnership": o}]}


def test_put_get_delete(s3, bucket):
    with s3_error("OwnershipControlsNotFoundError", 404):
        s3.get_bucket_ownership_controls(Bucket=bucket)
    for o in ("BucketOwnerPreferred", "ObjectWriter", "BucketOwnerEnforced"):
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=rules(o))
        got = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
        assert got == rules(o)
    r = s3.delete_bucket_ownership_controls(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error("OwnershipControlsNotFoundError", 404):
        s3.get_bucket_ownership_controls(Bucket=bucket)


def test_malformed(s3, bucket, raw):
    for body in (b"<OwnershipControls><Rule><ObjectOwnership>Mine</ObjectOwnership></Rule></OwnershipControls>",
                 b"<OwnershipControls></OwnershipControls>", b"<nope"):
        r = raw.request("PUT", key_path(bucket), query=[("ownershipControls", "")], body=body)
        assert r.status == 400 and r.error_code == "MalformedXML", r


def test_not_owner(s3_alice, bucket):
    with s3_error("AccessDenied", 403):
        s3_alice.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=rules("ObjectWriter"))


def test_enforced_refuses_acls(s3, s3_alice, bucket, raw):
    s3.put_object(Bucket=bucket, Key="old", Body=b"o", ACL="public-read")
    assert raw.request("GET", key_path(bucket, "old"), sign=False).status == 200
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=rules("BucketOwnerEnforced"))
    # ACLs no longer grant anything.
    assert raw.request("GET", key_path(bucket, "old"), sign=False).status == 403
    for call in (
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read"),
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private"),
        lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read"),
        lambda: s3.put_object_acl(Bucket=bucket, Key="old", ACL="authenticated-read"),
    ):
        with s3_error("AccessControlListNotSupported", 400):
            call()
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    s3.put_object(Bucket=bucket, Key="k2", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    # Reading ACLs still works.
    assert s3.get_bucket_acl(Bucket=bucket)["Grants"]
    with s3_error("AccessDenied", 403):
        s3_alice.get_object(Bucket=bucket, Key="k")


def test_enforced_refused_with_public_bucket_acl(s3, bucket):
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    with s3_error("InvalidBucketAclWithObjectOwnership", 400):
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=rules("BucketOwnerEnforced"))


def test_create_bucket_with_ownership(s3, bucket_factory):
    name = bucket_factory("own", ObjectOwnership="BucketOwnerEnforced")
    got = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]
    assert got == rules("BucketOwnerEnforced")
    with s3_error("AccessControlListNotSupported", 400):
        s3.put_object(Bucket=name, Key="k", Body=b"x", ACL="public-read")
    other = unique_name("own2")
    with s3_error("InvalidBucketAclWithObjectOwnership", 400):
        s3.create_bucket(Bucket=other, ACL="public-read", ObjectOwnership="BucketOwnerEnforced")
    with s3_error("InvalidArgument", 400):
        s3.create_bucket(Bucket=other, ObjectOwnership="Nobody")
    # Without the header: no configuration (ObjectWriter behaviour, ACLs work).
    plain = bucket_factory("own3")
    with s3_error("OwnershipControlsNotFoundError", 404):
        s3.get_bucket_ownership_controls(Bucket=plain)


def test_new_objects_owner_follows_the_setting(s3, s3_alice, bucket):
    """ObjectWriter: the writer owns; BucketOwnerPreferred: the bucket owner owns what is
    written with bucket-owner-full-control; BucketOwnerEnforced: the bucket owner owns all."""
    import json

    bucket_owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "alice-id"},
        "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObjectAcl", "s3:GetObject"],
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}))

    def owner(key):
        return s3_alice.get_object_acl(Bucket=bucket, Key=key)["Owner"]["ID"]

    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=rules("ObjectWriter"))
    s3_alice.put_object(Bucket=bucket, Key="w", Body=b"w", ACL="bucket-owner-full-control")
    assert owner("w") == "alice-id"
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=rules("BucketOwnerPreferred"))
    s3_alice.put_object(Bucket=bucket, Key="p-plain", Body=b"p")
    assert owner("p-plain") == "alice-id"
    s3_alice.put_object(Bucket=bucket, Key="p-full", Body=b"p", ACL="bucket-owner-full-control")
    assert owner("p-full") == bucket_owner
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=rules("BucketOwnerEnforced"))
    s3_alice.put_object(Bucket=bucket, Key="e", Body=b"e")
    assert owner("e") == bucket_owner
    s3_alice.copy_object(Bucket=bucket, Key="e-copy", CopySource={"Bucket": bucket, "Key": "e"})
    assert owner("e-copy") == bucket_owner
    up = s3_alice.create_multipart_upload(Bucket=bucket, Key="e-mpu")
    part = s3_alice.upload_part(Bucket=bucket, Key="e-mpu", UploadId=up["UploadId"], PartNumber=1, Body=b"m")
    s3_alice.complete_multipart_upload(Bucket=bucket, Key="e-mpu", UploadId=up["UploadId"],
                                       MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert owner("e-mpu") == bucket_owner
