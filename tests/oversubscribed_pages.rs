//! While threads outnumber CPUs, a young page refills from its own frees
//! and does not grow: a thread that cycles one block of a class holds one
//! OS page of it. With no more threads than CPUs the page grows after a few
//! cycles (fewer slow paths for a thread that has a CPU). Its own binary,
//! one test: the carved-bytes figure is process-wide.
#![cfg(not(feature = "loom"))]

use std::hint::black_box;
use std::sync::Barrier;
use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

const OS_PAGE: usize = 4096;

/// Bytes carved while a fresh thread allocates and frees one `SIZE`-byte
/// block `rounds` times, checking each block's contents.
fn carved_by_cycling<const SIZE: usize>(rounds: usize) -> usize {
    std::thread::spawn(move || {
        let before = tinyalloc::stats().small.carved;
        for round in 0..rounds {
            let fill = round as u8;
            let block = black_box(Box::new([fill; SIZE]));
            assert!(block.iter().all(|&b| b == fill), "round {round}");
        }
        tinyalloc::stats().small.carved - before
    })
    .join()
    .unwrap()
}

#[test]
fn a_young_page_grows_only_while_threads_have_cpus() {
    let cpus = tinyalloc::os::cpu_count();
    assert!(cpus >= 1, "the affinity mask has at least one CPU");

    // Threads no more than CPUs (only on a machine with room for this
    // thread, the harness's and the cycling one): the page outgrows its
    // first OS page. Blocks of 300 bytes: 13 to an OS page.
    if tinyalloc::stats().live_heaps < cpus {
        let grew = carved_by_cycling::<300>(200);
        assert!(
            grew > OS_PAGE,
            "with {cpus} CPUs, cycling one 300-byte block carved only {grew} bytes"
        );
    }

    // More threads than CPUs, all waiting but one: that one's page of a
    // class it has not used yet (600 bytes: 6 blocks to an OS page) carves
    // its first OS page and then reuses its blocks.
    let waiting = cpus + 1;
    let barrier = Barrier::new(waiting + 1);
    std::thread::scope(|scope| {
        let waiters: Vec<_> = (0..waiting)
            .map(|i| {
                let barrier = &barrier;
                scope.spawn(move || {
                    // The allocation gives the thread its heap.
                    let held = black_box(Box::new(i));
                    barrier.wait(); // heaps taken
                    barrier.wait(); // the cycling is over
                    assert_eq!(*held, i);
                })
            })
            .collect();
        barrier.wait();
        let heaps = tinyalloc::stats().live_heaps;
        let grew = std::panic::catch_unwind(|| carved_by_cycling::<600>(200));
        // Release the waiters before any assertion can end the scope.
        barrier.wait();
        for waiter in waiters {
            waiter.join().unwrap();
        }
        let grew = grew.expect("the cycling thread's checks passed");
        assert!(heaps > cpus, "{heaps} heaps on {cpus} CPUs");
        assert!(
            grew > 0 && grew <= OS_PAGE,
            "with {heaps} heaps on {cpus} CPUs, cycling one 600-byte block carved {grew} bytes"
        );
    });
}
