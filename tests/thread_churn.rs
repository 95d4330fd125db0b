//! 1,000 short-lived threads allocate, free (locally and remotely) and exit:
//! the allocator's own figures must not grow beyond a small bound.
#![cfg(not(feature = "loom"))]

use std::sync::mpsc;

#[global_allocator]
static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;

fn worker(t: usize, to_main: mpsc::Sender<Vec<u8>>) {
    let mut kept = Vec::new();
    for i in 0..2000usize {
        let size = 8 + (i * 37 + t) % 3000;
        let block = vec![(i % 251) as u8; size];
        if i % 10 == 0 {
            // Outlives this thread: freed by main after we exit.
            to_main.send(block).unwrap();
        } else if i % 3 == 0 {
            kept.push(block);
        }
    }
    for block in &kept {
        assert!(
            block.iter().all(|&x| x == block[0]),
            "a block kept by thread {t} was corrupted"
        );
    }
}

fn churn(threads: usize) {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut received = 0usize;
    for batch in 0..threads / 8 {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let tx = tx.clone();
                std::thread::spawn(move || worker(batch * 8 + i, tx))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // Free what the exited threads left behind: remote frees into
        // abandoned (or adopted) segments.
        while let Ok(block) = rx.try_recv() {
            assert!(
                block.iter().all(|&x| x == block[0]),
                "block from an exited thread corrupted"
            );
            received += 1;
        }
    }
    assert_eq!(received, threads / 8 * 8 * 200);
}

#[test]
fn thread_churn_leaves_no_growth() {
    churn(64); // warm up: arenas, caches, heap pool
    tinyalloc::collect();
    let before = tinyalloc::stats();
    churn(1000);
    tinyalloc::collect();
    let after = tinyalloc::stats();
    eprintln!("before: {before:?}\nafter:  {after:?}");
    assert_eq!(
        after.live_heaps, before.live_heaps,
        "heaps of exited threads were not returned"
    );
    assert!(
        after.live_regions <= before.live_regions + 4,
        "live regions grew from {} to {}",
        before.live_regions,
        after.live_regions
    );
    assert!(
        after.arena_slots_in_use <= before.arena_slots_in_use + 4,
        "arena slots grew from {} to {}",
        before.arena_slots_in_use,
        after.arena_slots_in_use
    );
    assert!(
        after.os.mapped_bytes <= before.os.mapped_bytes + (16 << 20),
        "mapped bytes grew from {} to {}",
        before.os.mapped_bytes,
        after.os.mapped_bytes
    );
    assert!(
        after.abandoned_segments <= 2,
        "{} segments still abandoned",
        after.abandoned_segments
    );
}
