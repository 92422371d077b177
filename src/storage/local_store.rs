//! [`DataStore`] on local disk: small payloads of declared length stay in the record
//! (inline), others go to O_DIRECT data files named by internal id.

use super::local;
use super::{DataStore, Payload, ReadFor, Stored, Turns, WriteTo};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::http::response::BodyStream;
use crate::meta::types::{DataLoc, ObjectMeta, Segment};
use futures::future::LocalBoxFuture;
use std::path::PathBuf;

pub struct LocalStore {
    data_dir: PathBuf,
    inline_bytes_max: u64,
}

impl LocalStore {
    pub fn new(data_dir: PathBuf, inline_bytes_max: u64) -> LocalStore {
        LocalStore {
            data_dir,
            inline_bytes_max,
        }
    }

    pub fn data_dir(&self) -> &PathBuf {
        &self.data_dir
    }

    /// Reads a payload of declared length `n` whole into memory (an inline record).
    async fn read_inline(src: &mut dyn Payload, n: u64) -> S3Result<Stored> {
        let mut buf = vec![0u8; n as usize];
        let mut got = 0;
        while got < buf.len() {
            let r = src.read(&mut buf[got..]).await?;
            if r == 0 {
                break;
            }
            got += r;
        }
        let mut probe = [0u8; 1];
        if got != buf.len() || src.read(&mut probe).await? != 0 {
            return Err(S3Error::new(ErrorCode::IncompleteBody));
        }
        let verified = src.finish()?;
        Ok(Stored {
            data: DataLoc::Inline(buf),
            verified,
            sync_dir: None,
            direct_bytes: 0,
        })
    }

    /// Streams a payload into a new data file and verifies it (the file is removed if the
    /// payload fails its checks).
    pub async fn write_file(&self, src: &mut dyn Payload, len_max: u64) -> S3Result<Stored> {
        let written = local::write_file(&self.data_dir, src, len_max).await?;
        match src.finish() {
            Ok(verified) => Ok(Stored {
                data: DataLoc::Files(vec![written.segment(None)]),
                verified,
                direct_bytes: written.len,
                sync_dir: Some(written.dir),
            }),
            Err(e) => {
                local::remove_files_later(&self.data_dir, vec![written.file_id]);
                Err(e)
            }
        }
    }

    /// Opens local data files (`Files`) for reading.
    pub async fn open_files(
        &self,
        segs: &[Segment],
        (start, end): (u64, u64),
        purpose: ReadFor,
    ) -> S3Result<Option<Box<dyn BodyStream>>> {
        if purpose == ReadFor::Copy {
            let s = local::FileStream::new(self.data_dir.clone(), segs, start, end, None);
            if s.vanished() {
                // The source was replaced after its record was read: SDKs retry a 503.
                return Err(S3Error::new(ErrorCode::SlowDown)
                    .caused_by("copy source replaced while the copy started"));
            }
            return Ok(Some(Box::new(s)));
        }
        let first = first_segment(segs, start);
        let Some(file) = local::open_segment(&self.data_dir, &segs[first]).await? else {
            return Ok(None);
        };
        let mut stream =
            local::FileStream::new(self.data_dir.clone(), segs, start, end, Some(file));
        if stream.vanished() {
            return Ok(None); // replaced meanwhile: answer from the new record
        }
        if let Err(e) = stream.prefetch().await {
            return Err(if e.kind() == std::io::ErrorKind::InvalidData {
                S3Error::checksum_mismatch(e)
            } else {
                S3Error::internal(e)
            });
        }
        Ok(Some(Box::new(stream)))
    }
}

fn first_segment(segs: &[Segment], start: u64) -> usize {
    let mut base = 0;
    for (i, s) in segs.iter().enumerate() {
        if start < base + s.len {
            return i;
        }
        base += s.len;
    }
    segs.len().saturating_sub(1)
}

/// Bytes recorded as upstream, read by a server restarted on the local backend.
fn no_gateway() -> S3Error {
    S3Error::internal("object bytes are upstream but no gateway is configured")
}

fn no_turns<'a>() -> LocalBoxFuture<'a, S3Result<Turns>> {
    Box::pin(async { Ok(Vec::new()) })
}

