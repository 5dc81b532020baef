//! The platform table: what the port (the lwIP netif shim plus a TCP
//! transport) does for the library, and the safe wrappers that call it.

use core::ffi::{c_char, c_int, c_void};
use core::fmt::{self, Write};
use core::net::Ipv6Addr;
use core::sync::atomic::{AtomicPtr, Ordering};

use alloc::boxed::Box;

use super::boundary::mqtt_if_result::{self, *};
use super::mqtt_if_data;

/// Log level of a message passed to `log`: something failed.
pub const MQTT_IF_LOG_ERROR: c_int = 1;
/// Log level: the link went up or down.
pub const MQTT_IF_LOG_INFO: c_int = 2;
/// Log level: details for debugging.
pub const MQTT_IF_LOG_DEBUG: c_int = 3;

/// The callbacks a port supplies. Every callback gets the `port_ctx` given
/// to `mqtt_if_set_platform` first. Callbacks marked required must be
/// non-NULL; the others may be NULL. No callback is called from an
/// interrupt, and none but `netif_input` may call back into the library
/// (that one may call `mqtt_if_output` and the `mqtt_if_set_*` functions,
/// as lwIP does when it answers a received packet at once).
///
/// Callbacks added in later versions go at the end, so a port that zeroes
/// the table before filling it in (as `mqtt_vpn_netif_platform` expects)
/// keeps compiling and leaves them NULL.
#[repr(C)]
#[derive(Clone, Copy, Default)]
#[allow(non_camel_case_types)]
pub struct mqtt_if_platform {
    /// Optional: create the network interface for `mq` with these
    /// addresses (lwIP byte order) and MTU; return 0 on success. Called
    /// once by each `mqtt_if_init*` before it returns.
    pub netif_attach: Option<
        unsafe extern "C" fn(
            port_ctx: *mut c_void,
            mq: *mut mqtt_if_data,
            ipaddr: u32,
            netmask: u32,
            gw: u32,
            mtu: u16,
        ) -> c_int,
    >,
    /// Optional: remove the network interface; called by `mqtt_if_del`.
    pub netif_detach: Option<unsafe extern "C" fn(port_ctx: *mut c_void)>,
    /// Required: hand a received IP packet to the IP stack. The bytes are
    /// valid only during the call: copy them (into a PBUF_RAM pbuf).
    pub netif_input:
        Option<unsafe extern "C" fn(port_ctx: *mut c_void, packet: *const u8, len: usize)>,
    /// Optional: set the interface's address, netmask and gateway.
    pub netif_set_addr:
        Option<unsafe extern "C" fn(port_ctx: *mut c_void, ipaddr: u32, netmask: u32, gw: u32)>,
    /// Optional: bring the interface up (`up` true) or down.
    pub netif_set_up: Option<unsafe extern "C" fn(port_ctx: *mut c_void, up: bool)>,
    /// Optional: set the interface MTU.
    pub netif_set_mtu: Option<unsafe extern "C" fn(port_ctx: *mut c_void, mtu: u16)>,
    /// Optional: set then clear lwIP `NETIF_FLAG_*` bits.
    pub netif_set_flags: Option<unsafe extern "C" fn(port_ctx: *mut c_void, set: u8, clear: u8)>,
    /// Required: start a TCP connection to the broker (`host` is
    /// NUL-terminated, a name or an address). Return 1 when connected now,
    /// 0 when connecting (then call `mqtt_if_tcp_connected` or
    /// `mqtt_if_tcp_closed` later, from the main loop), negative on
    /// failure (the library retries with backoff).
    pub tcp_connect: Option<
        unsafe extern "C" fn(port_ctx: *mut c_void, host: *const c_char, port: u16) -> c_int,
    >,
    /// Required: send bytes on the broker connection. Return how many were
    /// accepted (0 to `len`; the rest is offered again later), or negative
    /// if the connection failed.
    pub tcp_send:
        Option<unsafe extern "C" fn(port_ctx: *mut c_void, data: *const u8, len: usize) -> i32>,
    /// Required: close the broker connection (also one still connecting).
    /// Do not call `mqtt_if_tcp_closed` for it.
    pub tcp_close: Option<unsafe extern "C" fn(port_ctx: *mut c_void)>,
    /// Required: fill `buf` with `len` bytes from a CSPRNG (packet nonces,
    /// the MQTT client id) and return 0; return nonzero if the random
    /// source failed: a packet that needed the bytes is then dropped and
    /// counted (`dropped_no_random`), never sent with a predictable nonce.
    pub random:
        Option<unsafe extern "C" fn(port_ctx: *mut c_void, buf: *mut u8, len: usize) -> c_int>,
    /// Optional: one log line, `len` bytes, not NUL-terminated, at a
    /// `MQTT_IF_LOG_*` level.
    pub log: Option<
        unsafe extern "C" fn(port_ctx: *mut c_void, level: c_int, msg: *const c_char, len: usize),
    >,
    /// Optional: set the interface's IPv6 address, 16 bytes in network
    /// order (as `ip6_addr_t.addr`), valid only during the call; all zero
    /// (`::`) removes the address set before. Called by
    /// `mqtt_if_set_ip6addr`. A port without IPv6 leaves it NULL.
    pub netif_set_ip6addr: Option<unsafe extern "C" fn(port_ctx: *mut c_void, addr: *const u8)>,
}

