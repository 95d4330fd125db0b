//! The segment map: one flag byte per [`SEGMENT_SIZE`] slot of the user
//! address space, set where a tinyalloc header may sit.
//!
//! A free masks its pointer down to a would-be header (`segment::segment_of`)
//! and must not read it unless tinyalloc mapped that address: a foreign
//! pointer (`free((void *)0x1000)`, a stack or glibc pointer) would fault, or
//! worse, read memory that happens to be mapped. The map answers "may a
//! header be here?" before the header is read, in every build: a shift, a
//! range compare and a byte test (a byte rather than a bit per slot saves
//! the word index and the bit test on every free, 3 instructions, for 28 MiB
//! more of untouched address space).
//!
//! What is set:
//! - every slot of an arena, from before the arena is installed in the arena
//!   table until the end of the process (arenas are never unmapped), so a
//!   header read there is always mapped memory;
//! - the first slot of every direct mapping (the only one a header can be
//!   in: a direct mapping is one region), from before the mapping is handed
//!   out until just before it is unmapped.
//!
//! Flags are set before any block of their region can be handed out, so a
//! free of a live block always sees its flag: the block reached the freeing
//! thread through some happens-before chain that starts after the set
//! (arena slots: the set is sequenced before the Release CAS that installs
//! the arena, which every claimer Acquires; direct mappings: sequenced
//! before the allocation returns). By coherence, a Relaxed load that
//! happens-after a store sees it. A flag is cleared only by the thread that
//! releases the mapping; a free that races with that is a free of released
//! memory, which no check can make safe.
//!
//! The map is a zero-initialised static (`.bss`, 32 MiB of address space):
//! the kernel commits a page of it only where a flag is set, 4 KiB per
//! 16 GiB of address space used. It
//! covers user addresses below 2^47 on x86-64 (2^48 elsewhere: AArch64 maps
//! near the top of a 48-bit space); a reservation beyond that is refused
//! (as out of memory), and a pointer beyond it is foreign.
//!
//! The map is not a loom-modelled protocol: each byte is an independent
//! flag, whose visibility rides on the arena and allocation protocols above.

use crate::arena::{SEGMENT_SHIFT, SEGMENT_SIZE};
use crate::sync::{AtomicBool, Ordering};

/// Address bits of user space the map covers.
const ADDRESS_BITS: u32 = if cfg!(target_arch = "x86_64") { 47 } else { 48 };
/// Slots covered (one flag each).
const SLOTS: usize = 1 << (ADDRESS_BITS as usize - SEGMENT_SHIFT);

static MAP: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];

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
    let slot = (address.wrapping_sub(1) >> SEGMENT_SHIFT) & (SLOTS - 1);
    // Relaxed: see the module doc (the set happens-before any legitimate free).
    MAP[slot]
        .load(Ordering::Relaxed)
        .then_some(slot << SEGMENT_SHIFT)
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
        // Relaxed: published by the caller's own Release (see the module doc).
        MAP[slot].store(true, Ordering::Relaxed);
    }
    true
}

/// Unmark the slots of `[base, base + size)`, which [`insert`] marked, before
/// the range is unmapped.
pub fn remove(base: usize, size: usize) {
    if let Some(slots) = slots_of(base, size) {
        for slot in slots {
            MAP[slot].store(false, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
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
