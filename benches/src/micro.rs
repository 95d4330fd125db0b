//! Single-thread micro workloads that call an allocator's `GlobalAlloc`
//! methods directly. Every function is generic over the allocator, so each
//! peer gets its own monomorphised loop and no dynamic dispatch per call.
//!
//! Each allocated block gets one byte written to it: a benchmark that never
//! touches its memory would reward allocators that hand out pages the
//! program then faults on later.

use std::alloc::{handle_alloc_error, GlobalAlloc, Layout};
use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::rng::Rng;

/// Size of the `small` workloads' blocks.
pub const SMALL_SIZE: usize = 64;
/// Blocks per round of [`small_batch`].
pub const BATCH: usize = 1000;
/// Size of the `large` workload's blocks.
pub const LARGE_SIZE: usize = 1 << 20;
/// Live blocks in [`MixedWindow`].
pub const MIXED_WINDOW: usize = 256;
/// Smallest and largest size of [`MixedWindow`]'s blocks.
pub const MIXED_MIN: usize = 8;
pub const MIXED_MAX: usize = 4096;
/// [`realloc_chain`] grows a block from this size, doubling ...
pub const REALLOC_FROM: usize = 16;
/// ... up to this size.
pub const REALLOC_TO: usize = 256 << 10;
/// Size of the `buffer-cycle` workload's buffer.
pub const BUFFER_CYCLE_SIZE: usize = 64 << 20;
/// [`large_realloc_chain`] grows a block from this size, doubling ...
pub const LARGE_REALLOC_FROM: usize = 1 << 20;
/// ... up to this size.
pub const LARGE_REALLOC_TO: usize = 64 << 20;

/// The micro workloads `compare` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Micro {
    /// alloc + free of one 64-byte block.
    SmallPair,
    /// alloc 1000 × 64 B, then free them all (in allocation order).
    SmallBatch,
    /// sliding window of 256 live blocks of log-uniform sizes 8..=4096:
    /// each op frees the oldest block and allocates a new one.
    Mixed,
    /// alloc + free of one 1 MiB block.
    Large,
    /// grow a block from 16 B to 256 KiB by doubling `realloc`, then free it.
    Realloc,
    /// grow a filled block from 1 MiB to 64 MiB by doubling `realloc`, with a
    /// neighbour allocated after each step (so growth cannot stay in place).
    LargeRealloc,
    /// alloc a 64 MiB buffer, touch every page, free it.
    BufferCycle,
}

impl Micro {
    pub const ALL: [Micro; 7] = [
        Micro::SmallPair,
        Micro::SmallBatch,
        Micro::Mixed,
        Micro::Large,
        Micro::Realloc,
        Micro::LargeRealloc,
        Micro::BufferCycle,
    ];

    /// Short name used in tables, CSV and command-line filters.
    pub fn name(self) -> &'static str {
        match self {
            Micro::SmallPair => "small-pair",
            Micro::SmallBatch => "small-batch",
            Micro::Mixed => "mixed",
            Micro::Large => "large",
            Micro::Realloc => "realloc",
            Micro::LargeRealloc => "large-realloc",
            Micro::BufferCycle => "buffer-cycle",
        }
    }

    /// What one "op" is, for the table's legend.
    pub fn op(self) -> &'static str {
        match self {
            Micro::SmallPair => "alloc+free of 64 B",
            Micro::SmallBatch => "alloc+free of 64 B, 1000 live (batched)",
            Micro::Mixed => "alloc+free, sizes 8..4096 B, 256 live (FIFO)",
            Micro::Large => "alloc+free of 1 MiB",
            Micro::Realloc => "one doubling realloc, 16 B -> 256 KiB",
            Micro::LargeRealloc => "one doubling realloc of a filled block, 1 -> 64 MiB",
            Micro::BufferCycle => "alloc + touch every page + free of 64 MiB",
        }
    }

    pub fn from_name(name: &str) -> Option<Micro> {
        Micro::ALL.into_iter().find(|m| m.name() == name)
    }

    /// How many ops one call of [`run_ops`]'s inner unit performs.
    fn ops_per_unit(self) -> u64 {
        match self {
            Micro::SmallBatch => BATCH as u64,
            Micro::Realloc => realloc_steps() as u64,
            Micro::LargeRealloc => large_realloc_steps() as u64,
            _ => 1,
        }
    }
}

#[inline]
fn checked(p: *mut u8, layout: Layout) -> *mut u8 {
    if p.is_null() {
        handle_alloc_error(layout);
    }
    p
}

/// alloc + write + free of one 64-byte block.
#[inline]
pub fn small_pair<A: GlobalAlloc + ?Sized>(a: &A) {
    let layout = Layout::from_size_align(SMALL_SIZE, 8).unwrap();
    // SAFETY: layout has non-zero size; the block is freed with the same layout.
    unsafe {
        let p = checked(a.alloc(layout), layout);
        p.write(0xA5);
        a.dealloc(black_box(p), layout);
    }
}

