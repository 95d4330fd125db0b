//! tinyalloc's C ABI: `malloc`, `free` and the rest of the C and POSIX
//! allocation functions, built as `libtinyalloc.so` (for `LD_PRELOAD` or
//! linking) and `libtinyalloc.a`.
//!
//! ```text
//! cargo build --release -p tinyalloc-capi
//! LD_PRELOAD=target/release/libtinyalloc.so TINYALLOC_SHOW_STATS=1 ls -la /
//! ```
//!
//! Semantics follow glibc (checked against it by `tests/c/edge_cases.c`):
//! - `malloc(0)` returns a unique pointer; `free(NULL)` does nothing;
//! - failures return null with `errno = ENOMEM` (sizes beyond `isize::MAX`,
//!   `calloc`/`reallocarray` products that overflow, an exhausted kernel);
//! - `realloc(NULL, n)` is `malloc(n)`; `realloc(p, 0)` frees `p` and returns
//!   null; a failed `realloc` leaves `p` untouched;
//! - `posix_memalign` returns `EINVAL` for an alignment that is not a power of
//!   two multiple of `sizeof(void *)` and `ENOMEM` on failure, and writes
//!   `*memptr` only on success;
//! - `aligned_alloc` rejects an alignment that is not a power of two (C17, and
//!   glibc since 2.38) with `EINVAL`; `memalign` rounds it up to one, as glibc
//!   does, and fails with `EINVAL` only beyond `SIZE_MAX / 2 + 1`;
//! - `valloc` aligns to a page; `pvalloc` also rounds the size up to pages.
//!
//! Blocks of more than 8 bytes are 16-aligned (`alignof(max_align_t)` on
//! x86-64 and AArch64, which compilers and programs assume of `malloc`).
//!
//! Reentrancy: nothing here allocates while serving a call (no `Vec`,
//! `String`, `format!`, `std::env`); the statistics summary is formatted on
//! the stack and written with `write(2)`. Any Rust allocation in this library
//! goes to tinyalloc itself through the `#[global_allocator]` below.
//!
//! `fork()`: tinyalloc takes no locks, so no `pthread_atfork` handlers are
//! needed: a child never inherits a held lock. Heaps of threads that do not
//! exist in the child are simply never used again there.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

#[cfg(all(
    target_pointer_width = "64",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod cxx;
mod ffi;
mod stats;

use core::ffi::{c_int, c_void};
use core::ptr;
use stats::Call;
use tinyalloc_core::raw;

/// Rust allocations made inside this library go to tinyalloc too, never back
/// through libc's `malloc` (which would be us anyway under `LD_PRELOAD`).
#[global_allocator]
static GLOBAL: tinyalloc_core::TinyAlloc = tinyalloc_core::TinyAlloc;

/// The alignment a plain `malloc(size)` block gets: 16, or 8 for blocks too
/// small to hold anything needing more.
#[inline(always)]
const fn malloc_align(size: usize) -> usize {
    if size <= raw::MIN_ALIGN {
        raw::MIN_ALIGN
    } else {
        raw::MALLOC_ALIGN
    }
}

#[inline(always)]
fn set_errno(code: c_int) {
    // SAFETY: `__errno_location` returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = code };
}

/// Null with `errno = ENOMEM`.
#[cold]
fn out_of_memory() -> *mut c_void {
    set_errno(libc::ENOMEM);
    ptr::null_mut()
}

#[inline(always)]
fn fail_if_null(block: *mut u8) -> *mut c_void {
    if block.is_null() {
        out_of_memory()
    } else {
        block.cast()
    }
}

/// The system page size.
fn page_size() -> usize {
    // SAFETY: `sysconf` reads a value the loader recorded; it never allocates.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 && (size as usize).is_power_of_two() {
        size as usize
    } else {
        4096
    }
}

/// `size` bytes aligned to `align` (a power of two), for the aligned
/// functions. Zero bytes still give a unique block, aligned as asked.
///
/// # Safety
/// `align` must be a power of two.
#[inline]
unsafe fn allocate_aligned(align: usize, size: usize) -> *mut u8 {
    // `size.max(1)`: tinyalloc rounds a size up to its alignment to pick a
    // class, and zero would round to the smallest class, which is only
    // 8-aligned.
    // SAFETY: both alignments are powers of two, so is their maximum.
    unsafe { raw::allocate(size.max(1), align.max(malloc_align(size))) }
}

