//! C++ `operator new` and `operator delete`, exported under their Itanium
//! mangled names so that C++ programs (under `LD_PRELOAD` or linked against
//! `libtinyalloc.so`) allocate from tinyalloc directly, not through
//! libstdc++'s wrapper around `malloc`.
//!
//! The whole family: `new`/`new[]`, their nothrow and aligned
//! (`std::align_val_t`) forms, and `delete`/`delete[]` plain, sized, aligned,
//! sized and aligned, and nothrow. C++ semantics on failure: call the
//! installed new-handler (`std::get_new_handler()`) and retry, as long as
//! there is one; without one, the throwing forms throw `std::bad_alloc` and
//! the nothrow forms return null.
//!
//! This library must not make C programs load libstdc++, so the C++ runtime
//! is reached only through *weak* undefined symbols (declared `.weak` in the
//! same inline assembly that loads their addresses from the GOT): the dynamic
//! linker resolves them against the process's global scope at load time,
//! where a C++ program has libstdc++ (or libc++abi), and leaves them null in
//! a C program. If a throwing `new` fails with no C++ runtime to throw
//! through, it writes one line on stderr and aborts.
//!
//! Unwinding: `std::bad_alloc` (and whatever a new-handler throws) unwinds
//! through the throwing functions here, so they are `extern "C-unwind"` and
//! their frames have unwind tables. The nothrow forms are `extern "C"` and
//! return null when a new-handler throws, as C++ specifies: Rust cannot
//! catch a C++ exception, so on x86-64 the handler is called through a small
//! assembly trampoline with a `catch (...)` frame (as g++ compiles one); on
//! other architectures a throwing handler ends the process at the nothrow
//! function's boundary.
//!
//! Sizes and alignments passed to `delete` are not needed to free a block:
//! the sized and aligned forms are the plain free.

use crate::stats::{self, Call};
use core::ffi::c_void;
use core::ptr;
use tinyalloc_core::raw;

/// `__STDCPP_DEFAULT_NEW_ALIGNMENT__` on x86-64 and AArch64: plain `new`
/// gives what `malloc` gives (8 for blocks of at most 8 bytes, which cannot
/// hold anything needing more).
#[inline(always)]
const fn default_align(size: usize) -> usize {
    if size <= raw::MIN_ALIGN {
        raw::MIN_ALIGN
    } else {
        16
    }
}

