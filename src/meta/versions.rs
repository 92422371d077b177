//! Object versions in a shard.
//!
//! Model:
//! - A bucket is `Unversioned` (never enabled), `Enabled` or `Suspended`
//!   (`BucketMeta::versioning`). An unversioned bucket keeps today's model exactly: one
//!   `OBJECTS` record per key, replaced in place, no other table touched.
//! - `OBJECTS[(bucket, key)]` always holds the key's *current* version when that is an object,
//!   so GET/HEAD/ListObjects without a version id stay one lookup / one scan. When the newest
//!   version is a delete marker, `OBJECTS` has no record for the key.
//! - `VERSIONS[(bucket, key, u64::MAX - seq)]` holds every other version (noncurrent objects)
//!   and every delete marker, so a range scan yields one key's history newest first.
//!   Invariant: if `OBJECTS` holds a key, its `seq` is larger than every `VERSIONS` entry of the
//!   key; if it does not, the newest `VERSIONS` entry (if any) is a delete marker.
//! - A version is identified by its `VersionStamp`: `seq` (increasing per key; the command
//!   proposes one from the clock and the apply raises it past the key's newest and, for a
//!   non-null version, past every non-null seq the shard gave (`SEQ_MAX`), so a version id is
//!   unique across the shard and the apply stays deterministic) and `null` (written while
//!   unversioned or suspended). Objects from
//!   before versioning are the null version with seq 0. At most one null version per key:
//!   a suspended PUT or DELETE replaces it (freeing its data).
//! - The wire version id of a non-null version is `seq` as 16 hex digits; `null` otherwise.

use super::lock::{deletion_refused, LockCheck};
use super::tables::{dec, ie, Tables, INFO, OBJECTS, VERSIONS};
use super::types::{encode, DeleteMarker, ObjectMeta, VersionRecord, VersionStamp, Versioning};
use crate::error::{ErrorCode, S3Error, S3Result};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

/// The `VERSIONS` key component of `seq`: newest first in key order.
pub fn order_of(seq: u64) -> u64 {
    u64::MAX - seq
}

/// A version named by a request: `null`, or a non-null version's seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersionSel {
    Null,
    Seq(u64),
}

impl VersionSel {
    pub fn matches(self, stamp: VersionStamp) -> bool {
        match self {
            VersionSel::Null => stamp.null,
            VersionSel::Seq(s) => !stamp.null && stamp.seq == s,
        }
    }
}

/// The wire id of a version.
pub fn version_id(stamp: VersionStamp) -> String {
    if stamp.null {
        "null".to_string()
    } else {
        format!("{:016x}", stamp.seq)
    }
}

/// Parses a wire version id; None when it is not one this server could have given.
pub fn parse_version_id(s: &str) -> Option<VersionSel> {
    if s == "null" {
        return Some(VersionSel::Null);
    }
    if s.len() != 16 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u64::from_str_radix(s, 16).ok().map(VersionSel::Seq)
}

// ---- reads ---------------------------------------------------------------------------------

/// The newest `VERSIONS` entry of a key.
fn newest_other(txn: &impl Tables, bucket: &str, key: &str) -> S3Result<Option<VersionRecord>> {
    let t = txn.table(VERSIONS)?;
    let mut r = t
        .range((bucket, key, 0u64)..=(bucket, key, u64::MAX))
        .map_err(ie)?;
    let newest = match r.next() {
        Some(item) => Some(dec(item.map_err(ie)?.1.value())?),
        None => None,
    };
    Ok(newest)
}

/// The `VERSIONS` entry of a key `sel` names (a null version is found by a scan: a key has
/// at most one).
fn find_other(
    txn: &impl Tables,
    bucket: &str,
    key: &str,
    sel: VersionSel,
) -> S3Result<Option<VersionRecord>> {
    let t = txn.table(VERSIONS)?;
    match sel {
        VersionSel::Seq(seq) => {
            let v = t.get((bucket, key, order_of(seq))).map_err(ie)?;
            let r: Option<VersionRecord> = v.map(|g| dec(g.value())).transpose()?;
            Ok(r.filter(|r| sel.matches(r.stamp())))
        }
        VersionSel::Null => {
            for item in t
                .range((bucket, key, 0u64)..=(bucket, key, u64::MAX))
                .map_err(ie)?
            {
                let r: VersionRecord = dec(item.map_err(ie)?.1.value())?;
                if r.stamp().null {
                    return Ok(Some(r));
                }
            }
            Ok(None)
        }
    }
}

/// The version `sel` names, and whether it is the key's newest.
pub fn find_version(
    txn: &impl Tables,
    bucket: &str,
    key: &str,
    sel: VersionSel,
) -> S3Result<Option<(VersionRecord, bool)>> {
    let cur = super::tables::get_object(txn, bucket, key)?;
    if let Some(c) = cur.as_ref().filter(|c| sel.matches(c.version)) {
        return Ok(Some((VersionRecord::Object(c.clone()), true)));
    }
    let Some(found) = find_other(txn, bucket, key, sel)? else {
        return Ok(None);
    };
    let latest =
        cur.is_none() && newest_other(txn, bucket, key)?.map(|n| n.stamp()) == Some(found.stamp());
    Ok(Some((found, latest)))
}

