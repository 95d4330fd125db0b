//! First-class heaps: [`Heap`], a heap a program creates, allocates from and
//! then drops or destroys, and `allocator_api2::alloc::Allocator` for `&Heap`.
//!
//! A `Heap` is an internal `heap::Heap` taken from the same pool as thread
//! heaps (`thread::take_heap`), that no thread uses as its current heap. Its
//! small and medium blocks live in segments it owns, as a thread heap's do;
//! its large blocks are regions that carry it as their owner and sit on its
//! list (`heap::own_large`). So a block knows its heap by its segment's
//! `owner` word, never by a thread: the heap may move to another thread
//! (`Send`), and any thread may free any of its blocks through the ordinary
//! free path (a remote free for small and medium blocks, a mark on the
//! region for a large one).
//!
//! Invariants:
//! - the internal heap is the `Heap` value's alone: only its methods (on the
//!   thread that holds it: `!Sync`) touch its lists;
//! - it never adopts abandoned segments (`heap::make_user`), so everything
//!   it owns holds its own blocks, which [`Heap::destroy`] may free at once;
//! - dropping it is a thread exit (`heap::abandon_user`): its segments with
//!   live blocks are abandoned and adopted later, its large regions lose
//!   their owner, and every block stays valid.

use crate::api;
use crate::checks;
use crate::heap;
use crate::large;
use crate::page;
use crate::segment::{self, KIND_LARGE};
use crate::segment_map::{self, PAGED_FROM};
use crate::sync::Ordering;
use crate::thread;
use core::alloc::Layout;
use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

/// A heap of one's own: allocate into it, then drop it (blocks stay valid)
/// or [`destroy`](Heap::destroy) it (every block freed at once, in time
/// proportional to its pages, not its blocks).
///
/// The per-request arena of a server: one heap per request, every
/// allocation of the request in it, destroyed at the end (no per-object
/// frees, no leak if some object is forgotten):
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// # #[cfg(feature = "allocator-api2")] { // the `Allocator` impl's feature
/// use allocator_api2::vec::Vec;
/// use hashbrown::HashMap;
/// use tinyalloc::Heap;
///
/// fn handle(request: &str) -> usize {
///     let heap = Heap::new();
///     let mut words = HashMap::new_in(&heap);
///     let mut lengths = Vec::new_in(&heap);
///     for word in request.split_whitespace() {
///         *words.entry(word).or_insert(0) += 1;
///         lengths.push(word.len());
///     }
///     let answer = words.len() + lengths.iter().sum::<usize>();
///     drop((words, lengths)); // (the borrow checker wants `&heap` free)
///     heap.destroy(); // everything the request allocated, in one go
///     answer
/// }
///
/// assert_eq!(handle("a bb a ccc"), 3 + 7);
/// # }
/// # }
/// ```
///
/// Raw allocation, as with [`GlobalAlloc`](core::alloc::GlobalAlloc):
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use std::alloc::Layout;
///
/// let heap = tinyalloc::Heap::new();
/// let layout = Layout::from_size_align(100, 16).unwrap();
/// let block = heap.alloc(layout);
/// assert!(!block.is_null());
/// // SAFETY: `block` is live, of `layout`; freed once.
/// unsafe {
///     block.write_bytes(7, 100);
///     heap.dealloc(block, layout);
/// }
/// # }
/// ```
///
/// # Rules
///
/// - **Threads.** A `Heap` is `Send` but not `Sync`: one thread at a time
///   allocates from it (its lists are written without atomics, as a thread
///   heap's are), but it may move to another thread, for instance with the
///   task of an async runtime: nothing in it is tied to the thread that
///   created it, since blocks find their heap through their segment.
///   (mimalloc's heaps are owner-thread only because its frees compare
///   thread ids.)
/// - **Frees.** Any thread may free any block of the heap, through
///   [`Heap::dealloc`] (fastest on the owning thread: no atomics) or through
///   the ordinary path (`TinyAlloc`'s `dealloc`, C's `free`): a block whose
///   heap is another is freed remotely (one CAS), and a large one is marked
///   for its heap to release on its next large allocation, `collect`, drop
///   or destroy. `TinyAlloc`'s `realloc` of a block of the heap moves it to
///   the calling thread's heap unless it stays in place.
/// - **Drop.** Dropping the heap frees nothing: its segments are handed on
///   as a thread's are when it exits (abandoned, then adopted by a thread
///   that needs memory) and its large blocks lose their owner, so every
///   block stays valid and is freed later by the ordinary path. Frees racing
///   with the drop are fine.
/// - **Destroy.** [`Heap::destroy`] frees every block. Every free of one of
///   its blocks must happen before it, and no block is used after it: a
///   block freed after its heap's destroy is a double free. It is caught
///   (the process aborts naming the pointer) while its segment or region
///   sits unused in the cache or its arena (released tag), while its page
///   is unused, or when it is a free block of a page in use again (freed
///   mark); not once the memory serves a live block again, nor in a reused
///   page's blocks not carved yet (as with any double free: see `checks`).
pub struct Heap {
    heap: NonNull<heap::Heap>,
    /// `!Sync` (`Cell`), `Send` (below).
    _one_thread_at_a_time: PhantomData<Cell<()>>,
}

