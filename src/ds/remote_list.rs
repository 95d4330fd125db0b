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
//! no owner (its thread exited): set by the take that takes the list
//! ([`RemoteFreeList::take_and_abandon`]), kept by pushes, cleared by
//! the next [`RemoteFreeList::take`]. A push reports it, so exactly the
//! blocks pushed after the mark (and not taken with it) are known to their
//! pushers as frees into an abandoned segment: the count of live blocks
//! that `heap::on_abandoned_free` keeps needs nothing else to be exact.
//!
//! Every push also counts its block in the word's top bits
//! ([`COUNT_SHIFT`]), so a take knows how many blocks it took without
//! walking the chain (whose links other cores wrote). A parked page has
//! handed out every block and its list counts from zero (it parks only
//! when empty): the push that brings the count to the page's block count
//! is the last live block
//! coming back, and instead of linking it, its CAS takes the whole list and
//! leaves [`RECLAIM`] with a count of one: the *reclaiming* state. That
//! pusher now owns every block of the page and gives its memory back (even
//! if the owner never looks at the page again: a thread that allocated and
//! then only waits), then stores [`RECLAIM`] alone: the *reclaimed* state,
//! which only the owner's take clears (and finds the page empty). Nothing
//! else writes the word meanwhile: an owner's take leaves a reclaiming list
//! as it is, and a push onto a reclaiming or reclaimed list is a double free
//! (every block of the page was free already) and pushes nothing.
//!
//! Invariants (checked by `loom-tests/remote_list.rs`): every pushed block is
//! taken exactly once, or reclaimed with the whole page by the one pusher
//! that completed it; the producer's writes to a block happen-before the
//! owner's reads after taking it, and the reclaimer's writes happen-before
//! the owner's take of the reclaimed list; a push onto a parked list reports
//! it.

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
/// use tinyalloc::ds::remote_list::{RemoteFreeList, Taken, ABANDONED};
///
/// assert_eq!(ABANDONED, 2);
/// let mut block = [0usize; 2];
/// let list = RemoteFreeList::new();
/// assert!(matches!(list.take_and_abandon(), Taken::Chain(c, 0) if c.is_null())); // nothing was pending
/// // SAFETY: the block is 8-aligned, writable, and given up here (a page
/// // that is never reclaimed: 0 blocks).
/// let pushed = unsafe { list.push_counting(block.as_mut_ptr().cast(), 0, || false) };
/// assert!(pushed.abandoned() && !pushed.parked_empty());
/// assert_eq!(list.take_all(), block.as_mut_ptr().cast()); // clears the flag
/// # }
/// ```
pub const ABANDONED: usize = 2;

/// The "every block of this parked page came back; its memory is being (or
/// was) given back" flag (bit 2: blocks are at least 8-aligned). With a
/// count of one the pusher that completed the page is still at work
/// (reclaiming); with none it is done (reclaimed).
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use tinyalloc::ds::remote_list::{RemoteFreeList, Taken};
/// let mut blocks = [[0usize; 2]; 2];
/// let list = RemoteFreeList::new();
/// assert!(list.try_park()); // a page whose two blocks are both handed out
/// // SAFETY: 8-aligned, writable blocks, given up here.
/// let first = unsafe { list.push_counting(blocks[0].as_mut_ptr().cast(), 2, || true) };
/// assert!(first.parked_empty() && !first.reclaims());
/// // SAFETY: as above.
/// let last = unsafe { list.push_counting(blocks[1].as_mut_ptr().cast(), 2, || true) };
/// assert!(last.reclaims(), "the last block back completes the page");
/// assert!(matches!(list.take(), Taken::Reclaiming), "the owner keeps off");
/// list.finish_reclaim(); // the pusher gave the page's memory back
/// assert!(list.needs_owner());
/// assert!(matches!(list.take(), Taken::Reclaimed), "the owner finds it empty");
/// assert!(matches!(list.take(), Taken::Chain(c, 0) if c.is_null()));
/// # }
/// ```
pub const RECLAIM: usize = 4;

