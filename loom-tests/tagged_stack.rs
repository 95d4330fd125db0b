#![cfg(feature = "loom")]
//! Loom model of `ds::tagged_stack::TaggedStack` (design.md §3.2, the Treiber
//! stack with an ABA tag in the head word).
//!
//! Invariants checked:
//! - no node is held by two threads at once: a popper sets the node's "held"
//!   flag, which must have been clear, and a pusher clears it before pushing;
//! - the pusher's writes to a node happen-before the popper's reads: each node
//!   carries a loom `UnsafeCell` payload the pusher writes before `push` and
//!   the popper reads (and overwrites) after `pop`, so a missing Release or
//!   Acquire is a loom causality error, and a stale value fails an assertion;
//! - no node is lost or duplicated: at the end, the nodes the threads hold plus
//!   the nodes drained from the stack are every node exactly once;
//! - the ABA schedule cannot hand a node out twice: a popper stalled between
//!   reading `A.next == B` and its CAS, while another thread pops A, pops B and
//!   pushes A back, must fail its CAS (the tag moved on) instead of installing
//!   B, which the other thread holds.
//!
//! Preemption bound: 3 for both models (the ABA model explores a few hundred
//! executions, the three-thread push/pop model about 48k, a few seconds in
//! release mode). The ABA schedule needs a single preemption: the stalled
//! popper is switched out between its link load and its CAS.

#[path = "support.rs"]
mod support;

use core::ptr::NonNull;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use loom::sync::Arc;
use loom::thread;
use tinyalloc::ds::tagged_stack::{StackNode, TaggedStack};

const ABA_BOUND: usize = 3;
const PUSH_POP_BOUND: usize = 3;

const NAMES: [&str; 3] = ["A", "B", "C"];

struct Node {
    link: AtomicPtr<Node>,
    /// The node's name index while on the stack; 0xdead while held.
    payload: UnsafeCell<usize>,
    /// Model bookkeeping: some thread popped the node and has not pushed it
    /// back. Only Relaxed accesses: the bookkeeping must not add the
    /// happens-before that the stack has to provide; the swap is a
    /// read-modify-write, so it still reads the latest value.
    held: AtomicBool,
    index: usize,
}

// SAFETY: `link` is the node's own atomic for its whole life, and nodes live in
// `World::nodes`, which outlives every use of the stack.
unsafe impl StackNode for Node {
    fn link(&self) -> &AtomicPtr<Node> {
        &self.link
    }
}

// SAFETY: the payload cell is only touched by the node's current holder, which
// is exactly what the model checks (loom reports any unsynchronised access).
unsafe impl Sync for Node {}
// SAFETY: as above.
unsafe impl Send for Node {}

const HELD_MARK: usize = 0xdead;

/// A stack and its nodes (boxed, so their addresses stay put).
struct World {
    stack: TaggedStack<Node>,
    nodes: Box<[Node]>,
}

impl World {
    /// Nodes A, B, C; those named in `on_stack` are pushed in that order (the
    /// last one on top), the others start held by the thread that will push them.
    fn new(on_stack: &[usize]) -> Self {
        let nodes = (0..NAMES.len())
            .map(|index| Node {
                link: AtomicPtr::new(core::ptr::null_mut()),
                payload: UnsafeCell::new(HELD_MARK),
                held: AtomicBool::new(true),
                index,
            })
            .collect();
        let world = World {
            stack: TaggedStack::new(),
            nodes,
        };
        for &index in on_stack {
            world.push(index);
        }
        world
    }

