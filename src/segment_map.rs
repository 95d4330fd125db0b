//! The segment map: one byte per [`SEGMENT_SIZE`] slot of the user address
//! space, saying whether a tinyalloc header may sit there and, for a live
//! paged segment, its page shift.
//!
//! A free masks its pointer down to a would-be header (`segment::segment_of`)
//! and must not read it unless tinyalloc mapped that address: a foreign
//! pointer (`free((void *)0x1000)`, a stack or glibc pointer) would fault, or
//! worse, read memory that happens to be mapped. The map answers "may a
//! header be here?" before the header is read, in every build; and for the
//! common case, a block of a live small or medium segment, it answers
//! "which page shift?" too, so the free fast path reads one byte and no
//! header tag ([`paged_shift`]).
//!
//! The byte of a slot:
//! - `0`: no tinyalloc memory (or a direct mapping's slot past its first);
//!   no header may be read there;
//! - [`OURS`]: tinyalloc memory whose header, if any, is read and checked
//!   by its tag (`segment::tagged_kind`): every arena slot, from before the
//!   arena is installed in the arena table until the end of the process
//!   (arenas are never unmapped), and the first slot of every direct
//!   mapping, from before it is handed out until just before it is
//!   unmapped; a large or released region's header slot;
//! - a page shift (at least [`PAGED_FROM`]): the header slot of a live
//!   small or medium segment with that page shift (`segment::new_paged`
//!   sets it once the segment is set up; `segment::release_region` puts
//!   [`OURS`] back before the region is handed on). Such a slot is an arena
//!   slot, so the header is mapped whatever the byte says.
//!
//! While the C library counts calls ([`hide_paged_segments`]), paged
//! segments keep [`OURS`]: every free and resize then reads the header's
//! tag on its slow path, where the call is counted.
//!
//! Bytes are set before any block of their region can be handed out, so a
//! free of a live block always sees its region's byte: the block reached the
//! freeing thread through some happens-before chain that starts after the
//! store (arena slots: sequenced before the Release CAS that installs the
//! arena, which every claimer Acquires; a paged segment's shift: sequenced
//! before its first block is allocated; direct mappings: sequenced before
//! the allocation returns). By coherence, a Relaxed load that happens-after
//! a store sees it or a later one. A stale free (of a released block) may
//! see [`OURS`] (the slow path then reads the tag: released) or the shift of
//! a segment that reused the slot (the block-start test then judges it
//! against live, mapped page metadata): never unmapped memory. A byte is
//! cleared to 0 only by the thread that unmaps the memory; a free that
//! races with that is a free of released memory, which no check can make
//! safe.
//!
//! The map is a zero-initialised static (`.bss`, 32 MiB of address space):
//! the kernel commits a page of it only where a byte is set, 4 KiB per
//! 16 GiB of address space used. It
//! covers user addresses below 2^47 on x86-64 (2^48 elsewhere: AArch64 maps
//! near the top of a 48-bit space); a reservation beyond that is refused
//! (as out of memory), and a pointer beyond it is foreign.
//!
//! The map is not a loom-modelled protocol: each byte is an independent
//! value, whose visibility rides on the arena and allocation protocols above.

use crate::arena::{SEGMENT_SHIFT, SEGMENT_SIZE};
#[cfg(not(any(miri, feature = "loom")))]
use crate::sync::{AtomicU8, Ordering};
use crate::sync::{PlainAtomicBool, StatOrdering};

/// Address bits of user space the map covers.
const ADDRESS_BITS: u32 = if cfg!(target_arch = "x86_64") { 47 } else { 48 };
/// Slots covered (one byte each).
const SLOTS: usize = 1 << (ADDRESS_BITS as usize - SEGMENT_SHIFT);

/// The byte of tinyalloc memory that is not a live paged segment's header
/// slot (see the module doc).
pub const OURS: u8 = 1;
/// The least byte of a live paged segment's header slot (the smallest page
/// shift): `paged_shift` at or above it is the fast path.
#[cfg(not(feature = "loom"))]
pub const PAGED_FROM: u8 = 16;
/// The least byte of a live paged segment's header slot (loom's small pages
/// are 4 KiB).
#[cfg(feature = "loom")]
pub const PAGED_FROM: u8 = 12;

