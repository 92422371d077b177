//! Records kept in the metadata shards. Encoded with bincode; every record carries a version
//! byte first so the format can evolve without a migration pass at start-up.

use crate::hash::checksum::Algo;
use serde::{Deserialize, Serialize};

/// Who may do what: the owner plus grants, as S3 ACLs model it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Acl {
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grantee {
    User {
        id: String,
    },
    Email(String),
    AllUsers,
    AuthenticatedUsers,
    LogDelivery,
    /// Not a grantee: marks an ACL set grant by grant (an AccessControlPolicy body or
    /// x-amz-grant-* headers), where the owner holds only what its grants say (plus the
    /// READ_ACP / WRITE_ACP every owner keeps). Without it (canned ACLs, records written
    /// before it existed) the owner holds FULL_CONTROL implicitly. A new variant at the end
    /// keeps older records decoding unchanged.
    ExplicitOwner,
}

/// One permission of an ACL; stored in records and named on the wire (`s3::xml` re-exports
/// it). Variants are only ever appended: records encode the variant index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    FullControl,
    Read,
    Write,
    ReadAcp,
    WriteAcp,
}

impl Permission {
    /// The wire name: `FULL_CONTROL`, `READ`, `WRITE`, `READ_ACP`, `WRITE_ACP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::FullControl => "FULL_CONTROL",
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
        }
    }

    /// Parses the wire name (exact, case-sensitive as AWS is).
    pub fn parse(s: &str) -> Option<Permission> {
        Some(match s {
            "FULL_CONTROL" => Permission::FullControl,
            "READ" => Permission::Read,
            "WRITE" => Permission::Write,
            "READ_ACP" => Permission::ReadAcp,
            "WRITE_ACP" => Permission::WriteAcp,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketMeta {
    pub name: String,
    pub owner_id: String,
    pub created_ms: u64,
    pub region: String,
    pub acl: Acl,
    /// Record format 2: whether the bucket keeps versions (see `meta::versions`).
    pub versioning: Versioning,
    /// The bucket's tag set (PutBucketTagging), in the order given; empty: none set.
    pub tags: Tags,
    /// Record format 3: which `ConfigKind`s the bucket has a row for in `bucket_configs`
    /// (bit `kind as u8`), so a request reads a configuration only when one is set.
    pub configs: u32,
}

/// A bucket configuration kept as its own row in the `bucket_configs` table, beside the
/// bucket's record: each is set and removed whole, and most requests never read them.
/// Values are only ever appended (the discriminant is stored as the row's key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum ConfigKind {
    ObjectLock = 0,
    Lifecycle = 1,
    Cors = 2,
    Policy = 3,
    PublicAccessBlock = 4,
    OwnershipControls = 5,
}

impl ConfigKind {
    pub const ALL: [ConfigKind; 6] = [
        ConfigKind::ObjectLock,
        ConfigKind::Lifecycle,
        ConfigKind::Cors,
        ConfigKind::Policy,
        ConfigKind::PublicAccessBlock,
        ConfigKind::OwnershipControls,
    ];
    /// This kind's bit in `BucketMeta::configs`.
    pub fn bit(self) -> u32 {
        1 << (self as u8)
    }
    pub fn from_u8(v: u8) -> Option<ConfigKind> {
        ConfigKind::ALL.into_iter().find(|k| *k as u8 == v)
    }
}

impl BucketMeta {
    /// Whether the bucket has a `kind` configuration row (no read of the row itself).
    pub fn has_config(&self, kind: ConfigKind) -> bool {
        self.configs & kind.bit() != 0
    }
}

/// Object lock state of one object version (S3 Object Lock): retention and legal hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    pub retention: Option<Retention>,
    pub legal_hold: LegalHold,
}

impl ObjectLock {
    /// Whether the version asks for protection (a retention, a legal hold ON): what a bucket
    /// without Object Lock refuses. A hold set OFF asks for nothing.
    pub fn protects(&self) -> bool {
        self.retention.is_some() || self.legal_hold.is_on()
    }
}

/// A version's legal hold: never set (GetObjectLegalHold answers 404
/// NoSuchObjectLockConfiguration, as AWS), or set ON or OFF.
///
/// Encoded as one byte, 0 never set, 1 ON, 2 OFF: the byte a format-3 record held as a
/// `bool` before, so those records decode unchanged (`false` as never set, `true` as ON)
/// and the record shape stays format 3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LegalHold {
    #[default]
    Unset,
    On,
    Off,
}

