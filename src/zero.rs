//! Zeroing of class blocks for `calloc` and `alloc_zeroed`.
//!
//! Where the CPU has AVX, a block of up to [`INLINE_MAX`] bytes is zeroed
//! by a few overlapping 16- or 32-byte stores (the shape of libc's `memset`
//! for such sizes, without the call and `memset`'s own size dispatch), one
//! of up to [`LOOP_MAX`] bytes by a loop of 32-byte stores, and a bigger one
//! by `memset`; without AVX, every size goes to `memset`. The routine is
//! chosen on the first zeroing (`cpuid`, no allocation) and kept as a
//! function pointer: the fast path is one load and a tail jump, no flag
//! test.
//!
//! Invariant: a block given here has at least 16 bytes (every class block
//! has: `size_class::MIN_BLOCK_SIZE`), so a 16-byte store at its start stays
//! inside it whatever the size asked for.

/// Sizes up to this are zeroed by straight-line stores (with AVX).
#[cfg(all(target_arch = "x86_64", not(miri), not(feature = "loom")))]
const INLINE_MAX: usize = 256;
/// Sizes up to this (and past [`INLINE_MAX`]) are zeroed by a loop of
/// stores; past it, `memset` (glibc's switches to `rep stosb` there).
#[cfg(all(target_arch = "x86_64", not(miri), not(feature = "loom")))]
const LOOP_MAX: usize = 2048;

#[cfg(all(target_arch = "x86_64", not(miri), not(feature = "loom")))]
mod avx {
    use crate::sync::{AtomicPtr, Ordering};
    use core::arch::x86_64::{
        __m128i, __m256i, _mm256_setzero_si256, _mm256_storeu_si256, _mm_setzero_si128,
        _mm_storeu_si128,
    };

    /// A zeroing routine: `(block, size) -> block`.
    type Zero = unsafe extern "C" fn(*mut u8, usize) -> *mut u8;

    /// The routine [`zero`] jumps to: [`zero_first`] until the first
    /// zeroing, then [`zero_avx`] or [`zero_memset`]. Relaxed: no protocol
    /// rides on it; every thread stores the same value, and a stale
    /// [`zero_first`] only looks again.
    static ZERO: AtomicPtr<()> = AtomicPtr::new(zero_first as *mut ());

    /// Zero `size` bytes at `block` (at least 16 bytes long); returns
    /// `block`. One load and an indirect tail jump.
    ///
    /// # Safety
    /// `block` is writable for `size.max(16)` bytes.
    #[inline(always)]
    pub unsafe fn zero(block: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: `ZERO` only ever holds one of this module's `Zero`s.
        unsafe {
            let routine: Zero = core::mem::transmute(ZERO.load(Ordering::Relaxed));
            routine(block, size)
        }
    }

    /// The first zeroing: choose the routine (`cpuid`, and `xgetbv` for the
    /// OS's saving of the upper halves; no allocation, no lock), then run it.
    ///
    /// # Safety
    /// As [`zero`].
    #[cold]
    #[inline(never)]
    unsafe extern "C" fn zero_first(block: *mut u8, size: usize) -> *mut u8 {
        let routine: Zero = if std::arch::is_x86_feature_detected!("avx") {
            zero_avx
        } else {
            zero_memset
        };
        ZERO.store(routine as *mut (), Ordering::Relaxed);
        // SAFETY: the caller's contract; `zero_avx` only with AVX.
        unsafe { routine(block, size) }
    }

    /// [`zero`] without AVX: `memset`.
    ///
    /// # Safety
    /// As [`zero`].
    #[inline(never)]
    unsafe extern "C" fn zero_memset(block: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: the caller's contract.
        unsafe { libc::memset(block.cast(), 0, size).cast() }
    }