    /// Pop a node and take it; returns its index.
    fn pop(&self, who: &str) -> Option<usize> {
        let node = self.stack.pop()?;
        // SAFETY: every node the stack hands out is one of `self.nodes`.
        let node = unsafe { node.as_ref() };
        let name = NAMES[node.index];
        assert!(
            !node.held.swap(true, Ordering::Relaxed),
            "{who} popped node {name} while another thread still held it (ABA: the stack handed a node out twice)"
        );
        // SAFETY: the popper holds the node (the `held` swap above), so no other thread touches
        // its payload; loom checks the access.
        let payload = node.payload.with(|payload| unsafe { *payload });
        assert_eq!(
            payload, node.index,
            "{who} popped node {name} but read a payload its pusher did not leave there"
        );
        node.payload
            // SAFETY: the popper holds the node (the `held` swap above), so no other thread
            // touches its payload; loom checks the access.
            .with_mut(|payload| unsafe { *payload = HELD_MARK });
        Some(node.index)
    }

    /// Give up node `index` (held by the caller) by pushing it.
    fn push(&self, index: usize) {
        let node = &self.nodes[index];
        // SAFETY: the popper holds the node (the `held` swap above), so no other thread touches
        // its payload; loom checks the access.
        node.payload.with_mut(|payload| unsafe { *payload = index });
        node.held.store(false, Ordering::Relaxed);
        // SAFETY: the caller holds the node, so it is on no stack; it lives in
        // `self.nodes` as long as the stack does.
        unsafe { self.stack.push(NonNull::from(node)) };
    }

    /// Pop everything left and check that, with what the threads hold, every
    /// node is accounted for exactly once.
    fn drain_and_account(&self, held_by_threads: &[usize]) {
        let mut seen = [0usize; NAMES.len()];
        for &index in held_by_threads {
            seen[index] += 1;
        }
        while let Some(index) = self.pop("the final drain") {
            seen[index] += 1;
        }
        for (index, count) in seen.iter().enumerate() {
            assert_eq!(
                *count, 1,
                "node {} was found {count} times among the threads' holdings and the stack: nodes must be neither lost nor duplicated",
                NAMES[index]
            );
        }
    }
}

/// The ABA schedule: stack A -> B -> C. Thread 1 pops once; thread 2 pops
/// twice and pushes its first node back. Loom reaches the interleaving where
/// thread 1 read `A.next == B` before thread 2 ran and CASes afterwards.
#[test]
fn a_stalled_popper_cannot_install_a_node_that_was_popped_behind_its_back() {
    support::check("tagged_stack/aba", ABA_BOUND, || {
        let world = Arc::new(World::new(&[2, 1, 0]));
        let stalled = {
            let world = Arc::clone(&world);
            thread::spawn(move || world.pop("the stalled popper"))
        };
        let recycler = {
            let world = Arc::clone(&world);
            thread::spawn(move || {
                let first = world.pop("the recycler (first pop)");
                let second = world.pop("the recycler (second pop)");
                if let Some(first) = first {
                    world.push(first);
                }
                second
            })
        };
        let held: Vec<usize> = [stalled.join().unwrap(), recycler.join().unwrap()]
            .into_iter()
            .flatten()
            .collect();
        world.drain_and_account(&held);
    });
}

/// Stack A -> B; the cycler pops a node and pushes it back, the pusher pushes
/// C (which it held) and then pops, a third thread just pops. Every node ends
/// up held once or stacked once.
#[test]
fn concurrent_pushes_and_pops_hand_out_each_node_once() {
    support::check("tagged_stack/push_pop", PUSH_POP_BOUND, || {
        let world = Arc::new(World::new(&[1, 0]));
        let cycler = {
            let world = Arc::clone(&world);
            thread::spawn(move || {
                if let Some(index) = world.pop("the cycler") {
                    world.push(index);
                }
            })
        };
        let pusher = {
            let world = Arc::clone(&world);
            thread::spawn(move || {
                world.push(2);
                world.pop("the pusher")
            })
        };
        let popper = {
            let world = Arc::clone(&world);
            thread::spawn(move || world.pop("the popper"))
        };
        cycler.join().unwrap();
        let held: Vec<usize> = [pusher.join().unwrap(), popper.join().unwrap()]
            .into_iter()
            .flatten()
            .collect();
        world.drain_and_account(&held);
    });
}
