//! Misuse detection: clear, allocation-free aborts that name the pointer.
//!
//! No free writes allocator metadata or a free list unless its pointer is,
//! as far as the checks below can tell, the start of a live block.
//!
//! Always on, because they are cheap enough for every free (measured with
//! callgrind on `malloc(64)`+`free` through `LD_PRELOAD`: 14 instructions
//! of a pair, 6 for the map and 8 for the block test, plus 4 for the freed
//! mark) and they are what keeps a bad free from corrupting the heap or
//! faulting:
//! - the segment map (`segment_map`), before any header is read: a pointer
//!   whose 4 MiB slot holds no arena and no direct mapping (`free((void
//!   *)1)`, `0x1000`, a stack, global or glibc pointer, far off a block) is
//!   not tinyalloc's (one shift, one byte load and test);
//! - the header's tag, in the load that tells paged from large: foreign or
//!   zeroed memory in an arena slot, and regions already given back (a
//!   *released* tag: a large block freed twice);
//! - a large block freed through an interior pointer;
//! - for a paged segment, that the pointer starts a carved block of an
//!   in-use page: the header page, an unused (or retired) page, a block the
//!   page has not carved yet (`block_limit` is the blocks carved), the tail
//!   past a page's last block and any pointer off a block boundary all fail
//!   one division-free test (`page::block_index` against `block_limit`; a
//!   multiply, a rotate and a compare on fields the free path loads
//!   anyway);
//! - a *freed mark* in the second word of every free block (no block is
//!   smaller than 16 bytes; 8-byte requests take 16-byte blocks): written
//!   when blocks are carved (`page::extend`, [`on_carve`]) and on every
//!   free, local or remote, before the block reaches a list; cleared when a
//!   block is popped ([`on_alloc`]). A free that finds the mark aborts: a
//!   small block freed twice, and a free of a carved block never handed out
//!   (mimalloc-bench's `invalid_free_close`, `p + 4096`, when the page has
//!   carved that far; past the carved blocks the block test catches it).
//!   The mark is a
//!   per-process random odd number (the kernel's `AT_RANDOM` bytes, mixed),
//!   set at the first carve, so no data can be crafted to match a constant.
//!   Cost: 1 instruction per allocation (the store), 4 per free (the
//!   mark, from the page's copy beside the geometry the block test loads;
//!   a compare with the block's word, a branch, the store). A free that
//!   fails a test on the fast path goes to the slow path, which repeats the
//!   tests and aborts: the fast path keeps no frame for the abort calls.
//!
//! What the default build does not catch: two threads freeing one block at
//! the same moment (both may read the word before either writes the mark);
//! a double free after the block was handed out again (it is then a free of
//! a live block); a free of another live block's start; a free list
//! overwritten after a free.
//!
//! With the `checks` feature, also (the free block's word is checked as in
//! the default build):
//! - a corrupted free list: every link is checked before it is followed,
//!   when a block is popped and when the local or remote list is walked on a
//!   merge (a write after free, or an overflow into a free block's link).
//!
//! Every abort goes through [`fatal`], which writes one line with `write(2)`
//! from a stack buffer and aborts: it never allocates, never panics (no
//! division, no indexing that can fail), and reads no memory the checks
//! before it did not prove mapped.

use crate::page::Page;
use crate::sync::{PlainAtomicUsize as AtomicUsize, StatOrdering as Ordering};

/// Write `tinyalloc: <what> <ptr>` to stderr and abort. Never allocates.
#[cold]
#[inline(never)]
pub fn fatal(what: &str, ptr: *const u8) -> ! {
    let mut line = [0u8; 160];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        for &b in bytes {
            if len < line.len() {
                line[len] = b;
                len += 1;
            }
        }
    };
    put(b"tinyalloc: ");
    put(what.as_bytes());
    put(b" 0x");
    let address = ptr as usize;
    for shift in (0..usize::BITS).step_by(4).rev() {
        put(&[b"0123456789abcdef"[(address >> shift) & 0xf]]);
    }
    put(b": aborting\n");
    // SAFETY: writing our own stack buffer to fd 2; abort never returns.
    unsafe {
        libc::write(2, line.as_ptr().cast(), len);
        libc::abort()
    }
}