// SAFETY: the internal heap is reached only through this value, and nothing
// in it names a thread: a block's free compares its segment's owner with the
// freeing thread's own heap (never this one, which is no thread's), large
// regions carry the heap's address, and the pool and segments are shared
// structures already. Moving the value hands the whole heap over, with the
// happens-before the move itself gives.
unsafe impl Send for Heap {}

impl Heap {
    /// A new, empty heap. Panics if no memory can be had for it (a few KiB
    /// of metadata); see [`Heap::try_new`].
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
    /// let heap = tinyalloc::Heap::new();
    /// assert!(tinyalloc::stats().user_heaps >= 1);
    /// drop(heap);
    /// # }
    /// ```
    pub fn new() -> Heap {
        match Heap::try_new() {
            Some(heap) => heap,
            None => panic!("tinyalloc: out of memory for a new heap"),
        }
    }

    /// A new, empty heap, or `None` when out of memory.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
    /// let heap = tinyalloc::Heap::try_new().expect("memory for a heap");
    /// heap.destroy();
    /// # }
    /// ```
    pub fn try_new() -> Option<Heap> {
        let heap = thread::take_heap()?;
        // SAFETY: fresh from the pool: empty, ours, no thread's.
        unsafe { heap::make_user(heap.as_ptr()) };
        thread::count_user_heap(true);
        Some(Heap {
            heap,
            _one_thread_at_a_time: PhantomData,
        })
    }

    #[inline(always)]
    fn raw(&self) -> *mut heap::Heap {
        self.heap.as_ptr()
    }

