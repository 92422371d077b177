//! Local data files written and read with O_DIRECT through io_uring (glommio DmaFile).
//!
//! Budget per stream: `IO_CHUNK_BYTES` × (`WRITE_BEHIND` + 1) of aligned buffers. A PUT fills
//! one buffer straight from the socket, hashes it, and submits it while the next one fills;
//! the file is fdatasync'd before the metadata that names it is committed. A GET keeps
//! `READ_AHEAD` reads in flight so one large object is not bound by one I/O at a time.

use super::ByteSource;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::http::response::{BodyStream, Chunk};
use crate::meta::types::Segment;
use futures::future::LocalBoxFuture;
use glommio::io::DmaFile;
use glommio::task::JoinHandle;
use std::collections::VecDeque;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub const IO_CHUNK_BYTES: usize = 1024 * 1024;
const WRITE_BEHIND: usize = 2;
const READ_AHEAD: usize = 3;
// The memory accounting counts each open stream at this bound: keep it one.
const _: () = assert!(
    (IO_CHUNK_BYTES * (READ_AHEAD + 1)) as u64 <= crate::observe::metrics::IO_STREAM_BYTES_MAX
        && (IO_CHUNK_BYTES * (WRITE_BEHIND + 1)) as u64
            <= crate::observe::metrics::IO_STREAM_BYTES_MAX
);

pub fn objects_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("objects")
}

/// Files fan out over 256 directories by the id's low byte, keeping directories small.
pub fn file_dir(data_dir: &Path, id: u128) -> PathBuf {
    objects_dir(data_dir).join(format!("{:02x}", (id & 0xff) as u8))
}

pub fn file_path(data_dir: &Path, id: u128) -> PathBuf {
    file_dir(data_dir, id).join(format!("{id:032x}"))
}

/// A new data file's id: 120 random bits, and a low byte (its directory) that follows this
/// thread's run, see `FILES_PER_DIR_RUN`.
pub fn new_file_id() -> u128 {
    (rand::random::<u128>() & !0xff) | u128::from(next_run_dir())
}

/// New files go to the 256 data directories in runs: each core puts this many consecutive
/// files in one directory, then moves to the next. Why: a metadata commit fsyncs each
/// directory that gained a file, one after another, and a directory fsync is a few small
/// synchronous writes plus a flush. With the directory drawn at random, a commit of 16 1 MiB
/// PUTs (64 connections) fsynced ~16 directories, ~15 ms per commit; in runs, 2–3.
const FILES_PER_DIR_RUN: u32 = 64;

thread_local! {
    /// (directory of the current run, files put in it so far).
    static DIR_RUN: std::cell::Cell<(u8, u32)> = std::cell::Cell::new((rand::random(), 0));
}

fn next_run_dir() -> u8 {
    DIR_RUN.with(|run| {
        let (dir, used) = match run.get() {
            (dir, used) if used >= FILES_PER_DIR_RUN => (dir.wrapping_add(1), 0),
            current => current,
        };
        run.set((dir, used + 1));
        dir
    })
}

/// Creates the data directory tree, private to the server's user (0700).
pub fn prepare_data_dir(data_dir: &Path) -> std::io::Result<()> {
    // A new data dir is private (0700); an existing one keeps the mode its operator chose.
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true).mode(0o700);
    b.create(data_dir)?;
    b.create(crate::meta::meta_dir(data_dir))?;
    b.create(objects_dir(data_dir))?;
    spread_subdirectories(&objects_dir(data_dir));
    for i in 0..=255u8 {
        b.create(objects_dir(data_dir).join(format!("{i:02x}")))?;
    }
    Ok(())
}

