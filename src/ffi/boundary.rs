//! The boundary every exported function goes through: result codes, the
//! [`ffi_fn!`] macro that keeps panics out of C, and the checks that turn C
//! pointers and strings into Rust values without trusting them.

use core::ffi::{CStr, c_char};

/// What a call did. `MQTT_IF_OK` is 0; every failure has its own number and
/// a sentence from `mqtt_if_result_str`. Numbers are never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum mqtt_if_result {
    /// Success.
    MQTT_IF_OK = 0,
    /// A required pointer argument was NULL.
    MQTT_IF_ERR_NULL = 1,
    /// A string argument is not UTF-8.
    MQTT_IF_ERR_UTF8 = 2,
    /// A string argument is longer than its limit.
    MQTT_IF_ERR_TOO_LONG = 3,
    /// The topic prefix is empty, holds `+`, `#` or NUL, or starts with `$`.
    MQTT_IF_ERR_INVALID_PREFIX = 4,
    /// A number or URI argument is out of range (port, MTU, flag, scheme),
    /// or a netmask is not contiguous.
    MQTT_IF_ERR_INVALID_ARGUMENT = 5,
    /// No platform table was registered, or it lacks a required callback.
    MQTT_IF_ERR_NO_PLATFORM = 6,
    /// The platform's `netif_attach` failed.
    MQTT_IF_ERR_ATTACH = 7,
    /// The interface is in use further up the stack: a platform callback
    /// called back into the library where it must not (only
    /// `netif_input` may, and only `mqtt_if_output` and the setters).
    MQTT_IF_ERR_BUSY = 8,
    /// No MQTT session is up; the packet was dropped.
    MQTT_IF_ERR_NOT_CONNECTED = 9,
    /// The packet was dropped: malformed, not of the family its call
    /// carries (an IPv4 packet to `mqtt_if_output6`, an IPv6 packet to
    /// `mqtt_if_output` with a next hop), sent to a next hop the core cannot
    /// publish to, IPv6 multicast other than ff02::1, larger than the MTU,
    /// or the transmit buffer is full.
    MQTT_IF_ERR_DROPPED = 10,
    /// The call does not fit the connection state (for example
    /// `mqtt_if_tcp_connected` while no connection was being made).
    MQTT_IF_ERR_STATE = 11,
    /// A bug: the library panicked. The interface should be deleted.
    MQTT_IF_ERR_PANIC = 12,
    /// An address argument is not an IPv6 address in text form, or is one
    /// an interface cannot have (multicast or loopback).
    MQTT_IF_ERR_INVALID_ADDRESS = 13,
    /// The output buffer is too small for what the call would write.
    MQTT_IF_ERR_BUFFER_TOO_SMALL = 14,
    /// A sealed payload is too short to hold a header, a tag and a packet.
    MQTT_IF_ERR_TOO_SHORT = 15,
    /// A sealed payload's tag does not verify: wrong key, wrong topic or
    /// altered bytes.
    MQTT_IF_ERR_FORGED = 16,
    /// The payload is not wire v2 (it lacks the v2 magic).
    MQTT_IF_ERR_NOT_V2 = 17,
    /// The port's random callback failed.
    MQTT_IF_ERR_RANDOM = 18,
}

use mqtt_if_result::*;

impl mqtt_if_result {
    /// Every code, in number order.
    pub(crate) const ALL: [mqtt_if_result; 19] = [
        MQTT_IF_OK,
        MQTT_IF_ERR_NULL,
        MQTT_IF_ERR_UTF8,
        MQTT_IF_ERR_TOO_LONG,
        MQTT_IF_ERR_INVALID_PREFIX,
        MQTT_IF_ERR_INVALID_ARGUMENT,
        MQTT_IF_ERR_NO_PLATFORM,
        MQTT_IF_ERR_ATTACH,
        MQTT_IF_ERR_BUSY,
        MQTT_IF_ERR_NOT_CONNECTED,
        MQTT_IF_ERR_DROPPED,
        MQTT_IF_ERR_STATE,
        MQTT_IF_ERR_PANIC,
        MQTT_IF_ERR_INVALID_ADDRESS,
        MQTT_IF_ERR_BUFFER_TOO_SMALL,
        MQTT_IF_ERR_TOO_SHORT,
        MQTT_IF_ERR_FORGED,
        MQTT_IF_ERR_NOT_V2,
        MQTT_IF_ERR_RANDOM,
    ];