/// Allocates [`BATCH`] 64-byte blocks into `slots`, then frees them all.
/// `slots` is scratch space the caller reuses, so the loop allocates nothing
/// else.
#[inline]
pub fn small_batch<A: GlobalAlloc + ?Sized>(a: &A, slots: &mut Vec<*mut u8>) {
    let layout = Layout::from_size_align(SMALL_SIZE, 8).unwrap();
    slots.clear();
    for _ in 0..BATCH {
        // SAFETY: non-zero size; freed below with the same layout.
        let p = unsafe { checked(a.alloc(layout), layout) };
        // SAFETY: p is a fresh block of SMALL_SIZE bytes.
        unsafe { p.write(0xA5) };
        slots.push(p);
    }
    for &p in black_box(&*slots) {
        // SAFETY: each p came from `a.alloc(layout)` above and is freed once.
        unsafe { a.dealloc(p, layout) };
    }
}

/// alloc + write + free of one 1 MiB block.
#[inline]
pub fn large_pair<A: GlobalAlloc + ?Sized>(a: &A) {
    let layout = Layout::from_size_align(LARGE_SIZE, 8).unwrap();
    // SAFETY: non-zero size; freed with the same layout.
    unsafe {
        let p = checked(a.alloc(layout), layout);
        p.write(0xA5);
        a.dealloc(black_box(p), layout);
    }
}

fn realloc_steps() -> usize {
    (REALLOC_TO / REALLOC_FROM).ilog2() as usize
}

/// Allocates [`REALLOC_FROM`] bytes and grows the block by doubling
/// `realloc` up to [`REALLOC_TO`], writing the last byte after each step
/// (so an allocator that moves the block must have copied it), then frees it.
#[inline]
pub fn realloc_chain<A: GlobalAlloc + ?Sized>(a: &A) {
    let mut layout = Layout::from_size_align(REALLOC_FROM, 8).unwrap();
    // SAFETY: non-zero sizes; every realloc passes the block's current layout
    // and a larger size; the final block is freed with its final layout.
    unsafe {
        let mut p = checked(a.alloc(layout), layout);
        p.write(1);
        let mut size = REALLOC_FROM;
        while size < REALLOC_TO {
            size *= 2;
            p = a.realloc(p, layout, size);
            layout = Layout::from_size_align(size, 8).unwrap();
            p = checked(p, layout);
            p.add(size - 1).write(1);
        }
        a.dealloc(black_box(p), layout);
    }
}

fn large_realloc_steps() -> usize {
    (LARGE_REALLOC_TO / LARGE_REALLOC_FROM).ilog2() as usize
}

/// Touch one byte per 4 KiB page of `[from, to)` of `p` (what filling a
/// growing buffer costs every allocator alike: the page faults).
///
/// # Safety
/// `p` is valid for `to` bytes.
unsafe fn touch_pages(p: *mut u8, from: usize, to: usize) {
    for offset in (from..to).step_by(4096) {
        // SAFETY: in bounds per the contract.
        unsafe { p.add(offset).write(offset as u8) };
    }
}

/// Allocates a [`LARGE_REALLOC_FROM`]-byte block, touches every page, and
/// grows it by doubling `realloc` up to [`LARGE_REALLOC_TO`], touching every
/// new page after each step (a growing buffer being filled). Before each
/// step a 1 MiB neighbour is allocated, so that an allocator which places it
/// right after the block cannot grow in place and must move the block: by
/// copying, or by moving its pages (`mremap`). Frees everything at the end.
#[inline]
pub fn large_realloc_chain<A: GlobalAlloc + ?Sized>(a: &A) {
    let neighbour = Layout::from_size_align(LARGE_REALLOC_FROM, 8).unwrap();
    let mut neighbours = [std::ptr::null_mut::<u8>(); 8];
    let mut layout = Layout::from_size_align(LARGE_REALLOC_FROM, 8).unwrap();
    // SAFETY: non-zero sizes; every realloc passes the block's current layout
    // and a larger size; the block and the neighbours are freed with their
    // layouts.
    unsafe {
        let mut p = checked(a.alloc(layout), layout);
        touch_pages(p, 0, layout.size());
        for slot in neighbours.iter_mut().take(large_realloc_steps()) {
            let n = checked(a.alloc(neighbour), neighbour);
            n.write(1);
            *slot = n;
            let old = layout.size();
            p = a.realloc(p, layout, old * 2);
            layout = Layout::from_size_align(old * 2, 8).unwrap();
            p = checked(p, layout);
            touch_pages(p, old, old * 2);
        }
        a.dealloc(black_box(p), layout);
        for n in neighbours.into_iter().filter(|n| !n.is_null()) {
            a.dealloc(n, neighbour);
        }
    }
}

/// Allocates a [`BUFFER_CYCLE_SIZE`] buffer, touches every page, frees it:
/// a program reusing one big buffer, where what counts is whether the
/// allocator keeps the memory committed between uses.
#[inline]
pub fn buffer_cycle<A: GlobalAlloc + ?Sized>(a: &A) {
    let layout = Layout::from_size_align(BUFFER_CYCLE_SIZE, 8).unwrap();
    // SAFETY: non-zero size; freed with the same layout.
    unsafe {
        let p = checked(a.alloc(layout), layout);
        touch_pages(p, 0, BUFFER_CYCLE_SIZE);
        a.dealloc(black_box(p), layout);
    }
}