/// Asks ext4 to spread the subdirectories of `dir` over the disk's block groups, as it does
/// for top-level directories (the Orlov allocator honours the TOPDIR flag); other file
/// systems refuse the flag and nothing changes.
///
/// Why: ext4 places a new file's inode in its directory's group, and on a file system
/// without a journal it steps over every inode of that group deleted in the last minute or
/// more (`recently_deleted`), one buffer lookup each. With all 256 data directories in one
/// group, PUT/DELETE churn made each create scan thousands of them: `__ext4_new_inode` was
/// 27 % of all CPU at 1 MiB PUT after an earlier run's deletes. Spread, each group sees a
/// small share of the churn.
fn spread_subdirectories(dir: &Path) {
    use std::os::unix::io::AsRawFd;
    let Ok(d) = std::fs::File::open(dir) else {
        return;
    };
    let Some(mut flags) = inode_flags(&d) else {
        return;
    };
    if flags & FS_TOPDIR_FL == 0 {
        flags |= FS_TOPDIR_FL;
        // SAFETY: the ioctl reads one int through a valid pointer on our own fd.
        let _ = unsafe { libc::ioctl(d.as_raw_fd(), FS_IOC_SETFLAGS, &flags) };
    }
}

const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;

/// The inode's `chattr` flags; None where the file system has none.
fn inode_flags(f: &std::fs::File) -> Option<libc::c_int> {
    use std::os::unix::io::AsRawFd;
    let mut flags: libc::c_int = 0;
    // SAFETY: the ioctl writes one int through a valid pointer on our own fd.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_GETFLAGS, &mut flags) };
    (rc == 0).then_some(flags)
}

/// A failed glommio file operation: its I/O error decides the answer (a full disk is
/// InsufficientStorage); the log keeps glommio's text, which names the operation and file.
fn io_err(e: glommio::GlommioError<()>) -> S3Error {
    let text = crate::error::error_chain(&e);
    S3Error::from_io(std::io::Error::from(e)).caused_by(text)
}

/// A data file written and made durable; its directory entry still needs an fsync of
/// `dir`, which the metadata commit batches.
pub struct Written {
    pub file_id: u128,
    pub len: u64,
    pub dir: PathBuf,
    /// CRC32C of each `IO_CHUNK_BYTES` chunk, in order.
    pub chunk_crc32c: Vec<u32>,
}

impl Written {
    /// The object segment this file is (`part_etag` for multipart parts).
    pub fn segment(&self, part_etag: Option<String>) -> Segment {
        Segment {
            file_id: self.file_id,
            len: self.len,
            part_etag,
            chunk_crc32c: self.chunk_crc32c.clone(),
        }
    }
}

