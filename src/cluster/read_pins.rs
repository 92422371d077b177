//! Open handles on the data files this node has been reading, so a file freed while a reader
//! is partway through it is still read to its end.
//!
//! The local store pins a file for its own streams by holding it open
//! (`storage::local::FileStream`). A reader on another node asks for one chunk at a time and
//! holds nothing here: an overwrite freeing the file between two of its chunks would cut its
//! GET short. So this node keeps the handle for it, from a chunk read until [`PIN_IDLE_MS`]
//! after the last one, for at most [`PINS_MAX`] files. A freed file's disk space comes back
//! when its pin goes. Only reads use pins: whether this node holds a file (placement,
//! repair) is asked of the file system.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Files kept open for readers at most; past it the least recently read one is let go.
pub const PINS_MAX: usize = 256;
/// How long after its last read a file stays open for the next chunk of the same stream.
pub const PIN_IDLE_MS: u64 = 30_000;

/// The pins of one node.
#[derive(Default)]
pub struct ReadPins {
    pins: Mutex<HashMap<PathBuf, Pin>>,
}

struct Pin {
    file: Arc<File>,
    used: Instant,
}

impl ReadPins {
    /// Opens `path` for a read (blocking), keeping it open for the next chunks; a file gone
    /// since a read within [`PIN_IDLE_MS`] is read through its pin. None: not here.
    pub fn open(&self, path: &Path) -> std::io::Result<Option<Arc<File>>> {
        let now = Instant::now();
        match open_if_here(path)? {
            Some(f) => {
                let f = Arc::new(f);
                self.keep(path, &f, now);
                Ok(Some(f))
            }
            None => Ok(self.pinned(path, now)),
        }
    }

    fn keep(&self, path: &Path, file: &Arc<File>, now: Instant) {
        let Ok(mut pins) = self.pins.lock() else {
            return;
        };
        if let Some(pin) = pins.get_mut(path) {
            pin.used = now;
            return;
        }
        if pins.len() >= PINS_MAX {
            expire(&mut pins, now);
        }
        if pins.len() >= PINS_MAX {
            let oldest = pins
                .iter()
                .min_by_key(|(_, p)| p.used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                pins.remove(&k);
            }
        }
        pins.insert(
            path.to_path_buf(),
            Pin {
                file: Arc::clone(file),
                used: now,
            },
        );
        debug_assert!(pins.len() <= PINS_MAX);
    }

    fn pinned(&self, path: &Path, now: Instant) -> Option<Arc<File>> {
        let mut pins = self.pins.lock().ok()?;
        let pin = pins.get_mut(path)?;
        if now.duration_since(pin.used) > idle() {
            pins.remove(path);
            return None;
        }
        pin.used = now;
        Some(Arc::clone(&pin.file))
    }

    /// Lets go of the files not read for [`PIN_IDLE_MS`] (called periodically, so a freed
    /// file's space comes back without another read); answers how many.
    pub fn sweep(&self) -> usize {
        self.sweep_at(Instant::now())
    }

    fn sweep_at(&self, now: Instant) -> usize {
        match self.pins.lock() {
            Ok(mut pins) => expire(&mut pins, now),
            Err(_) => 0,
        }
    }

    /// Files kept open now.
    pub fn len(&self) -> usize {
        self.pins.lock().map(|p| p.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Opens `path` for reading; None when no file has that name (a pin is not looked at).
pub fn open_if_here(path: &Path) -> std::io::Result<Option<File>> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn idle() -> Duration {
    Duration::from_millis(PIN_IDLE_MS)
}

fn expire(pins: &mut HashMap<PathBuf, Pin>, now: Instant) -> usize {
    let before = pins.len();
    pins.retain(|_, p| now.duration_since(p.used) <= idle());
    before - pins.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    fn read_all(f: &File) -> Vec<u8> {
        let mut buf = vec![0u8; 64];
        let n = f.read_at(&mut buf, 0).unwrap();
        buf.truncate(n);
        buf
    }

    /// A file removed after a read is still read through its pin until it goes idle.
    #[test]
    fn a_file_removed_after_a_read_is_read_until_its_pin_expires() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"first version").unwrap();
        let pins = ReadPins::default();
        assert!(pins.open(&dir.path().join("never")).unwrap().is_none());
        assert_eq!(
            read_all(&pins.open(&path).unwrap().unwrap()),
            b"first version"
        );
        std::fs::remove_file(&path).unwrap();
        let f = pins.open(&path).unwrap().expect("pinned");
        assert_eq!(read_all(&f), b"first version");
        // Not read for longer than the idle time: gone, and a read finds nothing.
        let later = Instant::now() + idle() + Duration::from_millis(1);
        assert_eq!(pins.sweep_at(later), 1);
        assert!(pins.is_empty());
        assert!(pins.open(&path).unwrap().is_none());
    }

    /// At most PINS_MAX files are kept; the least recently read goes first.
    #[test]
    fn pins_are_bounded_and_the_least_recently_read_goes() {
        let dir = tempfile::tempdir().unwrap();
        let pins = ReadPins::default();
        let path = |i: usize| dir.path().join(format!("f{i}"));
        for i in 0..=PINS_MAX {
            std::fs::write(path(i), i.to_string()).unwrap();
            pins.open(&path(i)).unwrap().unwrap();
        }
        assert_eq!(pins.len(), PINS_MAX);
        for i in 0..=PINS_MAX {
            std::fs::remove_file(path(i)).unwrap();
        }
        assert!(
            pins.open(&path(0)).unwrap().is_none(),
            "the oldest was let go"
        );
        let last = pins
            .open(&path(PINS_MAX))
            .unwrap()
            .expect("the newest is kept");
        assert_eq!(read_all(&last), PINS_MAX.to_string().as_bytes());
    }
}
