//! Shared by the loom models: run a model under a stated preemption bound and
//! report how many interleavings loom explored and how long that took.
//!
//! Each model file includes this with `#[path = "support.rs"] mod support;`.
//! The report goes to stderr; see it with `-- --nocapture`:
//!
//! ```text
//! cargo test --features loom -- --nocapture
//! ```
//!
//! `LOOM_MAX_PREEMPTIONS` in the environment overrides a model's bound (for a
//! deeper run by hand); the other `LOOM_*` variables work as loom documents.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Explore every interleaving of `model` with at most `preemption_bound`
/// preemptions per execution, then print the count and the wall time.
pub fn check<F>(name: &str, preemption_bound: usize, model: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    let bound = *builder.preemption_bound.get_or_insert(preemption_bound);
    // A plain (non-loom) counter: it counts executions, it is not modelled.
    let executions = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&executions);
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        model();
    });
    eprintln!(
        "loom model {name}: preemption bound {bound}, {} interleavings explored in {:.2?}",
        executions.load(Ordering::Relaxed),
        start.elapsed()
    );
}