impl LegalHold {
    pub fn is_on(self) -> bool {
        self == LegalHold::On
    }
    /// The hold a request sets (`ON`: true).
    pub fn set(on: bool) -> LegalHold {
        if on {
            LegalHold::On
        } else {
            LegalHold::Off
        }
    }
    fn byte(self) -> u8 {
        match self {
            LegalHold::Unset => 0,
            LegalHold::On => 1,
            LegalHold::Off => 2,
        }
    }
}

impl Serialize for LegalHold {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.byte())
    }
}

impl<'de> Deserialize<'de> for LegalHold {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u8::deserialize(d)? {
            0 => Ok(LegalHold::Unset),
            1 => Ok(LegalHold::On),
            2 => Ok(LegalHold::Off),
            v => Err(serde::de::Error::custom(format!("legal hold byte {v}"))),
        }
    }
}

/// A retention period: the version cannot be deleted or overwritten before `until_ms`
/// (GOVERNANCE: unless bypassed by a permitted caller; COMPLIANCE: by no one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: LockMode,
    pub until_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockMode {
    Governance,
    Compliance,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }
    pub fn parse(s: &str) -> Option<LockMode> {
        match s {
            "GOVERNANCE" => Some(LockMode::Governance),
            "COMPLIANCE" => Some(LockMode::Compliance),
            _ => None,
        }
    }
}

/// A bucket's versioning state. `Unversioned` (never enabled) keeps today's one-record-per-key
/// model; once enabled a bucket can only be suspended, never return to `Unversioned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Versioning {
    #[default]
    Unversioned,
    Enabled,
    Suspended,
}

/// Which version an object record is: its place in the key's history (`seq`, newer is
/// larger) and whether its id is `null` (written while unversioned or suspended). Records
/// of format 1 are the null version with seq 0, older than any version written since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct VersionStamp {
    pub seq: u64,
    pub null: bool,
}

impl VersionStamp {
    /// The null version of an unversioned bucket's object.
    pub const NULL: VersionStamp = VersionStamp { seq: 0, null: true };
}

/// A delete marker: a version with no data that hides the key from GET and listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMarker {
    pub owner_id: String,
    pub last_modified_ms: u64,
    pub version: VersionStamp,
}

/// A record of the versions table: a noncurrent object version, or a delete marker.
/// (Unboxed: a record is decoded, used and dropped, never kept in bulk beside markers.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum VersionRecord {
    Object(ObjectMeta),
    Marker(DeleteMarker),
}

impl VersionRecord {
    pub fn stamp(&self) -> VersionStamp {
        match self {
            VersionRecord::Object(m) => m.version,
            VersionRecord::Marker(d) => d.version,
        }
    }
    /// Data files this version names (a marker names none).
    pub fn file_ids(&self) -> Vec<u128> {
        match self {
            VersionRecord::Object(m) => m.file_ids(),
            VersionRecord::Marker(_) => Vec::new(),
        }
    }
}

/// A tag set: (key, value) pairs with distinct keys, in the order the client gave them.
pub type Tags = Vec<(String, String)>;

/// Where an object's bytes are: inside the record, or in data files (one per part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataLoc {
    /// As bytes, not a sequence of u8: serde otherwise visits a 4 KiB object byte by byte on
    /// every encode and decode. bincode writes both the same way (u64 length, raw bytes), so
    /// records written before this attribute still decode.
    Inline(#[serde(with = "serde_bytes")] Vec<u8>),
    Files(Vec<Segment>),
    /// In the gateway's upstream (see `Gateway::object_name`); each segment's `file_id` is
    /// the upstream version, and the segments (no CRCs) record part boundaries for
    /// GET ?partNumber.
    Upstream(Vec<Segment>),
}

