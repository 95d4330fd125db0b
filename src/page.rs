//! Pages: runs of blocks of one size class inside a segment.
//!
//! A page keeps three free lists (free-list sharding, as in mimalloc):
//! - `free`: blocks the owner allocates from (the fast path pops here);
//! - `local_free`: blocks the owner freed (the fast free path pushes here);
//! - `remote`: blocks other threads freed, an MPSC [`RemoteFreeList`].
//!
//! The owner merges `local_free` and `remote` into `free` only when `free` runs
//! dry ([`collect`]), so neither fast path touches another list. Blocks are
//! carved lazily, a few KiB at a time ([`extend`]), so a fresh page commits
//! only what it hands out.
//!
//! Invariants (owner's view): `used` counts blocks handed out and not yet
//! merged back; `used == 0` means every block is free; `capacity <= reserved`
//! and blocks past `capacity` were never touched. Only `remote` is shared with
//! other threads; every other field is owner-only, except that a remote
//! freer that reclaims a parked page (every block came back while its owner
//! was idle: see `ds::remote_list`) reads its geometry after its CAS and
//! purges its memory; the owner then finds the page reclaimed
//! ([`merge_remote`]) and resets it, or, while the reclaimer works, leaves
//! it alone ([`Merged::busy`]).

use crate::checks;
use crate::ds::remote_list::{chain_tail_and_len, RemoteFreeList, Taken};
use crate::sync::{PlainAtomicU64, StatOrdering};
use crate::thread::threads_outnumber_cpus;
use core::ptr;

/// The span of one [`extend`]: it carves the blocks that end by the first
/// OS page boundary at or after the end of the first uncarved block, at
/// least one block. So each carve commits whole OS pages and no carved
/// block spills into a page the carve did not count: a class that never
/// needs more than its first carve holds one OS page (with the header
/// rule this replaced, under which the last block whose 16-byte header lay
/// in the span was carved too, the last block of most first carves
/// reached into a second OS page: `ini` at 8 threads held 3 OS pages in
/// classes that carved 8,320 bytes). The extra slow paths are one per OS
/// page of fresh blocks, beside the fault on that page.
const CARVE_SPAN: usize = crate::os::PAGE_SIZE;
/// A page whose carved blocks fit in its first [`CARVE_SPAN`] (its first
/// carve; a page of blocks bigger than that: one block) is *young*: when
/// it runs dry with none of its own frees to reuse, the slow path's first
/// step ([`refill_current`]) carves more at once, without the page search,
/// which may adopt abandoned segments first. (A thread that searched on
/// every young page's first run-out adopted more of its exited
/// predecessors' segments: a thread-per-request C program peaked 600 KiB
/// higher.)
const YOUNG_MAX_BYTES: usize = CARVE_SPAN;
/// How many times a young page refills from its own frees before it grows
/// instead: a page that cycles through its carve (an alloc/free loop) takes
/// a slow path per cycle, about 32 instructions, and twice the blocks halve
/// those (`malloc(64)`+`free` 0.5 instructions a pair, `calloc(1, 256)`+
/// `free` 2; callgrind), while a class that serves a few blocks now and
/// then stays at one OS page.
///
/// Not while threads outnumber CPUs ([`threads_outnumber_cpus`]): then a
/// young page refills from its own frees whenever it has any, and grows
/// only when the blocks in use need it. The growth is one OS page per
/// class per thread (`ini` at 16 threads on 2 CPUs: eight of a parsing
/// thread's ten classes, 32 KiB a thread, a ninth of the process's
/// resident set), bought for slow paths saved in threads that are mostly
/// waiting for a CPU.
const YOUNG_REUSES: u8 = 4;
/// A page with fewer blocks carved than this is topped up when it runs dry
/// even if it has freed blocks to merge ([`refill`]), unless it holds
/// [`TOP_UP_BYTES`] already.
const TOP_UP_BLOCKS: usize = 16;
/// Enough bytes carved to stop topping up: a page of big blocks cycles
/// through at least this much before a slow path, which is small beside
/// what a program does with that many bytes, and each class a thread uses
/// one block of at a time commits about this much (16 blocks of 2.5 KiB
/// were 40 KiB).
const TOP_UP_BYTES: usize = 8 * 1024;