/// The key's newest version when that is a delete marker (why a GET without a version id
/// finds nothing).
pub fn latest_marker(txn: &impl Tables, bucket: &str, key: &str) -> S3Result<Option<DeleteMarker>> {
    Ok(match newest_other(txn, bucket, key)? {
        Some(VersionRecord::Marker(m)) => Some(m),
        _ => None,
    })
}

/// One entry of a ListObjectVersions page.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    pub key: String,
    pub record: VersionRecord,
    pub is_latest: bool,
}

/// A ListObjectVersions page: versions and markers newest first per key, keys in order,
/// with delimiter roll-ups.
#[derive(Debug, Default)]
pub struct VersionsPage {
    pub entries: Vec<VersionEntry>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    /// Where the next page starts: (key marker, version id marker).
    pub next: Option<(String, Option<String>)>,
}

/// Where a versions listing resumes.
#[derive(Debug, Clone, Default)]
pub struct VersionsFrom {
    pub key_marker: String,
    /// Within `key_marker`, list only versions older than this one.
    pub version_marker: Option<VersionSel>,
}

type RecordGuard<'a> = redb::AccessGuard<'a, &'static [u8]>;

/// The next current object of `bucket` in a forward scan of `OBJECTS`.
fn next_current<'a>(
    scan: &mut redb::Range<'a, (&'static str, &'static str), &'static [u8]>,
    bucket: &str,
) -> S3Result<Option<(String, RecordGuard<'a>)>> {
    let Some(item) = scan.next() else {
        return Ok(None);
    };
    let (k, v) = item.map_err(ie)?;
    let (b, key) = k.value();
    Ok((b == bucket).then(|| (key.to_string(), v)))
}

/// The next noncurrent version or marker of `bucket` in a forward scan of `VERSIONS`:
/// (key, seq, record).
fn next_other<'a>(
    scan: &mut redb::Range<'a, (&'static str, &'static str, u64), &'static [u8]>,
    bucket: &str,
) -> S3Result<Option<(String, u64, RecordGuard<'a>)>> {
    let Some(item) = scan.next() else {
        return Ok(None);
    };
    let (k, v) = item.map_err(ie)?;
    let (b, key, order) = k.value();
    Ok((b == bucket).then(|| (key.to_string(), order_of(order), v)))
}

/// Adds one entry to a page unless it is full (then marks it truncated and answers false).
fn push_entry(
    page: &mut VersionsPage,
    max: usize,
    key: &str,
    record: VersionRecord,
    latest: bool,
) -> bool {
    if page.entries.len() + page.prefixes.len() >= max {
        page.truncated = true;
        return false;
    }
    page.next = Some((key.to_string(), Some(version_id(record.stamp()))));
    page.entries.push(VersionEntry {
        key: key.to_string(),
        record,
        is_latest: latest,
    });
    true
}

/// Lists versions of keys under `prefix` from `from`, at most `max` entries and prefixes.
/// Both tables are read by one forward scan each, merged by key (a key's current object,
/// then its `VERSIONS` rows newest first), so a page costs two seeks plus one step per
/// entry whatever the bucket holds; a delimiter roll-up seeks both scans past its prefix.
/// Records are decoded only for the entries listed.
pub fn list_versions(
    txn: &impl Tables,
    bucket: &str,
    prefix: &str,
    delimiter: &str,
    from: &VersionsFrom,
    max: usize,
) -> S3Result<VersionsPage> {
    let mut page = VersionsPage::default();
    if max == 0 {
        return Ok(page);
    }
    let marker = from.key_marker.as_str();
    // Start at the marker key itself only when resuming inside it.
    let (mut cursor, mut inclusive) = if marker < prefix {
        (prefix.to_string(), true)
    } else {
        (marker.to_string(), from.version_marker.is_some())
    };
    let objects = txn.table(OBJECTS)?;
    let others = txn.table(VERSIONS)?;
    'seek: loop {
        let mut cur_scan = objects.range((bucket, cursor.as_str())..).map_err(ie)?;
        let mut other_scan = others
            .range((bucket, cursor.as_str(), 0u64)..)
            .map_err(ie)?;
        let mut cur = next_current(&mut cur_scan, bucket)?;
        let mut other = next_other(&mut other_scan, bucket)?;
        loop {
            let key = match (&cur, &other) {
                (None, None) => return Ok(page),
                (Some((a, _)), None) => a.clone(),
                (None, Some((b, _, _))) => b.clone(),
                (Some((a, _)), Some((b, _, _))) => a.min(b).clone(),
            };
            let current = match cur.take() {
                Some((k, g)) if k == key => {
                    cur = next_current(&mut cur_scan, bucket)?;
                    Some(g)
                }
                held => {
                    cur = held;
                    None
                }
            };
            if !inclusive && key == cursor {
                while other.as_ref().is_some_and(|(k, _, _)| *k == key) {
                    other = next_other(&mut other_scan, bucket)?;
                }
                continue;
            }
            inclusive = true;
            if !key.starts_with(prefix) {
                return Ok(page);
            }
            if !delimiter.is_empty() {
                if let Some(pos) = key[prefix.len()..].find(delimiter) {
                    let cp = key[..prefix.len() + pos + delimiter.len()].to_string();
                    if cp.as_str() > marker || marker.is_empty() {
                        if page.entries.len() + page.prefixes.len() >= max {
                            page.truncated = true;
                            return Ok(page);
                        }
                        page.prefixes.push(cp.clone());
                        page.next = Some((cp.clone(), None));
                    }
                    match super::tables::successor(&cp) {
                        Some(n) => {
                            cursor = n;
                            continue 'seek;
                        }
                        None => return Ok(page),
                    }
                }
            }
            let older_than = match (key == marker, from.version_marker) {
                (true, Some(VersionSel::Seq(s))) => Some(s),
                // The null version's place (a scan of the key; gone: nothing of the key is left).
                (true, Some(VersionSel::Null)) => Some(
                    find_version(txn, bucket, &key, VersionSel::Null)?
                        .map(|(r, _)| r.stamp().seq)
                        .unwrap_or(0),
                ),
                _ => None,
            };
            let mut latest = older_than.is_none();
            if let Some(g) = current {
                let c: ObjectMeta = dec(g.value())?;
                if older_than.is_none_or(|s| c.version.seq < s) {
                    if !push_entry(&mut page, max, &key, VersionRecord::Object(c), latest) {
                        return Ok(page);
                    }
                    latest = false;
                }
            }
            while let Some((k, seq, g)) = other.take() {
                if k != key {
                    other = Some((k, seq, g));
                    break;
                }
                if older_than.is_none_or(|s| seq < s) {
                    let record: VersionRecord = dec(g.value())?;
                    if !push_entry(&mut page, max, &key, record, latest) {
                        return Ok(page);
                    }
                    latest = false;
                }
                other = next_other(&mut other_scan, bucket)?;
            }
        }
    }
}

