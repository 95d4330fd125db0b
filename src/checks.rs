//! Misuse detection: clear, allocation-free aborts that name the pointer.
//!
//! Always on (they cost a load and a compare on paths that load the same
//! cache line anyway):
//! - a free whose segment header does not carry tinyalloc's tag (a pointer
//!   tinyalloc does not own, or one into a region already returned);
//! - a large block freed twice, or freed through an interior pointer.
//!
//! With the `checks` feature, also:
//! - a pointer whose segment lies in no arena and no known direct mapping
//!   (checked before its header is read, so a foreign pointer aborts cleanly
//!   instead of faulting);
//! - a small block freed twice, locally or from another thread (a freed block
//!   carries [`FREED_MARK`] in its second word until it is allocated again;
//!   with `checks` no request is served from the 8-byte class, so every
//!   block has a second word);
//! - a free of an interior pointer of a small block;
//! - a corrupted free list (a link that leaves its page or misses a block
//!   boundary).
//!
//! Every abort goes through [`fatal`], which writes with `write(2)` from a
//! stack buffer and never allocates.

/// The second word of a freed block, with `checks`.
#[cfg(feature = "checks")]
pub const FREED_MARK: usize = 0xF4EE_D0B1_0C4F_4EED;

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

#[cfg(feature = "checks")]
mod enabled {
    use super::{fatal, FREED_MARK};
    use crate::page::Page;

    /// A block is being handed out: clear its freed mark.
    ///
    /// # Safety
    /// `block` is a block of `page` now owned by the caller.
    #[inline(always)]
    pub unsafe fn on_alloc(page: *mut Page, block: *mut u8) {
        // SAFETY: the block is ours and at least `block_size` bytes.
        unsafe {
            if (*page).block_size >= 16 {
                block.cast::<usize>().add(1).write(0);
            }
        }
    }

    /// A block of `page` is being freed: reject interior pointers and double
    /// frees, then mark it freed.
    ///
    /// # Safety
    /// `page` is the page `block` maps to; its metadata is live.
    #[inline(always)]
    pub unsafe fn on_free(page: *mut Page, block: *mut u8) {
        // SAFETY: `block` lies in the page (it maps to it), so it is mapped;
        // the page's geometry is fixed while any block of it is live.
        unsafe {
            let size = (*page).block_size;
            let offset = (block as usize).wrapping_sub((*page).start as usize);
            // `in_use`, `start`, `block_size` and `reserved` are fixed while
            // any block of the page is live, so reading them from another
            // thread is race-free (unlike `capacity`).
            if !(*page).in_use || offset % size != 0 || offset / size >= (*page).reserved as usize {
                fatal("free of a pointer that is not the start of a block:", block);
            }
            if size >= 16 {
                let mark = block.cast::<usize>().add(1);
                if mark.read() == FREED_MARK {
                    fatal("double free of", block);
                }
                mark.write(FREED_MARK);
            }
        }
    }

    /// Check the link `link` read from free block `block` of `page`.
    ///
    /// # Safety
    /// `page`'s metadata is live.
    #[inline(always)]
    pub unsafe fn check_link(page: *mut Page, block: *mut u8, link: *mut u8) {
        if link.is_null() {
            return;
        }
        // SAFETY: page metadata is live.
        unsafe {
            let size = (*page).block_size;
            let offset = (link as usize).wrapping_sub((*page).start as usize);
            if offset % size != 0 || offset / size >= (*page).capacity as usize {
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
    pub unsafe fn on_alloc(_page: *mut Page, _block: *mut u8) {}

    /// No-op without `checks`.
    ///
    /// # Safety
    /// None.
    #[inline(always)]
    pub unsafe fn on_free(_page: *mut Page, _block: *mut u8) {}

    /// No-op without `checks`.
    ///
    /// # Safety
    /// None.
    #[inline(always)]
    pub unsafe fn check_link(_page: *mut Page, _block: *mut u8, _link: *mut u8) {}
}

pub use enabled::{check_link, on_alloc, on_free};