    /// Zero `size` bytes at `block` with overlapping unaligned stores, a
    /// loop of them past [`super::INLINE_MAX`], `memset` past
    /// [`super::LOOP_MAX`]; returns `block`.
    ///
    /// # Safety
    /// The CPU has AVX; `block` is writable for `size.max(16)` bytes.
    #[target_feature(enable = "avx")]
    unsafe extern "C" fn zero_avx(block: *mut u8, size: usize) -> *mut u8 {
        // The last stores end at `size` exactly (`size` is at least the
        // store's width on its branch), the first ones start at `block`, and
        // a loop turn (at an offset below `size - 128`, the first at 0 with
        // `size` over 256) ends before `size`.
        // SAFETY: so every store lies in `block[..size.max(16)]`.
        unsafe {
            // Addresses from the end, as `block + size - k` (no end pointer
            // kept in a register: one instruction less).
            let end = |k: usize| block.add(size).sub(k);
            let x = _mm_setzero_si128();
            let y = _mm256_setzero_si256();
            let s16 = |at: *mut u8| _mm_storeu_si128(at.cast::<__m128i>(), x);
            let s32 = |at: *mut u8| _mm256_storeu_si256(at.cast::<__m256i>(), y);
            if size <= 64 {
                if size <= 32 {
                    s16(block);
                    if size > 16 {
                        s16(end(16));
                    }
                } else {
                    s32(block);
                    s32(end(32));
                }
            } else if size <= 128 {
                s32(block);
                s32(block.add(32));
                s32(end(64));
                s32(end(32));
            } else if size <= super::INLINE_MAX {
                s32(block);
                s32(block.add(32));
                s32(block.add(64));
                s32(block.add(96));
                s32(end(128));
                s32(end(96));
                s32(end(64));
                s32(end(32));
            } else if size > super::LOOP_MAX {
                // `memset` (which has faster ways for big blocks), by a tail
                // call. The size is moved to its register by hand, here:
                // left to LLVM, the move is made ahead of the branches, an
                // instruction more on each.
                let n: usize;
                core::arch::asm!("mov {n}, {size}", size = in(reg) size, n = lateout(reg) n, options(pure, nomem, nostack, preserves_flags));
                return libc::memset(block.cast(), 0, n).cast();
            } else {
                // The last 128 bytes, then 128 bytes a turn from the start
                // (the last turn may overlap them). Two empty `asm!`s hide
                // values from LLVM, at no cost: the size (else LLVM computes
                // `last` ahead of the branches, two instructions more on the
                // one above) and the offset (else it turns the loop back
                // into a `memset` call).
                let mut n = size;
                core::arch::asm!("/* {0} */", inout(reg) n, options(pure, nomem, nostack, preserves_flags));
                let last = n - 128;
                s32(block.add(last));
                s32(block.add(last + 32));
                s32(block.add(last + 64));
                s32(block.add(last + 96));
                let mut offset = 0;
                loop {
                    s32(block.add(offset));
                    s32(block.add(offset + 32));
                    s32(block.add(offset + 64));
                    s32(block.add(offset + 96));
                    offset += 128;
                    core::arch::asm!("/* {0} */", inout(reg) offset, options(pure, nomem, nostack, preserves_flags));
                    if offset >= last {
                        break;
                    }
                }
            }
            block
        }
    }
}

/// Zero `size` bytes at `block`, a class block (at least 16 bytes); returns
/// `block`.
///
/// # Safety
/// `block` is writable for `size.max(16)` bytes.
#[inline(always)]
pub unsafe fn zero(block: *mut u8, size: usize) -> *mut u8 {
    #[cfg(all(target_arch = "x86_64", not(miri), not(feature = "loom")))]
    // SAFETY: forwarded.
    return unsafe { avx::zero(block, size) };
    #[cfg(not(all(target_arch = "x86_64", not(miri), not(feature = "loom"))))]
    {
        // SAFETY: forwarded.
        unsafe { core::ptr::write_bytes(block, 0, size) };
        block
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    /// Sizes past the looped ones (`LOOP_MAX`); under Miri (which takes
    /// `memset`'s path) a few.
    const SIZES: usize = if cfg!(miri) { 40 } else { 2100 };

    /// Every size up to past `LOOP_MAX`, at every offset in a 32-byte
    /// window: the first `size.max(16)` bytes become zero, no byte around
    /// them changes, and the block comes back (twice: the first call may
    /// take the routine-choosing path).
    #[test]
    fn zeroes_exactly_the_block() {
        let mut buf = [0xa5u8; 32 + SIZES];
        for _ in 0..2 {
            for size in 0..=SIZES {
                for offset in 0..32 {
                    buf.fill(0xa5);
                    let block = buf[offset..].as_mut_ptr();
                    // SAFETY: `offset + size.max(16)` is inside `buf`.
                    let back = unsafe { zero(block, size) };
                    assert_eq!(back, block);
                    let written = size.max(16);
                    assert!(
                        buf[offset..offset + size].iter().all(|&b| b == 0),
                        "size {size}"
                    );
                    assert!(buf[..offset].iter().all(|&b| b == 0xa5), "size {size}");
                    assert!(
                        buf[offset + written..].iter().all(|&b| b == 0xa5),
                        "size {size} wrote past {written}"
                    );
                }
            }
        }
    }
}