/// `netif_input`: a received packet for the IP stack.
type NetifInputFn = unsafe extern "C" fn(port_ctx: *mut c_void, packet: *const u8, len: usize);
/// `tcp_connect`: 1 connected, 0 connecting, negative failed.
type TcpConnectFn =
    unsafe extern "C" fn(port_ctx: *mut c_void, host: *const c_char, port: u16) -> c_int;
/// `tcp_send`: bytes accepted, or negative.
type TcpSendFn = unsafe extern "C" fn(port_ctx: *mut c_void, data: *const u8, len: usize) -> i32;
/// `tcp_close`.
type TcpCloseFn = unsafe extern "C" fn(port_ctx: *mut c_void);
/// `random`: 0 when `buf` is filled, nonzero on failure.
type RandomFn = unsafe extern "C" fn(port_ctx: *mut c_void, buf: *mut u8, len: usize) -> c_int;

/// The required callbacks, checked once at registration: plain function
/// pointers from then on.
#[derive(Clone, Copy)]
struct Required {
    netif_input: NetifInputFn,
    tcp_connect: TcpConnectFn,
    tcp_send: TcpSendFn,
    tcp_close: TcpCloseFn,
    random: RandomFn,
}

/// The registration `mqtt_if_init*` uses: a copy of the table and the
/// port context, replaced by each `mqtt_if_set_platform`.
static REGISTERED: AtomicPtr<Platform> = AtomicPtr::new(core::ptr::null_mut());

/// Registers a copy of the table and the context the next `mqtt_if_init*`
/// uses. Like every call, made from the one thread that runs lwIP.
pub(crate) fn register(platform: Platform) {
    // Load then store, not `swap`: the ESP8266 and ESP32-C3 (riscv32imc)
    // have no compare-and-swap, and the single-thread contract makes the
    // pair atomic enough.
    let old = REGISTERED.load(Ordering::Acquire);
    REGISTERED.store(Box::into_raw(Box::new(platform)), Ordering::Release);
    if !old.is_null() {
        // SAFETY: came from Box::into_raw above; no one else holds it (the
        // single-thread contract), and `registered` copies it out.
        drop(unsafe { Box::from_raw(old) });
    }
}

/// The registered platform, copied.
pub(crate) fn registered() -> Result<Platform, mqtt_if_result> {
    // SAFETY: NULL or a Box from `register`, freed only by a later
    // `register` on the same thread.
    unsafe { REGISTERED.load(Ordering::Acquire).as_ref() }
        .copied()
        .ok_or(MQTT_IF_ERR_NO_PLATFORM)
}

/// A complete platform table and one interface's context: the required
/// callbacks as plain pointers, the optional ones as the port gave them.
#[derive(Clone, Copy)]
pub(crate) struct Platform {
    required: Required,
    table: mqtt_if_platform,
    ctx: *mut c_void,
}

/// What `tcp_connect` said.
pub(crate) enum Connect {
    Connected,
    Pending,
    Failed,
}

// Each wrapper calls into C with pointers that live for the call. The
// callbacks' contracts are in `mqtt_if_platform`'s docs.
impl Platform {
    pub(crate) fn new(table: mqtt_if_platform, ctx: *mut c_void) -> Result<Self, mqtt_if_result> {
        let missing = MQTT_IF_ERR_NO_PLATFORM;
        let required = Required {
            netif_input: table.netif_input.ok_or(missing)?,
            tcp_connect: table.tcp_connect.ok_or(missing)?,
            tcp_send: table.tcp_send.ok_or(missing)?,
            tcp_close: table.tcp_close.ok_or(missing)?,
            random: table.random.ok_or(missing)?,
        };
        Ok(Self {
            required,
            table,
            ctx,
        })
    }

