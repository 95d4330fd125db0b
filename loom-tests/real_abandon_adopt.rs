#![cfg(feature = "loom")]
//! Loom model over the real allocator (issue 13, model 1; design.md §3.3 and
//! §3.4): a block freed by another thread while its owner allocates from the
//! same page, parks the page and exits (abandon), and a third thread adopts.
//!
//! - owner: allocates the four 1 KiB blocks of one small page (loom's small
//!   pages are 4 KiB), hands the last to the remote thread, allocates a fifth
//!   block (the page is exhausted: the slow path collects the remote free if
//!   it arrived, else parks the page and carves another), then exits (its
//!   thread-local's destructor abandons the segment with live blocks);
//! - remote: frees the handed block (`api::free_remote`: push, and if the page
//!   was parked, set the owner's hint for the class (`parked_hints`));
//! - adopter (started once the owner exited, racing the remote free):
//!   allocates a 1 KiB block (its slow path pops and adopts the abandoned
//!   segment), frees the owner's other blocks (local frees now), and exits.
//!
//! Checked: every block holds its pattern until freed (a block handed out
//! twice, or handed out while live, overwrites it or trips the live-set
//! check); at the end (`allocator::finish`) no heap, segment, cached region
//! or arena slot is left: the remote free reached whoever owned the page.
//!
//! Preemption bound 3 (2,863 interleavings, ~1.6 s debug): the remote free
//! is one CAS (plus the FULL-flag path), and the races that matter are that
//! push against the owner's park, its abandon push and the adopter's pop;
//! three preemptions place the push between any two of those steps and
//! still let the owner be interrupted inside its slow path.

#[path = "allocator.rs"]
mod allocator;
#[path = "support.rs"]
mod support;

const SIZE: usize = 1024;

#[test]
fn remote_free_races_park_abandon_and_adopt() {
    support::check("real_abandon_adopt", 3, || {
        allocator::reset();
        let owner = allocator::spawn(|| {
            let blocks: Vec<usize> = (0..4)
                .map(|i| allocator::alloc(SIZE, 0x10 + i as u8) as usize)
                .collect();
            // One page: the four blocks share its 4 KiB.
            assert!(blocks.iter().all(|&b| b >> 12 == blocks[0] >> 12));
            let handed = blocks[3];
            let remote = allocator::spawn(move || {
                allocator::free(handed as *mut u8, SIZE, 0x13);
            });
            let fifth = allocator::alloc(SIZE, 0x20) as usize;
            (blocks, fifth, remote)
        });
        let (blocks, fifth, remote) = owner.join().unwrap();
        let adopter = allocator::spawn(move || {
            let own = allocator::alloc(SIZE, 0x30);
            for (i, &block) in blocks[..3].iter().enumerate() {
                allocator::free(block as *mut u8, SIZE, 0x10 + i as u8);
            }
            allocator::free(fifth as *mut u8, SIZE, 0x20);
            allocator::free(own, SIZE, 0x30);
        });
        remote.join().unwrap();
        adopter.join().unwrap();
        allocator::finish();
    });
}
