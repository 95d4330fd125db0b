//! Multi-thread workloads that allocate through the *global* allocator.
//!
//! Each `wl_<allocator>` binary installs one allocator as
//! `#[global_allocator]` and calls [`child_main`], which runs one workload at
//! one thread count and prints a single machine-readable line:
//!
//! ```text
//! RESULT allocator=mimalloc workload=churn threads=4 ops=123 secs=1.000 ops_per_sec=123.0 peak_rss_kb=4567 end_rss_kb=4000
//! ```
//!
//! Every workload runs the same harness ([`drive`]): all threads start
//! together, run a warm-up that is not counted, then a measured window; each
//! thread publishes its op count to its own cache-padded counter, and the
//! result is (ops at end − ops at start) / window length.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::hint::black_box;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_epoch::{self as epoch, Atomic, Owned};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::{Backoff, CachePadded};

use crate::ini;
use crate::rng::Rng;

/// The workloads `compare` runs in one process per allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Thread-local churn: each thread keeps 1024 live blocks (sizes
    /// 8..4096 B, 1 in 128 of 32..256 KiB) and replaces a random one per op.
    Churn,
    /// Producer/consumer pairs through a bounded crossbeam `ArrayQueue`:
    /// producers allocate batches of 64 blocks of 16..1024 B, consumers free
    /// them, so every free is remote. Threads = 2 × pairs (even counts only).
    ProdCons,
    /// One shared table of 4096 slots; each op allocates a 16..512 B block,
    /// swaps it into a random slot and frees the old one, which another
    /// thread allocated with probability (t−1)/t. Almost every free is
    /// remote and no thread exits.
    Swap,
    /// Larson & Krishnan's server simulation (as mimalloc-bench runs it):
    /// each of t chains owns an array of 5000 blocks and replaces random
    /// entries (free, then allocate 8..1000 B); after 500,000 replacements
    /// the array passes to a new thread (the next generation), so each
    /// generation frees blocks that exited threads allocated.
    Larson,
    /// Generate an INI document per thread (16 sections × 12 keys), then
    /// parse it into `HashMap<String, HashMap<String, String>>` repeatedly.
    Ini,
    /// Read-mostly shared table of 1024 `crossbeam_epoch::Atomic` nodes, each
    /// holding a `Vec` payload: 3 reads per update; updates retire the old
    /// node with `defer_destroy`, so frees happen in epoch GC, on whichever
    /// thread collects.
    Epoch,
    /// False-sharing check: each thread allocates 8 small (8..64 B) objects
    /// at the same time as the others, then increments them in a tight loop.
    /// If the allocator put objects of different threads on one cache line,
    /// the line ping-pongs between cores and throughput collapses.
    FalseShare,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Workload::Churn,
        Workload::ProdCons,
        Workload::Swap,
        Workload::Larson,
        Workload::Ini,
        Workload::Epoch,
        Workload::FalseShare,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Churn => "churn",
            Workload::ProdCons => "prodcons",
            Workload::Swap => "swap",
            Workload::Larson => "larson",
            Workload::Ini => "ini",
            Workload::Epoch => "epoch",
            Workload::FalseShare => "falseshare",
        }
    }

    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// What one counted op is.
    pub fn op(self) -> &'static str {
        match self {
            Workload::Churn => "free+alloc in a thread-local window",
            Workload::ProdCons => "block allocated by producer, freed by consumer (batches of 64)",
            Workload::Swap => "alloc + swap into shared slot + free old",
            Workload::Larson => {
                "free + alloc in a per-thread array handed to a new thread every 500k ops"
            }
            Workload::Ini => "one parse of an ~8 KiB INI document",
            Workload::Epoch => "read (pinned) or update (defer_destroy) of a shared slot",
            Workload::FalseShare => "increment of a thread's own small object",
        }
    }

    /// Whether the workload can run with `threads` threads.
    pub fn supports(self, threads: usize) -> bool {
        match self {
            Workload::ProdCons => threads >= 2 && threads.is_multiple_of(2),
            _ => threads >= 1,
        }
    }
}

/// What one run measured.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// Ops completed inside the measured window.
    pub ops: u64,
    /// Length of the measured window.
    pub secs: f64,
    /// Peak RSS of the process (VmHWM), KiB.
    pub peak_rss_kb: Option<u64>,
    /// RSS after the workload freed everything and [`END_RSS_IDLE`] of
    /// idle, KiB.
    pub end_rss_kb: Option<u64>,
}