#[cfg(not(any(miri, feature = "loom")))]
static MAP: [AtomicU8; SLOTS] = [const { AtomicU8::new(0) }; SLOTS];

/// The byte of `slot`, to read (0 for a slot never written).
#[cfg(not(any(miri, feature = "loom")))]
#[inline(always)]
fn byte(slot: usize) -> u8 {
    // Relaxed: see the module doc (a store happens-before any legitimate free).
    MAP[slot].load(Ordering::Relaxed)
}

/// Write the byte of `slot`.
#[cfg(not(any(miri, feature = "loom")))]
#[inline(always)]
fn set_byte(slot: usize, value: u8) {
    // Relaxed: published by the caller's own protocol (see the module doc).
    MAP[slot].store(value, Ordering::Relaxed);
}

/// Under Miri and loom the map is sparse: Miri keeps per-byte state for
/// every atomic location it touches, and a 32 MiB array of them took 11 GB;
/// a loom model needs a fresh map per execution (in `state::Globals`). An
/// open-addressing table keyed by slot (plus one; 0 = empty entry) holds
/// the bytes of the slots ever written; a key, once claimed by CAS, never
/// changes, so a reader finds a slot's entry or an empty one. Its atomics
/// stay plain under loom: the map is not a modelled protocol (see above).
#[cfg(any(miri, feature = "loom"))]
mod sparse {
    use crate::sync::{PlainAtomicU8, PlainAtomicUsize, StatOrdering as Ordering};

    #[cfg(not(feature = "loom"))]
    const ENTRIES: usize = 4096;
    /// A model's arenas hold a few hundred slots.
    #[cfg(feature = "loom")]
    const ENTRIES: usize = 1024;

    /// The table.
    pub(crate) struct SparseMap {
        keys: [PlainAtomicUsize; ENTRIES],
        values: [PlainAtomicU8; ENTRIES],
    }

    impl SparseMap {
        /// No slot marked.
        pub(crate) const fn new() -> Self {
            SparseMap {
                keys: [const { PlainAtomicUsize::new(0) }; ENTRIES],
                values: [const { PlainAtomicU8::new(0) }; ENTRIES],
            }
        }
    }

    #[cfg(not(feature = "loom"))]
    static MAP: SparseMap = SparseMap::new();

    #[cfg(not(feature = "loom"))]
    fn map() -> &'static SparseMap {
        &MAP
    }

    #[cfg(feature = "loom")]
    fn map() -> &'static SparseMap {
        &crate::state::globals().segment_map
    }

    fn start(slot: usize) -> usize {
        slot.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - ENTRIES.trailing_zeros())
    }

    /// The entry of `slot`, claiming an empty one if `claim`.
    fn entry(slot: usize, claim: bool) -> Option<usize> {
        let keys = &map().keys;
        let key = slot + 1;
        for probe in 0..ENTRIES {
            let index = (start(slot) + probe) % ENTRIES;
            // Acquire pairs with the claiming CAS's Release (the key, not
            // the value, is what this orders).
            let mut seen = keys[index].load(Ordering::Acquire);
            if seen == 0 && claim {
                seen =
                    match keys[index].compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                    {
                        Ok(_) => key,
                        Err(now) => now,
                    };
            }
            if seen == key {
                return Some(index);
            }
            if seen == 0 {
                return None;
            }
        }
        assert!(!claim, "the sparse segment map is full");
        None
    }

    pub(super) fn byte(slot: usize) -> u8 {
        entry(slot, false).map_or(0, |index| map().values[index].load(Ordering::Relaxed))
    }

    pub(super) fn set_byte(slot: usize, value: u8) {
        if let Some(index) = entry(slot, value != 0) {
            map().values[index].store(value, Ordering::Relaxed);
        }
    }
}
#[cfg(feature = "loom")]
pub(crate) use sparse::SparseMap;
#[cfg(any(miri, feature = "loom"))]
use sparse::{byte, set_byte};

