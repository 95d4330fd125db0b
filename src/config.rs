//! Configuration: the tunables, where each value came from, and the rule
//! that decides between sources.
//!
//! Every tunable, in the table on [`Config`], is settable three ways.
//!
//! **Precedence**: run time over environment over const. A run-time call is
//! the program deciding now; the environment is the operator overriding the
//! build without recompiling it (as `MIMALLOC_*` and `MALLOC_CONF` do); the
//! const configuration is the build's default. Whichever runs first, a value
//! from a lower source never replaces one from a higher source.
//!
//! - **Environment**: read once, before `main`, with `getenv` and a
//!   hand-written parser, so nothing allocates: by an `.init_array`
//!   constructor, or by the first arena reservation if an allocation comes
//!   first (another library's constructor). An empty variable counts as unset.
//! - **Const**: `static GLOBAL: TinyAlloc = TinyAlloc::with_config(..)`
//!   applies its [`Config`] on the first slow path an allocation through
//!   that value takes, before the block is handed out: for a program whose
//!   global allocator it is, that is the first allocation of the process
//!   (every thread's first allocation is a slow path). Nothing is read on
//!   the fast path. A process has one set of tunables: the first configured
//!   value to allocate applies its configuration, later ones do not.
//! - **Run time**: the `set_*` functions here are safe to call at any time,
//!   from any thread. Each returns whether the value was taken (a value out
//!   of range changes nothing). A new arena size applies to arenas reserved
//!   later; a new purge delay to the next purge pass.
//!
//! A bad value from the environment or a const configuration gets one line
//! on stderr (written with `write(2)` from the stack) and the default, never
//! a crash.
//!
//! **Checks**: none can be switched at run time. The default misuse checks
//! (see `checks`) are folded into tests the free fast path makes anyway, so a
//! switch would cost a load and a branch on every free and save nothing; the
//! `checks` feature's extra checks are chosen at compile time for the same
//! reason. Both stay as built.
//!
//! Invariant: each tunable is one word holding its value and its source
//! (`Source`), replaced by CAS only by a source at least as high, so the
//! precedence holds whatever order the sources run in.

use crate::arena::{ARENA_SLOTS, SEGMENT_SHIFT, SEGMENT_SIZE};
use crate::segment;
use crate::sync::{
    PlainAtomicBool as AtomicBool, PlainAtomicU64 as AtomicU64, StatOrdering as Ordering,
};
use core::ffi::CStr;

/// The largest purge delay accepted: an hour.
pub const MAX_PURGE_DELAY_MS: u64 = 3_600_000;
/// The smallest arena size accepted: one segment (4 MiB).
pub const MIN_ARENA_SIZE: usize = SEGMENT_SIZE;
/// The largest arena size accepted, and the default: 1 GiB.
pub const MAX_ARENA_SIZE: usize = ARENA_SLOTS * SEGMENT_SIZE;

/// A configuration for [`TinyAlloc::with_config`](crate::TinyAlloc::with_config),
/// built in a `const` context: every tunable left alone keeps its default
/// (or the environment's value). The tunables, and their other two ways:
///
/// | tunable | environment variable | [`Config`] (const) | at run time | value | default |
/// |---|---|---|---|---|---|
/// | purge delay | `TINYALLOC_PURGE_DELAY_MS` | [`Config::purge_delay_ms`] | [`set_purge_delay_ms`] | milliseconds a freed region stays committed before it is purged; a free page inside a segment waits a tenth of it; 0 to 3600000 | 100 (pages: 10) |
/// | cache bound | `TINYALLOC_CACHE_LIMIT` | [`Config::cache_limit`] | [`set_cache_limit`] | fixed byte bound of the free-region cache (binary `K`/`M`/`G` suffix in the variable); 0 disables the cache | 8 MiB plus the memory in use |
/// | arena size | `TINYALLOC_ARENA_SIZE` | [`Config::arena_size`] | [`set_arena_size`] | bytes reserved per arena, 4 MiB to 1 GiB, rounded up to a multiple of 4 MiB (the kernel may grant less: see `arena`) | 1 GiB |
/// | stats on exit | `TINYALLOC_SHOW_STATS` | [`Config::show_stats`] | [`set_show_stats`] | print [`stats()`](crate::stats) as one line on stderr at exit (variable: any value but empty or `0`) | off |
///
///
/// Precedence: run time over environment over const (see the
/// [module docs](self) for why, and for what is safe at run time).
///
/// ```
/// use tinyalloc::{Config, TinyAlloc};
///
/// # #[cfg(not(feature = "loom"))] // the loom build runs its models only
/// #[global_allocator]
/// static GLOBAL: TinyAlloc = TinyAlloc::with_config(
///     Config::new()
///         .purge_delay_ms(250)
///         .cache_limit(64 << 20)
///         .arena_size(256 << 20),
/// );
///
/// fn main() {
/// #   #[cfg(not(feature = "loom"))] {
///     let v: Vec<u8> = vec![1; 1000];
///     assert_eq!(v.len(), 1000);
///     // The configuration applied before that first allocation.
///     assert_eq!(tinyalloc::config::current().purge_delay_ms, 250);
/// #   }
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    purge_delay_ms: Option<u64>,
    cache_limit: Option<usize>,
    arena_size: Option<usize>,
    show_stats: Option<bool>,
}