/// The address of a weakly referenced symbol, or 0 when no loaded object
/// defines it. The `.weak` directive sits in the same assembly as the only
/// reference, so the object file's symbol is weak whichever codegen unit
/// this lands in.
macro_rules! weak_address {
    ($symbol:literal) => {{
        let address: usize;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a load from the GOT entry of a symbol; it reads memory the
        // loader wrote once at load time (read-only after RELRO).
        unsafe {
            core::arch::asm!(
                concat!(".weak ", $symbol),
                concat!("mov {0}, qword ptr [rip + ", $symbol, "@GOTPCREL]"),
                out(reg) address,
                options(pure, readonly, nostack, preserves_flags),
            );
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above: a load from the symbol's GOT entry.
        unsafe {
            core::arch::asm!(
                concat!(".weak ", $symbol),
                concat!("adrp {0}, :got:", $symbol),
                concat!("ldr {0}, [{0}, :got_lo12:", $symbol, "]"),
                out(reg) address,
                options(pure, readonly, nostack, preserves_flags),
            );
        }
        address
    }};
}

/// `std::new_handler`: may return (after making memory available), throw
/// `std::bad_alloc`, or end the program.
type NewHandler = unsafe extern "C-unwind" fn();

/// The installed new-handler; none without a C++ runtime.
fn new_handler() -> Option<NewHandler> {
    let get = weak_address!("_ZSt15get_new_handlerv");
    if get == 0 {
        return None;
    }
    // SAFETY: a non-zero address of `std::get_new_handler() noexcept`, which
    // returns a function pointer or null (`Option` of a fn pointer has the
    // same layout).
    unsafe {
        let get: unsafe extern "C" fn() -> Option<NewHandler> = core::mem::transmute(get);
        get()
    }
}

/// Throw `std::bad_alloc` through the C++ runtime, as `throw
/// std::bad_alloc()` compiles to; without a runtime, one line and abort.
#[cold]
#[inline(never)]
fn throw_bad_alloc() -> ! {
    let allocate_exception = weak_address!("__cxa_allocate_exception");
    let throw = weak_address!("__cxa_throw");
    let type_info = weak_address!("_ZTISt9bad_alloc");
    let vtable = weak_address!("_ZTVSt9bad_alloc");
    let destructor = weak_address!("_ZNSt9bad_allocD1Ev");
    if allocate_exception == 0 || throw == 0 || type_info == 0 || vtable == 0 || destructor == 0 {
        fatal(
            b"tinyalloc: operator new: out of memory and no C++ runtime to throw std::bad_alloc\n",
        );
    }
    type AllocateException = unsafe extern "C" fn(usize) -> *mut c_void;
    type Destructor = unsafe extern "C" fn(*mut c_void);
    type Throw = unsafe extern "C-unwind" fn(*mut c_void, *const c_void, Destructor) -> !;
    // `std::bad_alloc` is one vtable pointer, which points two words into
    // the vtable (past the offset-to-top and the type info pointer).
    // `__cxa_allocate_exception` does not return null: it falls back to an
    // emergency pool, or terminates.
    // SAFETY: the five addresses are the C++ ABI's (Itanium) exception entry
    // points and `std::bad_alloc`'s type info, vtable and destructor.
    unsafe {
        let allocate_exception: AllocateException = core::mem::transmute(allocate_exception);
        let throw: Throw = core::mem::transmute(throw);
        let destructor: Destructor = core::mem::transmute(destructor);
        let object = allocate_exception(core::mem::size_of::<usize>());
        object
            .cast::<usize>()
            .write(vtable + 2 * core::mem::size_of::<usize>());
        throw(object, type_info as *const c_void, destructor)
    }
}

/// Write `line` to stderr and abort, allocating nothing.
fn fatal(line: &[u8]) -> ! {
    // SAFETY: the range is `line`'s; `abort` never returns.
    unsafe {
        libc::write(2, line.as_ptr().cast(), line.len());
        libc::abort()
    }
}

// `bool tinyalloc_call_catching(void (*handler)())`: call `handler` and
// return true, or false if it threw anything: `try { handler(); return
// true; } catch (...) { return false; }`, as g++ compiles it, with the C++
// runtime's personality routine and catch functions referenced weakly (a
// program without a C++ runtime has no new-handler, so never gets here).
// Rust cannot catch a C++ exception; the nothrow `new` forms need to.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.tinyalloc_call_catching,\"ax\",@progbits",
    ".p2align 4",
    ".globl tinyalloc_call_catching",
    ".hidden tinyalloc_call_catching",
    ".type tinyalloc_call_catching,@function",
    "tinyalloc_call_catching:",
    ".Ltinyalloc_catch_begin:",
    ".cfi_startproc",
    ".cfi_personality 0x9b, DW.ref.__gxx_personality_v0",
    ".cfi_lsda 0x1b, .Ltinyalloc_catch_lsda",
    "subq $8, %rsp",
    ".cfi_def_cfa_offset 16",
    ".Ltinyalloc_catch_try_begin:",
    "call *%rdi",
    ".Ltinyalloc_catch_try_end:",
    "movl $1, %eax",
    "addq $8, %rsp",
    ".cfi_remember_state",
    ".cfi_def_cfa_offset 8",
    "ret",
    ".Ltinyalloc_catch_landing:",
    ".cfi_restore_state",
    "movq %rax, %rdi",
    "call __cxa_begin_catch@PLT",
    "call __cxa_end_catch@PLT",
    "xorl %eax, %eax",
    "addq $8, %rsp",
    ".cfi_def_cfa_offset 8",
    "ret",
    ".cfi_endproc",
    ".size tinyalloc_call_catching, .-tinyalloc_call_catching",
    // The LSDA: one call site (the handler call) whose landing pad takes
    // action 1, a catch of type table entry 1, which is null: `catch (...)`.
    // Calls outside the table (begin/end catch) terminate if they throw.
    ".section .gcc_except_table,\"a\",@progbits",
    ".p2align 2",
    ".Ltinyalloc_catch_lsda:",
    ".byte 0xff",
    ".byte 0x9b",
    ".uleb128 .Ltinyalloc_catch_types - .Ltinyalloc_catch_types_offset",
    ".Ltinyalloc_catch_types_offset:",
    ".byte 0x1",
    ".uleb128 .Ltinyalloc_catch_sites_end - .Ltinyalloc_catch_sites",
    ".Ltinyalloc_catch_sites:",
    ".uleb128 .Ltinyalloc_catch_try_begin - .Ltinyalloc_catch_begin",
    ".uleb128 .Ltinyalloc_catch_try_end - .Ltinyalloc_catch_try_begin",
    ".uleb128 .Ltinyalloc_catch_landing - .Ltinyalloc_catch_begin",
    ".uleb128 0x1",
    ".Ltinyalloc_catch_sites_end:",
    ".byte 0x1",
    ".byte 0x0",
    ".p2align 2",
    ".long 0",
    ".Ltinyalloc_catch_types:",
    // The personality pointer, as g++ emits it (one copy per link).
    ".hidden DW.ref.__gxx_personality_v0",
    ".weak DW.ref.__gxx_personality_v0",
    ".section .data.rel.local.DW.ref.__gxx_personality_v0,\"awG\",@progbits,DW.ref.__gxx_personality_v0,comdat",
    ".p2align 3",
    ".type DW.ref.__gxx_personality_v0,@object",
    ".size DW.ref.__gxx_personality_v0, 8",
    "DW.ref.__gxx_personality_v0:",
    ".quad __gxx_personality_v0",
    ".weak __gxx_personality_v0",
    ".weak __cxa_begin_catch",
    ".weak __cxa_end_catch",
    ".popsection",
    options(att_syntax),
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    /// Call `handler`; false if it threw (the exception is caught and
    /// destroyed).
    fn tinyalloc_call_catching(handler: NewHandler) -> bool;
}

