//! A Treiber stack (R. K. Treiber, "Systems Programming: Coping with
//! Parallelism", IBM RJ 5118, 1986) whose head carries an ABA tag.
//!
//! The head is one pointer word: the node address in the low 48 bits and a
//! 16-bit tag, bumped by every successful update, in the high bits (put in
//! and taken out with `map_addr`, so the node pointer keeps its provenance:
//! Miri checks this under `-Zmiri-strict-provenance`). A popper that read
//! head `A` and `next = B`, was stalled while `A` and `B` were popped and `A`
//! pushed back, fails its CAS because the tag moved on.
//!
//! Nodes are intrusive: each carries an atomic link word. Memory safety rests
//! on *type-stable* nodes: a node's memory stays mapped, and its link stays an
//! atomic, for as long as the stack exists, even after it has been popped and
//! reused. A stalled popper may then read a stale link, which is harmless
//! because its CAS then fails. Segment headers and heaps satisfy this: their
//! memory is never unmapped.
//!
//! Invariants (checked by `loom-tests/tagged_stack.rs`): a node pushed once is
//! popped at most once; no pushed node is lost; the ABA schedule above cannot
//! hand out a node twice.

use crate::sync::{maybe_const_fn, AtomicPtr, Ordering};
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

const ADDRESS_BITS: u32 = 48;
const ADDRESS_MASK: usize = (1 << ADDRESS_BITS) - 1;

/// A node that can sit on a [`TaggedStack`].
///
/// # Safety
/// `link` must return the same atomic word for the node's whole life, and the
/// node's memory must stay mapped (type-stable) while any stack can reach it.
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use tinyalloc::ds::tagged_stack::StackNode;
/// use tinyalloc::sync::AtomicPtr;
///
/// struct Node {
///     link: AtomicPtr<Node>,
///     value: u32,
/// }
///
/// // SAFETY: `link` is always the same field; the nodes are leaked (never
/// // unmapped) wherever they go on a stack.
/// unsafe impl StackNode for Node {
///     fn link(&self) -> &AtomicPtr<Node> {
///         &self.link
///     }
/// }
/// # let _ = Node { link: AtomicPtr::new(std::ptr::null_mut()), value: 0 }.value;
/// # }
/// ```
pub unsafe trait StackNode: Sized {
    /// The node's link word (the next node, or null).
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use std::ptr::{null_mut, NonNull};
    /// use tinyalloc::ds::tagged_stack::{StackNode, TaggedStack};
    /// use tinyalloc::sync::{AtomicPtr, Ordering};
    ///
    /// struct Node(AtomicPtr<Node>);
    /// // SAFETY: the link is the one field; nodes are leaked (type-stable).
    /// unsafe impl StackNode for Node {
    ///     fn link(&self) -> &AtomicPtr<Node> {
    ///         &self.0
    ///     }
    /// }
    ///
    /// let stack = TaggedStack::new();
    /// let (a, b) = (Box::leak(Box::new(Node(AtomicPtr::new(null_mut())))), Box::leak(Box::new(Node(AtomicPtr::new(null_mut())))));
    /// // SAFETY: valid, leaked nodes on no stack.
    /// unsafe { stack.push(NonNull::from(&*a)) };
    /// // SAFETY: as above.
    /// unsafe { stack.push(NonNull::from(&*b)) };
    /// // On the stack, b's link leads to a.
    /// assert_eq!(b.link().load(Ordering::Relaxed), a as *mut Node);
    /// # }
    /// ```
    fn link(&self) -> &AtomicPtr<Self>;
}

/// A lock-free LIFO of `T` nodes with an ABA-tagged head.
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// use std::ptr::{null_mut, NonNull};
/// use tinyalloc::ds::tagged_stack::{StackNode, TaggedStack};
/// use tinyalloc::sync::AtomicPtr;
///
/// struct Node {
///     link: AtomicPtr<Node>,
///     id: usize,
/// }
/// // SAFETY: `link` is always the same field; the nodes are leaked below, so
/// // they stay mapped for as long as the stack exists.
/// unsafe impl StackNode for Node {
///     fn link(&self) -> &AtomicPtr<Node> {
///         &self.link
///     }
/// }
///
/// static FREE: TaggedStack<Node> = TaggedStack::new();
/// std::thread::scope(|s| {
///     for t in 0..4 {
///         s.spawn(move || {
///             for i in 0..100 {
///                 let node = Box::leak(Box::new(Node { link: AtomicPtr::new(null_mut()), id: t * 100 + i }));
///                 // SAFETY: a valid, leaked node on no stack.
///                 unsafe { FREE.push(NonNull::from(&*node)) };
///             }
///         });
///     }
/// });
/// let mut ids = Vec::new();
/// while let Some(node) = FREE.pop() {
///     // SAFETY: nodes are leaked, so still valid; we popped it, so it is ours.
///     ids.push(unsafe { node.as_ref() }.id);
/// }
/// ids.sort();
/// assert_eq!(ids, (0..400).collect::<Vec<_>>()); // each node popped once
/// # }
/// ```
pub struct TaggedStack<T: StackNode> {
    head: AtomicPtr<T>,
    _nodes: PhantomData<*mut T>,
}