/// One data file holding a contiguous run of the object (a whole object, or one part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub file_id: u128,
    pub len: u64,
    /// For multipart objects: the part's own ETag (bare hex), used by GET ?partNumber.
    pub part_etag: Option<String>,
    /// CRC32C of each `IO_CHUNK_BYTES` chunk of the file, checked on every read from disk so
    /// flipped bits are reported, never served.
    pub chunk_crc32c: Vec<u32>,
}

/// Checksums as S3 reports them: base64 of the big-endian digest, keyed by algorithm.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    /// For a composite (multipart) checksum, the number of parts (rendered `value-N`);
    /// 0 for a checksum of the full object.
    pub composite_parts: u32,
}

impl Checksums {
    /// The stored value of `algo`, if the object has one.
    pub fn get(&self, algo: Algo) -> Option<&String> {
        match algo {
            Algo::Crc32 => self.crc32.as_ref(),
            Algo::Crc32c => self.crc32c.as_ref(),
            Algo::Crc64Nvme => self.crc64nvme.as_ref(),
            Algo::Sha1 => self.sha1.as_ref(),
            Algo::Sha256 => self.sha256.as_ref(),
        }
    }

    pub fn set(&mut self, algo: Algo, value: String) {
        let slot = match algo {
            Algo::Crc32 => &mut self.crc32,
            Algo::Crc32c => &mut self.crc32c,
            Algo::Crc64Nvme => &mut self.crc64nvme,
            Algo::Sha1 => &mut self.sha1,
            Algo::Sha256 => &mut self.sha256,
        };
        *slot = Some(value);
    }
}

/// User metadata: (name without `x-amz-meta-`, value) in arrival order. Values are bytes:
/// HTTP allows obs-text (0x80–0xFF) in a field value and clients send latin-1 as well as
/// UTF-8, and a GET must return exactly what the PUT sent.
pub type UserMeta = Vec<(String, Vec<u8>)>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub size: u64,
    /// Bare ETag (hex md5, or "hex-N" for multipart), without quotes.
    pub etag: String,
    pub last_modified_ms: u64,
    pub owner_id: String,
    pub content_type: String,
    /// Standard representation headers stored as sent (content-encoding, cache-control, ...).
    pub headers: Vec<(String, String)>,
    /// x-amz-meta-* with the prefix removed, names lower-case, values the bytes received.
    pub user_meta: UserMeta,
    pub checksums: Checksums,
    pub acl: Acl,
    pub data: DataLoc,
    /// The multipart upload this object was completed from (makes a retried Complete
    /// answer the same result instead of NoSuchUpload).
    pub upload_id: Option<String>,
    /// Record format 2: which version this is (format 1: the null version, seq 0).
    pub version: VersionStamp,
    /// The object's tag set (x-amz-tagging, PutObjectTagging); empty: none.
    pub tags: Tags,
    /// Record format 3: this version's retention and legal hold (none before format 3).
    pub lock: ObjectLock,
}

impl BucketMeta {
    /// A bucket owned by `owner`, never versioned, untagged: the record unit tests start from.
    #[cfg(test)]
    pub fn test_new(name: &str, owner: &str) -> BucketMeta {
        BucketMeta {
            name: name.into(),
            owner_id: owner.into(),
            created_ms: 1,
            region: "us-east-1".into(),
            acl: Acl::default(),
            versioning: Versioning::default(),
            tags: vec![],
            configs: 0,
        }
    }
}

impl ObjectMeta {
    /// An empty inline object owned by `owner`: the record unit tests start from.
    #[cfg(test)]
    pub fn test_empty(owner: &str) -> ObjectMeta {
        ObjectMeta {
            size: 0,
            etag: "e".into(),
            last_modified_ms: 1,
            owner_id: owner.into(),
            content_type: String::new(),
            headers: vec![],
            user_meta: vec![],
            checksums: Checksums::default(),
            acl: Acl::default(),
            data: DataLoc::Inline(vec![]),
            upload_id: None,
            version: VersionStamp::default(),
            tags: vec![],
            lock: ObjectLock::default(),
        }
    }

