//! Metadata: buckets, objects, uploads and parts in redb, sharded by bucket-name hash.
//!
//! The shard count is fixed when a data directory is first used and recorded beside the
//! shards, so a restart on a different number of cores still finds every bucket: shards are
//! then spread over whatever executors exist (shard `s` lives on executor `s % executors`).

pub mod commands;
pub mod lifecycle;
pub mod lock;
pub mod shard;
pub mod tables;
pub mod types;
pub mod versions;

use std::path::{Path, PathBuf};

pub fn meta_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("meta")
}

pub fn shard_path(data_dir: &Path, shard: u32) -> PathBuf {
    meta_dir(data_dir).join(format!("shard-{shard:04}.redb"))
}

/// Reads the recorded shard count, or records `wanted` on first start (write, fsync, rename,
/// fsync the directory: the count must never be half-written).
pub fn shard_count(data_dir: &Path, wanted: u32) -> std::io::Result<u32> {
    use std::io::Write;
    let dir = meta_dir(data_dir);
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("shards");
    if let Ok(text) = std::fs::read_to_string(&file) {
        return text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad shard count in {}", file.display()),
                )
            });
    }
    let tmp = dir.join("shards.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    writeln!(f, "{wanted}")?;
    f.sync_all()?;
    std::fs::rename(&tmp, &file)?;
    std::fs::File::open(&dir)?.sync_all()?;
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where a bucket's records live is this hash of its name, recorded nowhere: it must never
    /// change, or existing buckets vanish.
    #[test]
    fn hash_is_stable() {
        use crate::runtime::stable_hash;
        assert_eq!(stable_hash(""), 0xcbf29ce484222325);
        assert_eq!(stable_hash("a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn shard_count_is_recorded_once() {
        let dir = std::env::temp_dir().join(format!("bs-shards-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(shard_count(&dir, 2).unwrap(), 2);
        assert_eq!(shard_count(&dir, 1).unwrap(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
