//! The runtime a bare-metal build needs: a global allocator over the C
//! library's `malloc`/`free`, and a panic handler that reports through the
//! port's `mqtt_vpn_panic_hook` and never returns.
//!
//! Compiled only without `std` (the embedded static library); with `std` the
//! standard library provides both.

use core::alloc::{GlobalAlloc, Layout};

unsafe extern "C" {
    fn malloc(size: usize) -> *mut core::ffi::c_void;
    fn free(ptr: *mut core::ffi::c_void);
    /// Supplied by the port: log the message and reset the device. Must not return.
    fn mqtt_vpn_panic_hook(message: *const u8, len: usize) -> !;
}

/// Allocates with the C library. `malloc` aligns to at least 8 bytes on the
/// targets we ship for; larger alignments are refused (null) rather than
/// served misaligned.
struct CAllocator;

const MALLOC_ALIGN: usize = 8;

// SAFETY: malloc/free are thread-safe in the C libraries of our targets, and
// blocks are only handed out when malloc's alignment satisfies the layout.
unsafe impl GlobalAlloc for CAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > MALLOC_ALIGN {
            return core::ptr::null_mut();
        }
        // SAFETY: plain C call; a zero-size request is never made by `alloc`.
        unsafe { malloc(layout.size()).cast() }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, i.e. from malloc.
        unsafe { free(ptr.cast()) }
    }
}

#[global_allocator]
static ALLOCATOR: CAllocator = CAllocator;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let message = info.message().as_str().unwrap_or("panic");
    // SAFETY: the hook receives a valid pointer/length pair and never returns.
    unsafe { mqtt_vpn_panic_hook(message.as_ptr(), message.len()) }
}
