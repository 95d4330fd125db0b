//! The remote-free list: an intrusive multi-producer, single-consumer list.
//!
//! Any thread frees a block it does not own by pushing it with one CAS; the
//! owner takes the whole list with one swap and merges it at leisure. Blocks
//! link through their first word, which the pusher owns until its CAS lands.
//!
//! The word also carries one flag bit, [`FULL`] (blocks are 8-aligned, so bit 0
//! is spare): the owner sets it, by CAS from the empty list, when it parks a
//! page that has no free block. The pusher whose CAS finds the flag alone (a
//! parked, empty list) learns that the owner is not looking at this page and
//! must be told; the flag stays until the owner takes the list. Because flag and list share one
//! word, "the owner parked the page" and "a block arrived" cannot pass each
//! other unseen.
//!
//! A second flag, [`ABANDONED`], marks the list of a page whose segment has
//! no owner (its thread exited): set with the swap that takes the list
//! ([`RemoteFreeList::take_all_and_abandon`]), kept by pushes, cleared by
//! the next [`RemoteFreeList::take_all`]. A push reports it, so exactly the
//! blocks pushed after the mark (and not taken with it) are known to their
//! pushers as frees into an abandoned segment: the count of live blocks
//! that `heap::on_abandoned_free` keeps needs nothing else to be exact.
//!
//! Invariants (checked by `loom-tests/remote_list.rs`): every pushed block is
//! taken exactly once; the producer's writes to a block happen-before the
//! owner's reads after taking it; a push onto a parked list reports it.

use crate::sync::{AtomicPtr, Ordering};
use core::ptr;

/// The "owner parked this page" flag in the list word.
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use tinyalloc::ds::remote_list::{RemoteFreeList, FULL};
///
/// assert_eq!(FULL, 1); // bit 0: blocks are at least 8-aligned
/// let list = RemoteFreeList::new();
/// assert!(list.try_park());
/// assert!(list.is_parked() && !list.has_blocks());
/// # }
/// ```
pub const FULL: usize = 1;

/// The "this page's segment is abandoned" flag in the list word (bit 1:
/// blocks are at least 8-aligned).
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use tinyalloc::ds::remote_list::{RemoteFreeList, ABANDONED};
///
/// assert_eq!(ABANDONED, 2);
/// let mut block = [0usize; 2];
/// let list = RemoteFreeList::new();
/// assert!(list.take_all_and_abandon().is_null()); // nothing was pending
/// // SAFETY: the block is 8-aligned, writable, and given up here.
/// let pushed = unsafe { list.push_reporting(block.as_mut_ptr().cast()) };
/// assert!(pushed.abandoned() && !pushed.parked_empty());
/// assert_eq!(list.take_all(), block.as_mut_ptr().cast()); // clears the flag
/// # }
/// ```
pub const ABANDONED: usize = 2;

/// Both flags.
const FLAGS: usize = FULL | ABANDONED;

/// What a push found in the list word before it ([`RemoteFreeList::push_reporting`]).
#[derive(Clone, Copy, Debug)]
pub struct Pushed {
    previous: usize,
}

impl Pushed {
    /// The list was parked and empty: the owner is not looking and must be told.
    pub fn parked_empty(self) -> bool {
        self.previous == FULL
    }

    /// The list was marked abandoned: the segment has no owner.
    pub fn abandoned(self) -> bool {
        self.previous & ABANDONED != 0
    }
}

/// The head of a remote-free list: a block pointer with [`FULL`] in bit 0.
/// A pointer, not an integer, so that the blocks it leads to keep their
/// provenance (flag bits go in and out with `map_addr`; Miri checks this
/// under `-Zmiri-strict-provenance`).
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use tinyalloc::ds::remote_list::{chain_tail_and_len, RemoteFreeList};
///
/// // Blocks link through their first word; any 8-aligned memory will do.
/// let mut blocks = [[0usize; 2]; 3];
/// let list = RemoteFreeList::new();
/// std::thread::scope(|s| {
///     for block in blocks.iter_mut() {
///         let list = &list;
///         let block = block.as_mut_ptr().cast::<u8>();
///         let block = block as usize; // to send it to another thread
///         s.spawn(move || {
///             // SAFETY: each block is 8-aligned, writable and given up once.
///             unsafe { list.push(block as *mut u8) };
///         });
///     }
/// });
/// let chain = list.take_all(); // the owner takes every block at once
/// // SAFETY: the chain came from take_all and nobody else holds it.
/// let (_, len) = unsafe { chain_tail_and_len(chain) };
/// assert_eq!(len, 3);
/// assert!(list.take_all().is_null());
/// # }
/// ```
#[repr(transparent)]
pub struct RemoteFreeList {
    head: AtomicPtr<u8>,
}

