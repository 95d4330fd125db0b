//! A differential model of an allocator, shared by the property test
//! (`tests/differential.rs`) and the fuzz target (`fuzz/`): apply a sequence
//! of operations to a `GlobalAlloc` and check every answer against what the
//! contract promises. Panics (with the broken promise in words) on a bug.

use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;

/// One step.
#[derive(Clone, Debug)]
pub enum Op {
    /// Allocate `size` bytes aligned to `1 << align_log2`, zeroed or not.
    Alloc {
        size: usize,
        align_log2: u8,
        zeroed: bool,
    },
    /// Resize the live block `index % live` to `new_size`.
    Realloc { index: usize, new_size: usize },
    /// Free the live block `index % live`.
    Free { index: usize },
}

struct Live {
    ptr: *mut u8,
    layout: Layout,
    seed: u8,
}

fn byte(seed: u8, i: usize) -> u8 {
    seed.wrapping_add((i as u8).wrapping_mul(13))
}

/// Applies ops and checks: alignment honoured, live blocks never overlap,
/// contents preserved until free and across realloc, zeroed memory is zero.
pub struct Model<'a, A: GlobalAlloc> {
    alloc: &'a A,
    live: Vec<Live>,
    /// start -> end of every live block, to find overlaps.
    ranges: BTreeMap<usize, usize>,
    next_seed: u8,
}

impl<'a, A: GlobalAlloc> Model<'a, A> {
    pub fn new(alloc: &'a A) -> Self {
        Self {
            alloc,
            live: Vec::new(),
            ranges: BTreeMap::new(),
            next_seed: 1,
        }
    }

    fn insert_range(&mut self, ptr: *mut u8, size: usize) {
        let (start, end) = (ptr as usize, ptr as usize + size.max(1));
        if let Some((&s, &e)) = self.ranges.range(..end).next_back() {
            assert!(
                e <= start || s >= end,
                "block {start:#x}..{end:#x} overlaps live block {s:#x}..{e:#x}"
            );
        }
        self.ranges.insert(start, end);
    }

    fn check_contents(&self, live: &Live, upto: usize) {
        for i in 0..upto.min(live.layout.size()) {
            // SAFETY (test): the block is live and at least `size` bytes.
            let got = unsafe { live.ptr.add(i).read() };
            assert_eq!(
                got,
                byte(live.seed, i),
                "byte {i} of {:p} ({:?}) changed while live",
                live.ptr,
                live.layout
            );
        }
    }

    fn fill(ptr: *mut u8, size: usize, seed: u8) {
        for i in 0..size {
            // SAFETY (test): the block is ours and `size` bytes long.
            unsafe { ptr.add(i).write(byte(seed, i)) };
        }
    }

    /// Apply one op.
    pub fn apply(&mut self, op: &Op) {
        match *op {
            Op::Alloc {
                size,
                align_log2,
                zeroed,
            } => {
                let align = 1usize << (align_log2 % 24);
                let Ok(layout) = Layout::from_size_align(size.max(1), align) else {
                    return;
                };
                // SAFETY (test): non-zero size.
                let ptr = unsafe {
                    if zeroed {
                        self.alloc.alloc_zeroed(layout)
                    } else {
                        self.alloc.alloc(layout)
                    }
                };
                assert!(!ptr.is_null(), "allocation of {layout:?} failed");
                assert_eq!(ptr as usize % align, 0, "{ptr:p} not aligned to {align}");
                if zeroed {
                    for i in 0..layout.size() {
                        // SAFETY (test): fresh block of `size` bytes.
                        assert_eq!(
                            unsafe { ptr.add(i).read() },
                            0,
                            "byte {i} of zeroed {ptr:p} ({layout:?}) not zero"
                        );
                    }
                }
                self.insert_range(ptr, layout.size());
                let seed = self.next_seed;
                self.next_seed = self.next_seed.wrapping_add(1);
                Self::fill(ptr, layout.size(), seed);
                self.live.push(Live { ptr, layout, seed });
            }
            Op::Realloc { index, new_size } => {
                if self.live.is_empty() {
                    return;
                }
                let index = index % self.live.len();
                let new_size = new_size.max(1);
                let old = self.live.swap_remove(index);
                self.check_contents(&old, old.layout.size());
                self.ranges.remove(&(old.ptr as usize));
                // SAFETY (test): live block with its layout; non-zero new size.
                let ptr = unsafe { self.alloc.realloc(old.ptr, old.layout, new_size) };
                assert!(
                    !ptr.is_null(),
                    "realloc of {:?} to {new_size} failed",
                    old.layout
                );
                assert_eq!(
                    ptr as usize % old.layout.align(),
                    0,
                    "realloc lost alignment {}",
                    old.layout.align()
                );
                let layout = Layout::from_size_align(new_size, old.layout.align()).unwrap();
                let moved = Live {
                    ptr,
                    layout,
                    seed: old.seed,
                };
                self.check_contents(&moved, old.layout.size().min(new_size));
                self.insert_range(ptr, new_size);
                Self::fill(ptr, new_size, old.seed);
                self.live.push(moved);
            }
            Op::Free { index } => {
                if self.live.is_empty() {
                    return;
                }
                let old = self.live.swap_remove(index % self.live.len());
                self.check_contents(&old, old.layout.size());
                self.ranges.remove(&(old.ptr as usize));
                // SAFETY (test): live block with its layout.
                unsafe { self.alloc.dealloc(old.ptr, old.layout) };
            }
        }
    }
}

impl<A: GlobalAlloc> Drop for Model<'_, A> {
    fn drop(&mut self) {
        for live in self.live.drain(..) {
            // SAFETY (test): live block with its layout.
            unsafe { self.alloc.dealloc(live.ptr, live.layout) };
        }
    }
}