/// The `mixed` workload's state: a FIFO window of live blocks whose sizes
/// come from a fixed-seed [`Rng`], so every allocator sees the same sequence.
pub struct MixedWindow {
    rng: Rng,
    blocks: Vec<(*mut u8, usize)>,
    next: usize,
}

impl MixedWindow {
    /// Fills the window ([`MIXED_WINDOW`] blocks) from `a`.
    pub fn new<A: GlobalAlloc + ?Sized>(a: &A) -> Self {
        let mut w = MixedWindow {
            rng: Rng::new(0x006d_6978_6564),
            blocks: Vec::with_capacity(MIXED_WINDOW),
            next: 0,
        };
        for _ in 0..MIXED_WINDOW {
            let b = w.fresh(a);
            w.blocks.push(b);
        }
        w
    }

    #[inline]
    fn fresh<A: GlobalAlloc + ?Sized>(&mut self, a: &A) -> (*mut u8, usize) {
        let size = self.rng.size_log(MIXED_MIN, MIXED_MAX);
        let layout = Layout::from_size_align(size, 8).unwrap();
        // SAFETY: non-zero size; freed in `step`/`finish` with the same layout.
        let p = unsafe { checked(a.alloc(layout), layout) };
        // SAFETY: p is a fresh block of `size` bytes.
        unsafe { p.write(size as u8) };
        (p, size)
    }

    /// Frees the oldest block and allocates a new one in its place.
    #[inline]
    pub fn step<A: GlobalAlloc + ?Sized>(&mut self, a: &A) {
        let (old, old_size) = self.blocks[self.next];
        // SAFETY: `old` came from `a` with this layout and is freed once.
        unsafe {
            a.dealloc(
                black_box(old),
                Layout::from_size_align_unchecked(old_size, 8),
            )
        };
        self.blocks[self.next] = self.fresh(a);
        self.next = (self.next + 1) % MIXED_WINDOW;
    }

    /// Frees every live block. Must be called with the allocator the window
    /// was built with.
    pub fn finish<A: GlobalAlloc + ?Sized>(self, a: &A) {
        for (p, size) in self.blocks {
            // SAFETY: as in `step`.
            unsafe { a.dealloc(p, Layout::from_size_align_unchecked(size, 8)) };
        }
    }
}

/// Runs about `ops` ops of `kind` against `a` and returns the elapsed time
/// and the exact number of ops performed (a whole number of units).
pub fn run_ops<A: GlobalAlloc + ?Sized>(a: &A, kind: Micro, ops: u64) -> (Duration, u64) {
    let per_unit = kind.ops_per_unit();
    let units = ops.div_ceil(per_unit).max(1);
    let elapsed = match kind {
        Micro::SmallPair => time(|| {
            for _ in 0..units {
                small_pair(a);
            }
        }),
        Micro::SmallBatch => {
            let mut slots = Vec::with_capacity(BATCH);
            time(|| {
                for _ in 0..units {
                    small_batch(a, &mut slots);
                }
            })
        }
        Micro::Mixed => {
            let mut w = MixedWindow::new(a);
            let t = time(|| {
                for _ in 0..units {
                    w.step(a);
                }
            });
            w.finish(a);
            t
        }
        Micro::Large => time(|| {
            for _ in 0..units {
                large_pair(a);
            }
        }),
        Micro::Realloc => time(|| {
            for _ in 0..units {
                realloc_chain(a);
            }
        }),
        Micro::LargeRealloc => time(|| {
            for _ in 0..units {
                large_realloc_chain(a);
            }
        }),
        Micro::BufferCycle => time(|| {
            for _ in 0..units {
                buffer_cycle(a);
            }
        }),
    };
    (elapsed, units * per_unit)
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// How many ops of `kind` take about `target` on `a` (at least one unit).
///
/// Starts with an untimed warm-up, so that an allocator's one-time set-up
/// (its first call may reserve memory or initialise thread state, which can
/// take milliseconds) does not make the estimate absurdly small; then grows
/// the count until a run takes at least `target / 8`, and refines the
/// estimate with one run at the estimated count.
pub fn calibrate<A: GlobalAlloc + ?Sized>(a: &A, kind: Micro, target: Duration) -> u64 {
    let unit = kind.ops_per_unit();
    run_ops(a, kind, unit * 64);
    let estimate = |t: Duration, done: u64| -> u64 {
        let per_op = t.as_secs_f64() / done as f64;
        ((target.as_secs_f64() / per_op.max(1e-12)) as u64).max(unit)
    };
    let mut ops = unit;
    loop {
        let (t, done) = run_ops(a, kind, ops);
        if t >= target / 8 || done >= 1 << 34 {
            let (t, done) = run_ops(a, kind, estimate(t, done));
            return estimate(t, done);
        }
        ops = done * 4;
    }
}