/// Run the new-handler for a nothrow `new`: false if it threw, which a
/// nothrow `new` turns into null.
///
/// # Safety
/// `handler` is the program's installed new-handler.
#[cfg(target_arch = "x86_64")]
unsafe fn call_handler_nothrow(handler: NewHandler) -> bool {
    // SAFETY: the assembly above calls `handler` with the C ABI and catches
    // whatever it throws; it touches nothing else.
    unsafe { tinyalloc_call_catching(handler) }
}

/// Run the new-handler for a nothrow `new`. Without a catching trampoline
/// for this architecture, a throwing handler ends the process at the
/// nothrow function's boundary.
///
/// # Safety
/// `handler` is the program's installed new-handler.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn call_handler_nothrow(handler: NewHandler) -> bool {
    // SAFETY: the program's new-handler, called as C++ does.
    unsafe { handler() };
    true
}

/// The C++ allocation loop: try, and on failure let the new-handler make
/// room and try again; with no handler, throw (or return null if `nothrow`).
///
/// # Safety
/// `align` must be a power of two.
#[inline(always)]
unsafe fn new_impl(size: usize, align: usize, nothrow: bool) -> *mut c_void {
    stats::count(Call::New);
    // SAFETY: the caller's contract.
    let block = unsafe { raw::allocate(size, align) };
    if !block.is_null() {
        return block.cast();
    }
    // SAFETY: forwarded.
    unsafe { new_failed(size, align, nothrow) }
}

