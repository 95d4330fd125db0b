//! Shared by the models over the real allocator (`loom_real_*`): blocks with
//! fill patterns, a record of the blocks live in the model, and the final
//! leak check through the execution's own counters.
//!
//! Each model file includes this with `#[path = "allocator.rs"] mod allocator;`.
//! (Not every model uses every helper.)
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;
use tinyalloc::raw;

/// The blocks live in this execution: address to size. A plain `std`
/// mutex: no loom operation happens while it is held, so loom never
/// switches threads inside it.
static LIVE: Mutex<Option<HashMap<usize, usize>>> = Mutex::new(None);

/// Forget the blocks of an earlier execution.
pub fn reset() {
    *LIVE.lock().unwrap() = Some(HashMap::new());
}

fn record(block: *mut u8, size: usize) {
    let mut live = LIVE.lock().unwrap();
    let live = live.as_mut().expect("allocator::reset first");
    // Handed out once: the block overlaps no live block.
    let start = block as usize;
    for (&other, &other_size) in live.iter() {
        assert!(
            other + other_size <= start || start + size <= other,
            "block {block:p} ({size} B) overlaps live block {other:#x} ({other_size} B)"
        );
    }
    live.insert(start, size);
}

fn forget(block: *mut u8) {
    let mut live = LIVE.lock().unwrap();
    let live = live.as_mut().expect("allocator::reset first");
    assert!(
        live.remove(&(block as usize)).is_some(),
        "block {block:p} freed but not live"
    );
}

/// Allocate `size` bytes (alignment 16) and fill them with `pattern`.
pub fn alloc(size: usize, pattern: u8) -> *mut u8 {
    // SAFETY: 16 is a power of two.
    let block = unsafe { raw::allocate(size, 16) };
    assert!(!block.is_null(), "out of memory");
    record(block, size);
    // SAFETY: the block is ours, `size` bytes.
    unsafe { block.write_bytes(pattern, size) };
    block
}

/// Check that the `size` bytes of `block` all hold `pattern`.
pub fn check(block: *mut u8, size: usize, pattern: u8) {
    // SAFETY: the caller's block is live, `size` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(block, size) };
    if let Some(at) = bytes.iter().position(|&b| b != pattern) {
        panic!(
            "block {block:p}: byte {at} is {:#x}, expected {pattern:#x}",
            bytes[at]
        );
    }
}

/// Check `block`'s pattern, then free it.
pub fn free(block: *mut u8, size: usize, pattern: u8) {
    check(block, size, pattern);
    forget(block);
    // SAFETY: the block is live and freed once.
    unsafe { raw::deallocate(block) };
}

/// Grow or shrink `block` (alignment 16) from `old` to `new` bytes: the
/// first `min(old, new)` bytes must keep `pattern`; the block is then filled
/// with `pattern` again.
pub fn realloc(block: *mut u8, old: usize, new: usize, pattern: u8) -> *mut u8 {
    check(block, old, pattern);
    forget(block);
    // SAFETY: the block is live with alignment 16 and `old` bytes.
    let moved = unsafe { raw::reallocate(block, old, 16, new) };
    assert!(!moved.is_null(), "out of memory");
    record(moved, new);
    check(moved, old.min(new), pattern);
    // SAFETY: the block is ours, `new` bytes.
    unsafe { moved.write_bytes(pattern, new) };
    moved
}

/// Spawn a model thread with room for the allocator's slow paths (loom's
/// default coroutine stack is too small for them), which runs the real
/// thread-exit path (`heap::abandon_all`, heap back to the pool) as its last
/// step: loom's `join` synchronises with the end of the closure, not with
/// thread-local destructors, where the allocator runs it otherwise.
pub fn spawn<F, T>(f: F) -> loom::thread::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    loom::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let result = f();
            tinyalloc::loom_hooks::exit_thread();
            result
        })
        .unwrap()
}

/// The end of a model, on its main thread once every other thread has been
/// joined: this thread adopts what was abandoned and exits (the emptied
/// segments go back), the cache is purged, and the execution's counters
/// must show that nothing leaked.
pub fn finish() {
    assert!(
        LIVE.lock().unwrap().as_ref().unwrap().is_empty(),
        "blocks still live at the end"
    );
    // A heap for this thread (collect adopts with it), then adopt every
    // abandoned segment; exiting releases the emptied ones.
    let block = alloc(16, 0x5a);
    free(block, 16, 0x5a);
    tinyalloc::collect();
    tinyalloc::loom_hooks::exit_thread();
    // Purge the cache (this thread has no heap now: nothing else happens).
    tinyalloc::collect();
    let stats = tinyalloc::stats();
    assert_eq!(stats.live_heaps, 0, "{stats:#?}");
    assert_eq!(stats.abandoned_segments, 0, "{stats:#?}");
    assert_eq!(stats.live_regions, 0, "{stats:#?}");
    assert_eq!(stats.cached_bytes, 0, "{stats:#?}");
    assert_eq!(stats.cached_dirty_bytes, 0, "{stats:#?}");
    assert_eq!(stats.arena_slots_in_use, 0, "{stats:#?}");
}