// ---- writes --------------------------------------------------------------------------------

/// The bucket's versioning state (NoSuchBucket).
pub fn w_bucket_versioning(txn: &WriteTransaction, bucket: &str) -> S3Result<Versioning> {
    Ok(super::tables::w_require_bucket(txn, bucket)?.versioning)
}

fn w_put_other(txn: &WriteTransaction, bucket: &str, key: &str, r: &VersionRecord) -> S3Result<()> {
    let mut t = txn.open_table(VERSIONS).map_err(ie)?;
    t.insert((bucket, key, order_of(r.stamp().seq)), encode(r).as_slice())
        .map_err(ie)?;
    Ok(())
}

fn w_remove_other(txn: &WriteTransaction, bucket: &str, key: &str, seq: u64) -> S3Result<()> {
    let mut t = txn.open_table(VERSIONS).map_err(ie)?;
    t.remove((bucket, key, order_of(seq))).map_err(ie)?;
    Ok(())
}

/// Reserves the version a write of `key` proposing `proposal` makes (None in an unversioned
/// bucket): a gateway's CompleteMultipartUpload names it before its commit (a kept-alive
/// answer's headers go out first), and the commit then makes exactly this version or
/// refuses ([`pin_holds`]). A non-null seq is taken from the shard's sequence here, so no
/// other version is given it meanwhile.
pub fn w_reserve_stamp(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    proposal: u64,
) -> S3Result<Option<VersionStamp>> {
    let bm =
        super::tables::get_bucket(txn, bucket)?.ok_or_else(|| S3Error::no_such_bucket(bucket))?;
    if bm.versioning == Versioning::Unversioned {
        return Ok(None);
    }
    let cur = super::tables::get_object(txn, bucket, key)?;
    let null = bm.versioning != Versioning::Enabled;
    let seq = w_new_seq(txn, bucket, key, cur.as_ref(), proposal, null)?;
    Ok(Some(VersionStamp { seq, null }))
}

/// Whether a reserved version (`w_reserve_stamp`) can still be made: the bucket's versioning
/// state still gives that kind of version, and no newer version of the key exists.
pub fn pin_holds(
    txn: &impl Tables,
    bucket: &str,
    key: &str,
    pin: Option<VersionStamp>,
) -> S3Result<bool> {
    let bm =
        super::tables::get_bucket(txn, bucket)?.ok_or_else(|| S3Error::no_such_bucket(bucket))?;
    Ok(match (pin, bm.versioning) {
        (None, Versioning::Unversioned) => true,
        (None, _) | (Some(_), Versioning::Unversioned) => false,
        (Some(p), state) => {
            let cur = super::tables::get_object(txn, bucket, key)?;
            p.null == (state != Versioning::Enabled)
                && next_seq(txn, bucket, key, cur.as_ref(), p.seq)? == p.seq
        }
    })
}

/// `INFO` key of the largest seq a non-null version of this shard was given (or reserved).
/// Every new one takes a larger seq, so a version id is unique across the shard's keys and
/// buckets, not only per key: two keys' writes may propose the same seq (one DeleteObjects
/// proposes one for all its markers), and a key's raise past its newest version may land on
/// another key's proposal.
const SEQ_MAX: &str = "version_seq_max";

fn seq_max(txn: &impl Tables) -> S3Result<u64> {
    let t = txn.table(INFO)?;
    let v = t.get(SEQ_MAX).map_err(ie)?;
    match v {
        None => Ok(0),
        Some(g) => <[u8; 8]>::try_from(g.value())
            .map(u64::from_le_bytes)
            .map_err(|_| S3Error::corrupt("the shard's version_seq_max is not 8 bytes")),
    }
}