impl DataStore for LocalStore {
    /// One `stat` per data file the range touches (cluster mode only asks).
    fn holds_locally(&self, data: &DataLoc, (start, end): (u64, u64)) -> bool {
        let DataLoc::Files(segs) = data else {
            return true;
        };
        let mut at = 0u64;
        segs.iter().all(|seg| {
            let (from, to) = (at, at + seg.len);
            at = to;
            // Only files the range touches must be here.
            to <= start || from >= end || local::file_path(&self.data_dir, seg.file_id).exists()
        })
    }

    fn write<'a>(
        &'a self,
        to: WriteTo<'a>,
        src: &'a mut dyn Payload,
        len_max: u64,
    ) -> LocalBoxFuture<'a, S3Result<Stored>> {
        Box::pin(async move {
            let inline = matches!(to, WriteTo::Object { inline: true, .. });
            match src
                .declared_len()
                .filter(|n| inline && *n <= self.inline_bytes_max)
            {
                Some(n) => Self::read_inline(src, n).await,
                None => self.write_file(src, len_max).await,
            }
        })
    }

    fn open<'a>(
        &'a self,
        _object: (&'a str, &'a str),
        data: &'a DataLoc,
        range: (u64, u64),
        _size: u64,
        purpose: ReadFor,
    ) -> LocalBoxFuture<'a, S3Result<Option<Box<dyn BodyStream>>>> {
        Box::pin(async move {
            match data {
                DataLoc::Files(segs) => self.open_files(segs, range, purpose).await,
                DataLoc::Upstream(_) => Err(no_gateway()),
                DataLoc::Inline(_) => Err(S3Error::internal("inline data opened as a file")),
            }
        })
    }

    fn free(&self, _bucket: &str, _key: &str, ids: Vec<u128>) {
        local::remove_files_later(&self.data_dir, ids);
    }

    fn free_files(&self, ids: Vec<u128>) {
        local::remove_files_later(&self.data_dir, ids);
    }

    fn keeps_inline(&self) -> bool {
        true
    }

    fn checks_before_write(&self) -> bool {
        false
    }

    fn copy_whole<'a>(
        &'a self,
        _src: (&'a str, &'a str),
        _m: &'a ObjectMeta,
        _dst: (&'a str, &'a str),
    ) -> LocalBoxFuture<'a, S3Result<Option<DataLoc>>> {
        Box::pin(async { Ok(None) })
    }

    fn assembled_version(&self, _upload_id: &str) -> Option<u128> {
        None
    }

    fn assemble<'a>(
        &'a self,
        _bucket: &'a str,
        _key: &'a str,
        _upload_id: &'a str,
        _parts: Vec<(u32, u64)>,
    ) -> LocalBoxFuture<'a, S3Result<()>> {
        Box::pin(async { Err(S3Error::internal("upstream assembly of a local upload")) })
    }

    fn discards_parts(&self) -> bool {
        false
    }

    fn discard_parts<'a>(
        &'a self,
        _bucket: &'a str,
        _key: &'a str,
        _upload_id: &'a str,
        _part_numbers: Vec<u32>,
    ) -> LocalBoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn write_turn<'a>(
        &'a self,
        _bucket: &'a str,
        _lock_name: &'a str,
    ) -> LocalBoxFuture<'a, S3Result<Turns>> {
        no_turns()
    }

    fn read_turn<'a>(
        &'a self,
        _bucket: &'a str,
        _key: &'a str,
    ) -> LocalBoxFuture<'a, S3Result<Turns>> {
        no_turns()
    }

    fn copy_turns<'a>(
        &'a self,
        _src: (&'a str, &'a str),
        _dst: (&'a str, &'a str),
    ) -> LocalBoxFuture<'a, S3Result<Turns>> {
        no_turns()
    }

    fn delete_turns<'a>(
        &'a self,
        _bucket: &'a str,
        _keys: &'a [String],
    ) -> LocalBoxFuture<'a, S3Result<Turns>> {
        no_turns()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{ByteSource, Verified};

    /// A payload from memory that fails its final check when `corrupt`.
    struct MemPayload {
        data: Vec<u8>,
        pos: usize,
        declared: Option<u64>,
        corrupt: bool,
    }

    impl MemPayload {
        fn new(data: Vec<u8>, declared: bool) -> MemPayload {
            let declared = declared.then_some(data.len() as u64);
            MemPayload {
                data,
                pos: 0,
                declared,
                corrupt: false,
            }
        }
    }

    impl ByteSource for MemPayload {
        fn read<'a>(&'a mut self, dst: &'a mut [u8]) -> LocalBoxFuture<'a, S3Result<usize>> {
            let n = (self.data.len() - self.pos).min(dst.len()).min(70_000);
            dst[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Box::pin(async move { Ok(n) })
        }
    }

    impl Payload for MemPayload {
        fn declared_len(&self) -> Option<u64> {
            self.declared
        }

        fn finish(&mut self) -> S3Result<Verified> {
            if self.corrupt {
                return Err(S3Error::new(ErrorCode::BadDigest));
            }
            Ok(Verified {
                len: self.pos as u64,
                md5: [0; 16],
                checksums: Default::default(),
            })
        }
    }

    fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    async fn read_all(mut s: Box<dyn BodyStream>) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(c) = s.next_chunk().await.unwrap() {
            out.extend_from_slice(&c);
        }
        out
    }

    use crate::test_support::on_executor as run;

    const OBJECT: WriteTo<'static> = WriteTo::Object {
        bucket: "b",
        key: "k",
        inline: true,
    };

    #[test]
    fn small_declared_payloads_stay_inline_others_go_to_files() {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        local::prepare_data_dir(&data_dir).unwrap();
        run(move || async move {
            let store = LocalStore::new(data_dir, 16);
            let mut small = MemPayload::new(b"hello".to_vec(), true);
            let stored = store.write(OBJECT, &mut small, 1 << 20).await.unwrap();
            assert!(matches!(&stored.data, DataLoc::Inline(b) if b == b"hello"));
            assert_eq!(stored.direct_bytes, 0);

            // Unknown length: never inline, even when small.
            let mut chunked = MemPayload::new(b"hi".to_vec(), false);
            let stored = store.write(OBJECT, &mut chunked, 1 << 20).await.unwrap();
            assert!(matches!(stored.data, DataLoc::Files(_)));

            let data = body(300_000);
            let mut big = MemPayload::new(data.clone(), true);
            let stored = store.write(OBJECT, &mut big, 1 << 20).await.unwrap();
            assert_eq!(stored.direct_bytes, data.len() as u64);
            assert!(stored.sync_dir.is_some());
            let whole = (0, data.len() as u64);
            let size = data.len() as u64;
            let s = store
                .open(("b", "k"), &stored.data, whole, size, ReadFor::Response)
                .await
                .unwrap()
                .expect("the file is there");
            assert_eq!(read_all(s).await, data);
            let s = store
                .open(("b", "k"), &stored.data, (1000, 2000), size, ReadFor::Copy)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(read_all(s).await, &data[1000..2000]);
        });
    }

    #[test]
    fn failed_checks_and_oversized_payloads_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        local::prepare_data_dir(&data_dir).unwrap();
        run(move || async move {
            let store = LocalStore::new(data_dir, 16);
            let mut bad = MemPayload::new(body(100_000), true);
            bad.corrupt = true;
            let e = store.write(OBJECT, &mut bad, 1 << 20).await.err().unwrap();
            assert_eq!(e.code, ErrorCode::BadDigest);

            let mut big = MemPayload::new(body(100_000), false);
            let e = store.write(OBJECT, &mut big, 1000).await.err().unwrap();
            assert_eq!(e.code, ErrorCode::EntityTooLarge);

            let upstream = DataLoc::Upstream(Vec::new());
            let opened = store
                .open(("b", "k"), &upstream, (0, 1), 1, ReadFor::Response)
                .await;
            assert!(opened.is_err(), "upstream bytes without a gateway");
        });
    }

    /// Cluster mode asks whether a range's files are here before answering a GET.
    #[test]
    fn holds_locally_checks_only_the_files_a_range_touches() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().to_path_buf(), 1024);
        let seg = |file_id| Segment {
            file_id,
            len: 10,
            part_etag: None,
            chunk_crc32c: vec![],
        };
        let here = local::file_path(dir.path(), 7);
        std::fs::create_dir_all(here.parent().unwrap()).unwrap();
        std::fs::write(&here, b"0123456789").unwrap();
        // File 7 is here, file 8 is not.
        let data = DataLoc::Files(vec![seg(7), seg(8)]);
        assert!(store.holds_locally(&data, (0, 10)));
        assert!(store.holds_locally(&data, (3, 9)));
        assert!(!store.holds_locally(&data, (5, 15)));
        assert!(!store.holds_locally(&data, (10, 20)));
        assert!(store.holds_locally(&DataLoc::Inline(vec![1]), (0, 1)));
    }
}
