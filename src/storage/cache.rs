//! The hot-data cache. O_DIRECT bypasses the page cache, so hot objects would hit the disk on
//! every GET; instead each core keeps the aligned chunks it read recently, as the very DMA
//! buffers the reads filled (glommio `ReadResult`s are reference-counted), so a hit costs
//! no disk read and no copy. Data files are immutable and their ids never reused, so an
//! entry can never be stale: nothing needs invalidating, entries only age out (LRU).

use glommio::io::ReadResult;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// (data file id, chunk index within the file).
pub type ChunkKey = (u128, u64);

pub struct ChunkCache {
    map: HashMap<ChunkKey, (ReadResult, u64)>,
    lru: BTreeMap<u64, ChunkKey>,
    tick: u64,
    bytes: usize,
    capacity_bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

impl ChunkCache {
    pub fn new(capacity_bytes: usize) -> ChunkCache {
        ChunkCache {
            map: HashMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
            bytes: 0,
            capacity_bytes,
            hits: 0,
            misses: 0,
        }
    }

    pub fn get(&mut self, key: ChunkKey) -> Option<ReadResult> {
        self.tick += 1;
        let tick = self.tick;
        match self.map.get_mut(&key) {
            Some((data, t)) => {
                self.lru.remove(t);
                *t = tick;
                self.lru.insert(tick, key);
                self.hits += 1;
                Some(data.clone())
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    pub fn insert(&mut self, key: ChunkKey, data: ReadResult) {
        if data.len() > self.capacity_bytes || self.map.contains_key(&key) {
            return;
        }
        while self.bytes + data.len() > self.capacity_bytes {
            let Some((_, old)) = self.lru.pop_first() else {
                break;
            };
            if let Some((d, _)) = self.map.remove(&old) {
                self.bytes -= d.len();
            }
        }
        self.tick += 1;
        self.bytes += data.len();
        self.lru.insert(self.tick, key);
        self.map.insert(key, (data, self.tick));
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

thread_local! {
    static CACHE: RefCell<ChunkCache> = RefCell::new(ChunkCache::new(0));
}

/// Sets this core's share of `cache.size` (called once per core at start-up).
pub fn init(capacity_bytes: usize) {
    CACHE.with(|c| *c.borrow_mut() = ChunkCache::new(capacity_bytes));
}

pub fn get(key: ChunkKey) -> Option<ReadResult> {
    CACHE.with(|c| c.borrow_mut().get(key))
}

pub fn insert(key: ChunkKey, data: ReadResult) {
    CACHE.with(|c| c.borrow_mut().insert(key, data));
}

/// (hits, misses, bytes held, capacity) on this core.
pub fn stats() -> (u64, u64, usize, usize) {
    CACHE.with(|c| {
        let c = c.borrow();
        (c.hits, c.misses, c.bytes(), c.capacity_bytes)
    })
}
