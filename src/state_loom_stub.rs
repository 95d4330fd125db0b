//! Under loom (until the allocator proper is built there): the counters
//! the modules built under loom share.

use crate::os::OsState;
use crate::sync::StatCounter;

/// The part of the allocator's state built under loom.
pub(crate) struct Globals {
    /// Arena slots claimed (statistics).
    pub slots_in_use: StatCounter,
    /// Kernel-call counters (`os`).
    pub os: OsState,
}

static GLOBALS: Globals = Globals {
    slots_in_use: StatCounter::new(0),
    os: OsState::new(),
};

/// The counters.
#[inline(always)]
pub(crate) fn globals() -> &'static Globals {
    &GLOBALS
}