/// The freed mark: the second word of every free block (every class has
/// one: no block is smaller than 16 bytes). A per-process random odd number,
/// 0 until the first carve sets it (see [`freed_mark_slow`]); every thread
/// computes the same value, so a racing first store is harmless.
// A plain atomic under loom too: a process-wide value outside any model.
static FREED_MARK: AtomicUsize = AtomicUsize::new(0);

/// The freed mark, set on first use (for [`crate::page::init`], which copies
/// it into the page's metadata).
#[inline]
pub fn freed_mark() -> usize {
    // Relaxed: the value never changes once set, and every thread that sets
    // it stores the same one.
    match FREED_MARK.load(Ordering::Relaxed) {
        0 => freed_mark_slow(),
        mark => mark,
    }
}

/// The freed mark, set on first use: 16 bytes the kernel gave the process
/// (`AT_RANDOM`, read in place: nothing allocates), mixed so the mark, which
/// a use-after-free read can see, reveals neither half (glibc derives its
/// stack and pointer guards from them). A fixed constant where there are
/// none (Miri, other systems, a zero `getauxval`).
#[cold]
#[inline(never)]
fn freed_mark_slow() -> usize {
    let mark = mix(kernel_seed().unwrap_or(FALLBACK_SEED));
    FREED_MARK.store(mark, Ordering::Relaxed);
    mark
}

/// The kernel's 16 random bytes for this process (`AT_RANDOM`).
#[cfg(all(not(miri), any(target_os = "linux", target_os = "android")))]
fn kernel_seed() -> Option<[u64; 2]> {
    // SAFETY: `getauxval` only reads the auxiliary vector; a non-zero
    // `AT_RANDOM` entry is the address of 16 bytes that live as long as the
    // process (on its initial stack), possibly unaligned.
    unsafe {
        let random = libc::getauxval(libc::AT_RANDOM) as *const u64;
        (!random.is_null()).then(|| [random.read_unaligned(), random.add(1).read_unaligned()])
    }
}

/// No kernel bytes here (Miri, other systems).
#[cfg(not(all(not(miri), any(target_os = "linux", target_os = "android"))))]
fn kernel_seed() -> Option<[u64; 2]> {
    None
}

/// The seed where the kernel gives none.
const FALLBACK_SEED: [u64; 2] = [0x243F_6A88_85A3_08D3, 0x1319_8A2E_0370_7344];

/// The mark from 16 seed bytes: the halves folded (neither is recoverable
/// from the result alone), then SplitMix64's finalizer.
const fn mix(seed: [u64; 2]) -> usize {
    let mut x = seed[0] ^ seed[1].rotate_left(29) ^ 0x9E37_79B9_7F4A_7C15;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    // Odd: never 0 (a cleared or fresh word), never a block address.
    (x ^ (x >> 31)) as usize | 1
}

/// A block is being handed out: clear its freed mark. One store.
///
/// # Safety
/// `block` is a block of at least 16 bytes now owned by the caller.
#[inline(always)]
pub unsafe fn on_alloc(_page: *mut Page, block: *mut u8) {
    // SAFETY: the block is ours and at least 16 bytes.
    unsafe { mark_word(block).write(0) }
}

/// The word of `block` that holds the freed mark: its second. Derived from
/// the reservation's exposed provenance, not from `block`'s: the pointer a
/// program frees may only cover the bytes it asked for (a `Box<u64>` in a
/// 16-byte block), and the mark is the allocator's word, not the program's.
#[inline(always)]
fn mark_word(block: *mut u8) -> *mut usize {
    core::ptr::with_exposed_provenance_mut(block.addr() + 8)
}

/// `count` blocks from `first` were just carved: they are free, so they
/// carry the freed mark (a free of one of them is a double free).
///
/// # Safety
/// The caller owns `page` and the carved blocks.
#[inline]
pub unsafe fn on_carve(page: *mut Page, first: *mut u8, count: usize) {
    // SAFETY: the carved blocks are the caller's, `block_size` bytes each;
    // the page's metadata is the caller's.
    unsafe {
        let mark = (*page).freed_mark;
        let size = (*page).block_size;
        debug_assert!(size >= 16, "a {size}-byte block has no room for the mark");
        for index in 0..count {
            first.add(index * size).cast::<usize>().add(1).write(mark);
        }
    }
}

