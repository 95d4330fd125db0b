//! A few allocations of every kind through the real allocator, small enough
//! for Miri to interpret: `scripts/test.sh` runs this binary under Miri
//! (Stacked Borrows, with the OS mocked over `System`), so the allocator's
//! own pointer handling — headers found by masking, free lists, remote
//! frees, large regions — is checked for undefined behaviour, not only its
//! data structures. Natively it is one more quick functional test.
#![cfg(not(feature = "loom"))]

use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

#[test]
fn small_large_realloc_and_remote_frees() {
    // Small blocks of a few classes, freed locally.
    let words: Vec<Box<u64>> = (0..64).map(Box::new).collect();
    assert_eq!(words.iter().map(|b| **b).sum::<u64>(), 64 * 63 / 2);
    drop(words);
    // A vector grown by realloc through several classes.
    let mut grown: Vec<u32> = Vec::new();
    for i in 0..2000 {
        grown.push(i);
    }
    assert_eq!(
        grown.iter().copied().map(u64::from).sum::<u64>(),
        1999 * 2000 / 2
    );
    drop(grown);
    // A large block, zeroed, written at both ends.
    let mut large = vec![0u8; 300 * 1024];
    assert!(large.iter().all(|&b| b == 0));
    large[0] = 1;
    *large.last_mut().unwrap() = 2;
    assert_eq!(large[0] + large[large.len() - 1], 3);
    drop(large);
    // Blocks allocated here, freed by another thread (remote frees), and the
    // other way round.
    let here: Vec<Box<[u8; 48]>> = (0..32).map(|i| Box::new([i as u8; 48])).collect();
    let there = std::thread::spawn(move || {
        let sum: u32 = here.iter().map(|b| u32::from(b[47])).sum();
        drop(here);
        let back: Vec<Box<[u8; 48]>> = (0..32).map(|i| Box::new([i as u8; 48])).collect();
        (sum, back)
    })
    .join()
    .unwrap();
    assert_eq!(there.0, 31 * 32 / 2);
    assert_eq!(
        there.1.iter().map(|b| u32::from(b[0])).sum::<u32>(),
        31 * 32 / 2
    );
}
