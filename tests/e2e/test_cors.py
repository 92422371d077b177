"""Bucket CORS (issue 18): Put/Get/DeleteBucketCors, the unsigned OPTIONS preflight on a
bucket or object URL, the Access-Control-* headers on actual requests (success and error
answers), and every refusal AWS gives."""

from __future__ import annotations

import pytest

from s3helpers import key_path, md5_b64, s3_error

RULES = [
    {
        "ID": "app",
        "AllowedOrigins": ["http://app.test", "http://*.wild.test"],
        "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["content-type", "x-amz-*"],
        "ExposeHeaders": ["ETag", "x-amz-request-id"],
        "MaxAgeSeconds": 600,
    },
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
]


def put_cors(s3, bucket, rules=RULES):
    return s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})


def preflight(raw, path, origin=None, method=None, headers=None):
    h = {}
    if origin is not None:
        h["Origin"] = origin
    if method is not None:
        h["Access-Control-Request-Method"] = method
    if headers is not None:
        h["Access-Control-Request-Headers"] = headers
    return raw.request("OPTIONS", path, headers=h, sign=False)


# ---- configuration ---------------------------------------------------------------------------

def test_get_without_configuration_is_404(s3, bucket):
    with s3_error("NoSuchCORSConfiguration", 404):
        s3.get_bucket_cors(Bucket=bucket)


def test_put_get_delete_round_trip(s3, bucket):
    r = put_cors(s3, bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got == RULES
    # A new configuration replaces the old one whole.
    put_cors(s3, bucket, [{"AllowedOrigins": ["http://x.test"], "AllowedMethods": ["DELETE"]}])
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got == [{"AllowedOrigins": ["http://x.test"], "AllowedMethods": ["DELETE"]}]
    r = s3.delete_bucket_cors(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error("NoSuchCORSConfiguration", 404):
        s3.get_bucket_cors(Bucket=bucket)
    # Deleting again is still 204.
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_only_the_owner_manages_cors(s3, s3_alice, bucket):
    put_cors(s3, bucket)
    with s3_error("AccessDenied", 403):
        s3_alice.get_bucket_cors(Bucket=bucket)
    with s3_error("AccessDenied", 403):
        put_cors(s3_alice, bucket)
    with s3_error("AccessDenied", 403):
        s3_alice.delete_bucket_cors(Bucket=bucket)
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES


def test_missing_bucket(s3):
    with s3_error("NoSuchBucket", 404):
        s3.get_bucket_cors(Bucket="no-such-bucket-cors-e2e")
    with s3_error("NoSuchBucket", 404):
        put_cors(s3, "no-such-bucket-cors-e2e")


@pytest.mark.parametrize("rules,code", [
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}], "InvalidRequest"),
    ([{"AllowedOrigins": ["http://*.*.test"], "AllowedMethods": ["GET"]}], "InvalidRequest"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]}],
     "InvalidRequest"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101, "MalformedXML"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ID": "i" * 256}], "InvalidArgument"),
])
def test_invalid_configurations(s3, bucket, rules, code):
    with s3_error(code, 400):
        put_cors(s3, bucket, rules)
    with s3_error("NoSuchCORSConfiguration", 404):
        s3.get_bucket_cors(Bucket=bucket)


@pytest.mark.parametrize("body", [
    b"not xml",
    b"<CORSConfiguration></CORSConfiguration>",
    b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
    b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>",
    b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
    b"<MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule></CORSConfiguration>",
])
def test_malformed_bodies(raw, bucket, body):
    r = raw.request("PUT", key_path(bucket), [("cors", "")], body=body,
                    headers={"Content-MD5": md5_b64(body)})
    assert (r.status, r.error_code) == (400, "MalformedXML"), r


def test_content_md5_required(raw, bucket):
    body = (b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
            b"<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>")
    r = raw.request("PUT", key_path(bucket), [("cors", "")], body=body)
    assert (r.status, r.error_code) == (400, "InvalidRequest"), r
    r = raw.request("PUT", key_path(bucket), [("cors", "")], body=body,
                    headers={"Content-MD5": md5_b64(b"other")})
    assert (r.status, r.error_code) == (400, "BadDigest"), r
    r = raw.request("PUT", key_path(bucket), [("cors", "")], body=body,
                    headers={"Content-MD5": md5_b64(body)})
    assert r.status == 200, r


# ---- preflight ---------------------------------------------------------------------------------

def test_preflight_allowed_specific_origin(s3, raw, bucket):
    put_cors(s3, bucket)
    r = preflight(raw, key_path(bucket, "any/key"), "http://app.test", "PUT",
                  "Content-Type, X-Amz-Date")
    assert r.status == 200, r
    assert r.header("Access-Control-Allow-Origin") == "http://app.test"
    assert r.header("Access-Control-Allow-Methods") == "GET, PUT"
    assert r.header("Access-Control-Allow-Headers") == "content-type, x-amz-date"
    assert r.header("Access-Control-Expose-Headers") == "ETag, x-amz-request-id"
    assert r.header("Access-Control-Max-Age") == "600"
    assert r.header("Access-Control-Allow-Credentials") == "true"
    vary = r.header("Vary") or ""
    for v in ("Origin", "Access-Control-Request-Headers", "Access-Control-Request-Method"):
        assert v in vary
    # The bucket URL answers too, and a wildcard origin matches.
    r = preflight(raw, key_path(bucket), "http://a.b.wild.test", "GET")
    assert r.status == 200, r
    assert r.header("Access-Control-Allow-Origin") == "http://a.b.wild.test"


