//! An atomic bitmap: bits (and runs of bits) are claimed by CAS and released
//! by clearing them.
//!
//! Invariants (checked by `loom-tests/bitmap.rs`):
//! - a bit is handed out by at most one successful claim until it is released;
//! - a run claim is all or nothing: if a later word of the run is taken by
//!   someone else, the words already claimed are released before retrying;
//! - claims are lock-free: a CAS fails only because another claim or release
//!   succeeded.
//!
//! Ordering: a successful claim is `Acquire` and a release is `Release`, so
//! everything the previous holder did to the resource (including purging it)
//! happens-before the next holder's use of it.

use crate::sync::{maybe_const_fn, AtomicU64, Ordering};

/// A fixed-size atomic bitmap of `WORDS * 64` bits; a set bit is claimed.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // loom's atomics work only inside a model
/// use tinyalloc::ds::bitmap::AtomicBitmap;
///
/// static SLOTS: AtomicBitmap<2> = AtomicBitmap::new(); // 128 bits
/// let first = SLOTS.claim_run(3).unwrap();
/// assert_eq!(first, 0);
/// assert_eq!(SLOTS.claim_run(1), Some(3)); // the next free bit
/// SLOTS.release(first, 3);
/// assert_eq!(SLOTS.count_claimed(), 1);
/// # }
/// ```
pub struct AtomicBitmap<const WORDS: usize> {
    words: [AtomicU64; WORDS],
}

/// The bits of word `word` that a run `[start, start + len)` covers.
fn run_mask(word: usize, start: usize, len: usize) -> u64 {
    let lo = start.max(word * 64) - word * 64;
    let hi = (start + len).min(word * 64 + 64) - word * 64;
    let width = hi - lo;
    if width == 64 {
        u64::MAX
    } else {
        ((1u64 << width) - 1) << lo
    }
}

impl<const WORDS: usize> AtomicBitmap<WORDS> {
    /// Number of bits.
    ///
    /// ```
    /// use tinyalloc::ds::bitmap::AtomicBitmap;
    ///
    /// assert_eq!(AtomicBitmap::<4>::BITS, 256);
    /// ```
    pub const BITS: usize = WORDS * 64;

    maybe_const_fn! {
        /// An empty bitmap: every bit free.
        ///
        /// ```
        /// # #[cfg(not(feature = "loom"))] {
        /// use tinyalloc::ds::bitmap::AtomicBitmap;
        ///
        /// let bits = AtomicBitmap::<1>::new();
        /// assert_eq!(bits.count_claimed(), 0);
        /// assert!(!bits.is_claimed(0));
        /// # }
        /// ```
        pub fn new() -> Self {
            Self { words: crate::sync::atomic_array!(AtomicU64, 0, WORDS) }
        }
    }

    /// Claim `len` consecutive free bits (`1 <= len <= BITS`), looking from the
    /// first bit. Returns the index of the first bit claimed.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::ds::bitmap::AtomicBitmap;
    ///
    /// let bits = AtomicBitmap::<2>::new();
    /// assert_eq!(bits.claim_run(60), Some(0));
    /// // A run may cross a word boundary.
    /// assert_eq!(bits.claim_run(10), Some(60));
    /// assert!(bits.is_claimed(69) && !bits.is_claimed(70));
    /// // No room for 100 more of the 128 bits.
    /// assert_eq!(bits.claim_run(100), None);
    /// # }
    /// ```
    pub fn claim_run(&self, len: usize) -> Option<usize> {
        self.claim_run_below(len, Self::BITS)
    }