impl Config {
    /// Every tunable at its default.
    ///
    /// ```
    /// use tinyalloc::{Config, TinyAlloc};
    ///
    /// const PLAIN: TinyAlloc = TinyAlloc::with_config(Config::new());
    /// assert_eq!(Config::new(), Config::default());
    /// # let _ = PLAIN;
    /// ```
    pub const fn new() -> Self {
        Self {
            purge_delay_ms: None,
            cache_limit: None,
            arena_size: None,
            show_stats: None,
        }
    }

    /// Milliseconds a freed region stays committed before it is purged; a
    /// free page inside a segment waits a tenth of it (0 to 3600000; out of
    /// range: a warning and the default).
    ///
    /// ```
    /// use tinyalloc::{Config, TinyAlloc};
    ///
    /// // A service that frees bursts it reallocates a second later.
    /// static GLOBAL: TinyAlloc = TinyAlloc::with_config(Config::new().purge_delay_ms(1000));
    /// # let _ = &GLOBAL;
    /// ```
    pub const fn purge_delay_ms(mut self, ms: u64) -> Self {
        self.purge_delay_ms = Some(ms);
        self
    }

    /// A fixed byte bound for the free-region cache (0 disables it) instead
    /// of 8 MiB plus the memory in use.
    ///
    /// ```
    /// use tinyalloc::{Config, TinyAlloc};
    ///
    /// // Keep at most 64 MiB of freed regions committed for reuse.
    /// static GLOBAL: TinyAlloc = TinyAlloc::with_config(Config::new().cache_limit(64 << 20));
    /// # let _ = &GLOBAL;
    /// ```
    pub const fn cache_limit(mut self, bytes: usize) -> Self {
        self.cache_limit = Some(bytes);
        self
    }

    /// Bytes reserved per arena (4 MiB to 1 GiB, rounded up to a multiple of
    /// 4 MiB; out of range: a warning and the default).
    ///
    /// ```
    /// use tinyalloc::{Config, TinyAlloc};
    ///
    /// // A small address-space budget (containers with a low `ulimit -v`).
    /// static GLOBAL: TinyAlloc = TinyAlloc::with_config(Config::new().arena_size(64 << 20));
    /// # let _ = &GLOBAL;
    /// ```
    pub const fn arena_size(mut self, bytes: usize) -> Self {
        self.arena_size = Some(bytes);
        self
    }

    /// Print the allocator's figures on stderr at exit.
    ///
    /// ```
    /// use tinyalloc::{Config, TinyAlloc};
    ///
    /// static GLOBAL: TinyAlloc = TinyAlloc::with_config(Config::new().show_stats(true));
    /// # let _ = &GLOBAL;
    /// ```
    pub const fn show_stats(mut self, on: bool) -> Self {
        self.show_stats = Some(on);
        self
    }