def test_preflight_any_origin_rule_answers_star(s3, raw, bucket):
    put_cors(s3, bucket)
    r = preflight(raw, key_path(bucket, "k"), "http://elsewhere.test", "HEAD")
    assert r.status == 200, r
    assert r.header("Access-Control-Allow-Origin") == "*"
    assert r.header("Access-Control-Allow-Methods") == "GET, HEAD"
    assert r.header("Access-Control-Allow-Credentials") is None


@pytest.mark.parametrize("origin,method,headers", [
    ("http://elsewhere.test", "PUT", None),          # only the * rule, which has no PUT
    ("http://app.test", "DELETE", None),             # no rule has DELETE
    ("http://app.test", "PUT", "content-type, x-other"),  # a header no rule allows
    ("http://wild.test", "PUT", None),               # *.wild.test needs a subdomain
    ("http://elsewhere.test", "GET", "content-type"),  # * rule allows no headers
])
def test_preflight_refused(s3, raw, bucket, origin, method, headers):
    put_cors(s3, bucket)
    r = preflight(raw, key_path(bucket, "k"), origin, method, headers)
    assert (r.status, r.error_code) == (403, "AccessForbidden"), r
    assert b"CORSResponse" in r.body
    assert r.header("Access-Control-Allow-Origin") is None


def test_preflight_without_configuration(raw, bucket):
    r = preflight(raw, key_path(bucket, "k"), "http://app.test", "GET")
    assert (r.status, r.error_code) == (403, "AccessForbidden"), r
    assert b"CORS is not enabled for this bucket" in r.body


def test_preflight_bad_requests(s3, raw, bucket):
    put_cors(s3, bucket)
    r = preflight(raw, key_path(bucket, "k"), None, "GET")
    assert (r.status, r.error_code) == (400, "BadRequest"), r
    assert b"Origin request header needed" in r.body
    r = preflight(raw, key_path(bucket, "k"), "http://app.test", None)
    assert (r.status, r.error_code) == (400, "BadRequest"), r
    r = preflight(raw, key_path(bucket, "k"), "http://app.test", "PATCH")
    assert (r.status, r.error_code) == (400, "BadRequest"), r


def test_preflight_missing_bucket(raw):
    r = preflight(raw, "/no-such-bucket-cors-e2e/k", "http://app.test", "GET")
    assert (r.status, r.error_code) == (404, "NoSuchBucket"), r


# ---- actual requests -----------------------------------------------------------------------------

def test_actual_requests_carry_cors_headers(s3, raw, bucket):
    put_cors(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    r = raw.request("GET", key_path(bucket, "k"), headers={"Origin": "http://app.test"})
    assert r.status == 200 and r.body == b"hello", r
    assert r.header("Access-Control-Allow-Origin") == "http://app.test"
    assert r.header("Access-Control-Allow-Methods") == "GET, PUT"
    assert r.header("Access-Control-Expose-Headers") == "ETag, x-amz-request-id"
    assert r.header("Access-Control-Allow-Credentials") == "true"
    assert "Origin" in (r.header("Vary") or "")
    # An error answer carries them too.
    r = raw.request("GET", key_path(bucket, "missing"), headers={"Origin": "http://app.test"})
    assert r.status == 404, r
    assert r.header("Access-Control-Allow-Origin") == "http://app.test"
    # HEAD matches the * rule.
    r = raw.request("HEAD", key_path(bucket, "k"), headers={"Origin": "http://other.test"})
    assert r.status == 200, r
    assert r.header("Access-Control-Allow-Origin") == "*"


def test_actual_requests_without_match_or_origin(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    # No configuration: no headers.
    r = raw.request("GET", key_path(bucket, "k"), headers={"Origin": "http://app.test"})
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") is None, r
    put_cors(s3, bucket)
    # No Origin: no headers.
    r = raw.request("GET", key_path(bucket, "k"))
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") is None, r
    # An origin and method no rule allows: no headers.
    r = raw.request("DELETE", key_path(bucket, "k"), headers={"Origin": "http://app.test"})
    assert r.status == 204 and r.header("Access-Control-Allow-Origin") is None, r


def test_preflight_object_key_with_query(s3, raw, bucket):
    put_cors(s3, bucket)
    r = raw.request("OPTIONS", key_path(bucket, "k"), [("uploads", "")],
                    headers={"Origin": "http://app.test", "Access-Control-Request-Method": "PUT"},
                    sign=False)
    assert r.status == 200, r


def test_preflight_of_a_presigned_url_is_not_authenticated(s3, raw, bucket):
    # The browser sends the presigned URL's query (signed for PUT) on its OPTIONS.
    put_cors(s3, bucket)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "k"},
                                    ExpiresIn=300)
    path_q = url.split("/", 3)[3]
    path, query = path_q.split("?", 1)
    q = [tuple(p.split("=", 1)) for p in query.split("&")]
    r = raw.request("OPTIONS", "/" + path, q,
                    headers={"Origin": "http://app.test", "Access-Control-Request-Method": "PUT"},
                    sign=False)
    assert r.status == 200, r
    assert r.header("Access-Control-Allow-Origin") == "http://app.test"