    /// Like [`claim_run`](Self::claim_run), but only among the first `limit`
    /// bits (`limit <= BITS`): the bits from `limit` on are never handed out.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::ds::bitmap::AtomicBitmap;
    ///
    /// let bits = AtomicBitmap::<1>::new();
    /// // Only the first 8 bits exist for this caller (an arena smaller than the map).
    /// assert_eq!(bits.claim_run_below(6, 8), Some(0));
    /// assert_eq!(bits.claim_run_below(3, 8), None);
    /// assert_eq!(bits.claim_run_below(2, 8), Some(6));
    /// # }
    /// ```
    pub fn claim_run_below(&self, len: usize, limit: usize) -> Option<usize> {
        debug_assert!(len >= 1 && limit <= Self::BITS);
        if len > limit {
            return None;
        }
        let mut from = 0;
        while let Some(start) = self.find_free_run(from, len, limit) {
            match self.try_claim_exact(start, len) {
                Ok(()) => return Some(start),
                // A bit of the run was taken after we looked: look again from
                // the bit that was in the way.
                Err(blocked_at) => from = blocked_at.max(start + 1),
            }
        }
        None
    }

    /// A run of `len` bits below `limit` that looked free when read, starting
    /// at or after `from`.
    fn find_free_run(&self, from: usize, len: usize, limit: usize) -> Option<usize> {
        let mut run_start = from;
        let mut bit = from;
        // One load per word, not per bit: a word is read once per scan.
        let mut loaded = usize::MAX;
        let mut word = 0;
        while bit < limit {
            if bit - run_start == len {
                return Some(run_start);
            }
            if bit / 64 != loaded {
                loaded = bit / 64;
                word = self.words[loaded].load(Ordering::Relaxed);
            }
            if word == u64::MAX {
                // Whole word taken: skip it.
                bit = ((bit / 64 + 1) * 64).min(limit);
                run_start = bit;
                continue;
            }
            if word & (1 << (bit % 64)) != 0 {
                run_start = bit + 1;
            }
            bit += 1;
        }
        (bit - run_start >= len).then_some(run_start)
    }

    /// Claim exactly `[start, start + len)`, word by word. On conflict, roll
    /// back the words already claimed and return the first conflicting bit.
    fn try_claim_exact(&self, start: usize, len: usize) -> Result<(), usize> {
        let first = start / 64;
        let last = (start + len - 1) / 64;
        for word in first..=last {
            let mask = run_mask(word, start, len);
            let mut current = self.words[word].load(Ordering::Relaxed);
            loop {
                if current & mask != 0 {
                    // Roll back the whole words we took before this one.
                    for done in first..word {
                        self.words[done].fetch_and(!run_mask(done, start, len), Ordering::Release);
                    }
                    let taken = current & mask;
                    return Err(word * 64 + taken.trailing_zeros() as usize);
                }
                // Acquire pairs with the Release in `release`: the previous
                // holder's use of these bits happens-before ours.
                match self.words[word].compare_exchange_weak(
                    current,
                    current | mask,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => current = now,
                }
            }
        }
        Ok(())
    }

    /// Claim exactly `[start, start + len)` if every bit of it is free (all or
    /// nothing). Used to grow a claimed run in place.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::ds::bitmap::AtomicBitmap;
    ///
    /// let bits = AtomicBitmap::<1>::new();
    /// let run = bits.claim_run(2).unwrap();
    /// // Grow the run in place by the two bits after it.
    /// assert!(bits.claim_exact(run + 2, 2));
    /// // All or nothing: bit 3 is taken, so [3, 5) is not claimed at all.
    /// assert!(!bits.claim_exact(3, 2));
    /// assert!(!bits.is_claimed(4));
    /// # }
    /// ```
    pub fn claim_exact(&self, start: usize, len: usize) -> bool {
        debug_assert!(len >= 1 && start + len <= Self::BITS);
        self.try_claim_exact(start, len).is_ok()
    }

    /// Release `[start, start + len)`, which the caller claimed.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::ds::bitmap::AtomicBitmap;
    ///
    /// let bits = AtomicBitmap::<1>::new();
    /// let run = bits.claim_run(4).unwrap();
    /// bits.release(run + 2, 2); // give back the tail
    /// assert_eq!(bits.count_claimed(), 2);
    /// assert_eq!(bits.claim_run(2), Some(run + 2));
    /// # }
    /// ```
    pub fn release(&self, start: usize, len: usize) {
        debug_assert!(len >= 1 && start + len <= Self::BITS);
        for word in start / 64..=(start + len - 1) / 64 {
            let mask = run_mask(word, start, len);
            // Release pairs with the Acquire of the next claim.
            let before = self.words[word].fetch_and(!mask, Ordering::Release);
            debug_assert_eq!(before & mask, mask, "released bits that were not claimed");
        }
    }