/// Allocate `size` bytes, 16-aligned (8 for `size <= 8`).
///
/// # Safety
/// Callable from C at any time.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // While calls are counted, the fast path finds no block (see `stats`).
    if size <= raw::SMALL_MAX {
        // SAFETY: the size is checked.
        let block = unsafe { raw::try_allocate_malloc_small(size) };
        if !block.is_null() {
            return block.cast();
        }
    }
    malloc_slow(size)
}

/// `malloc` past its fast path (and every counted `malloc`). `extern "C"`:
/// it cannot unwind, so `malloc` tail-calls it and needs no stack frame.
#[cold]
#[inline(never)]
extern "C" fn malloc_slow(size: usize) -> *mut c_void {
    if stats::enabled() {
        stats::count_slow(Call::Malloc);
    }
    fail_if_null(raw::allocate_malloc(size))
}

/// Free a block from any of these functions; null is ignored.
///
/// # Safety
/// `ptr` is null or a live block from this library.
#[no_mangle]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    // One segment-map byte decides: a block of a live small or medium
    // segment; everything else (null, large blocks, misuse, and every call
    // while calls are counted, see `stats`) goes to `free_slow`.
    // SAFETY: the caller's contract.
    unsafe { raw::deallocate_or(ptr.cast(), raw::PAGED_FROM, free_slow) }
}

/// `free` past its fast path: null, large blocks, misuse, and every counted
/// `free`.
///
/// # Safety
/// As [`free`].
#[cold]
#[inline(never)]
unsafe extern "C" fn free_slow(ptr: *mut u8) {
    if !stats::enabled() {
        // SAFETY: the caller's contract.
        return unsafe { raw::deallocate_slow(ptr) };
    }
    stats::count_slow(Call::Free);
    // SAFETY: the caller's contract.
    unsafe { raw::deallocate(ptr) }
}

/// Allocate `count * size` zeroed bytes; `ENOMEM` if the product overflows.
///
/// # Safety
/// Callable from C at any time.
#[no_mangle]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    if let Some(total) = count.checked_mul(size) {
        // While calls are counted, the fast path finds no block (see `stats`).
        if total <= raw::SMALL_MAX {
            // SAFETY: the size is checked.
            return unsafe {
                raw::allocate_zeroed_malloc_small_or(total, || calloc_refill(total).cast())
            }
            .cast();
        }
    }
    calloc_slow(count, size)
}

/// `calloc` past its fast path: an empty page, large or overflowing sizes,
/// and every counted `calloc`. `extern "C"`, so `calloc` tail-calls it.
#[cold]
#[inline(never)]
extern "C" fn calloc_slow(count: usize, size: usize) -> *mut c_void {
    if stats::enabled() {
        stats::count_slow(Call::Calloc);
    }
    let Some(total) = count.checked_mul(size) else {
        return out_of_memory();
    };
    fail_if_null(raw::allocate_zeroed_malloc_slow(total))
}

/// `calloc`'s fast path found its page empty, as every `calloc` does while
/// calls are counted: the heap's slow path, without `calloc_slow`'s
/// product.
#[cold]
#[inline(never)]
extern "C" fn calloc_refill(total: usize) -> *mut c_void {
    if stats::enabled() {
        stats::count_slow(Call::Calloc);
    }
    fail_if_null(raw::allocate_zeroed_malloc_slow(total))
}

/// Resize `ptr` to `size` bytes, keeping its contents (glibc semantics for
/// null and zero).
///
/// # Safety
/// `ptr` is null or a live block from this library.
#[no_mangle]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    // A live block and a size in 1..=isize::MAX (`size - 1` wraps for 0),
    // not counting.
    if !ptr.is_null() && size.wrapping_sub(1) < stats::realloc_fast_below() {
        // SAFETY: `ptr` is live. C does not say what alignment `ptr` was
        // allocated with; a moved block gets `malloc`'s (C's realloc
        // promises no more).
        return fail_if_null(unsafe { raw::reallocate_malloc(ptr.cast(), size) });
    }
    // SAFETY: forwarded.
    unsafe { realloc_slow(ptr, size) }
}