/// Page metadata, kept in the segment header (never in the page itself).
///
/// Two cache lines, 64-byte aligned: the first holds every field the fast
/// paths read or write (`malloc`'s pop, `free`'s block test, freed mark and
/// push, the emptied-page test, `calloc`'s `free_is_zero`, `usable_size`),
/// the second the slow paths' fields, `remote` among them, so other threads'
/// frees never write the owner's hot line. A free of a cold block then
/// misses on one metadata line, not two or three.
///
/// `block_limit` comes first: a paged segment's header sits where page 0's
/// record would be, and its first word (`large_offset`, 0 in a paged
/// segment) reads as page 0's limit, so no block of the header page passes
/// the free test (see `segment::pages`).
#[repr(C, align(64))]
pub struct Page {
    /// `capacity` (blocks carved) while the page is in use, else 0: the
    /// bound a freed pointer's [`block_index`] must stay under, so a free
    /// of a block never carved fails the same test as one off a block
    /// boundary. Read by any freeing thread ([`block_limit`]), written by
    /// the owner ([`extend`]): a relaxed atomic, one load and a compare on
    /// the free path (LLVM does not fold an atomic load into the compare).
    pub block_limit: PlainAtomicU64,
    /// Blocks ready to allocate (owner only).
    pub free: *mut u8,
    /// Blocks the owner freed since the last [`collect`].
    pub local_free: *mut u8,
    /// First block.
    pub start: *mut u8,
    /// The inverse, modulo 2^64, of the odd part of `block_size`: with
    /// `block_shift`, a division-free block-start test ([`block_index`]).
    pub block_inverse: u64,
    /// The process's freed mark ([`checks`]), copied here when the page is
    /// assigned a class: the free path reads it beside the geometry it
    /// loads anyway, not from a global.
    pub freed_mark: usize,
    /// Size of each block.
    pub block_size: usize,
    /// Blocks handed out and not yet merged back.
    pub used: u32,
    /// log2 of the largest power of two dividing `block_size`.
    pub block_shift: u8,
    /// The size class (index into the heap's queues; below 256).
    pub class: u8,
    /// Whether the page sits in its heap's full list.
    pub in_full: bool,
    /// Whether every block on `free` is zero apart from its link word and
    /// its freed mark (cleared when the block is popped).
    pub free_is_zero: bool,
    // Second line: slow paths and other threads.
    /// Blocks freed by other threads.
    pub remote: RemoteFreeList,
    /// Whether the page is assigned to a size class.
    pub in_use: bool,
    /// Whether the page's memory past `capacity` blocks may be non-zero (it
    /// was written and not purged since). False in a zeroed record: a
    /// segment's records read as [`Page::empty`] until written (see
    /// `segment::new_paged`).
    pub memory_dirty: bool,
    /// Refills from its own frees while young (see [`YOUNG_REUSES`]).
    pub young_reuses: u8,
    /// Blocks carved so far.
    pub capacity: u32,
    /// Blocks that fit in the page.
    pub reserved: u32,
    /// When the page was freed with dirty memory (`segment::clock`), for
    /// delayed purging; meaningful only while `!in_use && memory_dirty`.
    pub freed_at: u64,
    /// Links in the owner heap's page queue.
    pub prev: *mut Page,
    /// Links in the owner heap's page queue.
    pub next: *mut Page,
}

