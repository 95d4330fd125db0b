//! How long one moving large `realloc` takes, by block size: run it as is,
//! then with `MOVE_PAGES_FROM` set to `usize::MAX` in `src/large.rs` (copy
//! only), to see where remapping pages starts to beat copying them.
//!
//! `cargo run --release --example realloc_move_cost`

/// The measurement (the allocator is not built under loom).
#[cfg(not(feature = "loom"))]
mod measure {
    use std::alloc::{GlobalAlloc, Layout};
    use std::time::{Duration, Instant};
    use tinyalloc::TinyAlloc;

    const MIB: usize = 1 << 20;

    /// Allocate 1 MiB blocks (one arena slot each) until one sits in the slot
    /// right after the region of `block`, whose region spans `slots` slots; free
    /// the others. Returns it, or null if none landed there.
    ///
    /// # Safety
    /// `block` is a live large block.
    unsafe fn wall_after(block: *mut u8, slots: usize) -> *mut u8 {
        let region = block as usize & !(SEGMENT - 1);
        let want = region + slots * SEGMENT;
        let mut others = Vec::new();
        let mut wall = std::ptr::null_mut();
        for _ in 0..64 {
            // SAFETY: non-zero size.
            let n = unsafe { TinyAlloc.alloc(WALL) };
            assert!(!n.is_null());
            if n as usize & !(SEGMENT - 1) == want {
                wall = n;
                break;
            }
            others.push(n);
        }
        for n in others {
            // SAFETY: allocated above with `WALL`.
            unsafe { TinyAlloc.dealloc(n, WALL) };
        }
        wall
    }

    const SEGMENT: usize = 4 * MIB;
    const WALL: Layout = match Layout::from_size_align(MIB, 16) {
        Ok(layout) => layout,
        Err(_) => panic!(),
    };

    pub fn main() {
        for size in [192 << 10, 512 << 10, MIB, 3 * MIB, 12 * MIB, 48 * MIB] {
            let layout = Layout::from_size_align(size, 16).unwrap();
            let slots = (size + 8192).div_ceil(SEGMENT);
            // One more segment than the block's region has: it must grow.
            let grown = Layout::from_size_align(slots * SEGMENT, 16).unwrap();
            let (mut moves, mut total) = (0, Duration::ZERO);
            let before = tinyalloc::stats().os.move_calls;
            for _ in 0..100 {
                // SAFETY: non-zero sizes; each block is used within its size and
                // freed with its layout.
                unsafe {
                    let p = TinyAlloc.alloc(layout);
                    assert!(!p.is_null());
                    std::ptr::write_bytes(p, 1, size);
                    let wall = wall_after(p, slots);
                    if wall.is_null() {
                        TinyAlloc.dealloc(p, layout);
                        continue;
                    }
                    let start = Instant::now();
                    let q = TinyAlloc.realloc(p, layout, grown.size());
                    total += start.elapsed();
                    moves += 1;
                    assert!(!q.is_null() && q != p && q.add(size - 1).read() == 1);
                    TinyAlloc.dealloc(q, grown);
                    TinyAlloc.dealloc(wall, WALL);
                }
            }
            let remapped = tinyalloc::stats().os.move_calls - before;
            let micros = total.as_secs_f64() * 1e6 / moves.max(1) as f64;
            println!(
                "{:>6} KiB block: {micros:>9.1} us per moving realloc ({moves} moves, {remapped} by mremap)",
                size >> 10
            );
        }
    }
}

fn main() {
    #[cfg(not(feature = "loom"))]
    measure::main();
}