/// The slot of `address`, masked into the covered range.
#[inline(always)]
fn slot_of(address: usize) -> usize {
    (address >> SEGMENT_SHIFT) & (SLOTS - 1)
}

/// The byte for the slot of `address` itself (not `address - 1`): at least
/// [`PAGED_FROM`] only if a live paged segment with that page shift has its
/// header at `address & !(SEGMENT_SIZE - 1)` (the slot masked into the
/// covered range: an address beyond it aliases an in-range slot, whose
/// segment then holds no block at that address, so the caller's block-start
/// test rejects it, see `page::block_index`). Null reads slot 0, never a
/// paged segment's.
#[inline(always)]
pub fn paged_shift(address: usize) -> u8 {
    byte(slot_of(address))
}

/// The start of the slot [`paged_shift`] reads for `address` (masked into
/// the covered range, as the slot is).
#[inline(always)]
pub fn slot_base(address: usize) -> usize {
    slot_of(address) << SEGMENT_SHIFT
}

/// Set for good by [`hide_paged_segments`]: [`set_paged`] leaves
/// [`OURS`]. Relaxed: set before `main` (see that function), read when a
/// segment is set up.
static PAGED_HIDDEN: PlainAtomicBool = PlainAtomicBool::new(false);

/// From now on, record no page shift: every paged segment's slot keeps
/// [`OURS`], so every free and resize of a class block takes its slow
/// path. The C library's call counting calls it from its constructor,
/// which lets `free`'s fast path compare the byte with the constant
/// [`PAGED_FROM`] instead of loading a bound that counting would raise.
/// Segments already live must be hidden by their owner ([`set_unpaged`]).
pub fn hide_paged_segments() {
    PAGED_HIDDEN.store(true, StatOrdering::Relaxed);
}

/// Record that the paged segment at `header` (its first slot, an arena
/// slot) is live with page shift `shift`, before any of its blocks is
/// handed out (unless paged segments are hidden).
pub fn set_paged(header: usize, shift: usize) {
    debug_assert!(header % SEGMENT_SIZE == 0 && shift >= PAGED_FROM as usize);
    debug_assert!(byte(slot_of(header)) != 0);
    if PAGED_HIDDEN.load(StatOrdering::Relaxed) {
        return;
    }
    // Published with the segment's blocks (see the module doc).
    set_byte(slot_of(header), shift as u8);
}

/// Record that the region at `header` (a slot marked by [`insert`]) is no
/// live paged segment any more, before the region is handed on; or hide a
/// live paged segment ([`hide_paged_segments`]): its frees and resizes
/// then read its header.
pub fn set_unpaged(header: usize) {
    debug_assert!(header % SEGMENT_SIZE == 0);
    // Published with the region by its next holder's protocol.
    set_byte(slot_of(header), OURS);
}

/// The header address for `address` (a block address: `address - 1`
/// masked, as `segment::segment_of` does), if the map says a tinyalloc
/// header may sit there, so reading it is safe.
///
/// Cheaper than a range check: the slot is masked into the covered range
/// (one `and` with a 32-bit immediate). So an address beyond it
/// (never a block: the map covers every region tinyalloc uses) yields the
/// in-range segment it aliases, which is mapped if its flag is set; the
/// caller's checks then reject the pointer (it cannot be a block of that
/// segment: it is at least 2^47 - 4 MiB away from every block there, see
/// `page::block_index`; for a large block, it is not the block's start).
#[inline(always)]
pub fn lookup(address: usize) -> Option<usize> {
    // Slot first, then the segment: the masks are then 32-bit immediates.
    let slot = slot_of(address.wrapping_sub(1));
    (byte(slot) != 0).then_some(slot << SEGMENT_SHIFT)
}