    /// Allocate a block of `layout` in this heap; null when out of memory.
    /// A zero-sized layout gets a real (minimal) block.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
    /// use std::alloc::Layout;
    ///
    /// let heap = tinyalloc::Heap::new();
    /// let block = heap.alloc(Layout::from_size_align(1 << 20, 4096).unwrap());
    /// assert!(!block.is_null() && block as usize % 4096 == 0);
    /// heap.destroy(); // the block too
    /// # }
    /// ```
    #[inline]
    pub fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(class) = api::class_for(layout.size(), layout.align()) {
            // SAFETY: the heap is ours (not the sentinel) and this thread's
            // for the call (`!Sync`); the class serves the layout.
            return unsafe { heap::alloc(self.raw(), class) };
        }
        self.alloc_large(layout, false)
    }

    /// Allocate a zeroed block of `layout`; null when out of memory.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
    /// use std::alloc::Layout;
    ///
    /// let heap = tinyalloc::Heap::new();
    /// let layout = Layout::array::<u64>(1000).unwrap();
    /// let block = heap.alloc_zeroed(layout);
    /// // SAFETY: live, of `layout`, zeroed.
    /// assert!(unsafe { std::slice::from_raw_parts(block, layout.size()) }
    ///     .iter()
    ///     .all(|&b| b == 0));
    /// heap.destroy();
    /// # }
    /// ```
    #[inline]
    pub fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if let Some(class) = api::class_for(layout.size(), layout.align()) {
            // SAFETY: as in `alloc`; a block just handed out by this heap's
            // page, whose `free_is_zero` still describes the list it left.
            unsafe {
                let block = heap::alloc(self.raw(), class);
                if !block.is_null() {
                    let page = segment::page_of(segment::segment_of(block), block);
                    if (*page).free_is_zero {
                        // The rest is zero; the freed mark was cleared on pop.
                        block.cast::<usize>().write(0);
                    } else {
                        ptr::write_bytes(block, 0, layout.size());
                    }
                }
                return block;
            }
        }
        self.alloc_large(layout, true)
    }

    /// A large block owned by this heap.
    #[cold]
    #[inline(never)]
    fn alloc_large(&self, layout: Layout, zero: bool) -> *mut u8 {
        // SAFETY: the heap is ours; a `Layout`'s alignment is a power of two
        // and its size, rounded up to it, at most `isize::MAX`.
        unsafe {
            heap::reap_large(self.raw());
            let block = large::allocate(layout.size(), layout.align(), zero);
            if !block.is_null() {
                heap::own_large(self.raw(), segment::segment_of(block));
            }
            block
        }
    }

    /// Free `ptr`. A block of this heap is freed here (small and medium ones
    /// without atomics, large ones released at once); any other tinyalloc
    /// block goes through the ordinary free path. `layout` is not needed.
    ///
    /// # Safety
    /// `ptr` is a live block from tinyalloc (this heap's, usually), freed
    /// once and not used afterwards.
    #[inline(always)]
    pub unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        let heap = self.raw();
        let shift = segment_map::paged_shift(ptr.addr());
        if shift >= PAGED_FROM {
            // SAFETY: as `api::deallocate_or`: a live paged segment heads the
            // slot, the block-start test proves `ptr` a block before any write,
            // and a block of this heap is freed on its owner's path (we hold it).
            unsafe {
                let segment = segment::paged_segment_of(ptr);
                let page = segment::page_at(segment, ptr, shift as u32);
                if page::block_index(page, ptr) >= page::block_limit(page) {
                    checks::fatal("free of a pointer that is not the start of a block:", ptr);
                }
                // Relaxed: only this heap's holder stores this heap here.
                if (*segment).owner.load(Ordering::Relaxed) == heap as usize {
                    checks::on_free(page, ptr);
                    heap::free_local(heap, page, ptr);
                    return;
                }
            }
        }
        // SAFETY: forwarded.
        unsafe { self.dealloc_slow(ptr) }
    }

    /// [`Heap::dealloc`] of anything but a small or medium block of this
    /// heap: another heap's (the ordinary path), null, a large block, misuse.
    ///
    /// # Safety
    /// As [`Heap::dealloc`].
    #[cold]
    #[inline(never)]
    unsafe fn dealloc_slow(&self, ptr: *mut u8) {
        // SAFETY: forwarded.
        unsafe {
            match self.owned_large(ptr) {
                Some(header) => heap::free_own_large(self.raw(), header),
                None => api::deallocate(ptr),
            }
        }
    }

    /// The header of `ptr` if it is a live large block of this heap.
    fn owned_large(&self, ptr: *mut u8) -> Option<*mut segment::SegmentHeader> {
        if ptr.is_null() {
            return None;
        }
        let header = segment::known_header(ptr)?;
        // SAFETY: the segment map says the header is mapped; a large header's
        // offset is fixed while its block is live.
        unsafe {
            let ours = segment::tagged_kind(header) == KIND_LARGE as usize
                && heap::owns_large(self.raw(), header)
                && ptr == header.cast::<u8>().add((*header).large_offset);
            ours.then_some(header)
        }
    }

    /// Resize `ptr` (allocated with `layout`) to `new_size`: in place when
    /// the block allows, else moved into this heap. Null (with `ptr` still
    /// valid) when out of memory or when `new_size` rounded up to the
    /// alignment overflows `isize`.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
    /// use std::alloc::Layout;
    ///
    /// let heap = tinyalloc::Heap::new();
    /// let layout = Layout::from_size_align(16, 8).unwrap();
    /// // SAFETY: each block is live with its layout; the result replaces it.
    /// unsafe {
    ///     let block = heap.alloc(layout);
    ///     block.write_bytes(3, 16);
    ///     let grown = heap.realloc(block, layout, 100_000);
    ///     assert_eq!(*grown.add(15), 3);
    ///     heap.dealloc(grown, Layout::from_size_align(100_000, 8).unwrap());
    /// }
    /// # }
    /// ```
    ///
    /// # Safety
    /// `ptr` is a live block from tinyalloc allocated with `layout` (this
    /// heap's, usually; another's moves here); `new_size` is not zero.
    pub unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        let heap = self.raw();
        // SAFETY: `ptr` is a live block (the caller's contract); its page
        // geometry and large header are readable and fixed while it lives.
        unsafe {
            if segment_map::paged_shift(ptr.addr()) >= PAGED_FROM {
                let segment = segment::paged_segment_of(ptr);
                let page = segment::page_of(segment, ptr);
                let block_size = (*page).block_size;
                // Keep a block of ours that fits and would not waste half.
                if (*segment).owner.load(Ordering::Relaxed) == heap as usize
                    && new_size <= block_size
                    && new_size >= block_size / 2
                {
                    return ptr;
                }
            } else if let Some(header) = self.owned_large(ptr) {
                if api::class_for(new_size, layout.align()).is_none()
                    && large::resize_in_place(header, new_size)
                {
                    return ptr;
                }
            }
            let moved = self.alloc(new_layout);
            if !moved.is_null() {
                ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            moved
        }
    }

    /// Give back what the heap holds free: its empty pages (to their
    /// segments, and empty segments to the cache), and the large blocks that
    /// other threads freed.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
    /// use std::alloc::Layout;
    ///
    /// let heap = tinyalloc::Heap::new();
    /// let layout = Layout::from_size_align(1 << 20, 8).unwrap();
    /// let block = heap.alloc(layout) as usize;
    /// let regions = tinyalloc::stats().large_regions;
    /// // Freed by another thread: marked, released by the heap later.
    /// std::thread::spawn(move || unsafe {
    ///     std::alloc::GlobalAlloc::dealloc(&tinyalloc::TinyAlloc, block as *mut u8, layout)
    /// })
    /// .join()
    /// .unwrap();
    /// heap.collect();
    /// assert!(tinyalloc::stats().large_regions < regions);
    /// # }
    /// ```
    pub fn collect(&self) {
        // SAFETY: the heap is ours.
        unsafe { heap::collect_user(self.raw()) };
    }

    /// Free every block of the heap at once and end it: each page and each
    /// large region is released in one step (blocks are not visited), to
    /// the cache (which purges what it cannot keep) or its arena.
    ///
    /// Safe, because a block reaches safe code only through a borrow of the
    /// heap (`Vec::new_in(&heap)`, `Box::new_in(x, &heap)`), which must end
    /// before `destroy` can take the heap. Raw blocks from [`Heap::alloc`]
    /// dangle afterwards: using or freeing one is undefined behaviour (a
    /// free is caught while its memory is not in use again; see the rules on
    /// [`Heap`]), and every free of one must happen before this call.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
    /// use std::alloc::Layout;
    ///
    /// let heap = tinyalloc::Heap::new();
    /// for size in [16, 1000, 100_000, 1 << 20] {
    ///     assert!(!heap.alloc(Layout::from_size_align(size, 8).unwrap()).is_null());
    /// }
    /// let before = tinyalloc::stats().live_regions;
    /// heap.destroy();
    /// assert!(tinyalloc::stats().live_regions < before);
    /// # }
    /// ```
    pub fn destroy(self) {
        let heap = self.raw();
        core::mem::forget(self);
        // SAFETY: the heap was ours and no value reaches it any more; its
        // blocks are given up (see the doc above).
        unsafe {
            heap::destroy_user(heap);
            thread::return_heap(NonNull::new_unchecked(heap));
        }
        thread::count_user_heap(false);
    }

    /// The heap as a raw pointer, for C (`tinyalloc_heap_new`); undone by
    /// [`Heap::from_raw`].
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
    /// let raw = tinyalloc::Heap::new().into_raw();
    /// // SAFETY: from `into_raw`, taken back once.
    /// let heap = unsafe { tinyalloc::Heap::from_raw(raw) };
    /// heap.destroy();
    /// # }
    /// ```
    pub fn into_raw(self) -> *mut core::ffi::c_void {
        let raw = self.raw().cast();
        core::mem::forget(self);
        raw
    }

    /// Take back a heap given up by [`Heap::into_raw`].
    ///
    /// # Safety
    /// `raw` came from `into_raw`, is taken back once, and only by one
    /// thread at a time while it is in use.
    pub unsafe fn from_raw(raw: *mut core::ffi::c_void) -> Heap {
        Heap {
            // SAFETY: `into_raw` never returns null.
            heap: unsafe { NonNull::new_unchecked(raw.cast()) },
            _one_thread_at_a_time: PhantomData,
        }
    }
}

