//! tinyalloc (stub while the core lands).
use core::alloc::{GlobalAlloc, Layout};
pub struct TinyAlloc;
unsafe impl GlobalAlloc for TinyAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 { std::alloc::System.alloc(layout) }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) { std::alloc::System.dealloc(ptr, layout) }
}