/// Bytes of a page record's first line: the fast paths' fields.
pub const HOT_BYTES: usize = 64;
const _: () = assert!(core::mem::offset_of!(Page, remote) == HOT_BYTES);
const _: () = assert!(core::mem::offset_of!(Page, block_limit) == 0);
const _: () = assert!(crate::size_class::CLASS_COUNT <= 256);
// Two lines (loom's atomics are bigger: only the first line is fixed there).
#[cfg(not(feature = "loom"))]
const _: () = assert!(core::mem::size_of::<Page>() == 2 * HOT_BYTES);

impl Page {
    crate::sync::maybe_const_fn! {
        /// A page with no blocks and no class: its `free` is always empty, so
        /// the allocation fast path falls to the slow path on it. (A template
        /// for initialising metadata; each use is a fresh value.)
        pub fn empty() -> Page {
            Page {
                block_limit: PlainAtomicU64::new(0),
                free: ptr::null_mut(),
                local_free: ptr::null_mut(),
                start: ptr::null_mut(),
                block_inverse: 0,
                freed_mark: 0,
                block_size: 0,
                used: 0,
                block_shift: 0,
                class: 0,
                in_full: false,
                free_is_zero: false,
                remote: RemoteFreeList::new(),
                in_use: false,
                memory_dirty: false,
                young_reuses: 0,
                capacity: 0,
                reserved: 0,
                freed_at: 0,
                prev: ptr::null_mut(),
                next: ptr::null_mut(),
            }
        }
    }

    /// [`Page::empty`] as a constant (outside loom, whose atomics are not const).
    #[cfg(not(feature = "loom"))]
    #[allow(clippy::declare_interior_mutable_const)]
    pub const EMPTY: Page = Page::empty();
}

/// Read a block's link word.
///
/// # Safety
/// `block` must be a free block (its first word is a link).
#[inline(always)]
pub unsafe fn next_block(block: *mut u8) -> *mut u8 {
    // SAFETY: per the contract, the first word of a free block is its link.
    unsafe { block.cast::<*mut u8>().read() }
}

/// Write a block's link word.
///
/// # Safety
/// `block` must be a block the caller is freeing or carving.
#[inline(always)]
pub unsafe fn set_next_block(block: *mut u8, next: *mut u8) {
    // SAFETY: the caller owns `block`, which is at least 8 bytes, 8-aligned.
    unsafe { block.cast::<*mut u8>().write(next) }
}

/// Assign `page` to `class` with blocks of `block_size` over `page_size` bytes
/// at `start`.
///
/// # Safety
/// `page` must be a page of a segment the caller owns, not in use, with no
/// pending remote frees (an unused page has no live blocks).
/// `memory_dirty` is kept: it describes the page's memory, not its class.
pub unsafe fn init(
    page: *mut Page,
    class: usize,
    block_size: usize,
    start: *mut u8,
    page_size: usize,
) {
    // SAFETY: the caller owns the page's metadata.
    unsafe {
        (*page).free = ptr::null_mut();
        (*page).used = 0;
        (*page).in_full = false;
        (*page).in_use = true;
        (*page).free_is_zero = false;
        (*page).local_free = ptr::null_mut();
        (*page).capacity = 0;
        (*page).young_reuses = 0;
        (*page).reserved = (page_size / block_size) as u32;
        set_block_limit(page, 0);
        (*page).block_size = block_size;
        (*page).block_shift = block_size.trailing_zeros() as u8;
        (*page).block_inverse = odd_inverse((block_size >> block_size.trailing_zeros()) as u64);
        debug_assert!(class < crate::size_class::CLASS_COUNT);
        (*page).class = class as u8;
        (*page).start = start;
        (*page).freed_mark = checks::freed_mark();
        (*page).remote.reset();
        (*page).prev = ptr::null_mut();
        (*page).next = ptr::null_mut();
    }
}

/// The inverse of odd `d` modulo 2^64 (Newton's iteration: each step
/// doubles the correct low bits, from 3).
const fn odd_inverse(d: u64) -> u64 {
    let mut inverse = d;
    let mut step = 0;
    while step < 5 {
        inverse = inverse.wrapping_mul(2u64.wrapping_sub(d.wrapping_mul(inverse)));
        step += 1;
    }
    inverse
}