    pub fn parts_count(&self) -> Option<usize> {
        match &self.data {
            DataLoc::Files(segs) | DataLoc::Upstream(segs)
                if segs.iter().any(|s| s.part_etag.is_some()) =>
            {
                Some(segs.len())
            }
            _ => None,
        }
    }
    pub fn file_ids(&self) -> Vec<u128> {
        match &self.data {
            DataLoc::Inline(_) => Vec::new(),
            DataLoc::Files(segs) => segs.iter().map(|s| s.file_id).collect(),
            // Every segment of an upstream object names the same version.
            DataLoc::Upstream(segs) => segs.first().map(|s| s.file_id).into_iter().collect(),
        }
    }
}

/// An in-progress multipart upload: what CreateMultipartUpload was told, for Complete.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadMeta {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub initiated_ms: u64,
    pub owner_id: String,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub user_meta: UserMeta,
    pub acl: Acl,
    pub checksum_algorithm: Option<String>,
    /// x-amz-tagging of CreateMultipartUpload: the completed object's tag set.
    pub tags: Tags,
    /// Record format 3: the lock headers of CreateMultipartUpload, for the completed object.
    pub lock: ObjectLock,
}

/// Suffix of `UploadMeta::checksum_algorithm` for a full-object checksum (`CRC32:FULL_OBJECT`).
/// Kept inside the one field so upload records written before stay readable.
pub const FULL_OBJECT_SUFFIX: &str = ":FULL_OBJECT";