// SAFETY: the stack only moves node addresses between threads through atomics;
// the nodes themselves are `StackNode`s the caller shares on purpose.
unsafe impl<T: StackNode> Sync for TaggedStack<T> {}
// SAFETY: as above.
unsafe impl<T: StackNode> Send for TaggedStack<T> {}

/// `node` with `tag` in its high bits.
fn pack<T>(node: *mut T, tag: usize) -> *mut T {
    debug_assert!(node.addr() <= ADDRESS_MASK, "address beyond 48 bits");
    node.map_addr(|address| address | (tag << ADDRESS_BITS))
}

/// The node of a head word, without its tag.
fn node_of<T>(head: *mut T) -> *mut T {
    head.map_addr(|address| address & ADDRESS_MASK)
}

fn next_tag<T>(head: *mut T) -> usize {
    (head.addr() >> ADDRESS_BITS).wrapping_add(1) & 0xffff
}

impl<T: StackNode> TaggedStack<T> {
    maybe_const_fn! {
        /// An empty stack.
        ///
        /// ```
        /// # #[cfg(not(feature = "loom"))] {
        /// use tinyalloc::ds::tagged_stack::{StackNode, TaggedStack};
        /// use tinyalloc::sync::AtomicPtr;
        ///
        /// struct Node(AtomicPtr<Node>);
        /// // SAFETY: the link is the one field (no node is ever pushed here).
        /// unsafe impl StackNode for Node {
        ///     fn link(&self) -> &AtomicPtr<Node> {
        ///         &self.0
        ///     }
        /// }
        ///
        /// let stack = TaggedStack::<Node>::new();
        /// assert!(stack.is_empty());
        /// assert!(stack.pop().is_none());
        /// # }
        /// ```
        pub fn new() -> Self {
            Self { head: AtomicPtr::new(ptr::null_mut()), _nodes: PhantomData }
        }
    }

    /// Push `node`.
    ///
    /// # Safety
    /// `node` must be valid, not on any stack, and type-stable (see [`StackNode`]).
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use std::ptr::{null_mut, NonNull};
    /// use tinyalloc::ds::tagged_stack::{StackNode, TaggedStack};
    /// use tinyalloc::sync::AtomicPtr;
    ///
    /// struct Node(AtomicPtr<Node>);
    /// // SAFETY: the link is the one field; the node is leaked (type-stable).
    /// unsafe impl StackNode for Node {
    ///     fn link(&self) -> &AtomicPtr<Node> {
    ///         &self.0
    ///     }
    /// }
    ///
    /// let stack = TaggedStack::new();
    /// let node = NonNull::from(Box::leak(Box::new(Node(AtomicPtr::new(null_mut())))));
    /// // SAFETY: valid, leaked, on no stack.
    /// unsafe { stack.push(node) };
    /// assert!(!stack.is_empty());
    /// assert_eq!(stack.pop(), Some(node));
    /// # }
    /// ```
    pub unsafe fn push(&self, node: NonNull<T>) {
        // SAFETY: the caller guarantees `node` is valid.
        let link = unsafe { node.as_ref() }.link();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            link.store(node_of(head), Ordering::Relaxed);
            // Release pairs with the Acquire in `pop`: the pusher's writes to
            // the node (and its link) happen-before the popper's reads.
            match self.head.compare_exchange_weak(
                head,
                pack(node.as_ptr(), next_tag(head)),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Pop the most recently pushed node, if any.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use std::ptr::{null_mut, NonNull};
    /// use tinyalloc::ds::tagged_stack::{StackNode, TaggedStack};
    /// use tinyalloc::sync::AtomicPtr;
    ///
    /// struct Node(AtomicPtr<Node>);
    /// // SAFETY: the link is the one field; the nodes are leaked (type-stable).
    /// unsafe impl StackNode for Node {
    ///     fn link(&self) -> &AtomicPtr<Node> {
    ///         &self.0
    ///     }
    /// }
    ///
    /// let stack = TaggedStack::new();
    /// let new_node = || NonNull::from(Box::leak(Box::new(Node(AtomicPtr::new(null_mut())))));
    /// let (a, b) = (new_node(), new_node());
    /// // SAFETY: valid, leaked, on no stack.
    /// unsafe { stack.push(a) };
    /// // SAFETY: as above.
    /// unsafe { stack.push(b) };
    /// assert_eq!(stack.pop(), Some(b)); // last in, first out
    /// assert_eq!(stack.pop(), Some(a));
    /// assert_eq!(stack.pop(), None);
    /// # }
    /// ```
    pub fn pop(&self) -> Option<NonNull<T>> {
        // Acquire pairs with the Release of the push that published the node.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let top = NonNull::new(node_of(head))?;
            // SAFETY: nodes are type-stable, so `top` is mapped and its link is
            // an atomic even if another thread popped and reused it since we
            // read `head`; then the tag has moved and the CAS below fails.
            let next = unsafe { top.as_ref() }.link().load(Ordering::Relaxed);
            match self.head.compare_exchange_weak(
                head,
                pack(next, next_tag(head)),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(top),
                Err(now) => head = now,
            }
        }
    }

    /// Whether the stack looked empty (a snapshot).
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// use std::ptr::{null_mut, NonNull};
    /// use tinyalloc::ds::tagged_stack::{StackNode, TaggedStack};
    /// use tinyalloc::sync::AtomicPtr;
    ///
    /// struct Node(AtomicPtr<Node>);
    /// // SAFETY: the link is the one field; the node is leaked (type-stable).
    /// unsafe impl StackNode for Node {
    ///     fn link(&self) -> &AtomicPtr<Node> {
    ///         &self.0
    ///     }
    /// }
    ///
    /// let stack = TaggedStack::new();
    /// assert!(stack.is_empty());
    /// // SAFETY: a valid, leaked node on no stack.
    /// unsafe { stack.push(NonNull::from(Box::leak(Box::new(Node(AtomicPtr::new(null_mut())))))) };
    /// assert!(!stack.is_empty());
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        node_of(self.head.load(Ordering::Relaxed)).is_null()
    }
}