/// The index of the block starting at `ptr` in `page`, or a number of at
/// least 2^47 if no block of the page's size starts there (not on a block
/// boundary, or before `start`); the caller compares it with `reserved` or
/// `capacity`. No division: with `block_size = odd << shift`,
/// `offset * odd^-1` is `offset / odd` exactly when `odd` divides `offset`
/// and a number above `2^64 / odd` otherwise, and rotating right by `shift`
/// also moves any set low bit (an offset not a multiple of `1 << shift`) to
/// the top (Granlund and Montgomery's divisibility test).
///
/// A page that is not in use, and the header page, have `block_limit == 0`,
/// so no index passes for them.
///
/// # Safety
/// `page` is live page metadata.
#[inline(always)]
pub unsafe fn block_index(page: *mut Page, ptr: *mut u8) -> u64 {
    // SAFETY: the caller's contract; plain reads of the page's geometry.
    unsafe {
        let offset = (ptr as usize).wrapping_sub((*page).start as usize) as u64;
        offset
            .wrapping_mul((*page).block_inverse)
            .rotate_right(u32::from((*page).block_shift))
    }
}

/// The bound a freed pointer's [`block_index`] must stay under: the blocks
/// carved, 0 for a page not in use.
///
/// Relaxed: a thread that frees a live block got it, through the program's
/// own synchronisation, after the owner's [`extend`] that carved it stored
/// a limit past it; the limit only grows while blocks are live (it drops to
/// 0 only when none is), so this load sees that store or a larger limit.
///
/// # Safety
/// `page` is live page metadata.
#[inline(always)]
pub unsafe fn block_limit(page: *mut Page) -> u64 {
    // SAFETY: the caller's contract.
    unsafe { (*page).block_limit.load(StatOrdering::Relaxed) }
}

/// Set `page`'s [`block_limit`].
///
/// # Safety
/// The caller owns `page`; a lower limit only when no block past it is live.
#[inline]
unsafe fn set_block_limit(page: *mut Page, limit: u64) {
    // SAFETY: the caller's contract. Relaxed: see `block_limit`.
    unsafe { (*page).block_limit.store(limit, StatOrdering::Relaxed) }
}

/// Mark `page` unused for frees: no block index passes `block_limit` any
/// more (see [`block_index`]).
///
/// # Safety
/// The caller owns `page`, which has no live blocks.
#[inline]
pub unsafe fn retire_geometry(page: *mut Page) {
    // SAFETY: the caller owns the page, which has no live blocks.
    unsafe { set_block_limit(page, 0) };
}

/// Carve the next batch of never-used blocks in front of `free`. Returns
/// false if every block was already carved.
///
/// # Safety
/// The caller owns `page`, which is in use.
pub unsafe fn extend(page: *mut Page) -> bool {
    // SAFETY: the caller owns the page (metadata and uncarved blocks).
    unsafe {
        let capacity = (*page).capacity as usize;
        let left = (*page).reserved as usize - capacity;
        if left == 0 {
            return false;
        }
        let size = (*page).block_size;
        let first = (*page).start.add(capacity * size);
        let span_end = (first.addr() + size).next_multiple_of(CARVE_SPAN);
        let count = left.min((span_end - first.addr()) / size);
        let mut block = first;
        for _ in 1..count {
            let next = block.add(size);
            set_next_block(block, next);
            block = next;
        }
        let rest = (*page).free;
        set_next_block(block, rest);
        checks::on_carve(page, first, count);
        crate::stats::on_carve(size, count * size);
        (*page).free = first;
        (*page).free_is_zero = !(*page).memory_dirty && (rest.is_null() || (*page).free_is_zero);
        (*page).capacity = (capacity + count) as u32;
        // Before any of the new blocks is handed out.
        set_block_limit(page, (capacity + count) as u64);
        true
    }
}