    /// Whether no tunable is set (a `const` test: folds away for a static).
    #[inline(always)]
    pub(crate) const fn is_empty(&self) -> bool {
        self.purge_delay_ms.is_none()
            && self.cache_limit.is_none()
            && self.arena_size.is_none()
            && self.show_stats.is_none()
    }
}

/// The values in effect now, from [`current`].
///
/// ```
/// let settings = tinyalloc::config::current();
/// // By default the cache bound follows the memory in use.
/// # if std::env::var_os("TINYALLOC_CACHE_LIMIT").is_none() {
/// assert_eq!(settings.cache_limit, None);
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Milliseconds before freed memory is purged.
    pub purge_delay_ms: u64,
    /// The fixed cache bound, or `None` if it follows use.
    pub cache_limit: Option<usize>,
    /// Bytes per arena reserved from now on.
    pub arena_size: usize,
    /// Whether the figures are printed at exit.
    pub show_stats: bool,
}

/// The tunables in effect now.
///
/// ```
/// let now = tinyalloc::config::current();
/// assert!(now.arena_size >= 4 << 20);
/// ```
pub fn current() -> Settings {
    Settings {
        purge_delay_ms: purge_delay_ms(),
        cache_limit: cache_limit(),
        arena_size: arena_slots() << SEGMENT_SHIFT,
        show_stats: show_stats(),
    }
}

/// Where a tunable's value came from, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Default = 0,
    Const = 1,
    Environment = 2,
    Runtime = 3,
}

/// A tunable: its source in the top two bits, its value in the rest.
struct Tunable(AtomicU64);

const SOURCE_SHIFT: u32 = 62;
const VALUE_MASK: u64 = (1 << SOURCE_SHIFT) - 1;

impl Tunable {
    const fn new() -> Self {
        Self(AtomicU64::new((Source::Default as u64) << SOURCE_SHIFT))
    }

    /// The value, unless no source set one.
    fn get(&self) -> Option<u64> {
        // Relaxed: a tunable, not a protocol; a reader that sees the older
        // value only purges, caches or reserves by the older rule once more.
        let word = self.0.load(Ordering::Relaxed);
        (word >> SOURCE_SHIFT != Source::Default as u64).then_some(word & VALUE_MASK)
    }