/// Streams `src` into a new data file. Fails with EntityTooLarge past `len_max` bytes.
pub async fn write_file(
    data_dir: &Path,
    src: &mut dyn ByteSource,
    len_max: u64,
) -> S3Result<Written> {
    let _gauge = crate::observe::metrics::IoStreamGauge::open();
    let id = new_file_id();
    let path = file_path(data_dir, id);
    let file = Rc::new(DmaFile::create(&path).await.map_err(io_err)?);
    let mut crcs = Vec::new();
    let result = write_all(&file, src, len_max, &mut crcs).await;
    let result = match result {
        Ok(len) => {
            // Before the bytes become durable: within the limit, one CRC per chunk written.
            assert!(len <= len_max);
            assert_eq!(crcs.len() as u64, len.div_ceil(IO_CHUNK_BYTES as u64));
            finish(&file, len).await.map(|_| len)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(len) => {
            // Every write task was joined, so this is the last handle, and its close is
            // awaited here. The bytes are durable (fdatasync above): a failing close loses
            // nothing, so it is logged, not returned.
            match Rc::try_unwrap(file) {
                Ok(f) => {
                    if let Err(e) = f.close().await {
                        tracing::warn!(error = %e, "closing a written data file failed");
                    }
                }
                Err(shared) => {
                    debug_assert!(false, "a write task outlived write_all");
                    drop(shared); // glommio's drop queues the close on the reactor
                }
            }
            Ok(Written {
                file_id: id,
                len,
                dir: file_dir(data_dir, id),
                chunk_crc32c: crcs,
            })
        }
        Err(e) => {
            // Write tasks still in flight may hold the file: the last handle dropped queues
            // glommio's close on the reactor (no future to poll). Its bytes were never
            // acknowledged; the name goes now, the inode with the last handle.
            drop(file);
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

async fn write_all(
    file: &Rc<DmaFile>,
    src: &mut dyn ByteSource,
    len_max: u64,
    crcs: &mut Vec<u32>,
) -> S3Result<u64> {
    let mut pos: u64 = 0;
    let mut inflight: VecDeque<JoinHandle<glommio::Result<usize, ()>>> = VecDeque::new();
    loop {
        let mut buf = file.alloc_dma_buffer(IO_CHUNK_BYTES);
        let n = fill(src, buf.as_bytes_mut()).await?;
        if n == 0 {
            break;
        }
        if pos + n as u64 > len_max {
            return Err(S3Error::new(ErrorCode::EntityTooLarge));
        }
        crcs.push(crc32c::crc32c(&buf.as_bytes()[..n]));
        if n < IO_CHUNK_BYTES {
            let aligned = (file.align_up(n as u64) as usize).min(IO_CHUNK_BYTES);
            buf.as_bytes_mut()[n..aligned].fill(0);
            buf.trim_to_size(aligned);
        }
        let f = file.clone();
        let at = pos;
        let want = buf.len();
        inflight.push_back(
            glommio::spawn_local(async move {
                // A short O_DIRECT write means the filesystem ran out of room mid-buffer.
                match f.write_at(buf, at).await {
                    Ok(n) if n < want => Err(glommio::GlommioError::IoError(
                        std::io::Error::from_raw_os_error(libc::ENOSPC),
                    )),
                    other => other,
                }
            })
            .detach(),
        );
        pos += n as u64;
        if inflight.len() > WRITE_BEHIND {
            await_write(inflight.pop_front()).await?;
        }
        if n < IO_CHUNK_BYTES {
            break;
        }
    }
    while let Some(w) = inflight.pop_front() {
        await_write(Some(w)).await?;
    }
    Ok(pos)
}

async fn await_write(w: Option<JoinHandle<glommio::Result<usize, ()>>>) -> S3Result<()> {
    match w {
        Some(h) => match h.await {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(io_err(e)),
            None => Err(S3Error::internal("write task cancelled")),
        },
        None => Ok(()),
    }
}

/// Cuts the zero padding of the last aligned block and makes the bytes durable.
async fn finish(file: &DmaFile, len: u64) -> S3Result<()> {
    if !len.is_multiple_of(file.alignment()) || len == 0 {
        file.truncate(len).await.map_err(io_err)?;
    }
    file.fdatasync().await.map_err(io_err)
}

async fn fill(src: &mut dyn ByteSource, dst: &mut [u8]) -> S3Result<usize> {
    crate::http::body::fill_from(dst, async |d: &mut [u8]| src.read(d).await).await
}

/// Deletes data files after the metadata no longer names them (off the request path).
pub fn remove_files_later(data_dir: &Path, ids: Vec<u128>) {
    if ids.is_empty() {
        return;
    }
    let paths: Vec<PathBuf> = ids.iter().map(|id| file_path(data_dir, *id)).collect();
    glommio::spawn_local(async move {
        glommio::executor()
            .spawn_blocking(move || {
                for p in paths {
                    let _ = std::fs::remove_file(p);
                }
            })
            .await;
    })
    .detach();
}

/// Opens a segment's file; None when it is gone (the object was replaced meanwhile).
///
/// glommio's `DmaFile::open` calls `statfs(path)` after opening and panics if the path
/// vanished in between, which a concurrent overwrite can cause. So the inode is pinned
/// first with a plain open (a missing file is an ordinary `None` here), and glommio opens
/// it through `/proc/self/fd/N`, a path that stays valid while we hold the pin whatever
/// happens to the file's name.
pub async fn open_segment(data_dir: &Path, seg: &Segment) -> S3Result<Option<DmaFile>> {
    let pin = match pin_segment(data_dir, seg) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(None),
        Err(e) => return Err(S3Error::internal_error(&e)),
    };
    open_pinned(&pin).await.map(Some)
}

/// Holds a segment's inode with a plain open (None when the file is gone already).
fn pin_segment(data_dir: &Path, seg: &Segment) -> std::io::Result<Option<std::fs::File>> {
    match std::fs::File::open(file_path(data_dir, seg.file_id)) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens a pinned file for O_DIRECT I/O through `/proc/self/fd/N` (see `open_segment`).
async fn open_pinned(pin: &std::fs::File) -> S3Result<DmaFile> {
    use std::os::unix::io::AsRawFd;
    let via_proc = format!("/proc/self/fd/{}", pin.as_raw_fd());
    DmaFile::open(&via_proc)
        .await
        .map_err(|e| S3Error::internal(format!("open data file: {e}")))
}

/// Segments of one read whose files are pinned up front. A GET streams the version it
/// started on even if an overwrite frees that version's part files meanwhile; past this
/// many segments, files are opened as the stream reaches them.
pub const PINNED_SEGMENTS_MAX: usize = 1024;

/// Streams bytes `[start, end)` of an object made of `segments`, reading ahead.
///
/// Reads are whole aligned chunks (`IO_CHUNK_BYTES`): each is checked against its stored
/// CRC32C, kept in the core's hot-data cache, and sliced to the requested range without
/// copying. (A small cold range read therefore costs one chunk read: the price of never
/// serving unverified bytes.)
pub struct FileStream {
    data_dir: PathBuf,
    /// (segment, offset within segment to start, bytes to send from it, its pinned file)
    plan: VecDeque<(Segment, u64, u64, Option<std::fs::File>)>,
    /// A segment's file was already gone when the stream was planned (object replaced).
    vanished: bool,
    current: Option<(Rc<DmaFile>, Segment)>,
    reads: VecDeque<PendingRead>,
    /// Next byte to fetch in the current segment, and bytes left to fetch.
    next_pos: u64,
    left: u64,
    /// Counts this stream's buffers in the memory accounting while it lives.
    _gauge: crate::observe::metrics::IoStreamGauge,
}

enum PendingRead {
    Ready(glommio::io::ReadResult),
    /// A read in flight; `cache` is the chunk key to remember it under (whole chunks only),
    /// and (offset, len) the slice of the result to send.
    Io {
        task: JoinHandle<glommio::Result<glommio::io::ReadResult, ()>>,
        cache: (u128, u64),
        crc32c: Option<u32>,
        /// Bytes the chunk holds on disk.
        chunk_len: u64,
        slice: (usize, usize),
    },
}

impl FileStream {
    /// `first` is the already opened file of the first segment in the range.
    pub fn new(
        data_dir: PathBuf,
        segments: &[Segment],
        start: u64,
        end: u64,
        first: Option<DmaFile>,
    ) -> FileStream {
        let mut plan = VecDeque::new();
        let mut base = 0u64;
        let mut vanished = false;
        for s in segments {
            let (s0, s1) = (base, base + s.len);
            base = s1;
            if s1 <= start || s0 >= end {
                continue;
            }
            let from = start.max(s0) - s0;
            let to = end.min(s1) - s0;
            let needs_pin = !(plan.is_empty() && first.is_some());
            let pin = if needs_pin && plan.len() < PINNED_SEGMENTS_MAX {
                match pin_segment(&data_dir, s) {
                    Ok(Some(f)) => Some(f),
                    Ok(None) => {
                        vanished = true;
                        None
                    }
                    Err(_) => None, // reported when the stream reaches it
                }
            } else {
                None
            };
            plan.push_back((s.clone(), from, to - from, pin));
        }
        // The segments tile the object end to end, and the range lies inside it (the caller
        // checked it against the record's size, which is the sum of its segments).
        debug_assert!(
            start <= end && end <= base,
            "range {start}..{end} of {base} bytes"
        );
        debug_assert_eq!(plan.iter().map(|p| p.2).sum::<u64>(), end - start);
        let mut fs = FileStream {
            data_dir,
            plan,
            vanished,
            current: None,
            reads: VecDeque::new(),
            next_pos: 0,
            left: 0,
            _gauge: crate::observe::metrics::IoStreamGauge::open(),
        };
        if let Some(f) = first {
            if let Some((seg, from, len, _)) = fs.plan.pop_front() {
                fs.current = Some((Rc::new(f), seg));
                fs.next_pos = from;
                fs.left = len;
            }
        }
        fs
    }

    fn issue_reads(&mut self) {
        let Some((file, seg)) = self.current.clone() else {
            return;
        };
        let chunk = IO_CHUNK_BYTES as u64;
        while self.reads.len() < READ_AHEAD && self.left > 0 {
            let idx = self.next_pos / chunk;
            let chunk_start = idx * chunk;
            let chunk_len = chunk.min(seg.len - chunk_start);
            let off = self.next_pos - chunk_start;
            // The plan stays inside the segment the metadata describes.
            assert!(off < chunk_len && chunk_len <= chunk);
            let take = self.left.min(chunk_len - off);
            assert!(take > 0);
            let key = (seg.file_id, idx);
            if let Some(hit) = super::cache::get(key) {
                let part = glommio::io::ReadResult::slice(&hit, off as usize, take as usize)
                    .unwrap_or_default();
                self.reads.push_back(PendingRead::Ready(part));
            } else {
                let f = file.clone();
                let task = glommio::spawn_local(async move {
                    f.read_at(chunk_start, chunk_len as usize).await
                })
                .detach();
                let crc32c = seg.chunk_crc32c.get(idx as usize).copied();
                self.reads.push_back(PendingRead::Io {
                    task,
                    cache: key,
                    crc32c,
                    chunk_len,
                    slice: (off as usize, take as usize),
                });
            }
            self.next_pos += take;
            self.left -= take;
        }
    }

    /// Whether a file of the planned range was gone already: the record read was stale,
    /// so the caller should read it again rather than start a stream it cannot finish.
    pub fn vanished(&self) -> bool {
        self.vanished
    }

    async fn advance_segment(&mut self) -> std::io::Result<bool> {
        let Some((seg, from, len, pin)) = self.plan.pop_front() else {
            return Ok(false);
        };
        let opened = match pin {
            Some(pin) => open_pinned(&pin).await.map(Some),
            None => open_segment(&self.data_dir, &seg).await,
        };
        let file = opened
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .ok_or_else(|| std::io::Error::other("data file vanished (object replaced)"))?;
        self.current = Some((Rc::new(file), seg));
        self.next_pos = from;
        self.left = len;
        Ok(true)
    }

    async fn next(&mut self) -> std::io::Result<Option<glommio::io::ReadResult>> {
        loop {
            self.issue_reads();
            if let Some(r) = self.reads.pop_front() {
                let data = match r {
                    PendingRead::Ready(d) => d,
                    PendingRead::Io {
                        task,
                        cache,
                        crc32c,
                        chunk_len,
                        slice,
                    } => {
                        let res = task
                            .await
                            .ok_or_else(|| std::io::Error::other("read cancelled"))?;
                        let whole = res.map_err(|e| std::io::Error::other(e.to_string()))?;
                        crate::observe::metrics::direct_read(whole.len() as u64);
                        if let Some(expected) = crc32c {
                            if crc32c::crc32c(&whole) != expected {
                                tracing::error!(
                                    file = format!("{:032x}", cache.0),
                                    chunk = cache.1,
                                    "data file chunk fails its CRC32C: corrupted on disk"
                                );
                                return Err(std::io::Error::new(
                                    std::io::ErrorKind::InvalidData,
                                    "data corrupted on disk",
                                ));
                            }
                            // Read back intact: the chunk is exactly what was written.
                            assert_eq!(whole.len() as u64, chunk_len);
                        }
                        super::cache::insert(cache, whole.clone());
                        glommio::io::ReadResult::slice(&whole, slice.0, slice.1).unwrap_or_default()
                    }
                };
                if data.is_empty() {
                    return Err(std::io::Error::other("data file shorter than its metadata"));
                }
                self.issue_reads();
                return Ok(Some(data));
            }
            if !self.advance_segment().await? {
                return Ok(None);
            }
        }
    }
}

impl FileStream {
    /// Fetches the first chunk now, so a missing or corrupt file becomes an error response
    /// rather than a connection cut after the headers.
    pub async fn prefetch(&mut self) -> std::io::Result<()> {
        if let Some(first) = self.next().await? {
            self.reads.push_front(PendingRead::Ready(first));
        }
        Ok(())
    }
}

impl BodyStream for FileStream {
    fn next_chunk(&mut self) -> LocalBoxFuture<'_, std::io::Result<Option<Chunk>>> {
        Box::pin(async move { Ok(self.next().await?.map(|d| Box::new(d) as Chunk)) })
    }
}

/// Deletes the data files under `data_dir` whose id `referenced` does not hold and that were
/// last modified before `cutoff`; answers how many it removed. Blocking: run it off the core.
pub fn remove_unreferenced_files(
    data_dir: &Path,
    referenced: &std::collections::HashSet<u128>,
    cutoff: std::time::SystemTime,
) -> usize {
    let mut removed = 0;
    let Ok(dirs) = std::fs::read_dir(objects_dir(data_dir)) else {
        return 0;
    };
    for d in dirs.flatten() {
        let Ok(files) = std::fs::read_dir(d.path()) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name();
            let Some(id) = name.to_str().and_then(|n| u128::from_str_radix(n, 16).ok()) else {
                continue;
            };
            if referenced.contains(&id) {
                continue;
            }
            let old = f
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| t < cutoff)
                .unwrap_or(false);
            if old && std::fs::remove_file(f.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_fill_one_directory_per_run() {
        std::thread::spawn(|| {
            let ids: Vec<u128> = (0..3 * FILES_PER_DIR_RUN).map(|_| new_file_id()).collect();
            let dirs: Vec<u8> = ids.iter().map(|id| (id & 0xff) as u8).collect();
            let run = FILES_PER_DIR_RUN as usize;
            // A fresh thread: its first run starts here (in a random directory).
            for (k, chunk) in dirs.chunks(run).enumerate() {
                let want = dirs[0].wrapping_add(k as u8);
                assert!(chunk.iter().all(|d| *d == want), "run {k}: {chunk:?}");
            }
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), ids.len());
        })
        .join()
        .expect("test thread");
    }

    #[test]
    fn data_dir_layout_and_spread_hint_on_ext4() {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        prepare_data_dir(&data_dir).unwrap();
        for i in [0u8, 0x7f, 0xff] {
            assert!(objects_dir(&data_dir).join(format!("{i:02x}")).is_dir());
        }
        let objects = std::fs::File::open(objects_dir(&data_dir)).unwrap();
        // SAFETY: statfs writes into the zeroed struct we pass; the fd is ours.
        let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::fstatfs(std::os::unix::io::AsRawFd::as_raw_fd(&objects), &mut fs) };
        assert_eq!(rc, 0);
        const EXT4_SUPER_MAGIC: i64 = 0xEF53;
        if fs.f_type as i64 == EXT4_SUPER_MAGIC {
            let flags = inode_flags(&objects).expect("ext4 has inode flags");
            assert_ne!(
                flags & FS_TOPDIR_FL,
                0,
                "objects/ must carry the TOPDIR hint"
            );
        }
    }
}