/// The slots of `[base, base + size)`, or `None` if the map does not cover
/// the whole range.
fn slots_of(base: usize, size: usize) -> Option<core::ops::Range<usize>> {
    debug_assert!(base % SEGMENT_SIZE == 0);
    let first = base >> SEGMENT_SHIFT;
    let end = base.checked_add(size)?.div_ceil(SEGMENT_SIZE);
    (end <= SLOTS).then_some(first..end)
}

/// Mark the slots of `[base, base + size)` as holding tinyalloc memory.
/// False (and nothing marked) if the map does not cover the range: the
/// caller must then not hand the range out.
pub fn insert(base: usize, size: usize) -> bool {
    let Some(slots) = slots_of(base, size) else {
        return false;
    };
    for slot in slots {
        // Published by the caller's own Release (see the module doc).
        set_byte(slot, OURS);
    }
    true
}

/// Unmark the slots of `[base, base + size)`, which [`insert`] marked, before
/// the range is unmapped.
pub fn remove(base: usize, size: usize) {
    if let Some(slots) = slots_of(base, size) {
        for slot in slots {
            set_byte(slot, 0);
        }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    /// Whether a block at `segment + 64` would be looked up there.
    fn contains(segment: usize) -> bool {
        lookup(segment + 64) == Some(segment)
    }

    #[test]
    fn marks_exactly_the_inserted_slots() {
        // An address range no allocator uses in a test process: near the
        // top of the covered space.
        let base = (SLOTS - 8) << SEGMENT_SHIFT;
        assert!(!contains(base));
        assert!(insert(base, 2 * SEGMENT_SIZE + 1));
        assert!(!contains(base - SEGMENT_SIZE));
        assert!(contains(base) && contains(base + SEGMENT_SIZE));
        assert!(contains(base + 2 * SEGMENT_SIZE));
        assert!(!contains(base + 3 * SEGMENT_SIZE));
        // `address - 1`: the end of a segment belongs to it.
        assert_eq!(lookup(base + SEGMENT_SIZE), Some(base));
        remove(base, 2 * SEGMENT_SIZE + 1);
        assert!(!contains(base) && !contains(base + 2 * SEGMENT_SIZE));
    }

    #[test]
    fn paged_shift_is_set_only_for_live_paged_segments() {
        let base = (SLOTS - 16) << SEGMENT_SHIFT;
        assert!(insert(base, 2 * SEGMENT_SIZE));
        assert_eq!(paged_shift(base + 64), OURS);
        assert!(paged_shift(base + 64) < PAGED_FROM);
        set_paged(base, 19);
        assert_eq!(paged_shift(base + 64), 19);
        assert_eq!(paged_shift(base + SEGMENT_SIZE - 1), 19);
        // The next slot and the slot below are not that segment's.
        assert_eq!(paged_shift(base + SEGMENT_SIZE), OURS);
        assert_eq!(paged_shift(base - 1), 0);
        // A paged slot still says "a header may be here" to `lookup`.
        assert!(contains(base));
        set_unpaged(base);
        assert_eq!(paged_shift(base + 64), OURS);
        assert!(contains(base));
        remove(base, 2 * SEGMENT_SIZE);
        assert_eq!(paged_shift(base + 64), 0);
        // Null and small addresses: slot 0, never a paged segment's.
        assert!(paged_shift(0) < PAGED_FROM && paged_shift(0x1000) < PAGED_FROM);
    }

    #[test]
    fn addresses_beyond_the_map_are_refused_or_aliased_in_range() {
        assert!(!insert((SLOTS - 1) << SEGMENT_SHIFT, 2 * SEGMENT_SIZE));
        assert!(!contains((SLOTS - 1) << SEGMENT_SHIFT));
        assert!(!contains(0) && lookup(1).is_none() && lookup(0x1000).is_none());
        // Null and addresses past the range land on an in-range slot.
        for address in [0, usize::MAX, SLOTS << SEGMENT_SHIFT, 0xffff_8000_0000_1000] {
            let aliased = (address.wrapping_sub(1) & ((SLOTS - 1) << SEGMENT_SHIFT)) + 64;
            assert_eq!(lookup(address), lookup(aliased), "{address:#x}");
        }
    }
}