/// The flag alone: a parked, empty list.
fn parked_empty() -> *mut u8 {
    ptr::without_provenance_mut(FULL)
}

impl RemoteFreeList {
    crate::sync::maybe_const_fn! {
        /// An empty, unflagged list.
        ///
        /// ```
        /// # #[cfg(not(feature = "loom"))] {
        /// use tinyalloc::ds::remote_list::RemoteFreeList;
        ///
        /// let list = RemoteFreeList::new();
        /// assert!(!list.has_blocks() && !list.is_parked());
        /// assert!(list.take_all().is_null());
        /// # }
        /// ```
        pub fn new() -> Self {
            Self { head: AtomicPtr::new(ptr::null_mut()) }
        }
    }

    /// Push `block`. Returns true if this is the first block pushed onto a
    /// parked list: the owner is not looking and must be told. Later pushes
    /// onto the same parked list return false (the first one told it), so a
    /// burst of remote frees notifies once.
    ///
    /// # Safety
    /// `block` must be valid for writes of one pointer, 8-aligned, and owned
    /// by the caller, who gives it up to the list's owner.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::ds::remote_list::RemoteFreeList;
    ///
    /// let mut blocks = [[0usize; 2]; 2];
    /// let list = RemoteFreeList::new();
    /// assert!(list.try_park()); // the owner stopped looking at this page
    /// // SAFETY: both blocks are 8-aligned, writable, and given up here.
    /// let first = unsafe { list.push(blocks[0].as_mut_ptr().cast()) };
    /// // SAFETY: as above.
    /// let second = unsafe { list.push(blocks[1].as_mut_ptr().cast()) };
    /// assert!(first, "the first push onto a parked list must tell the owner");
    /// assert!(!second, "later pushes need not");
    /// # }
    /// ```
    #[inline]
    pub unsafe fn push(&self, block: *mut u8) -> bool {
        // SAFETY: forwarded.
        unsafe { self.push_reporting(block) }.parked_empty()
    }