/// The allocation slow path's first step for `page`, its class's current
/// page with nothing on `free`: a young page (see [`YOUNG_MAX_BYTES`])
/// reuses its own frees or carves more; an older one, if its own frees
/// (`local_free`) can refill it and [`refill`] would carve no more, moves
/// them to `free`. Either way the slow path's other work (remote frees,
/// parked pages, the clock, the purge pass, adoption) waits for a slow
/// path that finds nothing here. An alloc/free loop then refills its page
/// in a few instructions instead of a page search. Returns whether `free`
/// now has a block.
///
/// # Safety
/// The caller owns `page` (the empty page has no local frees and no
/// blocks to carve).
#[inline(always)]
pub unsafe fn refill_current(page: *mut Page) -> bool {
    // SAFETY: the caller owns the page.
    unsafe {
        // Young: the carved blocks fit in one span, or there is one block
        // bigger than that ([`is_young`]). (Counted from the first block,
        // not the page's base: a colour moves the first span up to 448
        // bytes in, but coloured classes are at most 960 bytes, and a
        // second carve runs to the second span's end, so this still tells
        // the first carve from later ones; the unit test checks every
        // class. Deriving the span from the address cost 0.1-0.8 more
        // instructions per operation in callgrind's rows.)
        if is_young(page) {
            return refill_young(page);
        }
        if (*page).local_free.is_null() || !is_carved_enough(page) {
            return false;
        }
        take_local_frees(page);
        true
    }
}

/// Whether `page` has carved once only (see [`YOUNG_MAX_BYTES`]).
///
/// # Safety
/// The caller owns `page`.
#[inline(always)]
unsafe fn is_young(page: *mut Page) -> bool {
    // SAFETY: the caller owns the page.
    unsafe {
        let size = (*page).block_size;
        ((*page).capacity as usize) * size <= YOUNG_MAX_BYTES.max(size)
    }
}

/// [`refill_current`] for a young page: its own frees, the first
/// [`YOUNG_REUSES`] times there are enough of them (every time while
/// threads outnumber CPUs), else the next carve.
///
/// # Safety
/// As [`refill_current`].
#[inline(never)]
unsafe fn refill_young(page: *mut Page) -> bool {
    // SAFETY: the caller owns the page.
    unsafe {
        if !(*page).local_free.is_null()
            && ((*page).young_reuses < YOUNG_REUSES && is_carved_enough(page)
                || threads_outnumber_cpus())
        {
            (*page).young_reuses = (*page).young_reuses.saturating_add(1);
            take_local_frees(page);
            return true;
        }
        extend(page)
    }
}

/// Make `local_free` the `free` list (which is empty).
///
/// # Safety
/// The caller owns `page`; its `free` list is empty.
#[inline(always)]
unsafe fn take_local_frees(page: *mut Page) {
    // SAFETY: the caller owns the page.
    unsafe {
        (*page).free = (*page).local_free;
        (*page).local_free = ptr::null_mut();
        (*page).free_is_zero = false;
    }
}

/// Whether [`refill`] would carve no more blocks of `page` after a merge
/// that found some.
///
/// # Safety
/// The caller owns `page`.
#[inline(always)]
unsafe fn is_carved_enough(page: *mut Page) -> bool {
    // SAFETY: the caller owns the page.
    unsafe {
        let (carved, size) = ((*page).capacity as usize, (*page).block_size);
        // One block short counts: two 4 KiB carves of 320-byte blocks are
        // 7,680 bytes.
        carved >= TOP_UP_BLOCKS || (carved + 1) * size > TOP_UP_BYTES
    }
}

