#![cfg(feature = "loom")]
//! Loom model of `ds::bitmap::AtomicBitmap` (design.md §3.1, bitmap claim).
//!
//! Invariants checked:
//! - no bit is held by two claimers at once: each claimer marks the bits it
//!   got in a per-bit "held" flag (which must have been clear) and writes a
//!   per-bit loom `UnsafeCell`, so a missing Acquire/Release between one
//!   holder's release and the next holder's claim is a loom causality error;
//! - nothing leaks: once every claimer has released, the bitmap holds exactly
//!   the bits that were pre-filled;
//! - a run claim is all or nothing: of two overlapping runs across the word
//!   boundary exactly one wins, and a loser that had already claimed its part
//!   of the first word has released it again.
//!
//! The bitmap is an `AtomicBitmap<2>` (128 bits) with every bit claimed except
//! the window 62..66, so runs that fit must cross the word boundary at 64.
//!
//! Preemption bounds: 2 for the three-claimer model (about 290k executions,
//! tens of seconds in release mode; 3 is a deeper run by hand with
//! `LOOM_MAX_PREEMPTIONS=3`), 3 for the two-claimer rollback model (under a
//! hundred executions).
//!
//! Building this model showed `find_free_run` reloading a word for every bit
//! it scanned; each reload may read another store under loom, and no run of
//! the three-claimer model finished. It now reads each word once per scan.

#[path = "support.rs"]
mod support;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use tinyalloc::ds::bitmap::AtomicBitmap;

const CLAIMERS_BOUND: usize = 2;
const ROLLBACK_BOUND: usize = 3;

/// The free window: bits 62 and 63 in word 0, 64 and 65 in word 1.
const WINDOW_START: usize = 62;
const WINDOW_LEN: usize = 4;
/// Bits claimed at the start and never released.
const PRE_FILLED: usize = 128 - WINDOW_LEN;

/// The bitmap under test plus the model's bookkeeping for the window's bits.
struct Bits {
    map: AtomicBitmap<2>,
    /// Whether some claimer holds the bit (model bookkeeping). Only Relaxed
    /// accesses: the bookkeeping must not add the happens-before that the
    /// bitmap has to provide; the swap is a read-modify-write, so it still
    /// reads the latest value.
    held: [AtomicBool; WINDOW_LEN],
    /// Written by every holder: two holders without happens-before race here.
    owner: [UnsafeCell<usize>; WINDOW_LEN],
}

impl Bits {
    /// All bits claimed except the window.
    fn new() -> Self {
        let bits = Bits {
            map: AtomicBitmap::new(),
            held: core::array::from_fn(|_| AtomicBool::new(false)),
            owner: core::array::from_fn(|_| UnsafeCell::new(0)),
        };
        assert_eq!(
            bits.map.claim_run(128),
            Some(0),
            "an empty bitmap refused a full claim"
        );
        bits.map.release(WINDOW_START, WINDOW_LEN);
        bits
    }

    /// Take ownership of `[start, start + len)`, which `claimer` just claimed.
    fn hold(&self, claimer: usize, start: usize, len: usize) {
        assert!(
            start >= WINDOW_START && start + len <= WINDOW_START + WINDOW_LEN,
            "claimer {claimer} got bits {start}..{} outside the free window: a pre-filled bit was handed out again",
            start + len
        );
        for bit in start..start + len {
            let slot = bit - WINDOW_START;
            assert!(
                !self.held[slot].swap(true, Ordering::Relaxed),
                "bit {bit} was claimed by claimer {claimer} while another claimer still held it"
            );
            // SAFETY: the claimer holds the bit, so no other thread touches its owner slot;
            // loom checks the access.
            self.owner[slot].with_mut(|owner| unsafe { *owner = claimer });
        }
    }

    /// Give up `[start, start + len)` (model bookkeeping first, then the bitmap).
    fn release(&self, claimer: usize, start: usize, len: usize) {
        for bit in start..start + len {
            let slot = bit - WINDOW_START;
            // SAFETY: the claimer holds the bit, so no other thread touches its owner slot;
            // loom checks the access.
            let owner = self.owner[slot].with(|owner| unsafe { *owner });
            assert_eq!(
                owner, claimer,
                "bit {bit} was overwritten by claimer {owner} while claimer {claimer} held it"
            );
            self.held[slot].store(false, Ordering::Relaxed);
        }
        self.map.release(start, len);
    }
}

/// Three claimers (a single bit, a run of 2, a run of 3) race for the four
/// free bits, each releasing what it got; no bit is shared and none leaks.
#[test]
fn claims_and_releases_of_bits_and_runs_never_share_a_bit_or_leak() {
    support::check("bitmap/claims_and_releases", CLAIMERS_BOUND, || {
        let bits = Arc::new(Bits::new());
        let claimers: Vec<_> = [(1, 1), (2, 2), (3, 3)]
            .into_iter()
            .map(|(claimer, len)| {
                let bits = Arc::clone(&bits);
                thread::spawn(move || {
                    if let Some(start) = bits.map.claim_run(len) {
                        bits.hold(claimer, start, len);
                        bits.release(claimer, start, len);
                    }
                })
            })
            .collect();
        for claimer in claimers {
            claimer.join().unwrap();
        }
        assert_eq!(
            bits.map.count_claimed(),
            PRE_FILLED,
            "after every claimer released its bits the bitmap still holds extra ones: a claim or rollback leaked bits"
        );
    });
}

/// `claim_run(3)` (bits 62, 63 | 64) and `claim_exact(64, 2)` (bits 64, 65)
/// overlap at bit 64 and cannot both fit. The run claimer may take its part
/// of word 0 and then lose word 1: it must release bits 62 and 63 again.
#[test]
fn overlapping_runs_across_the_word_boundary_have_one_winner_and_the_loser_rolls_back() {
    support::check("bitmap/overlapping_runs", ROLLBACK_BOUND, || {
        let bits = Arc::new(Bits::new());
        let run_claimer = {
            let bits = Arc::clone(&bits);
            thread::spawn(move || {
                let start = bits.map.claim_run(3);
                if let Some(start) = start {
                    bits.hold(1, start, 3);
                }
                start
            })
        };
        let exact_claimer = {
            let bits = Arc::clone(&bits);
            thread::spawn(move || {
                let won = bits.map.claim_exact(64, 2);
                if won {
                    bits.hold(2, 64, 2);
                }
                won
            })
        };
        let run = run_claimer.join().unwrap();
        let exact = exact_claimer.join().unwrap();
        assert!(
            run.is_some() != exact,
            "overlapping runs: run claim got {run:?}, exact claim of 64..66 got {exact}; exactly one must win"
        );
        let won_bits = if exact { 2 } else { 3 };
        assert_eq!(
            bits.map.count_claimed(),
            PRE_FILLED + won_bits,
            "the bitmap holds more than the winner's bits: the loser's partial claim was not rolled back"
        );
        if exact {
            assert!(
                !bits.map.is_claimed(62) && !bits.map.is_claimed(63),
                "bits 62..64 are still claimed after the run claim lost bit 64: word 0 was not rolled back"
            );
        }
    });
}