/// A block start of `page` (checked by the caller) is being freed, by any
/// thread: reject a block that carries the freed mark (freed twice, or
/// carved and never handed out), then mark it freed: [`is_freed`], then
/// [`mark_freed`].
///
/// Two threads freeing the same block at once may both pass the test (the
/// load and the store are not one atomic step); every other double free,
/// local or remote, is caught, unless the block was handed out again in
/// between (then it is a free of a live block).
///
/// # Safety
/// `block` is a block start of `page` (so at least 16 mapped bytes); the
/// page's metadata is live.
#[inline(always)]
pub unsafe fn on_free(page: *mut Page, block: *mut u8) {
    // SAFETY: forwarded.
    unsafe {
        if is_freed(page, block) {
            double_free(block);
        }
        mark_freed(page, block);
    }
}

/// Whether the block start `block` of `page` carries the freed mark: a
/// load of the page's copy of the mark, a compare with the block's word.
/// (The free fast path sends such a free to its slow path, which aborts in
/// [`on_free`].)
///
/// # Safety
/// As [`on_free`].
#[inline(always)]
pub unsafe fn is_freed(page: *mut Page, block: *mut u8) -> bool {
    // Under Miri the test is skipped: the program may have left that word
    // uninitialised (padding, `MaybeUninit`), and reading it as an integer
    // is undefined behaviour in Rust's model, though not on the machine
    // (mimalloc and glibc read freed blocks the same way).
    #[cfg(not(miri))]
    // SAFETY: the block lies in the page, so it is mapped; the page's
    // metadata is live.
    return unsafe { mark_word(block).read() == (*page).freed_mark };
    #[cfg(miri)]
    {
        let _ = (page, block);
        false
    }
}

/// Mark the block start `block` of `page`, being freed, as free.
///
/// # Safety
/// As [`on_free`]; the caller gives the block up.
#[inline(always)]
pub unsafe fn mark_freed(page: *mut Page, block: *mut u8) {
    // SAFETY: the block is the caller's to give up; the metadata is live.
    unsafe { mark_word(block).write((*page).freed_mark) }
}

#[cold]
#[inline(never)]
fn double_free(block: *mut u8) -> ! {
    fatal(
        "double free (or free of a block never handed out) of",
        block,
    )
}

#[cfg(feature = "checks")]
mod enabled {
    use super::fatal;
    use crate::page::{self, Page};

    /// Check the link `link` read from free block `block` of `page`, before
    /// anything follows it: null, or a carved block of the same page.
    ///
    /// # Safety
    /// The caller owns `page`.
    #[inline(always)]
    pub unsafe fn check_link(page: *mut Page, block: *mut u8, link: *mut u8) {
        // SAFETY: owner-only fields of the caller's page; no division, so a
        // page with no blocks (`block_size` 0) cannot trap.
        unsafe {
            if !link.is_null() && page::block_index(page, link) >= u64::from((*page).capacity) {
                fatal("corrupted free list: bad link in free block", block);
            }
        }
    }
}

#[cfg(not(feature = "checks"))]
mod enabled {
    use crate::page::Page;

    /// No-op without `checks`.
    ///
    /// # Safety
    /// None.
    #[inline(always)]
    pub unsafe fn check_link(_page: *mut Page, _block: *mut u8, _link: *mut u8) {}
}

pub use enabled::check_link;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_freed_mark_is_odd_stable_and_from_the_kernel_bytes() {
        let mark = freed_mark_slow();
        assert_eq!(mark & 1, 1);
        assert_eq!(
            freed_mark_slow(),
            mark,
            "every caller computes the same mark"
        );
        assert_eq!(freed_mark(), mark);
        #[cfg(all(not(miri), target_os = "linux"))]
        {
            let raw = kernel_seed().expect("Linux gives every process AT_RANDOM");
            assert_eq!(mark, mix(raw));
            assert_ne!(mark, mix(FALLBACK_SEED), "the kernel's bytes were not used");
            for half in raw {
                assert_ne!(mark as u64, half, "the mark must not reveal AT_RANDOM");
            }
        }
    }
}