impl Outcome {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }
}

/// Runs `w` with `threads` threads: `warmup` uncounted, then `measure`
/// counted. Panics if `!w.supports(threads)`.
pub fn run_workload(w: Workload, threads: usize, warmup: Duration, measure: Duration) -> Outcome {
    assert!(
        w.supports(threads),
        "{} cannot run with {threads} threads",
        w.name()
    );
    let (ops, secs) = match w {
        Workload::Churn => churn(threads, warmup, measure),
        Workload::ProdCons => prodcons(threads, warmup, measure),
        Workload::Swap => swap(threads, warmup, measure),
        Workload::Larson => larson(threads, warmup, measure),
        Workload::Ini => ini_parse(threads, warmup, measure),
        Workload::Epoch => epoch_table(threads, warmup, measure),
        Workload::FalseShare => false_share(threads, warmup, measure),
    };
    let peak_rss_kb = crate::peak_rss_kb();
    std::thread::sleep(END_RSS_IDLE);
    Outcome {
        ops,
        secs,
        peak_rss_kb,
        end_rss_kb: crate::current_rss_kb(),
    }
}

/// How long a child idles before it reads its end RSS: `thread::scope`
/// returns once its threads' closures have, before their thread-local
/// destructors (where allocators run their thread exits) have finished, so
/// an immediate read catches exits half done (tinyalloc's larson at 8
/// threads read 6-46 MiB that way, 3-12 MiB after this pause). It also
/// makes the figure "RSS after a short idle".
pub const END_RSS_IDLE: Duration = Duration::from_millis(100);

/// The allocator's "this thread is done allocating" call, when the binary
/// has one and `--thread-done 1` asked for it: larson's generation threads
/// call it as their work ends (not a default: the peers get no such call).
static THREAD_DONE: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Entry point of the `wl_<allocator>` binaries:
/// `wl_<allocator> <workload> <threads> [--warmup-ms N] [--measure-ms N]`.
pub fn child_main(allocator: &str) {
    child_main_with(allocator, None);
}

/// [`child_main`] for an allocator with a call that gives up the calling
/// thread's allocator state (`--thread-done 1` makes larson's generation
/// threads call it at the end of their work).
pub fn child_main_with(allocator: &str, thread_done: Option<fn()>) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!(
            "usage: wl_{allocator} <{}> <threads> [--warmup-ms N] [--measure-ms N]",
            Workload::ALL.map(Workload::name).join("|")
        );
        std::process::exit(2);
    };
    if args.len() < 2 {
        usage();
    }
    let w = Workload::from_name(&args[0]).unwrap_or_else(|| usage());
    let threads: usize = args[1].parse().unwrap_or_else(|_| usage());
    let mut warmup = Duration::from_millis(250);
    let mut measure = Duration::from_millis(1000);
    let mut rest = args[2..].iter();
    while let Some(flag) = rest.next() {
        let value: u64 = rest
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| usage());
        match flag.as_str() {
            "--warmup-ms" => warmup = Duration::from_millis(value),
            "--measure-ms" => measure = Duration::from_millis(value),
            "--thread-done" if value == 1 => match thread_done {
                Some(call) => {
                    let _ = THREAD_DONE.set(call);
                }
                None => {
                    eprintln!("wl_{allocator} has no thread-done call");
                    std::process::exit(2);
                }
            },
            "--thread-done" if value == 0 => {}
            _ => usage(),
        }
    }
    if !w.supports(threads) {
        eprintln!("{} cannot run with {threads} threads", w.name());
        std::process::exit(2);
    }
    let out = run_workload(w, threads, warmup, measure);
    println!(
        "RESULT allocator={allocator} workload={} threads={threads} ops={} secs={:.4} ops_per_sec={:.1} peak_rss_kb={} end_rss_kb={}",
        w.name(),
        out.ops,
        out.secs,
        out.ops_per_sec(),
        out.peak_rss_kb.unwrap_or(0),
        out.end_rss_kb.unwrap_or(0),
    );
}

/// Per-thread view of the harness: a stop flag and this thread's counter.
pub struct Ctx<'a> {
    pub index: usize,
    pub rng: Rng,
    stop: &'a AtomicBool,
    counter: &'a AtomicU64,
}