    pub(crate) fn attach(
        &self,
        mq: *mut mqtt_if_data,
        ip: u32,
        mask: u32,
        gw: u32,
        mtu: u16,
    ) -> bool {
        match self.table.netif_attach {
            // SAFETY: see the impl comment.
            Some(f) => unsafe { f(self.ctx, mq, ip, mask, gw, mtu) == 0 },
            None => true,
        }
    }

    pub(crate) fn detach(&self) {
        if let Some(f) = self.table.netif_detach {
            // SAFETY: see the impl comment.
            unsafe { f(self.ctx) }
        }
    }

    pub(crate) fn input(&self, packet: &[u8]) {
        // SAFETY: see the impl comment.
        unsafe { (self.required.netif_input)(self.ctx, packet.as_ptr(), packet.len()) }
    }

    pub(crate) fn set_addr(&self, ip: u32, mask: u32, gw: u32) {
        if let Some(f) = self.table.netif_set_addr {
            // SAFETY: see the impl comment.
            unsafe { f(self.ctx, ip, mask, gw) }
        }
    }

    /// `None` removes the address (the port gets `::`).
    pub(crate) fn set_ip6addr(&self, addr: Option<Ipv6Addr>) {
        if let Some(f) = self.table.netif_set_ip6addr {
            let octets = addr.unwrap_or(Ipv6Addr::UNSPECIFIED).octets();
            // SAFETY: see the impl comment; `octets` holds 16 bytes.
            unsafe { f(self.ctx, octets.as_ptr()) }
        }
    }

    pub(crate) fn set_up(&self, up: bool) {
        if let Some(f) = self.table.netif_set_up {
            // SAFETY: see the impl comment.
            unsafe { f(self.ctx, up) }
        }
    }

    pub(crate) fn set_mtu(&self, mtu: u16) {
        if let Some(f) = self.table.netif_set_mtu {
            // SAFETY: see the impl comment.
            unsafe { f(self.ctx, mtu) }
        }
    }

    pub(crate) fn set_flags(&self, set: u8, clear: u8) {
        if let Some(f) = self.table.netif_set_flags {
            // SAFETY: see the impl comment.
            unsafe { f(self.ctx, set, clear) }
        }
    }

    /// `host` must end in a NUL.
    pub(crate) fn tcp_connect(&self, host: &[u8], port: u16) -> Connect {
        debug_assert_eq!(host.last(), Some(&0));
        let f = self.required.tcp_connect;
        // SAFETY: see the impl comment; `host` is NUL-terminated.
        match unsafe { f(self.ctx, host.as_ptr().cast(), port) } {
            1 => Connect::Connected,
            0 => Connect::Pending,
            _ => Connect::Failed,
        }
    }

    /// Bytes accepted, or `None` if the connection failed.
    pub(crate) fn tcp_send(&self, data: &[u8]) -> Option<usize> {
        // SAFETY: see the impl comment.
        let n = unsafe { (self.required.tcp_send)(self.ctx, data.as_ptr(), data.len()) };
        usize::try_from(n).ok().map(|n| n.min(data.len()))
    }

    pub(crate) fn tcp_close(&self) {
        // SAFETY: see the impl comment.
        unsafe { (self.required.tcp_close)(self.ctx) }
    }

    /// Fills `buf` from the port's CSPRNG; false if it failed (then `buf`
    /// is zeroed, never half random).
    pub(crate) fn random(&self, buf: &mut [u8]) -> bool {
        // SAFETY: see the impl comment.
        let ok = unsafe { (self.required.random)(self.ctx, buf.as_mut_ptr(), buf.len()) } == 0;
        if !ok {
            buf.fill(0);
        }
        ok
    }

    /// Formats into a stack buffer (no allocation) and logs; long lines are
    /// cut at 160 bytes.
    pub(crate) fn log(&self, level: c_int, args: fmt::Arguments<'_>) {
        let Some(f) = self.table.log else {
            return;
        };
        let mut line = Line {
            buf: [0; 160],
            len: 0,
        };
        let _ = line.write_fmt(args);
        // SAFETY: see the impl comment.
        unsafe { f(self.ctx, level, line.buf.as_ptr().cast(), line.len) }
    }
}

struct Line {
    buf: [u8; 160],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