/// Refill an exhausted page on the slow path: merge its freed blocks, and
/// if that found none, or found some but fewer than [`TOP_UP_BLOCKS`] and
/// [`TOP_UP_BYTES`] are carved, carve more. A page that cycles through a
/// handful of big blocks would otherwise take a slow path every few
/// allocations; pages of small blocks cycle through at least
/// [`TOP_UP_BLOCKS`] and grow only when they run out.
/// Returns true if `free` now has a block.
///
/// # Safety
/// The caller owns `page`, which is in use.
pub unsafe fn refill(page: *mut Page) -> bool {
    // SAFETY: the caller owns the page.
    unsafe {
        let collected = collect(page);
        if collected && is_carved_enough(page) {
            return true;
        }
        extend(page) || collected
    }
}

/// Merge `local_free` and the remote list into `free` (when `free` is empty).
/// Returns true if `free` now has a block.
///
/// # Safety
/// The caller owns `page`.
pub unsafe fn collect(page: *mut Page) -> bool {
    // SAFETY: the caller owns the page; remote chains belong to the owner once
    // taken.
    unsafe {
        if !(*page).free.is_null() {
            return true;
        }
        // Remote frees first, into the empty `free` (no walk: see
        // `merge_chain`), then the local ones in front of them (a walk of
        // blocks this thread freed, in its cache).
        // A page that can run dry is not parked: never reclaiming.
        let _ = merge_remote(page);
        merge_local_frees(page);
        !(*page).free.is_null()
    }
}

/// What taking a page's remote list found ([`merge_remote`]).
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct Merged {
    /// Blocks taken off the list and merged into `free`.
    pub len: usize,
    /// The page is being reclaimed: a remote free brought its last live
    /// block back while it was parked, and that freer now holds every block
    /// and is giving the memory back (`ds::remote_list::Taken::Reclaiming`).
    /// Its `used` still counts every block: leave the page in use and
    /// parked, count none of it live, and take it again later.
    pub busy: bool,
}

/// Take the remote list (clearing its flags) and put its blocks in front of
/// `free`, counting them back out of `used`. A reclaimed page (every block
/// came back while it was parked, and its memory was given back) is left
/// empty and uncarved ([`Merged::len`] 0, `used` 0); a reclaiming one is
/// left as it is ([`Merged::busy`]).
///
/// # Safety
/// The caller owns `page`.
pub unsafe fn merge_remote(page: *mut Page) -> Merged {
    // SAFETY: the caller owns the page.
    unsafe { merge_taken(page, (*page).remote.take()) }
}

/// As [`merge_remote`], leaving the list marked abandoned (the caller is
/// giving the segment up; see `ds::remote_list::ABANDONED`), unless the
/// page is reclaiming.
///
/// # Safety
/// The caller owns `page`.
pub unsafe fn merge_remote_and_abandon(page: *mut Page) -> Merged {
    // SAFETY: the caller owns the page.
    unsafe { merge_taken(page, (*page).remote.take_and_abandon()) }
}

/// Drop the remote list of a page whose every block the caller gives up
/// (a destroyed heap): its blocks are not walked. A reclaimed page is reset
/// as [`merge_remote`] does.
///
/// # Safety
/// The caller owns `page` and gives up every block in it; no free of one
/// is under way (so the page is not reclaiming).
pub unsafe fn drop_remote(page: *mut Page) {
    // SAFETY: the caller owns the page.
    unsafe {
        if let Taken::Reclaimed = (*page).remote.take() {
            reset_reclaimed(page);
        }
    }
}

/// Apply what a take found.
///
/// # Safety
/// The caller owns `page`, whose list `taken` came from.
unsafe fn merge_taken(page: *mut Page, taken: Taken) -> Merged {
    // SAFETY: forwarded.
    unsafe {
        match taken {
            Taken::Chain(chain, len) => Merged {
                len: merge_chain(page, chain, len),
                busy: false,
            },
            Taken::Reclaiming => Merged { len: 0, busy: true },
            Taken::Reclaimed => {
                reset_reclaimed(page);
                Merged {
                    len: 0,
                    busy: false,
                }
            }
        }
    }
}