    /// Whether bit `index` is claimed (a snapshot).
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::ds::bitmap::AtomicBitmap;
    ///
    /// let bits = AtomicBitmap::<1>::new();
    /// bits.claim_run(1);
    /// assert!(bits.is_claimed(0));
    /// assert!(!bits.is_claimed(1));
    /// # }
    /// ```
    pub fn is_claimed(&self, index: usize) -> bool {
        self.words[index / 64].load(Ordering::Relaxed) & (1 << (index % 64)) != 0
    }

    /// Number of claimed bits (a snapshot).
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::ds::bitmap::AtomicBitmap;
    ///
    /// let bits = AtomicBitmap::<2>::new();
    /// bits.claim_run(70);
    /// assert_eq!(bits.count_claimed(), 70);
    /// # }
    /// ```
    pub fn count_claimed(&self) -> usize {
        self.words
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones() as usize)
            .sum()
    }
}

impl<const WORDS: usize> Default for AtomicBitmap<WORDS> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn single_bits_are_claimed_in_order_and_reclaimable() {
        let map = AtomicBitmap::<2>::new();
        for i in 0..128 {
            assert_eq!(map.claim_run(1), Some(i));
        }
        assert_eq!(map.claim_run(1), None, "a full bitmap must refuse");
        map.release(70, 1);
        assert_eq!(map.claim_run(1), Some(70));
    }

    #[test]
    fn runs_cross_word_boundaries() {
        let map = AtomicBitmap::<3>::new();
        assert_eq!(map.claim_run(60), Some(0));
        assert_eq!(map.claim_run(10), Some(60), "run must span words 0 and 1");
        assert_eq!(map.claim_run(100), Some(70));
        assert_eq!(map.count_claimed(), 170);
        map.release(60, 10);
        assert_eq!(map.claim_run(11), Some(170), "a gap of 10 cannot hold 11");
        assert_eq!(map.claim_run(10), Some(60));
    }

    #[test]
    fn a_blocked_run_rolls_back() {
        let map = AtomicBitmap::<2>::new();
        // Occupy bit 66; then a claim of exactly [60, 70) must fail and leave
        // bits 60..64 free again.
        assert_eq!(map.try_claim_exact(66, 1), Ok(()));
        assert_eq!(map.try_claim_exact(60, 10), Err(66));
        assert_eq!(map.count_claimed(), 1, "rollback must undo the first word");
        assert_eq!(map.claim_run(67), None, "no gap of 67 around bit 66");
        assert_eq!(map.claim_run(66), Some(0));
        assert_eq!(map.claim_run(61), Some(67));
    }

    #[test]
    fn whole_words_are_skipped_and_full_runs_fit() {
        let map = AtomicBitmap::<4>::new();
        assert_eq!(map.claim_run(256), Some(0));
        map.release(0, 256);
        assert_eq!(map.claim_run(64), Some(0));
        assert_eq!(map.claim_run(128), Some(64));
        assert_eq!(map.claim_run(65), None);
        assert_eq!(map.claim_run(64), Some(192));
    }

    #[test]
    fn runs_stay_below_the_limit() {
        let map = AtomicBitmap::<4>::new();
        assert_eq!(map.claim_run_below(10, 16), Some(0));
        assert_eq!(
            map.claim_run_below(7, 16),
            None,
            "only 6 bits left below 16"
        );
        assert_eq!(map.claim_run_below(6, 16), Some(10));
        assert_eq!(map.claim_run_below(1, 16), None, "bits 16.. are off limits");
        assert_eq!(map.claim_run_below(65, 64), None, "longer than the limit");
        assert_eq!(map.claim_run(1), Some(16), "without a limit they are free");
    }
}