/// `realloc` of null, to zero or past `isize::MAX`, and every counted one.
///
/// # Safety
/// As [`realloc`].
#[cold]
#[inline(never)]
unsafe extern "C" fn realloc_slow(ptr: *mut c_void, size: usize) -> *mut c_void {
    if stats::enabled() {
        stats::count_slow(Call::Realloc);
    }
    // SAFETY: forwarded.
    unsafe { resize(ptr.cast(), size) }
}

/// `realloc` without the statistics count.
///
/// # Safety
/// `ptr` is null or a live block from this library.
unsafe fn resize(ptr: *mut u8, size: usize) -> *mut c_void {
    if ptr.is_null() {
        return fail_if_null(raw::allocate_malloc(size));
    }
    if size == 0 {
        // glibc (REALLOC_ZERO_BYTES_FREES): free and return null, errno kept.
        // SAFETY: `ptr` is live and the caller gives it up.
        unsafe { raw::deallocate(ptr) };
        return ptr::null_mut();
    }
    if size > isize::MAX as usize {
        return out_of_memory();
    }
    // SAFETY: `ptr` is live. C does not say what alignment `ptr` was
    // allocated with; a moved block gets `malloc`'s (C's realloc promises no
    // more).
    fail_if_null(unsafe { raw::reallocate_malloc(ptr, size) })
}

/// `realloc(ptr, count * size)`, with `ENOMEM` (and `ptr` untouched) if the
/// product overflows.
///
/// # Safety
/// `ptr` is null or a live block from this library.
#[no_mangle]
pub unsafe extern "C" fn reallocarray(ptr: *mut c_void, count: usize, size: usize) -> *mut c_void {
    stats::count(Call::Realloc);
    let Some(total) = count.checked_mul(size) else {
        return out_of_memory();
    };
    // SAFETY: forwarded.
    unsafe { resize(ptr.cast(), total) }
}

/// POSIX aligned allocation: 0, `EINVAL` (bad alignment) or `ENOMEM`; writes
/// `*memptr` only on success.
///
/// # Safety
/// `memptr` is valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(
    memptr: *mut *mut c_void,
    align: usize,
    size: usize,
) -> c_int {
    stats::count(Call::Aligned);
    let word = core::mem::size_of::<*mut c_void>();
    if align % word != 0 || !(align / word).is_power_of_two() {
        return libc::EINVAL;
    }
    // SAFETY: `align` is a power of two (a power of two times a power of two).
    let block = unsafe { allocate_aligned(align, size) };
    if block.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller's contract.
    unsafe { memptr.write(block.cast()) };
    0
}

/// C11 aligned allocation; `EINVAL` unless `align` is a power of two.
///
/// # Safety
/// Callable from C at any time.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    stats::count(Call::Aligned);
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    // SAFETY: checked just above.
    fail_if_null(unsafe { allocate_aligned(align, size) })
}

/// Obsolete aligned allocation, as glibc: an alignment that is not a power of
/// two is rounded up to one; beyond `SIZE_MAX / 2 + 1` it is `EINVAL`.
///
/// # Safety
/// Callable from C at any time.
#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    stats::count(Call::Aligned);
    let Some(align) = align.checked_next_power_of_two() else {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    };
    // SAFETY: a power of two.
    fail_if_null(unsafe { allocate_aligned(align, size) })
}

/// Page-aligned allocation.
///
/// # Safety
/// Callable from C at any time.
#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    stats::count(Call::Aligned);
    // SAFETY: the page size is a power of two.
    fail_if_null(unsafe { allocate_aligned(page_size(), size) })
}

/// Page-aligned allocation of whole pages.
///
/// # Safety
/// Callable from C at any time.
#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    stats::count(Call::Aligned);
    let page = page_size();
    let Some(rounded) = size.checked_next_multiple_of(page) else {
        return out_of_memory();
    };
    // SAFETY: the page size is a power of two.
    fail_if_null(unsafe { allocate_aligned(page, rounded.max(page)) })
}

