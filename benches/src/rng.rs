//! A tiny deterministic PRNG (xorshift64*, seeded through SplitMix64), so
//! every allocator sees exactly the same sequence of sizes and slots.

/// xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift
/// generators, scrambled", 2016). Not for anything but benchmarks.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose stream depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        // SplitMix64 step: turns small or similar seeds into well-mixed states.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(z | 1)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift (no division).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// A size in `lo..=hi` (powers of two expected), log-uniform: each
    /// power-of-two band `[2^k, 2^(k+1))` is equally likely, so small sizes
    /// dominate by count as they do in real programs.
    #[inline]
    pub fn size_log(&mut self, lo: usize, hi: usize) -> usize {
        let lo_bits = lo.max(1).trailing_zeros();
        let hi_bits = hi.max(1).ilog2();
        let bands = (hi_bits - lo_bits + 1) as usize;
        let band = lo_bits as usize + self.below(bands);
        let base = 1usize << band;
        (base + self.below(base)).clamp(lo, hi)
    }
}