/// The slow path of [`new_impl`].
///
/// # Safety
/// `align` must be a power of two.
#[cold]
#[inline(never)]
unsafe extern "C-unwind" fn new_failed(size: usize, align: usize, nothrow: bool) -> *mut c_void {
    loop {
        match new_handler() {
            Some(handler) if nothrow => {
                // SAFETY: the program's new-handler, called as C++ does.
                if !unsafe { call_handler_nothrow(handler) } {
                    return ptr::null_mut();
                }
            }
            // SAFETY: as above; what it throws unwinds to the caller.
            Some(handler) => unsafe { handler() },
            None if nothrow => return ptr::null_mut(),
            None => throw_bad_alloc(),
        }
        // SAFETY: the caller's contract.
        let block = unsafe { raw::allocate(size, align) };
        if !block.is_null() {
            return block.cast();
        }
    }
}

/// The alignment of an aligned `new`: `std::align_val_t` must be a power of
/// two (anything else is undefined behaviour in C++, and fails here).
#[inline(always)]
fn checked_align(size: usize, align: usize) -> Option<usize> {
    align
        .is_power_of_two()
        .then(|| align.max(default_align(size)))
}

/// `operator new(std::size_t)`.
///
/// # Safety
/// Callable from C++ at any time.
#[export_name = "_Znwm"]
pub unsafe extern "C-unwind" fn operator_new(size: usize) -> *mut c_void {
    // SAFETY: a power of two.
    unsafe { new_impl(size, default_align(size), false) }
}

/// `operator new[](std::size_t)`.
///
/// # Safety
/// Callable from C++ at any time.
#[export_name = "_Znam"]
pub unsafe extern "C-unwind" fn operator_new_array(size: usize) -> *mut c_void {
    // SAFETY: a power of two.
    unsafe { new_impl(size, default_align(size), false) }
}

/// `operator new(std::size_t, const std::nothrow_t&)`.
///
/// # Safety
/// Callable from C++ at any time.
#[export_name = "_ZnwmRKSt9nothrow_t"]
pub unsafe extern "C" fn operator_new_nothrow(size: usize, _tag: *const c_void) -> *mut c_void {
    // SAFETY: a power of two.
    unsafe { new_impl(size, default_align(size), true) }
}

/// `operator new[](std::size_t, const std::nothrow_t&)`.
///
/// # Safety
/// Callable from C++ at any time.
#[export_name = "_ZnamRKSt9nothrow_t"]
pub unsafe extern "C" fn operator_new_array_nothrow(
    size: usize,
    _tag: *const c_void,
) -> *mut c_void {
    // SAFETY: a power of two.
    unsafe { new_impl(size, default_align(size), true) }
}

/// `operator new(std::size_t, std::align_val_t)`.
///
/// # Safety
/// Callable from C++ at any time.
#[export_name = "_ZnwmSt11align_val_t"]
pub unsafe extern "C-unwind" fn operator_new_aligned(size: usize, align: usize) -> *mut c_void {
    match checked_align(size, align) {
        // SAFETY: a power of two.
        Some(align) => unsafe { new_impl(size, align, false) },
        None => throw_bad_alloc(),
    }
}

/// `operator new[](std::size_t, std::align_val_t)`.
///
/// # Safety
/// Callable from C++ at any time.
#[export_name = "_ZnamSt11align_val_t"]
pub unsafe extern "C-unwind" fn operator_new_array_aligned(
    size: usize,
    align: usize,
) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { operator_new_aligned(size, align) }
}