impl UploadMeta {
    /// The checksum algorithm's name (`CRC32`), without the checksum type.
    pub fn checksum_algo_name(&self) -> Option<&str> {
        self.checksum_algorithm
            .as_deref()
            .map(|a| a.strip_suffix(FULL_OBJECT_SUFFIX).unwrap_or(a))
    }
    /// Whether Complete combines the parts' CRCs into one of the whole object (else composite).
    pub fn full_object_checksum(&self) -> bool {
        self.checksum_algorithm
            .as_deref()
            .map(|a| a.ends_with(FULL_OBJECT_SUFFIX))
            .unwrap_or(false)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartMeta {
    pub size: u64,
    pub etag: String,
    pub last_modified_ms: u64,
    pub file_id: u128,
    pub checksums: Checksums,
    /// See `Segment::chunk_crc32c`.
    pub chunk_crc32c: Vec<u32>,
}

/// Record format version; bump when a record type changes shape.
/// - Format 2: user metadata values are bytes (format 1 held them as `String`; bincode writes
///   both alike), and `BucketMeta::versioning`, `ObjectMeta::version` and `tags` (buckets,
///   objects, uploads) were appended.
/// - Format 3: `BucketMeta::configs`, `ObjectMeta::lock` and `UploadMeta::lock` appended.
///   Its legal-hold byte was a `bool`; it is now a `LegalHold` (0, 1, or 2 for a hold set
///   OFF), which decodes the older 0 and 1 alike.
///
/// Older records still decode (`Record::decode_v1`, `Record::decode_v2`), the new fields at
/// their defaults; they are rewritten in the current format when next changed.
const RECORD_VERSION: u8 = 3;

/// A record type kept in a shard: how it decodes from each record format.
pub trait Record: Serialize + for<'de> Deserialize<'de> {
    /// Decodes a format-1 record (the same shape unless the type changed since).
    fn decode_v1(bytes: &[u8]) -> Result<Self, bincode::Error> {
        bincode::deserialize(bytes)
    }
    /// Decodes a format-2 record (the same shape unless the type changed since).
    fn decode_v2(bytes: &[u8]) -> Result<Self, bincode::Error> {
        bincode::deserialize(bytes)
    }
}

impl Record for PartMeta {}

impl Record for VersionRecord {
    fn decode_v2(bytes: &[u8]) -> Result<Self, bincode::Error> {
        Ok(match bincode::deserialize(bytes)? {
            v2::VersionRecordV2::Object(o) => VersionRecord::Object(o.into()),
            v2::VersionRecordV2::Marker(m) => VersionRecord::Marker(m),
        })
    }
}

impl Record for BucketMeta {
    fn decode_v1(bytes: &[u8]) -> Result<Self, bincode::Error> {
        let v1: v1::BucketMetaV1 = bincode::deserialize(bytes)?;
        Ok(BucketMeta {
            name: v1.name,
            owner_id: v1.owner_id,
            created_ms: v1.created_ms,
            region: v1.region,
            acl: v1.acl,
            versioning: Versioning::default(),
            tags: Vec::new(),
            configs: 0,
        })
    }
    fn decode_v2(bytes: &[u8]) -> Result<Self, bincode::Error> {
        let b: v2::BucketMetaV2 = bincode::deserialize(bytes)?;
        Ok(BucketMeta {
            name: b.name,
            owner_id: b.owner_id,
            created_ms: b.created_ms,
            region: b.region,
            acl: b.acl,
            versioning: b.versioning,
            tags: b.tags,
            configs: 0,
        })
    }
}

impl Record for ObjectMeta {
    fn decode_v1(bytes: &[u8]) -> Result<Self, bincode::Error> {
        let v1: v1::ObjectMetaV1 = bincode::deserialize(bytes)?;
        Ok(ObjectMeta {
            size: v1.size,
            etag: v1.etag,
            last_modified_ms: v1.last_modified_ms,
            owner_id: v1.owner_id,
            content_type: v1.content_type,
            headers: v1.headers,
            user_meta: user_meta_from_v1(v1.user_meta),
            checksums: v1.checksums,
            acl: v1.acl,
            data: v1.data,
            upload_id: v1.upload_id,
            version: VersionStamp::NULL,
            tags: Vec::new(),
            lock: ObjectLock::default(),
        })
    }
    fn decode_v2(bytes: &[u8]) -> Result<Self, bincode::Error> {
        let o: v2::ObjectMetaV2 = bincode::deserialize(bytes)?;
        Ok(o.into())
    }
}

impl Record for UploadMeta {
    fn decode_v1(bytes: &[u8]) -> Result<Self, bincode::Error> {
        let u: v1::UploadMetaV1 = bincode::deserialize(bytes)?;
        Ok(UploadMeta {
            bucket: u.bucket,
            key: u.key,
            upload_id: u.upload_id,
            initiated_ms: u.initiated_ms,
            owner_id: u.owner_id,
            content_type: u.content_type,
            headers: u.headers,
            user_meta: user_meta_from_v1(u.user_meta),
            acl: u.acl,
            checksum_algorithm: u.checksum_algorithm,
            tags: Vec::new(),
            lock: ObjectLock::default(),
        })
    }
    fn decode_v2(bytes: &[u8]) -> Result<Self, bincode::Error> {
        let u: v2::UploadMetaV2 = bincode::deserialize(bytes)?;
        Ok(UploadMeta {
            bucket: u.bucket,
            key: u.key,
            upload_id: u.upload_id,
            initiated_ms: u.initiated_ms,
            owner_id: u.owner_id,
            content_type: u.content_type,
            headers: u.headers,
            user_meta: u.user_meta,
            acl: u.acl,
            checksum_algorithm: u.checksum_algorithm,
            tags: u.tags,
            lock: ObjectLock::default(),
        })
    }
}

/// Format-1 user metadata values were text: the same bytes.
fn user_meta_from_v1(meta: Vec<(String, String)>) -> UserMeta {
    meta.into_iter().map(|(n, v)| (n, v.into_bytes())).collect()
}

/// Record format 1, frozen: never edit these, they are what old data directories hold.
mod v1 {
    use super::{Acl, Checksums, DataLoc};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    pub struct BucketMetaV1 {
        pub name: String,
        pub owner_id: String,
        pub created_ms: u64,
        pub region: String,
        pub acl: Acl,
    }

    #[derive(Serialize, Deserialize)]
    pub struct ObjectMetaV1 {
        pub size: u64,
        pub etag: String,
        pub last_modified_ms: u64,
        pub owner_id: String,
        pub content_type: String,
        pub headers: Vec<(String, String)>,
        pub user_meta: Vec<(String, String)>,
        pub checksums: Checksums,
        pub acl: Acl,
        pub data: DataLoc,
        pub upload_id: Option<String>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct UploadMetaV1 {
        pub bucket: String,
        pub key: String,
        pub upload_id: String,
        pub initiated_ms: u64,
        pub owner_id: String,
        pub content_type: String,
        pub headers: Vec<(String, String)>,
        pub user_meta: Vec<(String, String)>,
        pub acl: Acl,
        pub checksum_algorithm: Option<String>,
    }
}

/// Record format 2, frozen: never edit these, they are what data directories of format 2 hold.
mod v2 {
    use super::{
        Acl, Checksums, DataLoc, DeleteMarker, ObjectLock, ObjectMeta, Tags, UserMeta,
        VersionStamp, Versioning,
    };
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    pub struct BucketMetaV2 {
        pub name: String,
        pub owner_id: String,
        pub created_ms: u64,
        pub region: String,
        pub acl: Acl,
        pub versioning: Versioning,
        pub tags: Tags,
    }

    #[derive(Serialize, Deserialize)]
    pub struct ObjectMetaV2 {
        pub size: u64,
        pub etag: String,
        pub last_modified_ms: u64,
        pub owner_id: String,
        pub content_type: String,
        pub headers: Vec<(String, String)>,
        pub user_meta: UserMeta,
        pub checksums: Checksums,
        pub acl: Acl,
        pub data: DataLoc,
        pub upload_id: Option<String>,
        pub version: VersionStamp,
        pub tags: Tags,
    }

    impl From<ObjectMetaV2> for ObjectMeta {
        fn from(o: ObjectMetaV2) -> ObjectMeta {
            ObjectMeta {
                size: o.size,
                etag: o.etag,
                last_modified_ms: o.last_modified_ms,
                owner_id: o.owner_id,
                content_type: o.content_type,
                headers: o.headers,
                user_meta: o.user_meta,
                checksums: o.checksums,
                acl: o.acl,
                data: o.data,
                upload_id: o.upload_id,
                version: o.version,
                tags: o.tags,
                lock: ObjectLock::default(),
            }
        }
    }

    #[derive(Serialize, Deserialize)]
    pub struct UploadMetaV2 {
        pub bucket: String,
        pub key: String,
        pub upload_id: String,
        pub initiated_ms: u64,
        pub owner_id: String,
        pub content_type: String,
        pub headers: Vec<(String, String)>,
        pub user_meta: UserMeta,
        pub acl: Acl,
        pub checksum_algorithm: Option<String>,
        pub tags: Tags,
    }

    #[allow(clippy::large_enum_variant)]
    #[derive(Serialize, Deserialize)]
    pub enum VersionRecordV2 {
        Object(ObjectMetaV2),
        Marker(DeleteMarker),
    }
}

pub fn encode<T: Record>(value: &T) -> Vec<u8> {
    // Sized up front: a 4 KiB inline record would otherwise grow the Vec several times.
    let size = bincode::serialized_size(value).unwrap_or(0) as usize;
    let mut out = Vec::with_capacity(1 + size);
    out.push(RECORD_VERSION);
    // Serializing plain structs into a Vec cannot fail.
    bincode::serialize_into(&mut out, value).expect("bincode serialize into Vec");
    out
}

pub fn decode<T: Record>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, rest)) => bincode::deserialize(rest).map_err(|e| e.to_string()),
        Some((1, rest)) => T::decode_v1(rest).map_err(|e| e.to_string()),
        Some((2, rest)) => T::decode_v2(rest).map_err(|e| e.to_string()),
        Some((v, _)) => Err(format!("unknown record version {v}")),
        None => Err("empty record".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_record_round_trips() {
        let m = ObjectMeta {
            size: 3,
            etag: "abc".into(),
            last_modified_ms: 7,
            owner_id: "o".into(),
            content_type: "text/plain".into(),
            headers: vec![("cache-control".into(), "no-cache".into())],
            user_meta: vec![("k".into(), b"v\xe9".to_vec())],
            checksums: Checksums {
                crc32: Some("AAAA".into()),
                ..Default::default()
            },
            acl: Acl::default(),
            data: DataLoc::Files(vec![Segment {
                file_id: 9,
                len: 3,
                part_etag: None,
                chunk_crc32c: vec![7],
            }]),
            upload_id: None,
            version: VersionStamp {
                seq: 5,
                null: false,
            },
            tags: vec![("k".into(), "v".into())],
            lock: ObjectLock {
                retention: Some(Retention {
                    mode: LockMode::Compliance,
                    until_ms: 99,
                }),
                legal_hold: LegalHold::Off,
            },
        };
        let back: ObjectMeta = decode(&encode(&m)).unwrap();
        assert_eq!(back.lock, m.lock);
        assert_eq!(back.tags, m.tags);
        assert_eq!(back.etag, "abc");
        assert_eq!(back.data, m.data);
        assert_eq!(back.user_meta, m.user_meta);
        assert!(decode::<ObjectMeta>(&[9, 1, 2]).is_err());
    }

    #[test]
    fn version_1_records_still_decode() {
        #[derive(Serialize)]
        struct V1Object<'a> {
            size: u64,
            etag: &'a str,
            last_modified_ms: u64,
            owner_id: &'a str,
            content_type: &'a str,
            headers: Vec<(String, String)>,
            user_meta: Vec<(String, String)>,
            checksums: Checksums,
            acl: Acl,
            data: DataLoc,
            upload_id: Option<String>,
        }
        let old = V1Object {
            size: 1,
            etag: "e",
            last_modified_ms: 2,
            owner_id: "o",
            content_type: "t",
            headers: vec![],
            user_meta: vec![("k".into(), "café".into())],
            checksums: Checksums::default(),
            acl: Acl::default(),
            data: DataLoc::Inline(b"x".to_vec()),
            upload_id: Some("u".into()),
        };
        let mut record = vec![1u8];
        record.extend(bincode::serialize(&old).unwrap());
        let back: ObjectMeta = decode(&record).unwrap();
        assert_eq!(
            back.user_meta,
            [("k".to_string(), "café".as_bytes().to_vec())]
        );
        assert_eq!(back.upload_id.as_deref(), Some("u"));
        assert_eq!(back.data, DataLoc::Inline(b"x".to_vec()));

        #[derive(Serialize)]
        struct V1Upload {
            bucket: String,
            key: String,
            upload_id: String,
            initiated_ms: u64,
            owner_id: String,
            content_type: String,
            headers: Vec<(String, String)>,
            user_meta: Vec<(String, String)>,
            acl: Acl,
            checksum_algorithm: Option<String>,
        }
        let old = V1Upload {
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "u".into(),
            initiated_ms: 3,
            owner_id: "o".into(),
            content_type: "t".into(),
            headers: vec![],
            user_meta: vec![("n".into(), "v".into())],
            acl: Acl::default(),
            checksum_algorithm: Some("CRC32".into()),
        };
        let mut record = vec![1u8];
        record.extend(bincode::serialize(&old).unwrap());
        let back: UploadMeta = decode(&record).unwrap();
        assert_eq!(back.user_meta, [("n".to_string(), b"v".to_vec())]);
        assert_eq!(back.checksum_algorithm.as_deref(), Some("CRC32"));
        // unchanged types read their version-1 records as they are
        let part = PartMeta {
            size: 1,
            etag: "e".into(),
            last_modified_ms: 1,
            file_id: 7,
            checksums: Checksums::default(),
            chunk_crc32c: vec![],
        };
        let mut record = vec![1u8];
        record.extend(bincode::serialize(&part).unwrap());
        assert_eq!(decode::<PartMeta>(&record).unwrap().file_id, 7);
    }

