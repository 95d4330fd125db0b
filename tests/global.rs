//! tinyalloc as the global allocator of this test binary, under real std
//! workloads: collections, strings, maps, threads.
#![cfg(not(feature = "loom"))]

use std::collections::{BTreeMap, HashMap, VecDeque};

#[global_allocator]
static GLOBAL: tinyalloc::TinyAlloc = tinyalloc::TinyAlloc;

#[test]
fn vectors_grow_and_keep_their_contents() {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..1_000_000u64 {
        v.push(i * 3);
    }
    assert!(
        v.iter().enumerate().all(|(i, &x)| x == i as u64 * 3),
        "vector contents corrupted by growth"
    );
    v.truncate(10);
    v.shrink_to_fit();
    assert_eq!(v, (0..10).map(|i| i * 3).collect::<Vec<u64>>());
}

#[test]
fn strings_and_formatting() {
    let mut s = String::new();
    for i in 0..20_000 {
        s.push_str(&format!("{i},"));
    }
    let parsed: Vec<usize> = s
        .trim_end_matches(',')
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(parsed.len(), 20_000);
    assert!(parsed.iter().enumerate().all(|(i, &x)| i == x));
}

#[test]
fn hashmap_churn_keeps_every_entry() {
    let mut map: HashMap<String, Vec<u8>> = HashMap::new();
    for round in 0..20u32 {
        for i in 0..5_000u32 {
            let key = format!("key-{}", i * 7 + round);
            map.insert(key, vec![(i % 251) as u8; (i % 300) as usize]);
        }
        map.retain(|k, _| !k.ends_with('3'));
    }
    for (k, v) in &map {
        let i: u32 = k[4..].parse().unwrap();
        assert!(!k.ends_with('3'));
        assert!(
            v.iter().all(|&b| b == v.first().copied().unwrap_or(0)),
            "value of {k} corrupted"
        );
        let _ = i;
    }
    assert!(!map.is_empty());
}

#[test]
fn btree_and_deque_workloads() {
    let mut tree = BTreeMap::new();
    let mut deque = VecDeque::new();
    for i in 0..100_000u64 {
        tree.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), i);
        deque.push_back(Box::new(i));
        if deque.len() > 1000 {
            let front = deque.pop_front().unwrap();
            assert_eq!(*front, i - 1000);
        }
    }
    assert_eq!(tree.len(), 100_000);
    assert_eq!(tree.values().sum::<u64>(), (0..100_000u64).sum());
}

#[test]
fn large_and_aligned_allocations() {
    for &size in &[200 * 1024, 1 << 20, 5 << 20, 64 << 20] {
        let v = vec![0xA5u8; size];
        assert!(v.iter().all(|&b| b == 0xA5));
        let z = vec![0u8; size];
        assert!(z.iter().all(|&b| b == 0), "calloc'd large block not zero");
    }
    #[repr(align(4096))]
    struct Page([u8; 4096]);
    let pages: Vec<Box<Page>> = (0..100).map(|_| Box::new(Page([7; 4096]))).collect();
    for p in &pages {
        assert_eq!(
            p.as_ref() as *const Page as usize % 4096,
            0,
            "page-aligned box misaligned"
        );
        assert!(p.0.iter().all(|&b| b == 7));
    }
}

#[test]
fn threads_share_and_free_each_others_data() {
    let handles: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let data: Vec<String> = (0..10_000).map(|i| format!("{t}:{i}")).collect();
                data
            })
        })
        .collect();
    let all: Vec<Vec<String>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (t, data) in all.iter().enumerate() {
        for (i, s) in data.iter().enumerate() {
            assert_eq!(s, &format!("{t}:{i}"));
        }
    }
    drop(all); // freed remotely: the producing threads have exited
}