/// Every flag.
const FLAGS: usize = FULL | ABANDONED | RECLAIM;
/// Where the count of blocks on the list starts in the word (every push
/// adds one, a take clears it): user addresses fit in 47 bits (the segment
/// map covers no more).
pub const COUNT_SHIFT: u32 = 48;
/// One push, counted.
const COUNT_ONE: usize = 1 << COUNT_SHIFT;
/// The link bits of the word.
const LINK_MASK: usize = (COUNT_ONE - 1) & !FLAGS;
/// The most blocks a page may have for its pushes to be counted.
pub const MAX_COUNTED: u64 = (1 << (usize::BITS - COUNT_SHIFT)) - 1;
/// A completed page whose pusher is still giving its memory back.
const RECLAIMING: usize = FULL | RECLAIM | COUNT_ONE;
/// A completed page whose memory is given back, until the owner takes it.
const RECLAIMED: usize = FULL | RECLAIM;

/// What the owner's take found ([`RemoteFreeList::take`]).
#[derive(Clone, Copy, Debug)]
pub enum Taken {
    /// The pushed blocks (a null-terminated chain, null if none) and how
    /// many there are (counted by the pushes: no walk needed).
    Chain(*mut u8, usize),
    /// A pusher completed the parked page and is giving its memory back:
    /// the list is left as it was, and the page must be left alone.
    Reclaiming,
    /// Every block of the parked page came back and its memory was given
    /// back (it reads as zero): the page is empty. The list is now clear.
    Reclaimed,
}

/// What a push found in the list word before it, and what it did
/// ([`RemoteFreeList::push_counting`]).
#[derive(Clone, Copy, Debug)]
pub struct Pushed {
    previous: usize,
    reclaims: bool,
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

    /// This push brought the parked page's last live block back: the
    /// pusher took every block of the page (the list is reclaiming) and
    /// must give the page's memory back, then call
    /// [`RemoteFreeList::finish_reclaim`].
    pub fn reclaims(self) -> bool {
        self.reclaims
    }

    /// The list was reclaiming or reclaimed: every block of the page was
    /// free already, so this block was freed twice. Nothing was pushed.
    pub fn page_was_free(self) -> bool {
        self.previous & RECLAIM != 0
    }

    /// How many blocks the list holds with this one (the push linked it:
    /// not [`reclaims`](Pushed::reclaims) nor [`page_was_free`](Pushed::page_was_free)).
    pub fn blocks_now(self) -> u64 {
        (self.previous >> COUNT_SHIFT) as u64 + 1
    }

    /// The push linked the last block of a parked page of `page_blocks`
    /// blocks without reclaiming it: every block is free, on the list,
    /// and the owner should take the page back.
    pub fn completed(self, page_blocks: u64) -> bool {
        self.previous & FLAGS == FULL && self.blocks_now() == page_blocks
    }
}

/// The head of a remote-free list: a block pointer with the flags in its low
/// bits and the count of blocks on the list in its top bits.
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