    /// Set `value` unless a higher source set one; whether it was set.
    /// Values past 2^62 are clamped (no tunable means anything there).
    fn set(&self, source: Source, value: u64) -> bool {
        let new = ((source as u64) << SOURCE_SHIFT) | value.min(VALUE_MASK);
        // Relaxed: as in `get`; the CAS only orders sources.
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            if current >> SOURCE_SHIFT > source as u64 {
                return false;
            }
            match self
                .0
                .compare_exchange_weak(current, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}

static PURGE_DELAY_MS: Tunable = Tunable::new();
static CACHE_LIMIT: Tunable = Tunable::new();
/// In segments (arena slots).
static ARENA_SLOTS_SET: Tunable = Tunable::new();
static SHOW_STATS: Tunable = Tunable::new();
/// Whether a const configuration was applied (the first one wins).
static CONST_APPLIED: AtomicBool = AtomicBool::new(false);

/// How long a free region may stay committed, in milliseconds.
#[inline]
pub(crate) fn purge_delay_ms() -> u64 {
    PURGE_DELAY_MS.get().unwrap_or(segment::PURGE_DELAY_MS)
}

/// How long a free page inside a segment may stay committed, in
/// milliseconds: a tenth of the purge delay (see
/// [`segment::PAGE_PURGE_DIVISOR`]).
#[inline]
pub(crate) fn page_purge_delay_ms() -> u64 {
    purge_delay_ms() / segment::PAGE_PURGE_DIVISOR
}

/// The fixed cache bound, if one was set.
pub(crate) fn cache_limit() -> Option<usize> {
    CACHE_LIMIT.get().map(|bytes| bytes as usize)
}

/// Slots per arena reserved from now on. Read before every arena is
/// reserved, so it also reads the environment if the constructor has not
/// yet (see [`read_environment_once`]).
pub(crate) fn arena_slots() -> usize {
    read_environment_once();
    ARENA_SLOTS_SET
        .get()
        .map_or(ARENA_SLOTS, |slots| slots as usize)
}

/// Whether the figures are printed at exit.
pub(crate) fn show_stats() -> bool {
    SHOW_STATS.get() == Some(1)
}

fn set_purge_delay(source: Source, ms: u64) -> bool {
    ms <= MAX_PURGE_DELAY_MS && PURGE_DELAY_MS.set(source, ms)
}

fn set_cache(source: Source, bytes: usize) -> bool {
    let set = CACHE_LIMIT.set(source, bytes as u64);
    if set {
        segment::apply_cache_limit();
    }
    set
}

/// The arena size in slots, if in range.
fn arena_size_slots(bytes: usize) -> Option<usize> {
    (MIN_ARENA_SIZE..=MAX_ARENA_SIZE)
        .contains(&bytes)
        .then(|| bytes.div_ceil(SEGMENT_SIZE))
}

fn set_arena(source: Source, bytes: usize) -> bool {
    arena_size_slots(bytes).is_some_and(|slots| ARENA_SLOTS_SET.set(source, slots as u64))
}

fn set_stats(source: Source, on: bool) -> bool {
    let set = SHOW_STATS.set(source, u64::from(on));
    // Under loom no summary is printed: the state is per model execution.
    #[cfg(not(feature = "loom"))]
    if set && on {
        crate::exit_summary::register();
    }
    set
}

/// Set the purge delay: milliseconds a freed region stays committed before
/// it is purged (a free page inside a segment waits a tenth of it). False
/// (and nothing changes) past 3600000.
///
/// ```
/// assert!(tinyalloc::config::set_purge_delay_ms(20));
/// assert_eq!(tinyalloc::config::current().purge_delay_ms, 20);
/// assert!(!tinyalloc::config::set_purge_delay_ms(u64::MAX));
/// ```
pub fn set_purge_delay_ms(ms: u64) -> bool {
    set_purge_delay(Source::Runtime, ms)
}

/// Fix the cache's byte bound (0 disables caching). By default the bound
/// follows the program: 8 MiB plus the memory in use outside the cache.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// use tinyalloc::raw;
///
/// tinyalloc::config::set_cache_limit(0);
/// // SAFETY: 16 is a power of two; the block is freed once.
/// unsafe {
///     let block = raw::allocate(8 << 20, 16);
///     assert!(!block.is_null());
///     raw::deallocate(block); // not cached: returned to the kernel now
/// }
/// assert_eq!(tinyalloc::stats().cached_bytes, 0);
/// # }
/// ```
pub fn set_cache_limit(bytes: usize) {
    set_cache(Source::Runtime, bytes);
}

/// Set the bytes reserved per arena from now on (4 MiB to 1 GiB, rounded up
/// to a multiple of 4 MiB); arenas already reserved keep their size. False
/// (and nothing changes) out of range.
///
/// ```
/// # #[cfg(not(feature = "loom"))] { // the loom build runs its models only
/// assert!(tinyalloc::config::set_arena_size(64 << 20));
/// assert_eq!(tinyalloc::config::current().arena_size, 64 << 20);
/// assert!(!tinyalloc::config::set_arena_size(1 << 40));
/// # }
/// ```
pub fn set_arena_size(bytes: usize) -> bool {
    set_arena(Source::Runtime, bytes)
}

/// Print (or not) the allocator's figures on stderr at exit. Always true.
///
/// ```
/// tinyalloc::config::set_show_stats(false);
/// assert!(!tinyalloc::config::current().show_stats);
/// ```
pub fn set_show_stats(on: bool) -> bool {
    set_stats(Source::Runtime, on)
}

/// Apply a const configuration (from `TinyAlloc::with_config`), once per
/// process; called on an allocation slow path, before the block is handed
/// out. Allocates nothing.
#[cold]
#[inline(never)]
pub(crate) fn apply_const(config: &Config) {
    // Relaxed: the flag only stops a second application; the values carry
    // their own precedence.
    if config.is_empty()
        || CONST_APPLIED.load(Ordering::Relaxed)
        || CONST_APPLIED.swap(true, Ordering::Relaxed)
    {
        return;
    }
    if let Some(ms) = config.purge_delay_ms {
        if ms > MAX_PURGE_DELAY_MS {
            warn_number(b"Config::purge_delay_ms", ms, EXPECTED_MS);
        } else {
            set_purge_delay(Source::Const, ms);
        }
    }
    if let Some(bytes) = config.cache_limit {
        set_cache(Source::Const, bytes);
    }
    if let Some(bytes) = config.arena_size {
        if !set_arena(Source::Const, bytes) && arena_size_slots(bytes).is_none() {
            warn_number(b"Config::arena_size", bytes as u64, EXPECTED_ARENA);
        }
    }
    if let Some(on) = config.show_stats {
        set_stats(Source::Const, on);
    }
}

const EXPECTED_MS: &[u8] = b"milliseconds from 0 to 3600000";
const EXPECTED_BYTES: &[u8] = b"a byte count such as 0, 65536, 512K, 64M or 1G";
const EXPECTED_ARENA: &[u8] = b"a byte count from 4M to 1G";

/// glibc and musl call `.init_array` entries once the object is relocated,
/// before `main` (and, in a shared library, before the program's own
/// constructors).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[used]
#[link_section = ".init_array"]
static READ_ENVIRONMENT: extern "C" fn() = read_environment;

extern "C" fn read_environment() {
    read_environment_once();
}

/// Whether the environment was read.
static ENVIRONMENT_READ: AtomicBool = AtomicBool::new(false);

/// Read the `TINYALLOC_*` variables, once per process: from the constructor,
/// or from the first arena reservation if that comes first (under
/// `LD_PRELOAD`, libraries initialised before ours, such as libselinux,
/// allocate before our constructor runs).
fn read_environment_once() {
    // Relaxed: only decides who reads; a thread that finds it taken while
    // another still reads may reserve one arena by the older size.
    if ENVIRONMENT_READ.load(Ordering::Relaxed) || ENVIRONMENT_READ.swap(true, Ordering::Relaxed) {
        return;
    }
    if let Some(value) = variable(c"TINYALLOC_PURGE_DELAY_MS") {
        match parse_number(value).filter(|&ms| ms <= MAX_PURGE_DELAY_MS) {
            Some(ms) => {
                set_purge_delay(Source::Environment, ms);
            }
            None => warn(b"TINYALLOC_PURGE_DELAY_MS", value, EXPECTED_MS),
        }
    }
    if let Some(value) = variable(c"TINYALLOC_CACHE_LIMIT") {
        match parse_bytes(value) {
            Some(bytes) => {
                set_cache(Source::Environment, bytes);
            }
            None => warn(b"TINYALLOC_CACHE_LIMIT", value, EXPECTED_BYTES),
        }
    }
    if let Some(value) = variable(c"TINYALLOC_ARENA_SIZE") {
        match parse_bytes(value).filter(|&bytes| arena_size_slots(bytes).is_some()) {
            Some(bytes) => {
                set_arena(Source::Environment, bytes);
            }
            None => warn(b"TINYALLOC_ARENA_SIZE", value, EXPECTED_ARENA),
        }
    }
    if let Some(value) = variable(c"TINYALLOC_SHOW_STATS") {
        set_stats(Source::Environment, value != b"0");
    }
}

/// The value of `name`, if set and not empty.
fn variable(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: a NUL-terminated name; `getenv` allocates nothing and returns
    // null or a NUL-terminated string of the environment, which nothing
    // changes before `main`.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: as above: a NUL-terminated string that outlives this read.
    let bytes = unsafe { CStr::from_ptr(value) }.to_bytes();
    (!bytes.is_empty()).then_some(bytes)
}

/// A decimal number without sign or spaces; `None` if anything else or if
/// it overflows.
fn parse_number(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |value, &digit| {
        if !digit.is_ascii_digit() {
            return None;
        }
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

/// A byte count: a decimal number with an optional binary suffix `K`, `M`
/// or `G` (either case, optionally followed by `B` or `iB`).
fn parse_bytes(text: &[u8]) -> Option<usize> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let (number, suffix) = text.split_at(digits);
    let shift = match suffix {
        [] | [b'B' | b'b'] => 0,
        [unit] | [unit, b'B' | b'b'] | [unit, b'i', b'B' | b'b'] => match unit.to_ascii_uppercase()
        {
            b'K' => 10,
            b'M' => 20,
            b'G' => 30,
            _ => return None,
        },
        _ => return None,
    };
    let value = parse_number(number)?;
    let bytes = value.checked_mul(1 << shift)?;
    usize::try_from(bytes).ok()
}

/// `value` in decimal, into `digits`; the used tail (also the exit line's).
pub(crate) fn decimal(mut value: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &digits[at..];
        }
    }
}

/// [`warn`] for a number from a const configuration.
fn warn_number(name: &[u8], value: u64, expected: &[u8]) {
    let mut digits = [0u8; 20];
    warn(name, decimal(value, &mut digits), expected);
}

/// One line on stderr: the setting, its value (truncated) and what was
/// expected; formatted on the stack.
fn warn(name: &[u8], value: &[u8], expected: &[u8]) {
    let mut line = [0u8; 256];
    let mut len = 0;
    let value = &value[..value.len().min(64)];
    for part in [
        b"tinyalloc: ignoring " as &[u8],
        name,
        b"=",
        value,
        b" (expected ",
        expected,
        b"); using the default\n",
    ] {
        let take = part.len().min(line.len() - len);
        line[len..len + take].copy_from_slice(&part[..take]);
        len += take;
    }
    // SAFETY: the range lies inside `line`. A failed write is ignored: the
    // default applies either way.
    unsafe { libc::write(2, line.as_ptr().cast(), len) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_and_reject_what_they_should() {
        assert_eq!(parse_number(b"0"), Some(0));
        assert_eq!(parse_number(b"250"), Some(250));
        assert_eq!(parse_number(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"18446744073709551616",
            b"-1",
            b" 1",
            b"1.5",
            b"1e3",
        ] {
            assert_eq!(parse_number(bad), None, "{:?}", core::str::from_utf8(bad));
        }
    }

    #[test]
    fn byte_counts_take_binary_suffixes() {
        assert_eq!(parse_bytes(b"0"), Some(0));
        assert_eq!(parse_bytes(b"65536"), Some(65536));
        assert_eq!(parse_bytes(b"512K"), Some(512 << 10));
        assert_eq!(parse_bytes(b"64m"), Some(64 << 20));
        assert_eq!(parse_bytes(b"64MiB"), Some(64 << 20));
        assert_eq!(parse_bytes(b"2GB"), Some(2 << 30));
        assert_eq!(parse_bytes(b"100B"), Some(100));
        for bad in [&b""[..], b"M", b"12T", b"12 M", b"lots", b"12MM", b"-5"] {
            assert_eq!(parse_bytes(bad), None, "{:?}", core::str::from_utf8(bad));
        }
        // Overflow of the shifted value.
        assert_eq!(parse_bytes(b"17179869184G"), None);
    }

    #[test]
    fn a_lower_source_never_replaces_a_higher_one() {
        let tunable = Tunable::new();
        assert_eq!(tunable.get(), None);
        assert!(tunable.set(Source::Const, 5));
        assert!(tunable.set(Source::Environment, 6));
        assert!(!tunable.set(Source::Const, 7));
        assert_eq!(tunable.get(), Some(6));
        assert!(tunable.set(Source::Runtime, 8));
        assert!(!tunable.set(Source::Environment, 9));
        assert!(tunable.set(Source::Runtime, 10));
        assert_eq!(tunable.get(), Some(10));
        assert!(tunable.set(Source::Runtime, u64::MAX));
        assert_eq!(tunable.get(), Some(VALUE_MASK));
    }

    #[test]
    fn arena_sizes_round_up_to_segments_within_range() {
        assert_eq!(arena_size_slots(MIN_ARENA_SIZE - 1), None);
        assert_eq!(arena_size_slots(MIN_ARENA_SIZE), Some(1));
        assert_eq!(arena_size_slots(MIN_ARENA_SIZE + 1), Some(2));
        assert_eq!(arena_size_slots(MAX_ARENA_SIZE), Some(ARENA_SLOTS));
        assert_eq!(arena_size_slots(MAX_ARENA_SIZE + 1), None);
    }
}