    /// The code with number `code`, if there is one.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.get(usize::try_from(code).ok()?).copied()
    }

    /// A NUL-terminated sentence saying what the code means.
    pub fn message(self) -> &'static CStr {
        match self {
            MQTT_IF_OK => c"success",
            MQTT_IF_ERR_NULL => c"a required pointer argument was NULL",
            MQTT_IF_ERR_UTF8 => c"a string argument is not UTF-8",
            MQTT_IF_ERR_TOO_LONG => c"a string argument is longer than its limit",
            MQTT_IF_ERR_INVALID_PREFIX => {
                c"invalid topic prefix (empty, '+', '#', leading '$' or longer than 128 bytes)"
            }
            MQTT_IF_ERR_INVALID_ARGUMENT => c"an argument is out of range",
            MQTT_IF_ERR_NO_PLATFORM => {
                c"no platform table registered, or a required callback is missing"
            }
            MQTT_IF_ERR_ATTACH => c"the platform could not attach the network interface",
            MQTT_IF_ERR_BUSY => c"the interface is busy: called back from a platform callback",
            MQTT_IF_ERR_NOT_CONNECTED => c"not connected to the MQTT broker; packet dropped",
            MQTT_IF_ERR_DROPPED => {
                c"packet dropped (malformed, wrong IP version or next hop, too large or transmit buffer full)"
            }
            MQTT_IF_ERR_STATE => c"the call does not fit the connection state",
            MQTT_IF_ERR_PANIC => c"internal error: the library panicked",
            MQTT_IF_ERR_INVALID_ADDRESS => {
                c"not an IPv6 address, or one an interface cannot have (multicast, loopback)"
            }
            MQTT_IF_ERR_BUFFER_TOO_SMALL => c"the output buffer is too small",
            MQTT_IF_ERR_TOO_SHORT => c"sealed payload too short for a header, a tag and a packet",
            MQTT_IF_ERR_FORGED => {
                c"authentication tag does not verify (wrong key, wrong topic or altered payload)"
            }
            MQTT_IF_ERR_NOT_V2 => c"payload is not wire v2 (no v2 magic)",
            MQTT_IF_ERR_RANDOM => c"the platform's random source failed",
        }
    }
}

/// What an exported function returns when its body fails or panics.
pub(crate) trait FfiReturn: Sized {
    /// The value for a body that returned `Err(code)`.
    fn from_error(code: mqtt_if_result) -> Self;
}

impl FfiReturn for mqtt_if_result {
    fn from_error(code: mqtt_if_result) -> Self {
        code
    }
}

impl FfiReturn for () {
    fn from_error(_: mqtt_if_result) -> Self {}
}

impl FfiReturn for bool {
    fn from_error(_: mqtt_if_result) -> Self {
        false
    }
}

impl FfiReturn for usize {
    fn from_error(_: mqtt_if_result) -> Self {
        0
    }
}

impl<T> FfiReturn for *mut T {
    fn from_error(_: mqtt_if_result) -> Self {
        core::ptr::null_mut()
    }
}

impl<T> FfiReturn for *const T {
    fn from_error(_: mqtt_if_result) -> Self {
        core::ptr::null()
    }
}

/// Runs an exported function's body, a closure returning
/// `Result<R, mqtt_if_result>`, and maps an error (and, with `std`, a
/// panic) to the function's failure value. Every profile of this crate
/// aborts on panic, so `catch_unwind` only matters where unwinding is on
/// (test builds); without `std` the panic handler of the port runs.
pub(crate) fn run<R: FfiReturn>(body: impl FnOnce() -> Result<R, mqtt_if_result>) -> R {
    #[cfg(feature = "std")]
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
        .unwrap_or(Err(MQTT_IF_ERR_PANIC));
    #[cfg(not(feature = "std"))]
    let result = body();
    result.unwrap_or_else(R::from_error)
}

/// The one boundary of every exported function: `ffi_fn!({ body })`, where
/// the body evaluates to `Result<R, mqtt_if_result>` and may use `?`.
macro_rules! ffi_fn {
    ($body:block) => {
        $crate::ffi::boundary::run(move || $body)
    };
}
pub(crate) use ffi_fn;

/// A required pointer as a shared reference.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` for `'a`.
pub(crate) unsafe fn non_null<'a, T>(ptr: *const T) -> Result<&'a T, mqtt_if_result> {
    // SAFETY: the caller's contract.
    unsafe { ptr.as_ref() }.ok_or(MQTT_IF_ERR_NULL)
}

/// A required NUL-terminated string of at most `max` bytes (before the NUL).
/// Reads at most `max + 1` bytes, so an unterminated buffer is refused as
/// too long instead of being read past.
///
/// # Safety
/// `ptr` is NULL or points to readable bytes up to its NUL or `max + 1`
/// bytes, whichever comes first.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const c_char,
    max: usize,
) -> Result<&'a [u8], mqtt_if_result> {
    if ptr.is_null() {
        return Err(MQTT_IF_ERR_NULL);
    }
    let ptr = ptr.cast::<u8>();
    let mut len = 0;
    // SAFETY: every byte read is at most the NUL or the (max+1)th byte.
    while unsafe { *ptr.add(len) } != 0 {
        if len == max {
            return Err(MQTT_IF_ERR_TOO_LONG);
        }
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL were just read.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// A required UTF-8 string of at most `max` bytes.
///
/// # Safety
/// As [`bytes_arg`].
pub(crate) unsafe fn str_arg<'a>(
    ptr: *const c_char,
    max: usize,
) -> Result<&'a str, mqtt_if_result> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { bytes_arg(ptr, max) }?;
    core::str::from_utf8(bytes).map_err(|_| MQTT_IF_ERR_UTF8)
}

/// An optional UTF-8 string: NULL and "" are `None`.
///
/// # Safety
/// As [`bytes_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    ptr: *const c_char,
    max: usize,
) -> Result<Option<&'a str>, mqtt_if_result> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    let s = unsafe { str_arg(ptr, max) }?;
    Ok((!s.is_empty()).then_some(s))
}

/// An optional byte string (a password): NULL is empty.
///
/// # Safety
/// As [`bytes_arg`].
pub(crate) unsafe fn opt_bytes_arg<'a>(
    ptr: *const c_char,
    max: usize,
) -> Result<&'a [u8], mqtt_if_result> {
    if ptr.is_null() {
        return Ok(&[]);
    }
    // SAFETY: forwarded contract.
    unsafe { bytes_arg(ptr, max) }
}