/// The chain and count a taken (unflagged-link) word holds.
fn chain_of(word: *mut u8) -> Taken {
    let count = word.addr() >> COUNT_SHIFT;
    Taken::Chain(word.map_addr(|address| address & LINK_MASK), count)
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
        // SAFETY: forwarded; no count reaches 0 blocks, so nothing is
        // reclaimed.
        unsafe { self.push_counting(block, 0, || false) }.parked_empty()
    }

    /// Push `block` and report what the list word held before: whether the
    /// list was parked and empty ([`Pushed::parked_empty`], as
    /// [`push`](RemoteFreeList::push) returns) and whether it is marked abandoned ([`Pushed::abandoned`]).
    /// `page_blocks` is the block count of the page (its blocks handed out
    /// when it was parked, at most [`MAX_COUNTED`]; 0 never completes): the
    /// push onto a parked list that brings its count to `page_blocks` takes
    /// the list instead ([`Pushed::reclaims`]) if `reclaim()` says so (it
    /// is asked only then; otherwise the block is linked and counted, and a
    /// later page cycle may reclaim). A push onto a reclaiming or reclaimed
    /// list pushes nothing ([`Pushed::page_was_free`]).
    /// # Safety
    /// As [`push`](RemoteFreeList::push); a block of a page of
    /// `page_blocks` blocks.
    #[inline]
    pub unsafe fn push_counting(
        &self,
        block: *mut u8,
        page_blocks: u64,
        reclaim: impl Fn() -> bool,
    ) -> Pushed {
        debug_assert!(page_blocks <= MAX_COUNTED);
        let mut current = self.head.load(Ordering::Relaxed);
        loop {
            let word = current.addr();
            if word & RECLAIM != 0 {
                return Pushed {
                    previous: word,
                    reclaims: false,
                };
            }
            // Every push is counted; only a parked list (not abandoned: the
            // flags are exclusive, so FULL alone) can complete its page.
            let parked = word & FLAGS == FULL;
            let count = (word >> COUNT_SHIFT) as u64 + 1;
            let reclaims = parked && count == page_blocks && reclaim();
            let new = if reclaims {
                ptr::without_provenance_mut(RECLAIMING)
            } else {
                let next = current.map_addr(|address| address & LINK_MASK);
                // SAFETY: the caller owns `block` until the CAS publishes it.
                unsafe { block.cast::<*mut u8>().write(next) };
                block.map_addr(|address| {
                    address | (word & FLAGS) | ((count as usize) << COUNT_SHIFT)
                })
            };
            // AcqRel: Release publishes the block's link (and the pusher's
            // writes to the block) to the owner's Acquire take; Acquire sees
            // the park's (or the abandon mark's) Release, for what the pusher
            // does next, and, for the push that reclaims, the earlier
            // pushes' Releases (their blocks become the reclaimer's).
            match self
                .head
                .compare_exchange_weak(current, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Pushed {
                        previous: word,
                        reclaims,
                    }
                }
                Err(now) => current = now,
            }
        }
    }

    /// The pusher that completed a parked page ([`Pushed::reclaims`]) gave
    /// the page's memory back: let the owner take the page.
    pub fn finish_reclaim(&self) {
        debug_assert_eq!(self.head.load(Ordering::Relaxed).addr(), RECLAIMING);
        // Release pairs with the owner's Acquire take: the reclaimer's work
        // on the page happens-before the owner's reuse of it. Nothing else
        // writes a reclaiming word, so a store is enough.
        self.head
            .store(ptr::without_provenance_mut(RECLAIMED), Ordering::Release);
    }

    /// Take the list, leaving `leave` (empty, or marked abandoned), unless
    /// it is reclaiming. Owner only.
    fn take_leaving(&self, leave: usize, order: Ordering) -> Taken {
        let mut current = self.head.load(Ordering::Relaxed);
        if current.addr() == leave {
            return Taken::Chain(ptr::null_mut(), 0);
        }
        if current.addr() & FULL == 0 {
            // Not parked, and only the owner (the caller) parks: no push can
            // start a reclaim, so one swap takes the list (wait-free, as a
            // take of a busy page's list should be).
            let taken = self.head.swap(ptr::without_provenance_mut(leave), order);
            return chain_of(taken);
        }
        loop {
            let word = current.addr();
            if word == leave {
                return Taken::Chain(ptr::null_mut(), 0);
            }
            if word == RECLAIMING {
                return Taken::Reclaiming;
            }
            match self.head.compare_exchange_weak(
                current,
                ptr::without_provenance_mut(leave),
                order,
                Ordering::Relaxed,
            ) {
                Ok(_) if word == RECLAIMED => return Taken::Reclaimed,
                Ok(_) => return chain_of(current),
                Err(now) => current = now,
            }
        }
    }

    /// Take every pushed block and clear the flags, or find the page
    /// reclaiming (the list is left as it is) or reclaimed (the list is
    /// cleared: the page is empty). Owner only.
    #[inline]
    pub fn take(&self) -> Taken {
        // Acquire pairs with each push's Release, and with the Release of
        // `finish_reclaim`.
        self.take_leaving(0, Ordering::Acquire)
    }

    /// As [`take`](RemoteFreeList::take), leaving the list marked
    /// [`ABANDONED`] (its segment is losing its owner) unless it is
    /// reclaiming: every later push reports the mark, until the next take.
    /// Owner only, as the owner gives the segment up.
    #[inline]
    pub fn take_and_abandon(&self) -> Taken {
        // AcqRel: Acquire pairs with each push's Release (the blocks taken)
        // and with `finish_reclaim`; Release orders the owner's writes
        // before the mark, for the pushers that see it.
        self.take_leaving(ABANDONED, Ordering::AcqRel)
    }

    /// Take every pushed block (a null-terminated chain through first words)
    /// and clear the flag, from a list whose pushes are not counted
    /// ([`push`](RemoteFreeList::push), or
    /// [`push_counting`](RemoteFreeList::push_counting) of 0 blocks):
    /// [`take`](RemoteFreeList::take) for the others. Owner only.
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
        match self.take() {
            Taken::Chain(chain, _) => chain,
            // Pages that are never reclaimed never get here.
            Taken::Reclaiming | Taken::Reclaimed => ptr::null_mut(),
        }
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
        self.head.load(Ordering::Relaxed).addr() & LINK_MASK != 0
    }

    /// Whether the owner has something to take: blocks, or a reclaimed page.
    #[inline]
    pub fn needs_owner(&self) -> bool {
        let word = self.head.load(Ordering::Relaxed).addr();
        word & LINK_MASK != 0 || word == RECLAIMED
    }

    /// How many blocks are on the list (a snapshot, from the count the
    /// pushes keep); 0 while the page is reclaiming or reclaimed (its
    /// blocks are the reclaimer's, not waiting for the owner).
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
    /// assert_eq!(list.pending(), 2);
    /// list.take_all();
    /// assert_eq!(list.pending(), 0);
    /// # }
    /// ```
    pub fn pending(&self) -> usize {
        let word = self.head.load(Ordering::Relaxed).addr();
        if word & RECLAIM != 0 {
            return 0;
        }
        word >> COUNT_SHIFT
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
        let first = unsafe { list.push_counting(blocks[0].as_mut_ptr().cast(), 0, || false) };
        assert!(!first.abandoned());
        let before_mark = list.take_and_abandon();
        assert!(
            matches!(before_mark, Taken::Chain(c, 1) if c == blocks[0].as_mut_ptr().cast()),
            "the mark takes what was pending: {before_mark:?}"
        );
        for b in blocks[1..].iter_mut() {
            // SAFETY: as above.
            let pushed = unsafe { list.push_counting(b.as_mut_ptr().cast(), 0, || false) };
            assert!(pushed.abandoned(), "every push after the mark reports it");
            assert!(!pushed.parked_empty());
        }
        // SAFETY: the taken chain is null-terminated and ours.
        let (_, len) = unsafe { chain_tail_and_len(list.take_all()) };
        assert_eq!(len, 2, "the pushes after the mark are taken once");
        // SAFETY: taken back above, so ours to give up again.
        let pushed = unsafe { list.push_counting(blocks[0].as_mut_ptr().cast(), 0, || false) };
        assert!(!pushed.abandoned(), "taking the list clears the mark");
    }

    #[test]
    fn the_last_push_onto_a_parked_list_reclaims_only_if_asked() {
        let mut blocks = [[0usize; 2]; 3];
        let ptr = |b: &mut [usize; 2]| b.as_mut_ptr().cast::<u8>();
        let list = RemoteFreeList::new();
        // Declined: every block is linked, and the owner takes them all.
        assert!(list.try_park());
        for b in blocks.iter_mut() {
            // SAFETY: 8-aligned, writable, given up here.
            let pushed = unsafe { list.push_counting(ptr(b), 3, || false) };
            assert!(!pushed.reclaims() && !pushed.page_was_free());
        }
        match list.take() {
            Taken::Chain(chain, count) => {
                // SAFETY: the chain is ours.
                let (_, len) = unsafe { chain_tail_and_len(chain) };
                assert_eq!(len, 3, "a declined reclaim must leave every block linked");
                assert_eq!(count, 3, "the take's count is the chain's length");
            }
            other => panic!("expected the blocks, got {other:?}"),
        }
        // Not parked: counted, but only a parked list completes its page.
        for b in blocks.iter_mut() {
            // SAFETY: taken back above; given up again.
            assert!(!unsafe { list.push_counting(ptr(b), 3, || true) }.reclaims());
        }
        assert!(matches!(list.take(), Taken::Chain(c, 3) if !c.is_null()));
        // Parked again, counting from zero: the third push completes it.
        assert!(list.try_park());
        for (i, b) in blocks.iter_mut().enumerate() {
            // SAFETY: as above.
            let pushed = unsafe { list.push_counting(ptr(b), 3, || true) };
            assert_eq!(pushed.reclaims(), i == 2, "push {i}");
        }
        assert!(!list.needs_owner() && !list.has_blocks());
        assert!(matches!(list.take_and_abandon(), Taken::Reclaiming));
        // A push now frees a block of an all-free page: refused.
        let mut extra = [0usize; 2];
        // SAFETY: 8-aligned, writable.
        let pushed = unsafe { list.push_counting(ptr(&mut extra), 3, || true) };
        assert!(pushed.page_was_free() && !pushed.reclaims());
        list.finish_reclaim();
        assert!(list.needs_owner());
        // SAFETY: as above.
        assert!(unsafe { list.push_counting(ptr(&mut extra), 3, || true) }.page_was_free());
        assert!(matches!(list.take_and_abandon(), Taken::Reclaimed));
        // SAFETY: as above.
        assert!(unsafe { list.push_counting(ptr(&mut extra), 0, || false) }.abandoned());
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