/// The seq of a new version of `key`: the proposal raised past the key's newest version and,
/// for a non-null version, past every non-null seq the shard gave, which it then records.
fn w_new_seq(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    cur: Option<&ObjectMeta>,
    proposal: u64,
    null: bool,
) -> S3Result<u64> {
    let seq = next_seq(txn, bucket, key, cur, proposal)?;
    if null {
        return Ok(seq);
    }
    let given = seq_max(txn)?;
    let seq = seq.max(given.saturating_add(1));
    w_record_seq(txn, seq)?;
    Ok(seq)
}

/// Records `seq` as given (keeps the largest).
fn w_record_seq(txn: &WriteTransaction, seq: u64) -> S3Result<()> {
    if seq <= seq_max(txn)? {
        return Ok(());
    }
    let mut t = txn.open_table(INFO).map_err(ie)?;
    t.insert(SEQ_MAX, seq.to_le_bytes().as_slice())
        .map_err(ie)?;
    Ok(())
}

fn next_seq(
    txn: &impl Tables,
    bucket: &str,
    key: &str,
    cur: Option<&ObjectMeta>,
    proposal: u64,
) -> S3Result<u64> {
    let newest = match cur {
        Some(c) => Some(c.version.seq),
        None => newest_other(txn, bucket, key)?.map(|r| r.stamp().seq),
    };
    Ok(match newest {
        Some(n) => proposal.max(n.saturating_add(1)),
        None => proposal.max(1),
    })
}

/// Makes room for a new newest version: the current object moves to `VERSIONS`, and under
/// `Suspended` the key's null version is removed (its data returned to be freed).
fn w_retire_current(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    cur: Option<ObjectMeta>,
    state: Versioning,
    now_ms: u64,
) -> S3Result<Vec<u128>> {
    let mut freed = Vec::new();
    let suspended = state == Versioning::Suspended;
    // A locked null version is not replaced (an Object Lock bucket cannot be suspended, so
    // this only guards the rule): checked before anything is written.
    let check = LockCheck {
        now_ms,
        bypass_governance: false,
    };
    if suspended {
        if let Some(c) = cur.as_ref().filter(|c| c.version.null) {
            if let Some(e) = deletion_refused(&c.lock, check) {
                return Err(e);
            }
        }
    }
    let old_null = if suspended {
        find_other(txn, bucket, key, VersionSel::Null)?
    } else {
        None
    };
    if let Some(VersionRecord::Object(o)) = &old_null {
        if let Some(e) = deletion_refused(&o.lock, check) {
            return Err(e);
        }
    }
    match cur {
        Some(c) if suspended && c.version.null => freed.extend(c.file_ids()),
        Some(c) => w_put_other(txn, bucket, key, &VersionRecord::Object(c))?,
        None => {}
    }
    if suspended {
        if let Some(old) = old_null {
            w_remove_other(txn, bucket, key, old.stamp().seq)?;
            freed.extend(old.file_ids());
        }
    }
    Ok(freed)
}

/// Stores `meta` as the newest version of a key in a versioning (`Enabled` / `Suspended`)
/// bucket if `check` accepts the current object; `meta.version.seq` is the proposal, or with
/// `reserved` the seq `w_reserve_stamp` reserved (which `pin_holds` checked). Returns the
/// stamp given and the data no version names any more.
pub fn w_install(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    mut meta: ObjectMeta,
    state: Versioning,
    reserved: bool,
    check: impl FnOnce(Option<&ObjectMeta>) -> S3Result<()>,
) -> S3Result<(VersionStamp, Vec<u128>)> {
    let cur = super::tables::get_object(txn, bucket, key)?;
    check(cur.as_ref())?;
    let null = state != Versioning::Enabled;
    let seq = if reserved {
        next_seq(txn, bucket, key, cur.as_ref(), meta.version.seq)?
    } else {
        w_new_seq(txn, bucket, key, cur.as_ref(), meta.version.seq, null)?
    };
    // A reservation is only installed while it holds (above the key's newest).
    assert!(!reserved || seq == meta.version.seq);
    meta.version = VersionStamp { seq, null };
    let keep = meta.file_ids();
    let mut freed = w_retire_current(txn, bucket, key, cur, state, meta.last_modified_ms)?;
    freed.retain(|id| !keep.contains(id));
    super::tables::w_put_object(txn, bucket, key, &meta)?;
    Ok((meta.version, freed))
}

/// What one delete did.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DeleteOutcome {
    /// The version removed, or the delete marker added (None in an unversioned bucket).
    pub version: Option<VersionStamp>,
    /// Whether that version is a delete marker.
    pub delete_marker: bool,
    /// Data no version names any more.
    pub freed: Vec<u128>,
    /// The version was not removed: Object Lock refused it (AccessDenied), nothing written.
    pub refused: Option<S3Error>,
}