impl Ctx<'_> {
    #[inline]
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Publishes this thread's running op total.
    #[inline]
    pub fn publish(&self, total: u64) {
        self.counter.store(total, Ordering::Relaxed);
    }
}

/// Runs `body` on `threads` threads and measures ops published through
/// [`Ctx::publish`] between the end of `warmup` and `warmup + measure`.
/// `body` must return soon after [`Ctx::stopped`] turns true.
pub fn drive<F>(threads: usize, warmup: Duration, measure: Duration, body: F) -> (u64, f64)
where
    F: Fn(&mut Ctx<'_>) + Sync,
{
    let stop = AtomicBool::new(false);
    let counters: Vec<CachePadded<AtomicU64>> = (0..threads)
        .map(|_| CachePadded::new(AtomicU64::new(0)))
        .collect();
    let start = Barrier::new(threads + 1);
    let total = |cs: &[CachePadded<AtomicU64>]| -> u64 {
        cs.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    };
    thread::scope(|s| {
        for (index, counter) in counters.iter().enumerate() {
            let (stop, start, body) = (&stop, &start, &body);
            s.spawn(move || {
                let mut ctx = Ctx {
                    index,
                    rng: Rng::new(0x5eed ^ ((index as u64) << 17)),
                    stop,
                    counter,
                };
                start.wait();
                body(&mut ctx);
            });
        }
        start.wait();
        thread::sleep(warmup);
        let (c0, t0) = (total(&counters), Instant::now());
        thread::sleep(measure);
        let (c1, t1) = (total(&counters), Instant::now());
        stop.store(true, Ordering::Relaxed);
        (c1 - c0, (t1 - t0).as_secs_f64())
    })
}

/// A raw block from the global allocator that may cross threads.
struct Block {
    ptr: NonNull<u8>,
    size: usize,
}

// SAFETY: a Block is a uniquely owned heap allocation, like Box<[u8]>.
unsafe impl Send for Block {}

impl Block {
    #[inline]
    fn new(size: usize) -> Block {
        let layout = Layout::from_size_align(size, 8).unwrap();
        // SAFETY: size > 0 (callers never ask for 0).
        let p = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(p) else {
            handle_alloc_error(layout)
        };
        // SAFETY: fresh block of `size` >= 1 bytes.
        unsafe { ptr.as_ptr().write(size as u8) };
        Block { ptr, size }
    }

    #[inline]
    fn free(self) {
        // SAFETY: allocated in `new` with exactly this layout, freed once.
        unsafe {
            black_box(self.ptr.as_ptr().read());
            dealloc(
                self.ptr.as_ptr(),
                Layout::from_size_align_unchecked(self.size, 8),
            );
        }
    }
}

const PUBLISH_EVERY: u64 = 64;

fn false_share(threads: usize, warmup: Duration, measure: Duration) -> (u64, f64) {
    const OBJECTS: usize = 8;
    const ROUNDS: u64 = 1024;
    drive(threads, warmup, measure, |ctx| {
        // Allocated right after the start barrier, while the other threads
        // allocate theirs: the allocator decides who shares a line.
        let objects: Vec<Block> = (0..OBJECTS)
            .map(|_| Block::new(ctx.rng.size_log(8, 64)))
            .collect();
        let mut ops = 0u64;
        while !ctx.stopped() {
            for _ in 0..ROUNDS {
                for object in &objects {
                    let word = object.ptr.as_ptr().cast::<u64>();
                    // SAFETY: each block is at least 8 bytes, 8-aligned, ours.
                    unsafe { word.write_volatile(word.read_volatile().wrapping_add(1)) };
                }
            }
            ops += ROUNDS * OBJECTS as u64;
            ctx.publish(ops);
        }
        objects.into_iter().for_each(Block::free);
    })
}

fn churn(threads: usize, warmup: Duration, measure: Duration) -> (u64, f64) {
    const WINDOW: usize = 1024;
    drive(threads, warmup, measure, |ctx| {
        let size = |rng: &mut Rng| {
            if rng.below(128) == 0 {
                rng.size_log(32 << 10, 256 << 10)
            } else {
                rng.size_log(8, 4096)
            }
        };
        let mut live: Vec<Block> = (0..WINDOW)
            .map(|_| Block::new(size(&mut ctx.rng)))
            .collect();
        let mut ops = 0u64;
        while !ctx.stopped() {
            for _ in 0..PUBLISH_EVERY {
                let slot = ctx.rng.below(WINDOW);
                let fresh = Block::new(size(&mut ctx.rng));
                std::mem::replace(&mut live[slot], fresh).free();
            }
            ops += PUBLISH_EVERY;
            ctx.publish(ops);
        }
        live.into_iter().for_each(Block::free);
    })
}

fn prodcons(threads: usize, warmup: Duration, measure: Duration) -> (u64, f64) {
    // Blocks travel in batches (one `Vec<Block>` per message), so the queue's
    // own cost is amortised and the allocator's remote-free path dominates;
    // the batch's `Vec` is itself allocated by the producer and freed by the
    // consumer. At most CAPACITY × BATCH blocks are in flight per pair.
    const BATCH: usize = 64;
    const CAPACITY: usize = 16;
    let pairs = threads / 2;
    let queues: Vec<ArrayQueue<Vec<Block>>> =
        (0..pairs).map(|_| ArrayQueue::new(CAPACITY)).collect();
    let free_batch = |batch: Vec<Block>| batch.into_iter().for_each(Block::free);
    let result = drive(threads, warmup, measure, |ctx| {
        let queue = &queues[ctx.index / 2];
        let backoff = Backoff::new();
        if ctx.index.is_multiple_of(2) {
            // Producer: allocate a batch and hand it over; wait (spin, then
            // yield) while the queue is full.
            'run: while !ctx.stopped() {
                let mut batch = Vec::with_capacity(BATCH);
                for _ in 0..BATCH {
                    batch.push(Block::new(ctx.rng.size_log(16, 1024)));
                }
                while let Err(back) = queue.push(batch) {
                    if ctx.stopped() {
                        free_batch(back);
                        break 'run;
                    }
                    batch = back;
                    backoff.snooze();
                }
                backoff.reset();
            }
        } else {
            // Consumer: every block it frees was allocated by its producer.
            let mut ops = 0u64;
            while !ctx.stopped() {
                match queue.pop() {
                    Some(batch) => {
                        ops += batch.len() as u64;
                        free_batch(batch);
                        ctx.publish(ops);
                        backoff.reset();
                    }
                    None => backoff.snooze(),
                }
            }
        }
    });
    for q in &queues {
        while let Some(batch) = q.pop() {
            free_batch(batch);
        }
    }
    result
}