/// Bytes usable at `ptr` (at least what was asked for); 0 for null.
///
/// # Safety
/// `ptr` is null or a live block from this library.
#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(ptr: *mut c_void) -> usize {
    if ptr.is_null() {
        return 0;
    }
    // SAFETY: the caller's contract.
    unsafe { tinyalloc_core::usable_size(ptr.cast()) }
}

/// glibc's `malloc_trim`: return free memory to the kernel now (empty pages
/// of the calling thread, abandoned segments with nothing live, cached
/// regions). Returns 1 if the kernel was given memory back, else 0. The pad
/// is ignored. Without this export, glibc's own `malloc_trim` would trim its
/// (unused) heap and release none of ours.
///
/// # Safety
/// Callable from C at any time.
#[no_mangle]
pub unsafe extern "C" fn malloc_trim(_pad: usize) -> c_int {
    let before = tinyalloc_core::stats().os;
    tinyalloc_core::collect();
    let after = tinyalloc_core::stats().os;
    c_int::from(after.purge_calls != before.purge_calls || after.unmap_calls != before.unmap_calls)
}

/// C23 sized free (the size is not needed).
///
/// # Safety
/// As [`free`].
#[no_mangle]
pub unsafe extern "C" fn free_sized(ptr: *mut c_void, _size: usize) {
    // SAFETY: forwarded.
    unsafe { free(ptr) }
}

/// C23 sized and aligned free (neither is needed).
///
/// # Safety
/// As [`free`].
#[no_mangle]
pub unsafe extern "C" fn free_aligned_sized(ptr: *mut c_void, _align: usize, _size: usize) {
    // SAFETY: forwarded.
    unsafe { free(ptr) }
}

/// Old name of `free`, still exported by glibc for binary compatibility.
///
/// # Safety
/// As [`free`].
#[no_mangle]
pub unsafe extern "C" fn cfree(ptr: *mut c_void) {
    // SAFETY: forwarded.
    unsafe { free(ptr) }
}

/// glibc's internal names, which some programs and libraries call directly:
/// they must reach the same allocator as `malloc` and `free`, or a block
/// would be freed by the wrong one.
mod libc_aliases {
    use core::ffi::c_void;

    /// `malloc`.
    ///
    /// # Safety
    /// As [`super::malloc`].
    #[no_mangle]
    pub unsafe extern "C" fn __libc_malloc(size: usize) -> *mut c_void {
        // SAFETY: forwarded.
        unsafe { super::malloc(size) }
    }

    /// `free`.
    ///
    /// # Safety
    /// As [`super::free`].
    #[no_mangle]
    pub unsafe extern "C" fn __libc_free(ptr: *mut c_void) {
        // SAFETY: forwarded.
        unsafe { super::free(ptr) }
    }

    /// `calloc`.
    ///
    /// # Safety
    /// As [`super::calloc`].
    #[no_mangle]
    pub unsafe extern "C" fn __libc_calloc(count: usize, size: usize) -> *mut c_void {
        // SAFETY: forwarded.
        unsafe { super::calloc(count, size) }
    }

    /// `realloc`.
    ///
    /// # Safety
    /// As [`super::realloc`].
    #[no_mangle]
    pub unsafe extern "C" fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
        // SAFETY: forwarded.
        unsafe { super::realloc(ptr, size) }
    }

    /// `memalign`.
    ///
    /// # Safety
    /// As [`super::memalign`].
    #[no_mangle]
    pub unsafe extern "C" fn __libc_memalign(align: usize, size: usize) -> *mut c_void {
        // SAFETY: forwarded.
        unsafe { super::memalign(align, size) }
    }

    /// `valloc`.
    ///
    /// # Safety
    /// As [`super::valloc`].
    #[no_mangle]
    pub unsafe extern "C" fn __libc_valloc(size: usize) -> *mut c_void {
        // SAFETY: forwarded.
        unsafe { super::valloc(size) }
    }

    /// `pvalloc`.
    ///
    /// # Safety
    /// As [`super::pvalloc`].
    #[no_mangle]
    pub unsafe extern "C" fn __libc_pvalloc(size: usize) -> *mut c_void {
        // SAFETY: forwarded.
        unsafe { super::pvalloc(size) }
    }
}
