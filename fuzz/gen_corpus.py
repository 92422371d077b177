#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/ (small, hand-picked inputs; libFuzzer
grows its own working corpus from them in fuzz/work/). Re-run after changing a target's
input format: `python3 fuzz/gen_corpus.py`. Standard library only."""
import hashlib
import hmac
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# The fixed identity of bleepstore_fuzz (src/lib.rs).
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DATE, REGION = "20130524", "us-east-1"
AMZ_DATE = "20130524T000000Z"
SCOPE = f"{DATE}/{REGION}/s3/aws4_request"
SEED_SIG = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
EMPTY = hashlib.sha256(b"").hexdigest()


def h(key, msg):
    return hmac.new(key, msg.encode() if isinstance(msg, str) else msg, hashlib.sha256).digest()


KEY = h(h(h(h(("AWS4" + SECRET).encode(), DATE), REGION), "s3"), "aws4_request")


def chunk_sig(prev, data):
    to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", AMZ_DATE, SCOPE, prev, EMPTY,
                         hashlib.sha256(data).hexdigest()])
    return h(KEY, to_sign).hex()


def trailer_sig(prev, trailers):
    body = "".join(f"{n}:{v}\n" for n, v in trailers).encode()
    to_sign = "\n".join(["AWS4-HMAC-SHA256-TRAILER", AMZ_DATE, SCOPE, prev,
                         hashlib.sha256(body).hexdigest()])
    return h(KEY, to_sign).hex()


def aws_body(chunks, trailers=None, signed=True):
    out, prev = b"", SEED_SIG
    for data in chunks + [b""]:
        ext = b""
        if signed:
            prev = chunk_sig(prev, data)
            ext = f";chunk-signature={prev}".encode()
        out += f"{len(data):x}".encode() + ext + b"\r\n"
        if data:
            out += data + b"\r\n"
    for n, v in trailers or []:
        out += f"{n}:{v}\r\n".encode()
    if signed and trailers is not None:
        out += f"x-amz-trailer-signature:{trailer_sig(prev, trailers)}\r\n".encode()
    return out + b"\r\n"


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


CRLF = "\r\n"

# --- http_head ---------------------------------------------------------------------------
write("http_head", "get", "GET /bucket/key?list-type=2&prefix=a%2Fb HTTP/1.1\r\nHost: localhost:9000\r\n"
      "X-Amz-Date: 20130524T000000Z\r\nRange: bytes=0-9\r\n\r\n")
write("http_head", "put_chunked", "PUT /b/k HTTP/1.1\r\nHost: b.s3.local\r\nTransfer-Encoding: chunked\r\n"
      "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\nx-amz-trailer: x-amz-checksum-crc32\r\n\r\n5\r\nhello")
write("http_head", "pipelined", "HEAD / HTTP/1.0\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n")
write("http_head", "partial", "POST /b/k?uploads HTTP/1.1\r\nContent-Length: 0\r\nX-Long: " + "a" * 64)
write("http_head", "bad_target", "GET http://example.com/ HTTP/1.1\r\n\r\n")
write("http_head", "obs_text", b"GET /%C3%A9 HTTP/1.1\r\nX-Meta: caf\xc3\xa9 \t \r\nX-Bin: \xff\r\n\r\n")

# --- http_chunked ------------------------------------------------------------------------
write("http_chunked", "simple", "5\r\nhello\r\n7;name=value\r\n, world\r\n0\r\n\r\nNEXT")
write("http_chunked", "trailers", "3\r\nabc\r\n0\r\nX-Checksum: 1234 \r\nOther:v\r\n\r\n")
write("http_chunked", "hex_zeros", "00A\r\n0123456789\r\n0000\r\n\r\n")
write("http_chunked", "too_big", "10000000001\r\n")
write("http_chunked", "bare_lf", "5\nhello\r\n0\r\n\r\n")
write("http_chunked", "ext_ws", "1 ; a=b\t;c\r\nx\r\n0 \r\n\r\n")

# --- aws_chunked (byte 0 picks the variant) ----------------------------------------------
write("aws_chunked", "unsigned_trailer", b"U" + aws_body([b"abc", b"de"], [("x-amz-checksum-crc32", "NSRBwg==")], signed=False))
write("aws_chunked", "unsigned_small_limit", b"u" + aws_body([b"a" * 65], [], signed=False))
write("aws_chunked", "signed", b"S" + aws_body([b"hello world", b"!"], None))
write("aws_chunked", "signed_trailer", b"T" + aws_body([b"payload"], [("x-amz-checksum-crc32c", "sOO8/Q==")]))
write("aws_chunked", "signed_bad_sig", b"S" + aws_body([b"hello"], None).replace(b"=", b"=0", 1))
write("aws_chunked", "signed_no_sig", b"S5\r\nhello\r\n0\r\n\r\n")

# --- aws_chunked_roundtrip (flags, which, piece bound, chunks, trailers) ------------------
write("aws_chunked_roundtrip", "unsigned", b"\x00\x00\x07" + b"\x03abc\x02de\x00" + b"x-amz-checksum-crc32:NSRBwg==\nother: v ")
write("aws_chunked_roundtrip", "signed", b"\x01\x00\x10" + b"\x05hello\x01!\x00")
write("aws_chunked_roundtrip", "signed_trailer", b"\x02\x00\x03" + b"\x07payload\x00" + b"x-amz-checksum-sha256:abc=")
write("aws_chunked_roundtrip", "signed_corrupt", b"\x05\x01\x05" + b"\x05hello\x05world\x00")
write("aws_chunked_roundtrip", "trailer_corrupt", b"\x06\x02\x01" + b"\x01x\x00" + b"a:b\nc:d")

# --- sigv4_canonical ---------------------------------------------------------------------
write("sigv4_canonical", "path", "/examplebucket/my%20photo+1$.jpg")
write("sigv4_canonical", "encoded_slash", "/b/a%2Fb//c/%E2%82%AC")
write("sigv4_canonical", "query", "X-Amz-Signature=abc&b=2&a=1&a=&uploads&prefix=a%2Fb&x=a+b")
write("sigv4_canonical", "bad_escape", "%zz%4%%41&=&&=x")
write("sigv4_canonical", "unicode", "/ключ/é?q=✓")

# --- sigv4_authenticate (mode, parameter, head as text) ----------------------------------
write("sigv4_authenticate", "raw_header", "R0GET /test.txt\nhost: examplebucket.s3.amazonaws.com\nrange: bytes=0-9\n"
      "x-amz-content-sha256: " + EMPTY + "\nx-amz-date: 20130524T000000Z\n"
      "authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\n")
write("sigv4_authenticate", "raw_presigned", "R0GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
      "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
      "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
      "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404\nhost: examplebucket.s3.amazonaws.com\n")
write("sigv4_authenticate", "raw_anonymous", "R0PUT /b/k?AWSAccessKeyId=x&Signature=y\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\n")
write("sigv4_authenticate", "raw_date", "R0GET /\ndate: Fri, 24 May 2013 00:00:00 GMT\nauthorization: AWS4-HMAC-SHA256 Credential=A/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\n")
write("sigv4_authenticate", "header_signed", "H\x02PUT /bucket/key%20name?partNumber=1&uploadId=abc\nhost: examplebucket.s3.amazonaws.com\n"
      "x-amz-meta-a:  one   two \nx-amz-meta-a: three\ncontent-type: text/plain\n")
write("sigv4_authenticate", "header_skewed", "H\x7fGET /\n")
write("sigv4_authenticate", "presigned", "P\x02GET /bucket/key?versionId=1&x=a+b\nhost: localhost:9000\n")
write("sigv4_authenticate", "presigned_expired", "P\x14GET /b/k\n")

# --- range (size line, then the header) --------------------------------------------------
for name, data in [("first", "1000\nbytes=0-99"), ("open", "1000\nbytes=900-"), ("suffix", "1000\nbytes=-100"),
                   ("beyond", "10\nbytes=10-20"), ("multi", "100\nbytes=0-1,5-6"), ("empty_obj", "0\nbytes=-5"),
                   ("huge", "18446744073709551615\n bytes= 18446744073709551614 - 18446744073709551615 "),
                   ("reversed", "100\nbytes=9-3")]:
    write("range", name, data)

# --- query -------------------------------------------------------------------------------
write("query", "list", "list-type=2&prefix=a%2Fb&delimiter=%2F&uploads&x=a+b")
write("query", "escapes", "a=%zz&%=%&&b=%E2%82&=")
write("query", "unicode", "k%C3%A9y=v%E2%9C%93&plus=%2B+%20")

# --- route (METHOD TARGET, domain, headers) ----------------------------------------------
for name, data in [
    ("list_buckets", "GET /\ns3.local\nhost: localhost:9000"),
    ("vhost_object", "PUT /photos/2024/a.jpg\ns3.local\nhost: mybucket.s3.local:9000"),
    ("upload_part", "PUT /b/k?partNumber=3&uploadId=xyz\n\nhost: localhost\nx-amz-copy-source: /a/b"),
    ("complete", "POST /b/k?uploadId=xyz\ns3.local\nhost: localhost"),
    ("subresource", "DELETE /b?tagging\ns3.local\nhost: [::1]:9000"),
    ("acl", "GET /b/k%2Fx?acl\n\nhost: h"),
    ("bad_utf8", "GET /b/%FF\n\n"),
    ("options", "OPTIONS /b/k\ns3.local\n"),
]:
    write("route", name, data)

# --- XML bodies --------------------------------------------------------------------------
NS = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
write("xml_complete_multipart", "two_parts", f'<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload{NS}>'
      '<Part><PartNumber>1</PartNumber><ETag>"a54357aff0632cce46d942af68356b38"</ETag></Part>'
      '<Part><ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;</ETag><PartNumber> 2 </PartNumber>'
      '<ChecksumCRC32> sOO8/Q== </ChecksumCRC32><Unknown/></Part></CompleteMultipartUpload>')
write("xml_complete_multipart", "bad_number", '<CompleteMultipartUpload><Part><PartNumber>-10001</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>')
write("xml_complete_multipart", "cdata_comment", '<!-- c --><CompleteMultipartUpload><Part><PartNumber><![CDATA[10000]]></PartNumber>'
      '<ETag>e</ETag><ChecksumSHA256>x</ChecksumSHA256></Part><?pi x?></CompleteMultipartUpload>')
write("xml_complete_multipart", "doctype", '<!DOCTYPE x [<!ENTITY a "b">]><CompleteMultipartUpload>&a;</CompleteMultipartUpload>')

write("xml_delete_objects", "quiet", f'<Delete{NS}><Quiet>true</Quiet><Object><Key>a b</Key></Object>'
      '<Object><Key>c&amp;d</Key><VersionId>v1</VersionId><ETag>x</ETag></Object></Delete>')
write("xml_delete_objects", "empty_key", '<Delete><Object><Key></Key></Object><Object><Key> </Key></Object><Quiet>0</Quiet></Delete>')
write("xml_delete_objects", "prefixed", '<s3:Delete xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:Object><s3:Key>&#x1F600;&lt;</s3:Key></s3:Object></s3:Delete>')
write("xml_tagging", "boto3", f'<Tagging{NS}><TagSet><Tag><Key>a b</Key><Value>1</Value></Tag></TagSet></Tagging>')
write("xml_tagging", "empty_set", '<Tagging><TagSet/></Tagging>')
write("xml_object_lock", "config", f'<ObjectLockConfiguration{NS}><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>')
write("xml_object_lock", "retention", f'<Retention{NS}><Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00.000Z</RetainUntilDate></Retention>')
write("xml_object_lock", "legal_hold", f'<LegalHold{NS}><Status>ON</Status></LegalHold>')

write("xml_acl", "full", f'<AccessControlPolicy{NS}><Owner><ID>owner-id</ID><DisplayName>me</DisplayName></Owner>'
      '<AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">'
      '<ID>owner-id</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>'
      '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group">'
      '<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>'
      '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="AmazonCustomerByEmail">'
      '<EmailAddress>a@example.com</EmailAddress></Grantee><Permission>WRITE_ACP</Permission></Grant>'
      '</AccessControlList></AccessControlPolicy>')
write("xml_acl", "untyped", '<AccessControlPolicy><AccessControlList><Grant><Grantee><ID> x&#9; </ID><DisplayName>&lt;n&gt;</DisplayName>'
      '</Grantee><Permission>READ_ACP</Permission></Grant></AccessControlList></AccessControlPolicy>')
write("xml_acl", "owner_only", '<AccessControlPolicy><Owner><ID>o</ID></Owner></AccessControlPolicy>')

write("xml_create_bucket", "location", f'<CreateBucketConfiguration{NS}><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>')
write("xml_create_bucket", "empty", "  \r\n")
write("xml_create_bucket", "blank_location", '<?xml version="1.0"?><CreateBucketConfiguration><LocationConstraint> </LocationConstraint><Bucket/></CreateBucketConfiguration>')