/// Larson & Krishnan's benchmark: per-chain arrays handed across thread
/// generations. Each harness thread keeps one chain: it allocates the array,
/// then runs each generation on a new thread and waits for it to exit
/// before starting the next (the original's predecessor starts its successor
/// itself; either way each generation frees blocks of exited threads).
fn larson(threads: usize, warmup: Duration, measure: Duration) -> (u64, f64) {
    const BLOCKS: usize = 5000;
    const ROUNDS: u64 = 100;
    const PER_GENERATION: u64 = BLOCKS as u64 * ROUNDS;
    let size = |rng: &mut Rng| 8 + rng.below(1000 - 8);
    drive(threads, warmup, measure, |ctx| {
        let mut blocks: Vec<Block> = (0..BLOCKS)
            .map(|_| Block::new(size(&mut ctx.rng)))
            .collect();
        let mut ops = 0u64;
        while !ctx.stopped() {
            thread::scope(|s| {
                s.spawn(|| {
                    let mut done = 0;
                    while done < PER_GENERATION && !ctx.stopped() {
                        for _ in 0..PUBLISH_EVERY {
                            let victim = ctx.rng.below(BLOCKS);
                            let fresh = Block::new(size(&mut ctx.rng));
                            std::mem::replace(&mut blocks[victim], fresh).free();
                        }
                        done += PUBLISH_EVERY;
                        ops += PUBLISH_EVERY;
                        ctx.publish(ops);
                    }
                    if let Some(thread_done) = THREAD_DONE.get() {
                        thread_done();
                    }
                });
            });
        }
        blocks.into_iter().for_each(Block::free);
    })
}

