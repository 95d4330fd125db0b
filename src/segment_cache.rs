//! The segment cache: freed segment-aligned regions kept for reuse.
//!
//! Empty segments and freed large regions come here instead of going back to
//! their arena (which would mean a purge syscall) or the kernel. A request
//! takes a cached region of at least the slots it needs, so a program that
//! allocates and frees the same large size in a loop never enters the kernel.
//!
//! Shape: buckets by slot count (exact for 1..=8 slots, then one bucket per
//! power of two), each a fixed array of atomic entries. An entry word packs a
//! segment-aligned address with its slot count in the low bits that alignment
//! leaves free. Insert claims an empty entry by CAS; take and purge claim a
//! full one by CAS back to empty, so exactly one thread gets each region.
//!
//! Invariants (checked by `loom-tests/segment_cache.rs`):
//! - a region is handed out (to a taker or to a purge) at most once per insert;
//! - the cache never holds more than its byte bound: an insert reserves its
//!   bytes in the counter before publishing, and a taker returns them only
//!   after it has the region, so the counter never under-states the content;
//! - a purge only releases regions it took itself, so no taker can reach them.

use crate::arena::{ARENA_SLOTS, SEGMENT_SHIFT, SEGMENT_SIZE};
use crate::sync::{maybe_const_fn, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use core::ptr;

/// Entries per bucket.
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use tinyalloc::arena::SEGMENT_SIZE;
/// use tinyalloc::segment_cache::{SegmentCache, BUCKET_ENTRIES};
///
/// // One bucket holds at most BUCKET_ENTRIES regions of its size.
/// let cache = SegmentCache::new(usize::MAX);
/// let region = |i: usize| std::ptr::without_provenance_mut(i * SEGMENT_SIZE);
/// for i in 1..=BUCKET_ENTRIES {
///     assert!(cache.insert(region(i), 1, 0));
/// }
/// assert!(!cache.insert(region(BUCKET_ENTRIES + 1), 1, 0), "the 1-slot bucket is full");
/// # }
/// ```
#[cfg(not(feature = "loom"))]
pub const BUCKET_ENTRIES: usize = 16;
/// Entries per bucket (small under loom).
#[cfg(feature = "loom")]
pub const BUCKET_ENTRIES: usize = 2;

/// Exact buckets for 1..=8 slots, then one per power of two up to ARENA_SLOTS.
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use tinyalloc::arena::ARENA_SLOTS;
/// use tinyalloc::segment_cache::{bucket_of, BUCKETS};
///
/// // The biggest region, a whole arena, has the last bucket.
/// assert_eq!(bucket_of(ARENA_SLOTS), BUCKETS - 1);
/// # }
/// ```
pub const BUCKETS: usize = 8 + (ARENA_SLOTS.trailing_zeros() as usize - 3);

/// The bucket of a region of `slots` slots.
///
/// ```
/// use tinyalloc::segment_cache::bucket_of;
///
/// assert_eq!(bucket_of(1), 0); // exact buckets up to 8 slots
/// assert_eq!(bucket_of(8), 7);
/// assert_eq!(bucket_of(9), 8); // then one per power of two: 9..=16
/// assert_eq!(bucket_of(16), 8);
/// assert_eq!(bucket_of(17), 9);
/// ```
pub fn bucket_of(slots: usize) -> usize {
    debug_assert!((1..=ARENA_SLOTS).contains(&slots));
    if slots <= 8 {
        slots - 1
    } else {
        // 9..=16 -> 8, 17..=32 -> 9, ...
        8 + (usize::BITS - (slots - 1).leading_zeros()) as usize - 4
    }
}

/// An entry: the region's pointer with its slot count in the low bits (kept a
/// pointer, so the region keeps its provenance through the cache).
fn pack(base: *mut u8, slots: usize) -> *mut u8 {
    debug_assert!(base.addr() % SEGMENT_SIZE == 0 && slots < SEGMENT_SIZE);
    base.map_addr(|address| address | slots)
}

fn unpack(entry: *mut u8) -> (*mut u8, usize) {
    (
        entry.map_addr(|address| address & !(SEGMENT_SIZE - 1)),
        entry.addr() & (SEGMENT_SIZE - 1),
    )
}

struct Bucket {
    entries: [AtomicPtr<u8>; BUCKET_ENTRIES],
    /// When each entry was inserted (`os::now_millis`), for delayed purging.
    inserted_at: [AtomicU64; BUCKET_ENTRIES],
}

/// A bounded, lock-free cache of free segment-aligned regions.
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use tinyalloc::arena::SEGMENT_SIZE;
/// use tinyalloc::segment_cache::{CachedRegion, SegmentCache};
///
/// // The cache never touches the regions, so any segment-aligned address does here.
/// let region = |i: usize| std::ptr::without_provenance_mut::<u8>(i * SEGMENT_SIZE);
/// static CACHE: SegmentCache = SegmentCache::new(8 * SEGMENT_SIZE);
/// assert!(CACHE.insert(region(1), 2, 100)); // a freed 2-slot region at t = 100 ms
/// assert!(CACHE.insert(region(4), 1, 200));
/// // A 2-slot request reuses the first region: no kernel call.
/// assert_eq!(CACHE.take(2), Some(CachedRegion { base: region(1), slots: 2 }));
/// // Later, regions idle since t <= 150 ms are purged; the 1-slot one stays.
/// assert_eq!(CACHE.purge_older_than(150, |_| unreachable!()), 0);
/// assert_eq!(CACHE.purge_older_than(200, |r| assert_eq!(r.base, region(4))), 1);
/// assert_eq!(CACHE.cached_bytes(), 0);
/// # }
/// ```
pub struct SegmentCache {
    buckets: [Bucket; BUCKETS],
    /// Bytes reserved by inserts in progress or done, not yet returned by a take.
    cached_bytes: AtomicUsize,
    /// The byte bound.
    limit: AtomicUsize,
}

/// A region taken from the cache.
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use tinyalloc::arena::SEGMENT_SIZE;
/// use tinyalloc::segment_cache::SegmentCache;
///
/// let cache = SegmentCache::new(usize::MAX);
/// let base = std::ptr::without_provenance_mut(SEGMENT_SIZE);
/// cache.insert(base, 12, 0);
/// // A request for 10 slots may get a bigger region: the caller keeps all 12.
/// let region = cache.take(10).unwrap();
/// assert_eq!((region.base, region.slots), (base, 12));
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachedRegion {
    /// Segment-aligned start.
    pub base: *mut u8,
    /// Slots it spans (at least what was asked for).
    pub slots: usize,
}

impl SegmentCache {
    maybe_const_fn! {
        /// An empty cache holding at most `limit` bytes.
        ///
        /// ```
        /// # #[cfg(not(feature = "loom"))] {
        /// use tinyalloc::arena::SEGMENT_SIZE;
        /// use tinyalloc::segment_cache::SegmentCache;
        ///
        /// let cache = SegmentCache::new(SEGMENT_SIZE); // room for one segment
        /// assert_eq!(cache.limit(), SEGMENT_SIZE);
        /// assert_eq!(cache.cached_bytes(), 0);
        /// # }
        /// ```
        pub fn new(limit: usize) -> Self {
            #[cfg(not(feature = "loom"))]
            let buckets = [const {
                Bucket {
                    entries: crate::sync::atomic_array!(AtomicPtr<u8>, ptr::null_mut(), BUCKET_ENTRIES),
                    inserted_at: crate::sync::atomic_array!(AtomicU64, 0, BUCKET_ENTRIES),
                }
            }; BUCKETS];
            #[cfg(feature = "loom")]
            let buckets = core::array::from_fn(|_| Bucket {
                entries: crate::sync::atomic_array!(AtomicPtr<u8>, ptr::null_mut(), BUCKET_ENTRIES),
                inserted_at: crate::sync::atomic_array!(AtomicU64, 0, BUCKET_ENTRIES),
            });
            Self { buckets, cached_bytes: AtomicUsize::new(0), limit: AtomicUsize::new(limit) }
        }
    }

    /// Change the byte bound (regions already cached stay until taken or purged).
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::SEGMENT_SIZE;
    /// use tinyalloc::segment_cache::SegmentCache;
    ///
    /// let cache = SegmentCache::new(0);
    /// let base = std::ptr::without_provenance_mut(SEGMENT_SIZE);
    /// assert!(!cache.insert(base, 1, 0), "a zero bound caches nothing");
    /// cache.set_limit(SEGMENT_SIZE);
    /// assert!(cache.insert(base, 1, 0));
    /// # }
    /// ```
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// The byte bound.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::segment_cache::SegmentCache;
    ///
    /// let cache = SegmentCache::new(64 << 20);
    /// cache.set_limit(32 << 20);
    /// assert_eq!(cache.limit(), 32 << 20);
    /// # }
    /// ```
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Bytes cached (an upper bound on what the buckets hold).
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::SEGMENT_SIZE;
    /// use tinyalloc::segment_cache::SegmentCache;
    ///
    /// let cache = SegmentCache::new(usize::MAX);
    /// cache.insert(std::ptr::without_provenance_mut(SEGMENT_SIZE), 3, 0);
    /// assert_eq!(cache.cached_bytes(), 3 * SEGMENT_SIZE);
    /// cache.take(3);
    /// assert_eq!(cache.cached_bytes(), 0);
    /// # }
    /// ```
    pub fn cached_bytes(&self) -> usize {
        self.cached_bytes.load(Ordering::Relaxed)
    }

    /// Offer a free region of `slots` slots at `base`, inserted at time `now`.
    /// Returns false if the cache is full (byte bound or bucket), in which case
    /// the caller still owns the region.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::SEGMENT_SIZE;
    /// use tinyalloc::segment_cache::SegmentCache;
    ///
    /// let cache = SegmentCache::new(2 * SEGMENT_SIZE);
    /// let region = |i: usize| std::ptr::without_provenance_mut(i * SEGMENT_SIZE);
    /// assert!(cache.insert(region(1), 2, 0));
    /// // Over the byte bound: refused, and the caller still owns region 3.
    /// assert!(!cache.insert(region(3), 1, 0));
    /// # }
    /// ```
    pub fn insert(&self, base: *mut u8, slots: usize, now: u64) -> bool {
        let bytes = slots << SEGMENT_SHIFT;
        // Reserve the bytes first, so the bound holds at every instant. A CAS,
        // not an add-then-undo: the counter never goes past the limit, even
        // for a moment (which would also refuse concurrent inserts that fit).
        let limit = self.limit.load(Ordering::Relaxed);
        let mut before = self.cached_bytes.load(Ordering::Relaxed);
        loop {
            if before + bytes > limit {
                return false;
            }
            match self.cached_bytes.compare_exchange_weak(
                before,
                before + bytes,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(current) => before = current,
            }
        }
        let bucket = &self.buckets[bucket_of(slots)];
        let entry = pack(base, slots);
        for (word, stamp) in bucket.entries.iter().zip(&bucket.inserted_at) {
            if !word.load(Ordering::Relaxed).is_null() {
                continue;
            }
            // The stamp may be overwritten by a racing insert that loses the
            // CAS below: stamps only steer purging, never correctness.
            stamp.store(now, Ordering::Relaxed);
            // Release pairs with the Acquire CAS in `take`/`purge_older_than`:
            // everything the inserter did to the region happens-before the
            // next holder's use of it.
            if word
                .compare_exchange(ptr::null_mut(), entry, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
        }
        self.cached_bytes.fetch_sub(bytes, Ordering::Relaxed);
        false
    }

    /// Take a region of at least `slots` slots, preferring the exact bucket.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::SEGMENT_SIZE;
    /// use tinyalloc::segment_cache::SegmentCache;
    ///
    /// let cache = SegmentCache::new(usize::MAX);
    /// let base = std::ptr::without_provenance_mut(SEGMENT_SIZE);
    /// cache.insert(base, 1, 0);
    /// assert_eq!(cache.take(2), None, "too small");
    /// assert_eq!(cache.take(1).map(|r| r.base), Some(base));
    /// assert_eq!(cache.take(1), None, "each region is handed out once");
    /// # }
    /// ```
    pub fn take(&self, slots: usize) -> Option<CachedRegion> {
        let first = bucket_of(slots);
        // The exact bucket, then the next one up (a little bigger is fine).
        for bucket in &self.buckets[first..BUCKETS.min(first + 2)] {
            for word in &bucket.entries {
                let entry = word.load(Ordering::Relaxed);
                if entry.is_null() || unpack(entry).1 < slots {
                    continue;
                }
                if let Some(region) = self.claim(word, entry) {
                    return Some(region);
                }
            }
        }
        None
    }

    /// Take every region inserted at or before `cutoff` and hand each to
    /// `release` (which purges or unmaps it). Returns how many were released.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::SEGMENT_SIZE;
    /// use tinyalloc::segment_cache::SegmentCache;
    ///
    /// let cache = SegmentCache::new(usize::MAX);
    /// let region = |i: usize| std::ptr::without_provenance_mut(i * SEGMENT_SIZE);
    /// cache.insert(region(1), 1, 1_000);
    /// cache.insert(region(2), 1, 5_000);
    /// let mut purged = Vec::new();
    /// // At t = 6000 ms with a 2 s delay: regions idle since t <= 4000 go.
    /// assert_eq!(cache.purge_older_than(4_000, |r| purged.push(r.base)), 1);
    /// assert_eq!(purged, [region(1)]);
    /// # }
    /// ```
    pub fn purge_older_than(&self, cutoff: u64, mut release: impl FnMut(CachedRegion)) -> usize {
        let mut released = 0;
        for bucket in &self.buckets {
            for (word, stamp) in bucket.entries.iter().zip(&bucket.inserted_at) {
                let entry = word.load(Ordering::Relaxed);
                if entry.is_null() || stamp.load(Ordering::Relaxed) > cutoff {
                    continue;
                }
                if let Some(region) = self.claim(word, entry) {
                    release(region);
                    released += 1;
                }
            }
        }
        released
    }

    /// Take the oldest regions until the cache holds at most `limit` bytes,
    /// handing each to `release` (which purges or unmaps it). Returns how
    /// many were released. Races with inserts and takes are harmless: each
    /// region is claimed by CAS, and a concurrent insert may leave the cache
    /// briefly above `limit` again (the next trim catches it).
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::arena::SEGMENT_SIZE;
    /// use tinyalloc::segment_cache::SegmentCache;
    ///
    /// let cache = SegmentCache::new(usize::MAX);
    /// let region = |i: usize| std::ptr::without_provenance_mut(i * SEGMENT_SIZE);
    /// cache.insert(region(1), 1, 30);
    /// cache.insert(region(2), 1, 10); // the oldest
    /// cache.insert(region(3), 1, 20);
    /// let mut released = Vec::new();
    /// assert_eq!(cache.trim_to(SEGMENT_SIZE, |r| released.push(r.base)), 2);
    /// assert_eq!(released, [region(2), region(3)]); // oldest first
    /// assert_eq!(cache.cached_bytes(), SEGMENT_SIZE);
    /// # }
    /// ```
    pub fn trim_to(&self, limit: usize, mut release: impl FnMut(CachedRegion)) -> usize {
        let mut released = 0;
        while self.cached_bytes.load(Ordering::Relaxed) > limit {
            let mut oldest: Option<(&AtomicPtr<u8>, *mut u8, u64)> = None;
            for bucket in &self.buckets {
                for (word, stamp) in bucket.entries.iter().zip(&bucket.inserted_at) {
                    let entry = word.load(Ordering::Relaxed);
                    let at = stamp.load(Ordering::Relaxed);
                    if !entry.is_null() && oldest.is_none_or(|(_, _, best)| at < best) {
                        oldest = Some((word, entry, at));
                    }
                }
            }
            let Some((word, entry, _)) = oldest else {
                break;
            };
            if let Some(region) = self.claim(word, entry) {
                release(region);
                released += 1;
            }
        }
        released
    }

    /// Empty `word`, which was seen holding `entry`, and return its region;
    /// `None` if another thread claimed it first. Whoever wins this CAS owns
    /// the region (a taker, a purge or a trim); a loser never sees it.
    fn claim(&self, word: &AtomicPtr<u8>, entry: *mut u8) -> Option<CachedRegion> {
        // Acquire pairs with the Release CAS in `insert`: the inserter's
        // writes to the region happen-before the new holder's use of it.
        word.compare_exchange(entry, ptr::null_mut(), Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        let (base, slots) = unpack(entry);
        // Bytes are returned only once the region is ours, so the counter
        // never under-states what the buckets hold.
        self.cached_bytes
            .fetch_sub(slots << SEGMENT_SHIFT, Ordering::Relaxed);
        Some(CachedRegion { base, slots })
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    /// A stand-in region address (never dereferenced).
    fn region(n: usize) -> *mut u8 {
        ptr::without_provenance_mut(n * SEGMENT_SIZE)
    }

    #[test]
    fn buckets_are_exact_then_geometric() {
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(8), 7);
        assert_eq!(bucket_of(9), 8);
        assert_eq!(bucket_of(16), 8);
        assert_eq!(bucket_of(17), 9);
        assert_eq!(bucket_of(ARENA_SLOTS), BUCKETS - 1);
    }

    #[test]
    fn a_region_is_taken_once_and_only_if_big_enough() {
        let cache = SegmentCache::new(usize::MAX);
        assert!(cache.insert(region(1), 10, 0));
        assert_eq!(cache.take(11), None, "a 10-slot region cannot serve 11");
        assert_eq!(
            cache.take(9),
            Some(CachedRegion {
                base: region(1),
                slots: 10
            })
        );
        assert_eq!(cache.take(9), None, "taken twice");
        assert_eq!(cache.cached_bytes(), 0);
    }

    #[test]
    fn the_byte_bound_and_bucket_size_refuse_inserts() {
        let cache = SegmentCache::new(3 * SEGMENT_SIZE);
        assert!(cache.insert(region(1), 2, 0));
        assert!(!cache.insert(region(3), 2, 0), "over the byte bound");
        assert!(cache.insert(region(5), 1, 0));
        assert_eq!(cache.cached_bytes(), 3 * SEGMENT_SIZE);
        let big = SegmentCache::new(usize::MAX);
        for i in 0..BUCKET_ENTRIES {
            assert!(big.insert(region(i + 1), 1, 0));
        }
        assert!(!big.insert(region(100), 1, 0), "bucket full");
        assert_eq!(big.cached_bytes(), BUCKET_ENTRIES * SEGMENT_SIZE);
    }

    #[test]
    fn trim_releases_the_oldest_down_to_the_limit() {
        let cache = SegmentCache::new(usize::MAX);
        assert!(cache.insert(region(1), 1, 30));
        assert!(cache.insert(region(2), 2, 10));
        assert!(cache.insert(region(4), 1, 20));
        let mut seen = Vec::new();
        assert_eq!(cache.trim_to(2 * SEGMENT_SIZE, |r| seen.push(r.base)), 1);
        assert_eq!(seen, vec![region(2)]);
        assert_eq!(cache.trim_to(SEGMENT_SIZE, |r| seen.push(r.base)), 1);
        assert_eq!(seen, vec![region(2), region(4)]);
        assert_eq!(cache.cached_bytes(), SEGMENT_SIZE);
        assert_eq!(cache.trim_to(SEGMENT_SIZE, |_| unreachable!()), 0);
        assert_eq!(cache.take(1).map(|r| r.base), Some(region(1)));
    }

    #[test]
    fn purge_takes_only_old_regions() {
        let cache = SegmentCache::new(usize::MAX);
        assert!(cache.insert(region(1), 1, 10));
        assert!(cache.insert(region(2), 1, 20));
        let mut seen = Vec::new();
        assert_eq!(cache.purge_older_than(15, |r| seen.push(r.base)), 1);
        assert_eq!(seen, vec![region(1)]);
        assert_eq!(cache.take(1).map(|r| r.base), Some(region(2)));
    }
}
