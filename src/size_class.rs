//! Size classes: which block size serves a request, computed without a loop.
//!
//! Classes are multiples of 8 up to 64 bytes, then eight classes per power of
//! two (`2^k + i * 2^(k-3)`, `i = 1..=8`), so above 64 bytes a block wastes
//! less than 12.5% of itself. The largest class is [`MAX_CLASS_SIZE`]; larger
//! requests take the large path. No request gets class 0 (8 bytes): every
//! block is at least [`MIN_BLOCK_SIZE`], so a free block has a second word
//! for the freed mark (see `checks`).
//!
//! Invariant used by aligned allocation: if `size` is a multiple of a power of
//! two `align <= size`, then `class_size(class_of(size)) == size` whenever
//! `align` is at least the class spacing, and a multiple of `align` otherwise.
//! So rounding a request up to its alignment and taking its class always gives
//! a block size that is a multiple of the alignment.

/// Number of size classes.
///
/// ```
/// use tinyalloc::size_class::{class_of, class_size, CLASS_COUNT, MAX_CLASS_SIZE};
///
/// assert_eq!(class_of(MAX_CLASS_SIZE), CLASS_COUNT - 1); // the last class
/// assert_eq!(class_size(CLASS_COUNT - 1), MAX_CLASS_SIZE);
/// ```
pub const CLASS_COUNT: usize = 96;
/// The largest block a class serves; beyond it, requests are large.
///
/// ```
/// use tinyalloc::size_class::{class_of, class_size, MAX_CLASS_SIZE};
///
/// assert_eq!(class_size(class_of(MAX_CLASS_SIZE)), MAX_CLASS_SIZE);
/// // MAX_CLASS_SIZE + 1 is a large request: no class serves it.
/// ```
pub const MAX_CLASS_SIZE: usize = 128 * 1024;
/// Requests up to this size find their class in a table.
///
/// ```
/// use tinyalloc::size_class::{class_of, class_size, TABLE_MAX};
///
/// // Both sides of the table's end give the smallest class that fits.
/// assert_eq!(class_size(class_of(TABLE_MAX)), 1024);
/// assert_eq!(class_size(class_of(TABLE_MAX + 1)), 1152);
/// ```
pub const TABLE_MAX: usize = 1024;
/// The smallest block [`class_of`] chooses: class 1. (Class 0 stays, unused,
/// so class numbers and sizes keep one formula.)
///
/// ```
/// use tinyalloc::size_class::{class_of, class_size, MIN_BLOCK_SIZE};
///
/// assert_eq!(class_of(1), 1);
/// assert_eq!(class_size(class_of(0)), MIN_BLOCK_SIZE);
/// assert_eq!(class_size(class_of(8)), MIN_BLOCK_SIZE);
/// ```
pub const MIN_BLOCK_SIZE: usize = 16;

/// The block size of class `class`.
///
/// ```
/// use tinyalloc::size_class::class_size;
///
/// assert_eq!(class_size(1), 16);
/// assert_eq!(class_size(7), 64); // multiples of 8 up to 64 bytes
/// assert_eq!(class_size(8), 72); // then eight classes per power of two
/// assert_eq!(class_size(15), 128);
/// const SIZE_OF_CLASS_20: usize = class_size(20); // usable in constants
/// assert_eq!(SIZE_OF_CLASS_20, 208);
/// ```
#[inline]
pub const fn class_size(class: usize) -> usize {
    if class < 8 {
        (class + 1) * 8
    } else {
        let power = (class - 8) / 8 + 6;
        let step = (class - 8) % 8 + 1;
        (1 << power) + step * (1 << (power - 3))
    }
}

/// The class of `size` by arithmetic (`size <= MAX_CLASS_SIZE`), never 0.
#[inline]
const fn class_of_computed(size: usize) -> usize {
    if size <= 64 {
        if size <= MIN_BLOCK_SIZE {
            1
        } else {
            size.div_ceil(8) - 1
        }
    } else {
        let s = size - 1;
        let power = (usize::BITS - 1 - s.leading_zeros()) as usize;
        let step = ((s - (1 << power)) >> (power - 3)) + 1;
        8 + (power - 6) * 8 + (step - 1)
    }
}

const fn build_table() -> [u8; TABLE_MAX / 8 + 1] {
    let mut table = [0u8; TABLE_MAX / 8 + 1];
    let mut i = 0;
    while i < table.len() {
        table[i] = class_of_computed(i * 8) as u8;
        i += 1;
    }
    table
}

/// `(size + 7) / 8` -> class, for sizes up to [`TABLE_MAX`]. A `const`, not a
/// `static`, so a constant size folds to its class at compile time.
const SMALL_TABLE: [u8; TABLE_MAX / 8 + 1] = build_table();

/// The smallest class whose blocks hold `size` bytes and are at least
/// [`MIN_BLOCK_SIZE`] (`size <= MAX_CLASS_SIZE`).
///
/// ```
/// use tinyalloc::size_class::{class_of, class_size};
///
/// assert_eq!(class_of(24), 2);
/// assert_eq!(class_size(class_of(100)), 104); // less than 12.5% wasted above 64 B
/// for size in [1, 17, 65, 1000, 4097, 100_000] {
///     let block = class_size(class_of(size));
///     assert!(block >= size && (size <= 64 || block - size < block / 8));
/// }
/// ```
#[inline]
pub fn class_of(size: usize) -> usize {
    debug_assert!(size <= MAX_CLASS_SIZE);
    if size <= TABLE_MAX {
        SMALL_TABLE[(size + 7) >> 3] as usize
    } else {
        class_of_computed(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_increase_and_end_at_the_large_threshold() {
        for c in 1..CLASS_COUNT {
            assert!(
                class_size(c) > class_size(c - 1),
                "class {c} not larger than {}",
                c - 1
            );
        }
        assert_eq!(class_size(CLASS_COUNT - 1), MAX_CLASS_SIZE);
    }

    /// Every size natively; a stride under Miri, which is ~1000x slower.
    const STRIDE: usize = if cfg!(miri) { 61 } else { 1 };

    #[test]
    fn every_size_gets_the_smallest_class_that_fits() {
        for size in (0..=MAX_CLASS_SIZE).step_by(STRIDE) {
            let c = class_of(size);
            assert!(
                class_size(c) >= size,
                "size {size} got class {c} of {}",
                class_size(c)
            );
            assert!(
                c >= 1 && class_size(c) >= MIN_BLOCK_SIZE,
                "size {size}: class {c}"
            );
            if c > 1 {
                assert!(
                    class_size(c - 1) < size,
                    "size {size}: class {} also fits",
                    c - 1
                );
            }
        }
    }

    #[test]
    fn waste_above_64_bytes_is_under_an_eighth() {
        for size in (65..=MAX_CLASS_SIZE).step_by(STRIDE) {
            let block = class_size(class_of(size));
            assert!(
                (block - size) * 8 < block,
                "size {size} wastes {} of {block}",
                block - size
            );
        }
    }

    #[test]
    fn rounded_aligned_sizes_get_aligned_classes() {
        let mut align = 8;
        while align <= 64 * 1024 {
            let mut size = align;
            while size <= MAX_CLASS_SIZE {
                let block = class_size(class_of(size));
                assert_eq!(
                    block % align,
                    0,
                    "size {size} align {align} -> block {block}"
                );
                size += align;
            }
            align *= 2;
        }
    }
}