/// `operator new(std::size_t, std::align_val_t, const std::nothrow_t&)`.
///
/// # Safety
/// Callable from C++ at any time.
#[export_name = "_ZnwmSt11align_val_tRKSt9nothrow_t"]
pub unsafe extern "C" fn operator_new_aligned_nothrow(
    size: usize,
    align: usize,
    _tag: *const c_void,
) -> *mut c_void {
    match checked_align(size, align) {
        // SAFETY: a power of two.
        Some(align) => unsafe { new_impl(size, align, true) },
        None => ptr::null_mut(),
    }
}

/// `operator new[](std::size_t, std::align_val_t, const std::nothrow_t&)`.
///
/// # Safety
/// Callable from C++ at any time.
#[export_name = "_ZnamSt11align_val_tRKSt9nothrow_t"]
pub unsafe extern "C" fn operator_new_array_aligned_nothrow(
    size: usize,
    align: usize,
    tag: *const c_void,
) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { operator_new_aligned_nothrow(size, align, tag) }
}

/// Every `operator delete` form: null is ignored; sizes and alignments are
/// not needed to find a block.
///
/// # Safety
/// `ptr` is null or a live block from this library.
#[inline(always)]
unsafe fn delete_impl(ptr: *mut c_void) {
    stats::count(Call::Delete);
    // SAFETY: the caller's contract.
    unsafe { raw::deallocate(ptr.cast()) }
}

/// Defines the `operator delete` forms: each frees its first argument and
/// ignores the others (size, alignment, nothrow tag).
macro_rules! operator_delete {
    ($($(#[$doc:meta])* $symbol:literal fn $name:ident($($extra:ident: $ty:ty),*);)*) => {$(
        $(#[$doc])*
        ///
        /// # Safety
        /// `ptr` is null or a live block from `operator new`.
        #[export_name = $symbol]
        pub unsafe extern "C" fn $name(ptr: *mut c_void, $($extra: $ty),*) {
            $(let _ = $extra;)*
            // SAFETY: the caller's contract.
            unsafe { delete_impl(ptr) }
        }
    )*};
}

operator_delete! {
    /// `operator delete(void*)`.
    "_ZdlPv" fn operator_delete();
    /// `operator delete[](void*)`.
    "_ZdaPv" fn operator_delete_array();
    /// `operator delete(void*, std::size_t)`.
    "_ZdlPvm" fn operator_delete_sized(size: usize);
    /// `operator delete[](void*, std::size_t)`.
    "_ZdaPvm" fn operator_delete_array_sized(size: usize);
    /// `operator delete(void*, std::align_val_t)`.
    "_ZdlPvSt11align_val_t" fn operator_delete_aligned(align: usize);
    /// `operator delete[](void*, std::align_val_t)`.
    "_ZdaPvSt11align_val_t" fn operator_delete_array_aligned(align: usize);
    /// `operator delete(void*, std::size_t, std::align_val_t)`.
    "_ZdlPvmSt11align_val_t" fn operator_delete_sized_aligned(size: usize, align: usize);
    /// `operator delete[](void*, std::size_t, std::align_val_t)`.
    "_ZdaPvmSt11align_val_t" fn operator_delete_array_sized_aligned(size: usize, align: usize);
    /// `operator delete(void*, const std::nothrow_t&)`.
    "_ZdlPvRKSt9nothrow_t" fn operator_delete_nothrow(tag: *const c_void);
    /// `operator delete[](void*, const std::nothrow_t&)`.
    "_ZdaPvRKSt9nothrow_t" fn operator_delete_array_nothrow(tag: *const c_void);
    /// `operator delete(void*, std::align_val_t, const std::nothrow_t&)`.
    "_ZdlPvSt11align_val_tRKSt9nothrow_t"
    fn operator_delete_aligned_nothrow(align: usize, tag: *const c_void);
    /// `operator delete[](void*, std::align_val_t, const std::nothrow_t&)`.
    "_ZdaPvSt11align_val_tRKSt9nothrow_t"
    fn operator_delete_array_aligned_nothrow(align: usize, tag: *const c_void);
}