    #[test]
    fn inline_bytes_keep_the_record_format() {
        // DataLoc as it was serialized before `serde_bytes`: a plain sequence of u8.
        #[derive(Serialize)]
        enum OldDataLoc {
            Inline(Vec<u8>),
        }
        let data: Vec<u8> = (0..=255).cycle().take(4096).collect();
        let old = bincode::serialize(&OldDataLoc::Inline(data.clone())).unwrap();
        let new = bincode::serialize(&DataLoc::Inline(data.clone())).unwrap();
        assert_eq!(old, new);
        let back: DataLoc = bincode::deserialize(&old).unwrap();
        assert_eq!(back, DataLoc::Inline(data));
    }

    #[test]
    fn format_1_records_still_decode() {
        let obj = v1::ObjectMetaV1 {
            size: 1,
            etag: "e".into(),
            last_modified_ms: 2,
            owner_id: "o".into(),
            content_type: "t".into(),
            headers: vec![],
            user_meta: vec![("a".into(), "b".into())],
            checksums: Checksums::default(),
            acl: Acl::default(),
            data: DataLoc::Inline(vec![7]),
            upload_id: Some("u".into()),
        };
        let mut bytes = vec![1u8];
        bytes.extend(bincode::serialize(&obj).unwrap());
        let back: ObjectMeta = decode(&bytes).unwrap();
        assert_eq!(back.data, DataLoc::Inline(vec![7]));
        assert_eq!(back.upload_id.as_deref(), Some("u"));
        assert_eq!(back.version, VersionStamp::NULL);
        assert!(back.tags.is_empty());
        let bucket = v1::BucketMetaV1 {
            name: "b".into(),
            owner_id: "o".into(),
            created_ms: 3,
            region: "r".into(),
            acl: Acl::default(),
        };
        let mut bytes = vec![1u8];
        bytes.extend(bincode::serialize(&bucket).unwrap());
        let back: BucketMeta = decode(&bytes).unwrap();
        assert_eq!((back.name.as_str(), back.created_ms), ("b", 3));
        assert_eq!(back.versioning, Versioning::Unversioned);
        assert!(back.tags.is_empty());
        // Unchanged types decode from format 1 as they are.
        let part = PartMeta {
            size: 1,
            etag: "e".into(),
            last_modified_ms: 1,
            file_id: 4,
            checksums: Checksums::default(),
            chunk_crc32c: vec![],
        };
        let mut bytes = vec![1u8];
        bytes.extend(bincode::serialize(&part).unwrap());
        assert_eq!(decode::<PartMeta>(&bytes).unwrap().file_id, 4);
    }