/// A parked page whose blocks all came back and whose memory was given
/// back (it reads as zero; the reclaimer also took its carved bytes out of
/// the figures): make it a page in use with no block carved yet.
///
/// # Safety
/// The caller owns `page`, just taken reclaimed.
unsafe fn reset_reclaimed(page: *mut Page) {
    // SAFETY: the caller owns the page.
    unsafe {
        (*page).used = 0;
        (*page).capacity = 0;
        (*page).young_reuses = 0;
        // No block is live: every one came back to the reclaimer.
        set_block_limit(page, 0);
        // Parked pages have empty lists; a block freed twice by the owner
        // after the reclaim would be on `local_free`: dropped with the page.
        (*page).free = ptr::null_mut();
        (*page).local_free = ptr::null_mut();
        (*page).free_is_zero = false;
        (*page).memory_dirty = false;
    }
}

/// Put a chain of `len` blocks taken from `page`'s remote list in front of
/// `free`; returns `len`. Into an empty `free` (as `collect` merges) the
/// chain is not walked: its blocks were written by the threads that freed
/// them, so each link read would wait for another core's cache line, one
/// after another (swap at 2 threads spent a fifth of its time in that
/// walk); the fast path reads each link as it hands the block out.
///
/// # Safety
/// The caller owns `page` and the chain (null, or taken from its list with
/// `len` blocks).
unsafe fn merge_chain(page: *mut Page, chain: *mut u8, len: usize) -> usize {
    if chain.is_null() {
        return 0;
    }
    // SAFETY: the caller owns the page; a taken chain belongs to the owner.
    unsafe {
        if cfg!(any(feature = "checks", debug_assertions)) || !(*page).free.is_null() {
            // The `checks` build checks every link as it walks; a debug
            // build checks the count.
            let (tail, walked) = chain_end(page, chain);
            debug_assert_eq!(walked, len, "a remote list's count and chain agree");
            set_next_block(tail, (*page).free);
        }
        (*page).free = chain;
        (*page).used -= len as u32;
        (*page).free_is_zero = false;
        len
    }
}

/// The last block and length of a chain of `page`'s free blocks; with
/// `checks`, every link is checked before it is followed (a block overwritten
/// after its free aborts here instead of sending the walk into garbage).
///
/// # Safety
/// The caller owns `page` and the non-null chain `first`.
#[inline]
unsafe fn chain_end(page: *mut Page, first: *mut u8) -> (*mut u8, usize) {
    if cfg!(feature = "checks") {
        let (mut tail, mut len) = (first, 1);
        loop {
            // SAFETY: `tail` is a block of the owned chain (checked below
            // before it is followed).
            let next = unsafe { next_block(tail) };
            // SAFETY: the page is ours.
            unsafe { checks::check_link(page, tail, next) };
            if next.is_null() {
                return (tail, len);
            }
            tail = next;
            len += 1;
        }
    }
    // SAFETY: forwarded.
    unsafe { chain_tail_and_len(first) }
}

/// Move every free block into `free`, including remote ones, for a heap that
/// is letting the page go (abandonment) or adopting it; see [`merge_remote`]
/// for what it returns.
///
/// # Safety
/// The caller owns `page`.
pub unsafe fn collect_all(page: *mut Page) -> Merged {
    // SAFETY: as for `collect`.
    unsafe {
        merge_local_frees(page);
        merge_remote(page)
    }
}

/// Put `local_free` in front of `free` (a move if `free` is empty, else a
/// walk of the local chain to its tail).
///
/// # Safety
/// The caller owns `page`.
unsafe fn merge_local_frees(page: *mut Page) {
    // SAFETY: the caller owns the page and its lists.
    unsafe {
        let local = (*page).local_free;
        if local.is_null() {
            return;
        }
        if !(*page).free.is_null() {
            let (tail, _) = chain_end(page, local);
            set_next_block(tail, (*page).free);
        }
        (*page).free = local;
        (*page).local_free = ptr::null_mut();
        (*page).free_is_zero = false;
    }
}