fn swap(threads: usize, warmup: Duration, measure: Duration) -> (u64, f64) {
    const SLOTS: usize = 4096;
    // Each block stores its own size in its first word, so whoever swaps it
    // out can free it with the right layout.
    fn make(size: usize) -> *mut u8 {
        let b = Block::new(size.max(16));
        let p = b.ptr.as_ptr();
        // SAFETY: the block holds at least 16 bytes and is 8-aligned.
        unsafe { p.cast::<usize>().write(b.size) };
        p
    }
    fn free(p: *mut u8) {
        // SAFETY: p came from `make`, whose first word is the block's size.
        let size = unsafe { p.cast::<usize>().read() };
        Block {
            ptr: NonNull::new(p).unwrap(),
            size,
        }
        .free();
    }
    let mut seed = Rng::new(0x1a250);
    let table: Vec<AtomicPtr<u8>> = (0..SLOTS)
        .map(|_| AtomicPtr::new(make(seed.size_log(16, 512))))
        .collect();
    let result = drive(threads, warmup, measure, |ctx| {
        let mut ops = 0u64;
        while !ctx.stopped() {
            for _ in 0..PUBLISH_EVERY {
                let fresh = make(ctx.rng.size_log(16, 512));
                let slot = &table[ctx.rng.below(SLOTS)];
                // AcqRel: Release publishes `fresh`'s size word to the thread
                // that swaps it out; Acquire makes `old`'s size word visible here.
                let old = slot.swap(fresh, Ordering::AcqRel);
                free(old);
            }
            ops += PUBLISH_EVERY;
            ctx.publish(ops);
        }
    });
    for slot in &table {
        free(slot.swap(ptr::null_mut(), Ordering::Acquire));
    }
    result
}

fn ini_parse(threads: usize, warmup: Duration, measure: Duration) -> (u64, f64) {
    drive(threads, warmup, measure, |ctx| {
        let doc = ini::generate(ini::DocShape::default(), ctx.index as u64);
        let mut ops = 0u64;
        while !ctx.stopped() {
            let parsed = ini::parse(black_box(&doc));
            black_box(ini::digest(&parsed));
            drop(parsed);
            ops += 1;
            ctx.publish(ops);
        }
    })
}

struct Node {
    key: u64,
    payload: Vec<u8>,
}

impl Node {
    fn new(rng: &mut Rng) -> Node {
        let len = rng.size_log(16, 256);
        let mut payload = Vec::with_capacity(len);
        payload.resize(len, len as u8);
        Node {
            key: rng.next_u64(),
            payload,
        }
    }
}

fn epoch_table(threads: usize, warmup: Duration, measure: Duration) -> (u64, f64) {
    const SLOTS: usize = 1024;
    let mut seed = Rng::new(0xe70c);
    let table: Vec<Atomic<Node>> = (0..SLOTS)
        .map(|_| Atomic::new(Node::new(&mut seed)))
        .collect();
    let result = drive(threads, warmup, measure, |ctx| {
        let mut ops = 0u64;
        let mut sum = 0u64;
        while !ctx.stopped() {
            for _ in 0..PUBLISH_EVERY {
                let slot = &table[ctx.rng.below(SLOTS)];
                let guard = epoch::pin();
                if ctx.rng.below(4) == 0 {
                    let fresh = Owned::new(Node::new(&mut ctx.rng));
                    let old = slot.swap(fresh, Ordering::AcqRel, &guard);
                    // SAFETY: `old` is unlinked from the table by the swap, so
                    // no new reader can reach it; readers pinned before the
                    // swap are covered by the deferred destruction.
                    unsafe { guard.defer_destroy(old) };
                } else {
                    let cur = slot.load(Ordering::Acquire, &guard);
                    // SAFETY: nodes in the table are only destroyed via
                    // defer_destroy, and we hold a guard.
                    if let Some(node) = unsafe { cur.as_ref() } {
                        sum = sum.wrapping_add(node.key ^ u64::from(node.payload[0]));
                    }
                }
            }
            ops += PUBLISH_EVERY;
            ctx.publish(ops);
        }
        black_box(sum);
    });
    // SAFETY: every worker thread has exited; nothing else references the table.
    let guard = unsafe { epoch::unprotected() };
    for slot in &table {
        let old = slot.swap(epoch::Shared::null(), Ordering::Acquire, guard);
        if !old.is_null() {
            // SAFETY: unlinked, and no thread can still read it.
            drop(unsafe { old.into_owned() });
        }
    }
    result
}