impl Default for Heap {
    fn default() -> Heap {
        Heap::new()
    }
}

impl core::fmt::Debug for Heap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Heap").field("heap", &self.heap).finish()
    }
}

impl Drop for Heap {
    /// Blocks stay valid (see the rules on [`Heap`]).
    fn drop(&mut self) {
        let heap = self.raw();
        // SAFETY: the heap is ours and nothing reaches it after this.
        unsafe {
            heap::abandon_user(heap);
            thread::return_heap(self.heap);
        }
        thread::count_user_heap(false);
    }
}

#[cfg(feature = "allocator-api2")]
mod allocator {
    //! `allocator_api2::alloc::Allocator` for `&Heap`.
    use super::Heap;
    use allocator_api2::alloc::{AllocError, Allocator};
    use core::alloc::Layout;
    use core::ptr::{self, NonNull};

    // SAFETY: blocks are at least `layout.size()` bytes, aligned to
    // `layout.align()`, and live until deallocated or the heap is destroyed,
    // which the `&Heap` borrow forbids while any collection uses them; a
    // copy of `&Heap` is the same heap. Nothing here allocates through the
    // global allocator.
    unsafe impl Allocator for &Heap {
        #[inline]
        fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
            let block = NonNull::new(Heap::alloc(self, layout)).ok_or(AllocError)?;
            Ok(NonNull::slice_from_raw_parts(block, layout.size()))
        }