/// Adds a delete marker as the key's newest version (`Enabled`: a new version id;
/// `Suspended`: the null version, replacing the old one).
pub fn w_add_marker(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    state: Versioning,
    owner_id: &str,
    (now_ms, proposal): (u64, u64),
) -> S3Result<DeleteOutcome> {
    let cur = super::tables::get_object(txn, bucket, key)?;
    let null = state != Versioning::Enabled;
    let seq = w_new_seq(txn, bucket, key, cur.as_ref(), proposal, null)?;
    if state == Versioning::Suspended {
        // Checks the null version's lock before anything is written.
        let probe = cur.clone();
        w_retire_check(txn, bucket, key, probe, now_ms)?;
    }
    if cur.is_some() {
        super::tables::w_delete_object(txn, bucket, key)?;
    }
    let freed = w_retire_current(txn, bucket, key, cur, state, now_ms)?;
    let version = VersionStamp { seq, null };
    let marker = DeleteMarker {
        owner_id: owner_id.to_string(),
        last_modified_ms: now_ms,
        version,
    };
    w_put_other(txn, bucket, key, &VersionRecord::Marker(marker))?;
    Ok(DeleteOutcome {
        version: Some(version),
        delete_marker: true,
        freed,
        refused: None,
    })
}

/// Whether a suspended write may replace the key's null version (AccessDenied when it is
/// locked), without writing anything.
fn w_retire_check(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    cur: Option<ObjectMeta>,
    now_ms: u64,
) -> S3Result<()> {
    let check = LockCheck {
        now_ms,
        bypass_governance: false,
    };
    let null = match cur.filter(|c| c.version.null) {
        Some(c) => Some(c),
        None => match find_other(txn, bucket, key, VersionSel::Null)? {
            Some(VersionRecord::Object(o)) => Some(o),
            _ => None,
        },
    };
    match null.and_then(|n| deletion_refused(&n.lock, check)) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Removes the version `sel` names for good (absent is not an error). If it was the current
/// object, the next newest version becomes current. A version under Object Lock (retention
/// in force, legal hold) is refused with AccessDenied before anything is written, unless
/// `lock` allows it (`meta::lock::deletion_refused`): every path that destroys a version
/// (DeleteObject, DeleteObjects, lifecycle) comes through here.
pub fn w_delete_version(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    sel: VersionSel,
    lock: LockCheck,
) -> S3Result<DeleteOutcome> {
    let cur = super::tables::get_object(txn, bucket, key)?;
    let (found, is_current) = match cur {
        Some(c) if sel.matches(c.version) => (Some(VersionRecord::Object(c)), true),
        _ => (find_other(txn, bucket, key, sel)?, false),
    };
    let Some(removed) = found else {
        return Ok(DeleteOutcome::default());
    };
    if let VersionRecord::Object(o) = &removed {
        if let Some(e) = deletion_refused(&o.lock, lock) {
            return Err(e);
        }
    }
    if is_current {
        super::tables::w_delete_object(txn, bucket, key)?;
    } else {
        w_remove_other(txn, bucket, key, removed.stamp().seq)?;
    }
    w_settle(txn, bucket, key)?;
    Ok(DeleteOutcome {
        version: Some(removed.stamp()),
        delete_marker: matches!(removed, VersionRecord::Marker(_)),
        freed: removed.file_ids(),
        refused: None,
    })
}

/// Restores the invariant after a removal: with no current object, a newest version that
/// is an object becomes current.
fn w_settle(txn: &WriteTransaction, bucket: &str, key: &str) -> S3Result<()> {
    if super::tables::get_object(txn, bucket, key)?.is_some() {
        return Ok(());
    }
    if let Some(VersionRecord::Object(m)) = newest_other(txn, bucket, key)? {
        w_remove_other(txn, bucket, key, m.version.seq)?;
        super::tables::w_put_object(txn, bucket, key, &m)?;
    }
    Ok(())
}

/// Changes one version's record in place: the current object (`sel` None, or naming it) or a
/// noncurrent version in `VERSIONS`. `f` edits the record (and may refuse, before anything
/// is written); the version keeps its place and stamp. Errors as AWS answers: NoSuchKey
/// (no current object), NoSuchVersion (no such version), MethodNotAllowed (a delete marker:
/// the current version when `sel` is None, or the version named).
pub fn w_update_version(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    sel: Option<VersionSel>,
    f: impl FnOnce(&mut ObjectMeta) -> S3Result<()>,
) -> S3Result<VersionStamp> {
    let cur = super::tables::get_object(txn, bucket, key)?;
    let marker = || S3Error::new(ErrorCode::MethodNotAllowed);
    match (sel, cur) {
        (None, Some(mut c)) => {
            f(&mut c)?;
            super::tables::w_put_object(txn, bucket, key, &c)?;
            Ok(c.version)
        }
        (None, None) => match newest_other(txn, bucket, key)? {
            Some(VersionRecord::Marker(_)) => Err(marker()),
            _ => Err(S3Error::no_such_key(key)),
        },
        (Some(s), Some(mut c)) if s.matches(c.version) => {
            f(&mut c)?;
            super::tables::w_put_object(txn, bucket, key, &c)?;
            Ok(c.version)
        }
        (Some(s), _) => match find_other(txn, bucket, key, s)? {
            Some(VersionRecord::Object(mut o)) => {
                f(&mut o)?;
                let stamp = o.version;
                w_put_other(txn, bucket, key, &VersionRecord::Object(o))?;
                Ok(stamp)
            }
            Some(VersionRecord::Marker(_)) => Err(marker()),
            None => Err(S3Error::msg(
                ErrorCode::NoSuchVersion,
                "The specified version does not exist.",
            )
            .with("Key", key)
            .with(
                "VersionId",
                match s {
                    VersionSel::Null => "null".to_string(),
                    VersionSel::Seq(q) => format!("{q:016x}"),
                },
            )),
        },
    }
}

/// A version id S3 refuses as malformed.
pub fn invalid_version_id(v: &str) -> S3Error {
    S3Error::invalid_argument("Invalid version id specified", "versionId", v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::commands::{DeleteVersions, MetaCmd, MetaReply, WriteCond};
    use crate::meta::tables as t;
    use crate::meta::types::{BucketMeta, DataLoc, Segment};

    fn db() -> (tempfile::TempDir, redb::Database) {
        let (dir, db) = t::test_db();
        apply(
            &db,
            MetaCmd::CreateBucket {
                meta: BucketMeta::test_new("b", "o"),
                configs: vec![],
            },
        );
        (dir, db)
    }

    fn apply(db: &redb::Database, cmd: MetaCmd) -> MetaReply {
        let txn = db.begin_write().unwrap();
        let r = cmd.apply(&txn).unwrap();
        txn.commit().unwrap();
        r
    }

    fn put(db: &redb::Database, key: &str, file_id: u128, seq: u64) -> MetaReply {
        let meta = ObjectMeta {
            size: 1,
            etag: format!("e{file_id}"),
            data: DataLoc::Files(vec![Segment {
                file_id,
                len: 1,
                part_etag: None,
                chunk_crc32c: vec![],
            }]),
            version: VersionStamp { seq, null: true },
            ..ObjectMeta::test_empty("o")
        };
        let cmd = MetaCmd::PutObject {
            bucket: "b".into(),
            key: key.into(),
            meta,
            cond: WriteCond::default(),
        };
        apply(db, cmd)
    }

    fn state(db: &redb::Database, s: Versioning) {
        let name = "b".into();
        apply(db, MetaCmd::SetBucketVersioning { name, state: s });
    }

    fn delete(db: &redb::Database, key: &str, sel: Option<VersionSel>) -> DeleteOutcome {
        let cmd = MetaCmd::DeleteVersions(DeleteVersions {
            bucket: "b".into(),
            targets: vec![(key.into(), sel)],
            owner_id: "o".into(),
            now_ms: 9,
            seq: 1,
            bypass_governance: false,
        });
        apply(db, cmd).deleted.remove(0)
    }

    /// (etag or "marker", version id, is latest) of every version of the bucket.
    fn history(db: &redb::Database) -> Vec<(String, String, bool)> {
        let txn = db.begin_read().unwrap();
        let page = list_versions(&txn, "b", "", "", &VersionsFrom::default(), 100).unwrap();
        page.entries
            .into_iter()
            .map(|e| {
                let what = match &e.record {
                    VersionRecord::Object(m) => m.etag.clone(),
                    VersionRecord::Marker(_) => "marker".into(),
                };
                (what, version_id(e.record.stamp()), e.is_latest)
            })
            .collect()
    }

    fn current_etag(db: &redb::Database, key: &str) -> Option<String> {
        let txn = db.begin_read().unwrap();
        t::get_object(&txn, "b", key).unwrap().map(|m| m.etag)
    }

    #[test]
    fn version_keys_scan_newest_first_and_ids_round_trip() {
        assert!(order_of(5) < order_of(4));
        assert!(("k", order_of(7)) < ("k", order_of(3)));
        assert!(("k", order_of(0)) < ("k\0", order_of(u64::MAX)));
        let stamp = VersionStamp {
            seq: 0x1234,
            null: false,
        };
        assert_eq!(version_id(stamp), "0000000000001234");
        assert_eq!(
            parse_version_id(&version_id(stamp)),
            Some(VersionSel::Seq(0x1234))
        );
        assert_eq!(parse_version_id("null"), Some(VersionSel::Null));
        for bad in ["", "xyz", "000000000000123", "000000000000123G", "NULL"] {
            assert_eq!(parse_version_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn enabled_keeps_versions_and_deleting_the_latest_promotes_the_previous() {
        let (_d, db) = db();
        put(&db, "k", 1, 100); // unversioned: the null version
        state(&db, Versioning::Enabled);
        let r = put(&db, "k", 2, 50); // proposal below the newest: raised past it
        assert!(r.freed.is_empty());
        let v2 = r.version.unwrap();
        assert!(!v2.null && v2.seq > 100);
        let v3 = put(&db, "k", 3, 0).version.unwrap();
        assert!(v3.seq > v2.seq);
        assert_eq!(
            history(&db),
            vec![
                ("e3".into(), version_id(v3), true),
                ("e2".into(), version_id(v2), false),
                ("e1".into(), "null".into(), false),
            ]
        );
        // A delete adds a marker; GET finds nothing, the versions stay.
        let d = delete(&db, "k", None);
        assert!(d.delete_marker && d.freed.is_empty());
        assert_eq!(current_etag(&db, "k"), None);
        let txn = db.begin_read().unwrap();
        assert!(latest_marker(&txn, "b", "k").unwrap().is_some());
        drop(txn);
        // Removing the marker makes v3 current again.
        let marker = VersionSel::Seq(d.version.unwrap().seq);
        assert!(delete(&db, "k", Some(marker)).delete_marker);
        assert_eq!(current_etag(&db, "k").as_deref(), Some("e3"));
        // Removing the current version frees its data and promotes v2.
        let gone = delete(&db, "k", Some(VersionSel::Seq(v3.seq)));
        assert_eq!(gone.freed, vec![3]);
        assert_eq!(current_etag(&db, "k").as_deref(), Some("e2"));
        // A noncurrent version goes without touching the current one.
        assert_eq!(delete(&db, "k", Some(VersionSel::Null)).freed, vec![1]);
        assert_eq!(current_etag(&db, "k").as_deref(), Some("e2"));
        assert_eq!(history(&db).len(), 1);
        // An unknown version is no error and changes nothing.
        let none = delete(&db, "k", Some(VersionSel::Seq(7)));
        assert_eq!((none.version, none.freed.len()), (None, 0));
        // The bucket is not empty while versions remain, and every file is referenced.
        let txn = db.begin_read().unwrap();
        assert!(t::bucket_has_content(&txn, "b").unwrap());
        assert_eq!(t::referenced_files(&txn).unwrap(), vec![2]);
    }

    #[test]
    fn suspended_replaces_the_null_version_and_frees_its_data() {
        let (_d, db) = db();
        state(&db, Versioning::Enabled);
        let v1 = put(&db, "k", 1, 0).version.unwrap();
        state(&db, Versioning::Suspended);
        let r = put(&db, "k", 2, 0);
        assert!(r.version.unwrap().null && r.freed.is_empty());
        // A second suspended PUT replaces the null version: its data is freed.
        let r = put(&db, "k", 3, 0);
        assert_eq!(r.freed, vec![2]);
        assert_eq!(
            history(&db),
            vec![
                ("e3".into(), "null".into(), true),
                ("e1".into(), version_id(v1), false),
            ]
        );
        // A suspended DELETE: a null marker replacing the null version.
        let d = delete(&db, "k", None);
        assert!(d.delete_marker && d.version.unwrap().null);
        assert_eq!(d.freed, vec![3]);
        assert_eq!(
            history(&db),
            vec![
                ("marker".into(), "null".into(), true),
                ("e1".into(), version_id(v1), false),
            ]
        );
        // Another PUT replaces the null marker.
        assert!(put(&db, "k", 4, 0).freed.is_empty());
        assert_eq!(history(&db).len(), 2);
    }

    #[test]
    fn listing_pages_by_key_and_version_markers() {
        let (_d, db) = db();
        state(&db, Versioning::Enabled);
        for (k, f) in [("a", 1), ("a", 2), ("b/x", 3), ("b/y", 4), ("c", 5)] {
            put(&db, k, f, 0);
        }
        delete(&db, "c", None);
        let txn = db.begin_read().unwrap();
        let mut from = VersionsFrom::default();
        let mut seen = Vec::new();
        loop {
            let page = list_versions(&txn, "b", "", "", &from, 2).unwrap();
            seen.extend(page.entries.iter().map(|e| e.key.clone()));
            if !page.truncated {
                break;
            }
            let (k, v) = page.next.unwrap();
            from = VersionsFrom {
                key_marker: k,
                version_marker: v.and_then(|v| parse_version_id(&v)),
            };
        }
        assert_eq!(seen, ["a", "a", "b/x", "b/y", "c", "c"]);
        let page = list_versions(&txn, "b", "", "/", &VersionsFrom::default(), 10).unwrap();
        assert_eq!(page.prefixes, ["b/"]);
        assert_eq!(page.entries.len(), 4);
        let page = list_versions(&txn, "b", "b/", "", &VersionsFrom::default(), 10).unwrap();
        assert_eq!(page.entries.len(), 2);
    }

    /// Paging through any prefix / delimiter / page size yields exactly a naive listing of
    /// both tables (each key's current object, then its other versions newest first), with
    /// IsLatest only on a key's first entry.
    #[test]
    fn paged_listing_matches_a_naive_listing() {
        let (_d, db) = db();
        state(&db, Versioning::Enabled);
        let keys = [
            "a", "a/b", "a/b/c", "a/c", "ab", "b", "b/", "b/x", "c/d/e", "\u{e9}",
        ];
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for f in 1..120u128 {
            let key = keys[next(keys.len() as u64) as usize];
            match next(4) {
                0 => {
                    delete(&db, key, None);
                }
                1 if f % 3 == 0 => {
                    state(&db, Versioning::Suspended);
                    put(&db, key, f, 0);
                    state(&db, Versioning::Enabled);
                }
                _ => {
                    put(&db, key, f, 0);
                }
            }
        }
        let txn = db.begin_read().unwrap();
        let mut naive: Vec<(String, String, bool)> = Vec::new();
        let mut sorted = keys.to_vec();
        sorted.sort();
        for key in sorted {
            let mut first = true;
            if let Some(c) = t::get_object(&txn, "b", key).unwrap() {
                naive.push((key.into(), version_id(c.version), true));
                first = false;
            }
            let tbl = txn.open_table(VERSIONS).unwrap();
            for item in tbl.range(("b", key, 0u64)..=("b", key, u64::MAX)).unwrap() {
                let r: VersionRecord = dec(item.unwrap().1.value()).unwrap();
                naive.push((
                    key.into(),
                    version_id(r.stamp()),
                    std::mem::take(&mut first),
                ));
            }
        }
        assert!(naive.len() > 100, "{}", naive.len());
        for (prefix, delimiter) in [
            ("", ""),
            ("a", ""),
            ("a/", ""),
            ("", "/"),
            ("a/", "/"),
            ("b", "/"),
        ] {
            let want_entries: Vec<_> = naive
                .iter()
                .filter(|(k, _, _)| {
                    k.starts_with(prefix)
                        && (delimiter.is_empty() || !k[prefix.len()..].contains(delimiter))
                })
                .cloned()
                .collect();
            let mut want_prefixes: Vec<String> = naive
                .iter()
                .filter(|(k, _, _)| k.starts_with(prefix) && !delimiter.is_empty())
                .filter_map(|(k, _, _)| {
                    let pos = k[prefix.len()..].find(delimiter)?;
                    Some(k[..prefix.len() + pos + delimiter.len()].to_string())
                })
                .collect();
            want_prefixes.dedup();
            for max in [1, 2, 3, 7, 1000] {
                let (mut entries, mut prefixes) = (Vec::new(), Vec::new());
                let mut from = VersionsFrom::default();
                for _ in 0..1000 {
                    let page = list_versions(&txn, "b", prefix, delimiter, &from, max).unwrap();
                    assert!(page.entries.len() + page.prefixes.len() <= max);
                    entries.extend(
                        page.entries
                            .iter()
                            .map(|e| (e.key.clone(), version_id(e.record.stamp()), e.is_latest)),
                    );
                    prefixes.extend(page.prefixes.iter().cloned());
                    if !page.truncated {
                        break;
                    }
                    let (k, v) = page.next.unwrap();
                    from = VersionsFrom {
                        key_marker: k,
                        version_marker: v.and_then(|v| parse_version_id(&v)),
                    };
                }
                // A page resumed inside a key does not repeat IsLatest for it.
                let entries: Vec<_> = entries.into_iter().map(|(k, v, _)| (k, v)).collect();
                let want: Vec<_> = want_entries
                    .iter()
                    .map(|(k, v, _)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(
                    entries, want,
                    "prefix {prefix:?} delimiter {delimiter:?} max {max}"
                );
                assert_eq!(
                    prefixes, want_prefixes,
                    "prefix {prefix:?} delimiter {delimiter:?} max {max}"
                );
            }
            let page = list_versions(&txn, "b", prefix, delimiter, &VersionsFrom::default(), 1000)
                .unwrap();
            let latest: Vec<_> = page.entries.iter().map(|e| e.is_latest).collect();
            let want: Vec<_> = want_entries.iter().map(|(_, _, l)| *l).collect();
            assert_eq!(
                latest, want,
                "IsLatest, prefix {prefix:?} delimiter {delimiter:?}"
            );
        }
    }

    #[test]
    fn one_version_is_updated_in_place() {
        let (_d, db) = db();
        let update = |key: &str, sel: Option<VersionSel>| {
            let txn = db.begin_write().unwrap();
            let r = w_update_version(&txn, "b", key, sel, |m| {
                m.tags = vec![("t".into(), "v".into())];
                Ok(())
            });
            txn.commit().unwrap();
            r
        };
        let code = |r: S3Result<VersionStamp>| r.unwrap_err().code;
        assert_eq!(code(update("k", None)), ErrorCode::NoSuchKey);
        state(&db, Versioning::Enabled);
        let v1 = put(&db, "k", 1, 10).version.unwrap();
        let v2 = put(&db, "k", 2, 20).version.unwrap();
        // The noncurrent version, by id: the current one is untouched.
        assert_eq!(update("k", Some(VersionSel::Seq(v1.seq))).unwrap(), v1);
        let txn = db.begin_read().unwrap();
        let (old, latest) = find_version(&txn, "b", "k", VersionSel::Seq(v1.seq))
            .unwrap()
            .unwrap();
        assert!(!latest);
        assert!(matches!(old, VersionRecord::Object(m) if m.tags.len() == 1));
        assert!(super::super::tables::get_object(&txn, "b", "k")
            .unwrap()
            .unwrap()
            .tags
            .is_empty());
        drop(txn);
        assert_eq!(update("k", None).unwrap(), v2);
        assert_eq!(
            code(update("k", Some(VersionSel::Seq(7)))),
            ErrorCode::NoSuchVersion
        );
        // A delete marker, current or named, is MethodNotAllowed.
        let m = delete(&db, "k", None).version.unwrap();
        assert_eq!(code(update("k", None)), ErrorCode::MethodNotAllowed);
        assert_eq!(
            code(update("k", Some(VersionSel::Seq(m.seq)))),
            ErrorCode::MethodNotAllowed
        );
        assert_eq!(history(&db).len(), 3);
    }
}
