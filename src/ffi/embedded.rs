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

/// Allocates with the C library. `malloc` is only trusted to align to 4
/// bytes (the ESP8266 core's umm_malloc gives no more); a layout that needs
/// more gets `align` extra bytes, and the pointer malloc returned is kept in
/// the word right before the aligned block, for `dealloc`.
struct CAllocator;

/// What every `malloc` of our targets guarantees.
const MALLOC_ALIGN: usize = 4;

// SAFETY: malloc/free are thread-safe in the C libraries of our targets;
// every block handed out is aligned to its layout and freed
// through the pointer malloc returned.
unsafe impl GlobalAlloc for CAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            // SAFETY: plain C call; a zero-size request is never made by `alloc`.
            return unsafe { malloc(layout.size()).cast() };
        }
        let Some(size) = layout.size().checked_add(layout.align()) else {
            return core::ptr::null_mut();
        };
        // SAFETY: plain C call.
        let raw: *mut u8 = unsafe { malloc(size).cast() };
        if raw.is_null() {
            return raw;
        }
        // At least one word past `raw` (malloc aligns to 4, align > 4), at
        // most `align` bytes: the block and the word before it are inside.
        let offset = layout.align() - (raw as usize & (layout.align() - 1));
        // SAFETY: `raw + offset` and the word before it lie in the block.
        unsafe {
            let aligned = raw.add(offset);
            aligned.cast::<*mut u8>().sub(1).write_unaligned(raw);
            aligned
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let raw = if layout.align() <= MALLOC_ALIGN {
            ptr
        } else {
            // SAFETY: `alloc` stored malloc's pointer in the word before.
            unsafe { ptr.cast::<*mut u8>().sub(1).read_unaligned() }
        };
        // SAFETY: `raw` came from malloc.
        unsafe { free(raw.cast()) }
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