impl<T: StackNode> Default for TaggedStack<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    struct Node {
        link: AtomicPtr<Node>,
        value: usize,
    }
    // SAFETY: nodes live in a Vec that outlives the stack in each test.
    unsafe impl StackNode for Node {
        fn link(&self) -> &AtomicPtr<Node> {
            &self.link
        }
    }

    #[test]
    fn pops_in_reverse_push_order_and_then_runs_dry() {
        let nodes: Vec<Node> = (0..5)
            .map(|value| Node {
                link: AtomicPtr::new(ptr::null_mut()),
                value,
            })
            .collect();
        let stack = TaggedStack::new();
        for node in &nodes {
            // SAFETY: each node is pushed once and outlives the stack.
            unsafe { stack.push(NonNull::from(node)) };
        }
        for expected in (0..5).rev() {
            let node = stack.pop().expect("stack ran dry early");
            // SAFETY: the node is alive in `nodes`.
            assert_eq!(unsafe { node.as_ref() }.value, expected);
        }
        assert!(stack.pop().is_none() && stack.is_empty());
    }

    #[test]
    fn every_update_moves_the_tag() {
        let node = Node {
            link: AtomicPtr::new(ptr::null_mut()),
            value: 0,
        };
        let stack = TaggedStack::new();
        let before = stack.head.load(Ordering::Relaxed);
        // SAFETY: `node` outlives the stack.
        unsafe { stack.push(NonNull::from(&node)) };
        stack.pop();
        let after = stack.head.load(Ordering::Relaxed);
        assert_eq!(node_of(before), node_of(after));
        assert_ne!(before, after, "push+pop must leave a different tag");
    }

    #[test]
    fn concurrent_push_pop_hands_out_each_node_once() {
        use crate::sync::AtomicBool;
        // Small under Miri, which interprets every step.
        const PER_THREAD: usize = if cfg!(miri) { 8 } else { 2000 };
        const ROUNDS: usize = if cfg!(miri) { 100 } else { 20_000 };
        let nodes: Vec<Node> = (0..4 * PER_THREAD)
            .map(|value| Node {
                link: AtomicPtr::new(ptr::null_mut()),
                value,
            })
            .collect();
        let held: Vec<AtomicBool> = (0..nodes.len()).map(|_| AtomicBool::new(false)).collect();
        let stack = TaggedStack::new();
        for node in &nodes {
            // SAFETY: each node pushed once; all outlive the stack.
            unsafe { stack.push(NonNull::from(node)) };
        }
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..ROUNDS {
                        if let Some(node) = stack.pop() {
                            // SAFETY: nodes outlive the stack.
                            let value = unsafe { node.as_ref() }.value;
                            assert!(
                                !held[value].swap(true, Ordering::SeqCst),
                                "node {value} popped twice"
                            );
                            held[value].store(false, Ordering::SeqCst);
                            // SAFETY: we hold the node exclusively; push it back.
                            unsafe { stack.push(node) };
                        }
                    }
                });
            }
        });
        let mut count = 0;
        while stack.pop().is_some() {
            count += 1;
        }
        assert_eq!(count, nodes.len(), "nodes lost or duplicated");
    }
}