    /// Push `block` and report what the list word held before: whether the
    /// list was parked and empty ([`Pushed::parked_empty`], as [`push`]
    /// returns) and whether it is marked abandoned ([`Pushed::abandoned`]).
    ///
    /// # Safety
    /// As [`push`].
    ///
    /// [`push`]: RemoteFreeList::push
    #[inline]
    pub unsafe fn push_reporting(&self, block: *mut u8) -> Pushed {
        let mut current = self.head.load(Ordering::Relaxed);
        loop {
            let next = current.map_addr(|address| address & !FLAGS);
            // SAFETY: the caller owns `block` until the CAS publishes it.
            unsafe { block.cast::<*mut u8>().write(next) };
            let flags = current.addr() & FLAGS;
            // AcqRel: Release publishes the block's link (and the pusher's
            // writes to the block) to the owner's Acquire take; Acquire sees
            // the park's (or the abandon mark's) Release, for what the pusher
            // does next.
            match self.head.compare_exchange_weak(
                current,
                block.map_addr(|address| address | flags),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Pushed {
                        previous: current.addr(),
                    }
                }
                Err(now) => current = now,
            }
        }
    }

    /// Take every pushed block (a null-terminated chain through first words)
    /// and clear the flag. Owner only.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::ds::remote_list::RemoteFreeList;
    ///
    /// let mut blocks = [[0usize; 2]; 2];
    /// let list = RemoteFreeList::new();
    /// for b in blocks.iter_mut() {
    ///     // SAFETY: 8-aligned, writable, given up here.
    ///     unsafe { list.push(b.as_mut_ptr().cast()) };
    /// }
    /// let newest = list.take_all();
    /// assert_eq!(newest, blocks[1].as_mut_ptr().cast::<u8>()); // newest first
    /// assert!(!list.has_blocks());
    /// # }
    /// ```
    #[inline]
    pub fn take_all(&self) -> *mut u8 {
        if self.head.load(Ordering::Relaxed).is_null() {
            return ptr::null_mut();
        }
        // Acquire pairs with each push's Release.
        self.head
            .swap(ptr::null_mut(), Ordering::Acquire)
            .map_addr(|address| address & !FLAGS)
    }

    /// Take every pushed block, as [`take_all`], and leave the list marked
    /// [`ABANDONED`] (its segment is losing its owner): every later push
    /// reports the mark, until the next [`take_all`]. Owner only, as the
    /// owner gives the segment up.
    ///
    /// [`take_all`]: RemoteFreeList::take_all
    #[inline]
    pub fn take_all_and_abandon(&self) -> *mut u8 {
        // AcqRel: Acquire pairs with each push's Release (the blocks taken);
        // Release orders the owner's writes before the mark, for the pushers
        // that see it.
        self.head
            .swap(ptr::without_provenance_mut(ABANDONED), Ordering::AcqRel)
            .map_addr(|address| address & !FLAGS)
    }

    /// Park the list: set [`FULL`] if no block is pending. Returns false (and
    /// changes nothing) if a block arrived, which the owner should take instead.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::ds::remote_list::RemoteFreeList;
    ///
    /// let mut block = [0usize; 2];
    /// let list = RemoteFreeList::new();
    /// // SAFETY: 8-aligned, writable, given up here.
    /// unsafe { list.push(block.as_mut_ptr().cast()) };
    /// assert!(!list.try_park(), "a block is pending: take it instead");
    /// list.take_all();
    /// assert!(list.try_park());
    /// # }
    /// ```
    pub fn try_park(&self) -> bool {
        // Release pairs with the Acquire of the push that will see the flag.
        self.head
            .compare_exchange(
                ptr::null_mut(),
                parked_empty(),
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Whether any block is pending (a snapshot; owner's hint only).
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::ds::remote_list::RemoteFreeList;
    ///
    /// let mut block = [0usize; 2];
    /// let list = RemoteFreeList::new();
    /// assert!(!list.has_blocks());
    /// // SAFETY: 8-aligned, writable, given up here.
    /// unsafe { list.push(block.as_mut_ptr().cast()) };
    /// assert!(list.has_blocks());
    /// # }
    /// ```
    #[inline]
    pub fn has_blocks(&self) -> bool {
        self.head.load(Ordering::Relaxed).addr() & !FLAGS != 0
    }

    /// Whether the list is parked (a snapshot).
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::ds::remote_list::RemoteFreeList;
    ///
    /// let list = RemoteFreeList::new();
    /// list.try_park();
    /// assert!(list.is_parked());
    /// list.take_all(); // taking the list clears the flag
    /// assert!(!list.is_parked());
    /// # }
    /// ```
    pub fn is_parked(&self) -> bool {
        self.head.load(Ordering::Relaxed).addr() & FULL != 0
    }

    /// Reset to empty and unparked. Only when no block can be pending and no
    /// pusher can reach the list (a page being reinitialised).
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use tinyalloc::ds::remote_list::RemoteFreeList;
    ///
    /// let list = RemoteFreeList::new();
    /// list.try_park();
    /// list.reset(); // e.g. the page is being reinitialised
    /// assert!(!list.is_parked() && !list.has_blocks());
    /// # }
    /// ```
    pub fn reset(&self) {
        self.head.store(ptr::null_mut(), Ordering::Relaxed);
    }
}

impl Default for RemoteFreeList {
    fn default() -> Self {
        Self::new()
    }
}

/// Walk a chain from [`RemoteFreeList::take_all`]: its last block and length.
///
/// # Safety
/// `first` must be a non-null chain the caller owns.
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use tinyalloc::ds::remote_list::{chain_tail_and_len, RemoteFreeList};
///
/// let mut blocks = [[0usize; 2]; 3];
/// let list = RemoteFreeList::new();
/// for b in blocks.iter_mut() {
///     // SAFETY: 8-aligned, writable, given up here.
///     unsafe { list.push(b.as_mut_ptr().cast()) };
/// }
/// let chain = list.take_all();
/// // SAFETY: the chain came from take_all and is ours alone.
/// let (tail, len) = unsafe { chain_tail_and_len(chain) };
/// assert_eq!(len, 3);
/// assert_eq!(tail, blocks[0].as_mut_ptr().cast::<u8>()); // the oldest push
/// # }
/// ```
#[inline]
pub unsafe fn chain_tail_and_len(first: *mut u8) -> (*mut u8, usize) {
    let mut tail = first;
    let mut len = 1;
    loop {
        // SAFETY: every block in an owned chain is valid and links through its
        // first word.
        let next = unsafe { tail.cast::<*mut u8>().read() };
        if next.is_null() {
            return (tail, len);
        }
        tail = next;
        len += 1;
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn pushes_come_back_newest_first_and_once() {
        let mut blocks = [[0usize; 2]; 3];
        let list = RemoteFreeList::new();
        for b in blocks.iter_mut() {
            // SAFETY: each block is ours and 8-aligned.
            assert!(!unsafe { list.push(b.as_mut_ptr().cast()) });
        }
        let chain = list.take_all();
        // SAFETY: we own the chain.
        let (tail, len) = unsafe { chain_tail_and_len(chain) };
        assert_eq!(len, 3);
        assert_eq!(chain, blocks[2].as_mut_ptr().cast());
        assert_eq!(tail, blocks[0].as_mut_ptr().cast());
        assert!(list.take_all().is_null(), "a second take must find nothing");
    }

    #[test]
    fn the_abandon_mark_is_reported_to_every_push_until_taken() {
        let mut blocks = [[0usize; 2]; 3];
        let list = RemoteFreeList::new();
        // SAFETY: an 8-aligned, writable block, given up here.
        let first = unsafe { list.push_reporting(blocks[0].as_mut_ptr().cast()) };
        assert!(!first.abandoned());
        let before_mark = list.take_all_and_abandon();
        assert_eq!(
            before_mark,
            blocks[0].as_mut_ptr().cast(),
            "the mark takes what was pending"
        );
        for b in blocks[1..].iter_mut() {
            // SAFETY: as above.
            let pushed = unsafe { list.push_reporting(b.as_mut_ptr().cast()) };
            assert!(pushed.abandoned(), "every push after the mark reports it");
            assert!(!pushed.parked_empty());
        }
        // SAFETY: the taken chain is null-terminated and ours.
        let (_, len) = unsafe { chain_tail_and_len(list.take_all()) };
        assert_eq!(len, 2, "the pushes after the mark are taken once");
        // SAFETY: taken back above, so ours to give up again.
        let pushed = unsafe { list.push_reporting(blocks[0].as_mut_ptr().cast()) };
        assert!(!pushed.abandoned(), "taking the list clears the mark");
    }

    #[test]
    fn parking_is_refused_with_pending_blocks_and_reported_to_pushers() {
        let mut block = [0usize; 2];
        let list = RemoteFreeList::new();
        assert!(list.try_park());
        assert!(list.is_parked());
        let mut second = [0usize; 2];
        // SAFETY: the blocks are ours.
        let (first_told, second_told) = unsafe {
            (
                list.push(block.as_mut_ptr().cast()),
                list.push(second.as_mut_ptr().cast()),
            )
        };
        assert!(
            first_told,
            "the first push onto a parked list must report it"
        );
        assert!(
            !second_told,
            "only the first push onto a parked list reports it"
        );
        assert!(list.is_parked() && list.has_blocks());
        assert!(!list.try_park(), "cannot park over pending blocks");
        assert_eq!(list.take_all(), second.as_mut_ptr().cast());
        assert!(!list.is_parked(), "take_all clears the flag");
    }
}