/// Whether every block of `page` has been carved and handed out with none
/// back on any owner list (remote frees may still be pending).
///
/// # Safety
/// The caller owns `page`.
pub unsafe fn is_exhausted(page: *mut Page) -> bool {
    // SAFETY: the caller owns the page.
    unsafe {
        (*page).free.is_null()
            && (*page).local_free.is_null()
            && (*page).capacity == (*page).reserved
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use std::alloc::{alloc_zeroed, dealloc, Layout};

    /// `segment::new_paged` leaves the records of a fresh segment's unused
    /// pages unwritten: zeroed memory must read as `Page::empty()`, an
    /// unused page whose memory is zero.
    #[test]
    fn zeroed_record_reads_as_empty_page() {
        let layout = Layout::new::<Page>();
        // SAFETY: a non-zero-sized layout; the record is read through the
        // pointer only while the allocation lives.
        unsafe {
            let record = alloc_zeroed(layout).cast::<Page>();
            assert!(!record.is_null());
            let empty = Page::empty();
            assert_eq!(
                block_limit(record),
                block_limit(ptr::addr_of!(empty).cast_mut())
            );
            assert!((*record).free.is_null() && (*record).local_free.is_null());
            assert!((*record).start.is_null() && (*record).prev.is_null());
            assert!((*record).next.is_null());
            assert_eq!((*record).in_use, empty.in_use);
            assert_eq!((*record).memory_dirty, empty.memory_dirty);
            assert!(!(*record).memory_dirty && !(*record).in_use && !(*record).in_full);
            assert_eq!(
                ((*record).capacity, (*record).reserved, (*record).used),
                (0, 0, 0)
            );
            assert_eq!((*record).young_reuses, 0);
            assert!((*record).remote.take_all().is_null());
            dealloc(record.cast(), layout);
        }
    }

    /// Every carve of every class, from its coloured start, ends at an OS
    /// page boundary or short of it by less than a block (so no carved
    /// block reaches into an OS page the carve did not count), carves at
    /// least one block, and only the first counts as young.
    #[test]
    fn carves_end_at_os_page_boundaries_and_only_the_first_is_young() {
        use crate::segment::{page_color, MEDIUM_PAGE_SHIFT, SMALL_BLOCK_MAX, SMALL_PAGE_SHIFT};
        use crate::size_class::{class_size, CLASS_COUNT};
        for class in 1..CLASS_COUNT {
            let size = class_size(class);
            let page_size = if size <= SMALL_BLOCK_MAX {
                1 << SMALL_PAGE_SHIFT
            } else {
                1 << MEDIUM_PAGE_SHIFT
            };
            let layout = Layout::from_size_align(page_size, CARVE_SPAN).unwrap();
            let mut record = Page::empty();
            let page = ptr::addr_of_mut!(record);
            // SAFETY: `memory` is a live allocation of `page_size` bytes for
            // the whole loop; `page` is a record this test owns.
            unsafe {
                let memory = alloc_zeroed(layout);
                assert!(!memory.is_null());
                let color = page_color(class, size);
                init(page, class, size, memory.add(color), page_size - color);
                let mut carves = 0;
                let mut carved = 0;
                while extend(page) {
                    carves += 1;
                    let capacity = (*page).capacity as usize;
                    assert!(capacity > carved, "class {class}: an empty carve");
                    carved = capacity;
                    let end = color + capacity * size;
                    let boundary = end.next_multiple_of(CARVE_SPAN);
                    assert!(
                        boundary - end < size || capacity == (*page).reserved as usize,
                        "class {class} ({size} B), carve {carves}: ends {} bytes short of a boundary",
                        boundary - end
                    );
                    assert_eq!(
                        is_young(page),
                        carves == 1,
                        "class {class} ({size} B), carve {carves}"
                    );
                }
                dealloc(memory, layout);
            }
        }
    }
}