        #[inline]
        fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
            let block = NonNull::new(Heap::alloc_zeroed(self, layout)).ok_or(AllocError)?;
            Ok(NonNull::slice_from_raw_parts(block, layout.size()))
        }

        #[inline]
        unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
            // SAFETY: `ptr` is a live block of this allocator (the caller's
            // contract).
            unsafe { Heap::dealloc(self, ptr.as_ptr(), layout) }
        }

        unsafe fn grow(
            &self,
            ptr: NonNull<u8>,
            old: Layout,
            new: Layout,
        ) -> Result<NonNull<[u8]>, AllocError> {
            // SAFETY: forwarded (the caller's contract: `new.size() >=
            // old.size()`).
            unsafe { resize(self, ptr, old, new) }
        }

        unsafe fn grow_zeroed(
            &self,
            ptr: NonNull<u8>,
            old: Layout,
            new: Layout,
        ) -> Result<NonNull<[u8]>, AllocError> {
            // SAFETY: forwarded; the grown part is ours to clear.
            unsafe {
                let block = resize(self, ptr, old, new)?;
                let start = block.cast::<u8>().as_ptr();
                ptr::write_bytes(start.add(old.size()), 0, new.size() - old.size());
                Ok(block)
            }
        }

        unsafe fn shrink(
            &self,
            ptr: NonNull<u8>,
            old: Layout,
            new: Layout,
        ) -> Result<NonNull<[u8]>, AllocError> {
            // SAFETY: forwarded (the caller's contract: `new.size() <=
            // old.size()`).
            unsafe { resize(self, ptr, old, new) }
        }
    }

    /// `realloc` when the block may keep its alignment, else allocate, copy
    /// and free.
    ///
    /// # Safety
    /// `ptr` is a live block of `heap` with layout `old`.
    unsafe fn resize(
        heap: &Heap,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the caller's contract; a new block is ours until returned.
        unsafe {
            let block = if new.align() <= old.align() && new.size() > 0 {
                heap.realloc(ptr.as_ptr(), old, new.size())
            } else {
                let moved = heap.alloc(new);
                if !moved.is_null() {
                    ptr::copy_nonoverlapping(ptr.as_ptr(), moved, old.size().min(new.size()));
                    heap.dealloc(ptr.as_ptr(), old);
                }
                moved
            };
            let block = NonNull::new(block).ok_or(AllocError)?;
            Ok(NonNull::slice_from_raw_parts(block, new.size()))
        }
    }
}