    #[test]
    fn version_2_records_still_decode() {
        let old = v2::ObjectMetaV2 {
            size: 1,
            etag: "e".into(),
            last_modified_ms: 2,
            owner_id: "o".into(),
            content_type: "t".into(),
            headers: vec![],
            user_meta: vec![("k".into(), b"\xe9".to_vec())],
            checksums: Checksums::default(),
            acl: Acl::default(),
            data: DataLoc::Inline(b"x".to_vec()),
            upload_id: None,
            version: VersionStamp {
                seq: 4,
                null: false,
            },
            tags: vec![("t".into(), "v".into())],
        };
        let mut record = vec![2u8];
        record.extend(bincode::serialize(&v2::VersionRecordV2::Object(old)).unwrap());
        let VersionRecord::Object(back) = decode::<VersionRecord>(&record).unwrap() else {
            panic!("a version record of an object decodes as one");
        };
        assert_eq!(
            back.version,
            VersionStamp {
                seq: 4,
                null: false
            }
        );
        assert_eq!(back.tags, [("t".to_string(), "v".to_string())]);
        assert_eq!(back.lock, ObjectLock::default());
        // Format 3 held the legal hold as a bool: false reads as never set, true as ON.
        #[derive(Serialize)]
        struct LockV3 {
            retention: Option<Retention>,
            legal_hold: bool,
        }
        for (hold, want) in [(false, LegalHold::Unset), (true, LegalHold::On)] {
            let bytes = bincode::serialize(&LockV3 {
                retention: None,
                legal_hold: hold,
            })
            .unwrap();
            let lock: ObjectLock = bincode::deserialize(&bytes).unwrap();
            assert_eq!(lock.legal_hold, want);
        }
        let off = bincode::serialize(&LegalHold::Off).unwrap();
        assert_eq!(
            bincode::deserialize::<LegalHold>(&off).unwrap(),
            LegalHold::Off
        );
        assert!(bincode::deserialize::<LegalHold>(&[3u8]).is_err());
        let bucket = v2::BucketMetaV2 {
            name: "b".into(),
            owner_id: "o".into(),
            created_ms: 1,
            region: "r".into(),
            acl: Acl::default(),
            versioning: Versioning::Suspended,
            tags: vec![],
        };
        let mut record = vec![2u8];
        record.extend(bincode::serialize(&bucket).unwrap());
        let back: BucketMeta = decode(&record).unwrap();
        assert_eq!((back.versioning, back.configs), (Versioning::Suspended, 0));
    }
}
