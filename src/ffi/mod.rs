//! The C ABI of the embedded path: the `mqtt_if_*` functions that an lwIP
//! port calls, declared in the generated `include/mqttif.h`.
//!
//! An interface (`struct mqtt_if_data`, opaque) joins the tunnel core and
//! the sans-IO MQTT session to a port: the lwIP netif shim
//! (`shim/mqtt_vpn_netif.c`) plus a TCP transport.
//! The port registers its callbacks ([`mqtt_if_platform`]) with
//! [`mqtt_if_set_platform`] before making an interface, then drives it:
//! [`mqtt_if_tick`] from its main loop, [`mqtt_if_tcp_received`] with the
//! broker's bytes, [`mqtt_if_output`] from the netif's output function and
//! [`mqtt_if_output6`] from its IPv6 one (after [`mqtt_if_set_ip6addr`]).
//!
//! Every exported function body runs inside [`ffi_fn!`](boundary::ffi_fn),
//! checks every pointer, and returns NULL or an [`mqtt_if_result`]
//! instead of panicking into C. Without `std`, [`embedded`] supplies the
//! allocator and panic handler of the bare-metal library.
#![allow(unsafe_code)]
// The exported names are C names; the safety contract of every function is
// stated once, in the header preamble (cbindgen.toml) and these docs.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

mod boundary;
mod interface;
mod platform;
mod stats;
mod wire;

#[cfg(not(feature = "std"))]
mod embedded;

use alloc::boxed::Box;
use alloc::vec;
use core::cell::RefCell;
use core::ffi::{c_char, c_int, c_void};
use core::net::Ipv6Addr;

use crate::uri::{BrokerUri, Scheme};
use boundary::{ffi_fn, non_null, opt_bytes_arg, opt_str_arg, str_arg};
use interface::{DEFAULT_KEEPALIVE_SECS, Interface, MIN_MTU, NextHop, Settings};
use platform::Platform;

pub use boundary::mqtt_if_result;
pub use platform::{MQTT_IF_LOG_DEBUG, MQTT_IF_LOG_ERROR, MQTT_IF_LOG_INFO, mqtt_if_platform};
pub use stats::{
    MQTT_IF_DROP_REASONS, mqtt_if_drop_reason, mqtt_if_drop_reason_str, mqtt_if_get_stats,
    mqtt_if_stats,
};
pub use wire::{
    MQTT_IF_KEY_LEN, MQTT_IF_MAX_PASSWORD, MQTT_IF_WIRE_V1_OVERHEAD, MQTT_IF_WIRE_V2_OVERHEAD,
    mqtt_if_key_v1, mqtt_if_key_v2, mqtt_if_open_v1, mqtt_if_open_v2, mqtt_if_seal_v1,
    mqtt_if_seal_v2,
};

use mqtt_if_result::*;

/// Longest broker host name, user name or password, in bytes.
pub const MQTT_IF_MAX_STRING: usize = 255;
/// Longest topic prefix, in bytes.
pub const MQTT_IF_MAX_PREFIX: usize = 128;
/// Longest topic the wire functions take, in bytes: a prefix, `/` and an
/// IPv6 address.
pub const MQTT_IF_MAX_TOPIC: usize = MQTT_IF_MAX_PREFIX + 1 + MQTT_IF_MAX_IP6ADDR;
/// Largest (and default) interface MTU.
pub const MQTT_IF_MAX_MTU: u16 = 1500;
/// Default broker port.
pub const MQTT_IF_DEFAULT_PORT: u16 = 1883;
/// Longest IPv6 address text `mqtt_if_set_ip6addr` takes, in bytes
/// (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`).
pub const MQTT_IF_MAX_IP6ADDR: usize = 45;

/// One tunnel interface: the tunnel, its MQTT session and broker
/// connection, and its buffers (allocated once, by `mqtt_if_init*`).
/// Opaque; made by `mqtt_if_init*` or `mqtt_if_new`, freed by
/// `mqtt_if_del`.
pub struct mqtt_if_data {
    /// Borrowed by every call; a call made while it is borrowed (from a
    /// platform callback other than `netif_input`) gets `MQTT_IF_ERR_BUSY`.
    iface: RefCell<Interface>,
    /// The packet being handed to `netif_input`; kept apart from `iface`
    /// so that lwIP may send its answer (`mqtt_if_output`) during that call.
    delivery: RefCell<Box<[u8]>>,
    platform: Platform,
    /// Set while the port's `netif_attach` or `netif_detach` runs: a
    /// `mqtt_if_del` from inside them does nothing (no second free).
    in_setup_or_teardown: core::cell::Cell<bool>,
}

/// Everything an interface is made from, for `mqtt_if_new`. Strings are
/// NUL-terminated and copied; NULL or "" means the default. Addresses are
/// in lwIP byte order (network order in memory, as `ip4_addr_t.addr`).
#[repr(C)]
pub struct mqtt_if_config {
    /// Broker host name or address (required, at most 255 bytes).
    pub broker_host: *const c_char,
    /// Broker port; 0 means 1883.
    pub broker_port: u16,
    /// Broker user name, or NULL.
    pub broker_user: *const c_char,
    /// Broker password, or NULL; needs a user name.
    pub broker_password: *const c_char,
    /// Topic prefix; NULL means "mqttip".
    pub topic_prefix: *const c_char,
    /// VPN password; NULL or "" means plain (unencrypted) mode.
    pub password: *const c_char,
    /// MQTT client id; NULL means `MQTT_VPN_<random>`.
    pub client_id: *const c_char,
    /// The interface address.
    pub ipaddr: u32,
    /// The netmask; 0 means 255.255.255.0.
    pub netmask: u32,
    /// The gateway (0.0.0.0 for none).
    pub gw: u32,
    /// The interface MTU, 68 to 1500; 0 means 1500.
    pub mtu: u16,
    /// MQTT keepalive in seconds; 0 means 120 (the ESP8266 library's).
    pub keepalive_secs: u16,
}

// ---- results and platform ----

/// A NUL-terminated English sentence for a result code (static, never
/// freed); "unknown result code" for numbers that are not one.
#[unsafe(no_mangle)]
pub extern "C" fn mqtt_if_result_str(result: u32) -> *const c_char {
    ffi_fn!({
        Ok(match mqtt_if_result::from_code(result) {
            Some(code) => code.message().as_ptr(),
            None => c"unknown result code".as_ptr(),
        })
    })
}

/// Registers the platform callbacks and the port context that the next
/// `mqtt_if_init*`/`mqtt_if_new` gives its interface. The table is copied
/// (it may go away after this call); `port_ctx` must stay valid until the
/// interfaces made with it are deleted. A port with several interfaces registers
/// before each init. Returns `MQTT_IF_ERR_NO_PLATFORM` (and keeps the
/// previous registration) if a required callback is missing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_set_platform(
    platform: *const mqtt_if_platform,
    port_ctx: *mut c_void,
) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: a non-NULL table is readable (contract above).
        let table = unsafe { non_null(platform) }?;
        platform::register(Platform::new(*table, port_ctx)?);
        Ok(MQTT_IF_OK)
    })
}

// ---- making and deleting interfaces ----

fn create(settings: &Settings<'_>) -> Result<*mut mqtt_if_data, mqtt_if_result> {
    let platform = platform::registered()?;
    if !(MIN_MTU..=usize::from(MQTT_IF_MAX_MTU)).contains(&settings.mtu) {
        return Err(MQTT_IF_ERR_INVALID_ARGUMENT);
    }
    let iface = Interface::new(settings, platform)?;
    let (ip, mask, gw) = iface.addresses();
    let mtu = iface.mtu();
    let mq = Box::into_raw(Box::new(mqtt_if_data {
        iface: RefCell::new(iface),
        delivery: RefCell::new(vec![0; mtu].into_boxed_slice()),
        platform,
        in_setup_or_teardown: core::cell::Cell::new(true),
    }));
    // `mtu` is at most MQTT_IF_MAX_MTU, checked above.
    let attached = platform.attach(mq, ip, mask, gw, mtu as u16);
    // SAFETY: `mq` is live: a delete from inside `attach` did nothing.
    unsafe { &*mq }.in_setup_or_teardown.set(false);
    if attached {
        Ok(mq)
    } else {
        // SAFETY: `mq` came from Box::into_raw above and was not handed out
        // (the failed attach must not keep it).
        drop(unsafe { Box::from_raw(mq) });
        Err(MQTT_IF_ERR_ATTACH)
    }
}

fn netmask_or_default(netmask: u32) -> u32 {
    if netmask == 0 {
        u32::from_ne_bytes([255, 255, 255, 0])
    } else {
        netmask
    }
}

/// Makes an interface from `config`; on success `*out` is the new handle
/// (free it with `mqtt_if_del`), on failure `*out` is NULL and the result
/// says why. The platform's `netif_attach` is called before this returns;
/// the broker connection starts at the first `mqtt_if_tick`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_new(
    config: *const mqtt_if_config,
    out: *mut *mut mqtt_if_data,
) -> mqtt_if_result {
    ffi_fn!({
        if out.is_null() {
            return Err(MQTT_IF_ERR_NULL);
        }
        // SAFETY: `out` is writable (contract); cleared first so that every
        // failure leaves NULL.
        unsafe { out.write(core::ptr::null_mut()) };
        // SAFETY: a non-NULL config is readable, its strings valid.
        let c = unsafe { non_null(config) }?;
        let settings = unsafe {
            Settings {
                host: str_arg(c.broker_host, MQTT_IF_MAX_STRING)?,
                port: if c.broker_port == 0 {
                    MQTT_IF_DEFAULT_PORT
                } else {
                    c.broker_port
                },
                user: opt_str_arg(c.broker_user, MQTT_IF_MAX_STRING)?,
                broker_password: opt_bytes_arg(c.broker_password, MQTT_IF_MAX_STRING)?,
                prefix: opt_str_arg(c.topic_prefix, MQTT_IF_MAX_PREFIX)
                    .map_err(prefix_error)?
                    .unwrap_or(crate::topic::DEFAULT_PREFIX),
                password: opt_bytes_arg(c.password, MQTT_IF_MAX_STRING)?,
                client_id: opt_str_arg(c.client_id, MQTT_IF_MAX_STRING)?,
                ipaddr: c.ipaddr,
                netmask: netmask_or_default(c.netmask),
                gw: c.gw,
                mtu: if c.mtu == 0 {
                    usize::from(MQTT_IF_MAX_MTU)
                } else {
                    usize::from(c.mtu)
                },
                keepalive_secs: if c.keepalive_secs == 0 {
                    DEFAULT_KEEPALIVE_SECS
                } else {
                    c.keepalive_secs
                },
            }
        };
        let mq = create(&settings)?;
        // SAFETY: as above.
        unsafe { out.write(mq) };
        Ok(MQTT_IF_OK)
    })
}

/// A prefix longer than its limit is an invalid prefix.
fn prefix_error(e: mqtt_if_result) -> mqtt_if_result {
    if e == MQTT_IF_ERR_TOO_LONG {
        MQTT_IF_ERR_INVALID_PREFIX
    } else {
        e
    }
}

/// The `mqtt_if_init*` family: builds the config and calls `mqtt_if_new`.
#[allow(clippy::too_many_arguments)]
unsafe fn init(
    host: *const c_char,
    port: u16,
    user: *const c_char,
    broker_password: *const c_char,
    topic_prefix: *const c_char,
    password: *const c_char,
    ipaddr: u32,
    netmask: u32,
    gw: u32,
) -> *mut mqtt_if_data {
    let config = mqtt_if_config {
        broker_host: host,
        broker_port: port,
        broker_user: user,
        broker_password,
        topic_prefix,
        password,
        client_id: core::ptr::null(),
        ipaddr,
        netmask,
        gw,
        mtu: 0,
        keepalive_secs: 0,
    };
    let mut mq = core::ptr::null_mut();
    // SAFETY: the caller's strings, forwarded; `config` and `mq` are local.
    unsafe { mqtt_if_new(&config, &mut mq) };
    mq
}

/// ESP8266 form: broker host name (port 1883), interface address (lwIP
/// byte order), VPN password ("" for plain mode). Netmask 255.255.255.0,
/// no gateway, prefix "mqttip". NULL on failure.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_init(
    broker: *const c_char,
    ipaddr: u32,
    password: *const c_char,
) -> *mut mqtt_if_data {
    let null = core::ptr::null();
    // SAFETY: forwarded.
    ffi_fn!({ Ok(unsafe { init(broker, 0, null, null, null, password, ipaddr, 0, 0) }) })
}

/// ESP8266 form with a broker login. NULL on failure.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_init_auth(
    broker: *const c_char,
    user: *const c_char,
    broker_password: *const c_char,
    ipaddr: u32,
    password: *const c_char,
) -> *mut mqtt_if_data {
    let null = core::ptr::null();
    ffi_fn!({
        // SAFETY: forwarded.
        Ok(unsafe {
            init(
                broker,
                0,
                user,
                broker_password,
                null,
                password,
                ipaddr,
                0,
                0,
            )
        })
    })
}

/// ESP8266 full form: port (1 to 65535), topic prefix, netmask and gateway
/// too. NULL on failure.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mqtt_if_init_full(
    broker: *const c_char,
    user: *const c_char,
    broker_password: *const c_char,
    port: c_int,
    topic_prefix: *const c_char,
    password: *const c_char,
    ipaddr: u32,
    netmask: u32,
    gw: u32,
) -> *mut mqtt_if_data {
    ffi_fn!({
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or(MQTT_IF_ERR_INVALID_ARGUMENT)?;
        // SAFETY: forwarded.
        Ok(unsafe {
            init(
                broker,
                port,
                user,
                broker_password,
                topic_prefix,
                password,
                ipaddr,
                netmask,
                gw,
            )
        })
    })
}

/// Splits `mqtt://host:port` (also `tcp://`, or no scheme; port 1883 if
/// absent; `[v6]` hosts) into host and port with the core's parser; TLS
/// and WebSocket URIs are refused (the port's transport is plain TCP).
fn parse_broker_uri(uri: &str) -> Result<(&str, u16), mqtt_if_result> {
    match BrokerUri::parse(uri) {
        Ok(BrokerUri {
            scheme: Scheme::Tcp,
            host,
            port,
            ..
        }) if !host.contains('/') => Ok((host, port)),
        _ => Err(MQTT_IF_ERR_INVALID_ARGUMENT),
    }
}

/// ESP32 form: a broker URI `mqtt://host[:port]` (TLS URIs are refused),
/// login, prefix, VPN password and addresses. NULL on failure.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mqtt_vpn_if_init(
    broker_uri: *const c_char,
    user: *const c_char,
    broker_password: *const c_char,
    topic_prefix: *const c_char,
    password: *const c_char,
    ipaddr: u32,
    netmask: u32,
    gw: u32,
) -> *mut mqtt_if_data {
    ffi_fn!({
        // SAFETY: the caller's string.
        let uri = unsafe { str_arg(broker_uri, MQTT_IF_MAX_STRING + 16) }?;
        let (host, port) = parse_broker_uri(uri)?;
        let mut host_z = [0u8; MQTT_IF_MAX_STRING + 1];
        let host_z = host_z
            .get_mut(..host.len() + 1)
            .ok_or(MQTT_IF_ERR_TOO_LONG)?;
        host_z[..host.len()].copy_from_slice(host.as_bytes());
        // SAFETY: forwarded; `host_z` is NUL-terminated and outlives the call.
        Ok(unsafe {
            init(
                host_z.as_ptr().cast(),
                port,
                user,
                broker_password,
                topic_prefix,
                password,
                ipaddr,
                netmask,
                gw,
            )
        })
    })
}

/// Deletes an interface: says DISCONNECT to the broker, closes the
/// connection, detaches the netif and frees everything. NULL is a no-op,
/// and so is a call from a platform callback (the port's `netif_attach` or
/// `netif_detach` included): the interface is freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_del(mq: *mut mqtt_if_data) {
    ffi_fn!({
        if mq.is_null() {
            return Ok(());
        }
        {
            // SAFETY: a non-NULL handle is live (contract).
            let data = unsafe { &*mq };
            if data.in_setup_or_teardown.get() {
                return Err(MQTT_IF_ERR_BUSY);
            }
            let (Ok(mut iface), Ok(_delivery)) =
                (data.iface.try_borrow_mut(), data.delivery.try_borrow_mut())
            else {
                return Err(MQTT_IF_ERR_BUSY);
            };
            iface.shut_down();
            data.in_setup_or_teardown.set(true);
        }
        // SAFETY: live (contract), no borrows left.
        unsafe { &*mq }.platform.detach();
        // SAFETY: came from Box::into_raw in `create`; the caller gives it up.
        drop(unsafe { Box::from_raw(mq) });
        Ok(())
    })
}

// ---- driving ----

/// The handle as a reference.
///
/// # Safety
/// NULL or a live handle from `mqtt_if_init*`.
unsafe fn handle<'a>(mq: *const mqtt_if_data) -> Result<&'a mqtt_if_data, mqtt_if_result> {
    // SAFETY: forwarded.
    unsafe { non_null(mq) }
}

/// Runs `f` on the interface; `MQTT_IF_ERR_BUSY` if it is in use.
fn with<R>(
    mq: &mqtt_if_data,
    f: impl FnOnce(&mut Interface) -> Result<R, mqtt_if_result>,
) -> Result<R, mqtt_if_result> {
    let mut iface = mq.iface.try_borrow_mut().map_err(|_| MQTT_IF_ERR_BUSY)?;
    f(&mut iface)
}

/// Runs the timers: call from the main loop, every few milliseconds and at
/// least every 100 ms, with a monotonic clock in milliseconds. Connects to
/// the broker (first call), reconnects with backoff (1 s doubling to 30 s)
/// and subscribes again after a connection was lost, sends keepalives and
/// what is queued.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_tick(mq: *mut mqtt_if_data, now_ms: u64) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: contract of `handle`.
        with(unsafe { handle(mq) }?, |i| {
            i.tick(now_ms);
            Ok(MQTT_IF_OK)
        })
    })
}

/// The TCP connection that `tcp_connect` started (returning 0) is up.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_tcp_connected(mq: *mut mqtt_if_data) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: contract of `handle`.
        with(unsafe { handle(mq) }?, |i| {
            i.tcp_connected().map(|()| MQTT_IF_OK)
        })
    })
}

/// The broker connection closed, or the connecting one failed. The library
/// does not call `tcp_close` for it and reconnects after the backoff.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_tcp_closed(mq: *mut mqtt_if_data) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: contract of `handle`.
        with(unsafe { handle(mq) }?, |i| {
            i.tcp_closed().map(|()| MQTT_IF_OK)
        })
    })
}

/// Bytes received from the broker. Returns how many were taken (0 on a
/// NULL argument); the rest must be offered again later (after a tick),
/// which happens only when the socket does not take what the library
/// sends. Received packets go to `netif_input` during this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_tcp_received(
    mq: *mut mqtt_if_data,
    data: *const u8,
    len: usize,
) -> usize {
    ffi_fn!({
        // SAFETY: contract of `handle`.
        let mq = unsafe { handle(mq) }?;
        if len == 0 {
            return Ok(0);
        }
        if data.is_null() {
            return Err(MQTT_IF_ERR_NULL);
        }
        // SAFETY: `data` holds `len` readable bytes (contract).
        let data = unsafe { core::slice::from_raw_parts(data, len) };
        let mut consumed = 0;
        while consumed < data.len() {
            let Ok(mut delivery) = mq.delivery.try_borrow_mut() else {
                break;
            };
            let step = match mq.iface.try_borrow_mut() {
                Ok(mut iface) => iface.receive(&data[consumed..], &mut delivery),
                Err(_) => break,
            };
            consumed += step.consumed;
            if let Some(n) = step.deliver {
                // No borrow of `iface` is held: lwIP may answer at once.
                mq.platform.input(&delivery[..n]);
            }
            if step.stalled {
                break;
            }
        }
        Ok(consumed)
    })
}

/// A packet from the netif's IPv4 output function, for `next_hop` (lwIP
/// byte order): the core seals it for and publishes it to
/// `<prefix>/<next hop>`; 0 means the packet's destination. An IPv6 packet is taken only with
/// next hop 0 (and goes to its destination's topic); IPv6 ports call
/// `mqtt_if_output6`. Copied: the caller keeps the buffer.
/// `MQTT_IF_ERR_NOT_CONNECTED` or `MQTT_IF_ERR_DROPPED` mean the packet
/// was dropped, as a full link drops it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_output(
    mq: *mut mqtt_if_data,
    packet: *const u8,
    len: usize,
    next_hop: u32,
) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: contract of `handle`.
        let mq = unsafe { handle(mq) }?;
        // SAFETY: a non-NULL `packet` holds `len` readable bytes (contract).
        let packet = unsafe { packet_arg(packet, len) }?;
        let hop = NextHop::V4(interface::ipv4(next_hop));
        with(mq, |i| i.output(packet, hop).map(|()| MQTT_IF_OK))
    })
}

/// An IPv6 packet from the netif's `output_ip6` function: published to
/// `<prefix>/<destination>` (the destination as RFC 5952 writes it;
/// ff02::1 to the all-nodes topic, other multicast dropped). `next_hop` is
/// NULL or 16 bytes in network order (as `ip6_addr_t.addr`): lwIP's next
/// hop, which must be `::` or the packet's destination (what lwIP passes
/// on an interface without neighbour discovery); the core carries IPv6 to
/// the destination's topic only, so another next hop, like an IPv4
/// packet, is `MQTT_IF_ERR_DROPPED`. Copied: the caller keeps the buffer.
/// Results as for `mqtt_if_output`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_output6(
    mq: *mut mqtt_if_data,
    packet: *const u8,
    len: usize,
    next_hop: *const u8,
) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: contract of `handle`.
        let mq = unsafe { handle(mq) }?;
        // SAFETY: a non-NULL `packet` holds `len` readable bytes (contract).
        let packet = unsafe { packet_arg(packet, len) }?;
        // SAFETY: a non-NULL `next_hop` holds 16 readable bytes (contract);
        // `[u8; 16]` has alignment 1.
        let hop = unsafe { next_hop.cast::<[u8; 16]>().as_ref() }.map(|b| Ipv6Addr::from(*b));
        with(mq, |i| {
            i.output(packet, NextHop::V6(hop)).map(|()| MQTT_IF_OK)
        })
    })
}

/// A required packet argument of `len` bytes.
///
/// # Safety
/// `packet` is NULL or points to `len` readable bytes.
unsafe fn packet_arg<'a>(packet: *const u8, len: usize) -> Result<&'a [u8], mqtt_if_result> {
    if packet.is_null() {
        return Err(MQTT_IF_ERR_NULL);
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { core::slice::from_raw_parts(packet, len) })
}

/// Whether the MQTT session is up (the broker accepted the CONNECT).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_is_connected(mq: *const mqtt_if_data) -> bool {
    ffi_fn!({
        // SAFETY: contract of `handle`.
        let mq = unsafe { handle(mq) }?;
        Ok(mq.iface.try_borrow().is_ok_and(|i| i.is_connected()))
    })
}

// ---- topics ----

/// Runs a change on the interface and returns `MQTT_IF_OK`.
unsafe fn change(mq: *mut mqtt_if_data, f: impl FnOnce(&mut Interface)) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: contract of `handle`.
        with(unsafe { handle(mq) }?, |i| {
            f(i);
            Ok(MQTT_IF_OK)
        })
    })
}

/// Also reads `<prefix>/<addr>` (a LAN host this node routes for);
/// subscribed at once when connected, and after every reconnect.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_add_reading_topic(
    mq: *mut mqtt_if_data,
    addr: u32,
) -> mqtt_if_result {
    // SAFETY: forwarded.
    unsafe { change(mq, |i| i.add_reading_topic(addr)) }
}

/// Also reads `<prefix>/#`: all traffic under the prefix.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_add_wildcard_reading_topic(
    mq: *mut mqtt_if_data,
) -> mqtt_if_result {
    // SAFETY: forwarded.
    unsafe { change(mq, Interface::add_wildcard_reading_topic) }
}

/// Forgets the extra reading topics (and the wildcard) and unsubscribes
/// them; the own address and broadcast stay.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_flush_reading_topic(mq: *mut mqtt_if_data) -> mqtt_if_result {
    // SAFETY: forwarded.
    unsafe { change(mq, Interface::flush_reading_topics) }
}

/// Subscribes the reading topics (the default after init).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_subscribe(mq: *mut mqtt_if_data) -> mqtt_if_result {
    // SAFETY: forwarded.
    unsafe { change(mq, Interface::subscribe) }
}

/// Unsubscribes the reading topics; reconnects do not subscribe them until
/// `mqtt_if_subscribe`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_unsubscribe(mq: *mut mqtt_if_data) -> mqtt_if_result {
    // SAFETY: forwarded.
    unsafe { change(mq, Interface::unsubscribe) }
}

// ---- configuration ----

/// Replaces the VPN password (NULL or "": plain mode), at most 255 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_set_password(
    mq: *mut mqtt_if_data,
    password: *const c_char,
) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: contract of `handle` and of strings.
        let mq = unsafe { handle(mq) }?;
        let password = unsafe { opt_bytes_arg(password, MQTT_IF_MAX_STRING) }?;
        with(mq, |i| {
            i.set_password(password);
            Ok(MQTT_IF_OK)
        })
    })
}

/// Applies an address change to the interface, then to the netif.
unsafe fn set_address(
    mq: *mut mqtt_if_data,
    f: impl FnOnce(&mut Interface) -> Result<(), mqtt_if_result>,
) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: contract of `handle`.
        let mq = unsafe { handle(mq) }?;
        let (ip, mask, gw) = with(mq, |i| {
            f(i)?;
            Ok(i.addresses())
        })?;
        mq.platform.set_addr(ip, mask, gw);
        Ok(MQTT_IF_OK)
    })
}

/// Moves the interface to `addr` (lwIP byte order): the netif's address
/// and the subscription `<prefix>/<addr>` change with it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_set_ipaddr(mq: *mut mqtt_if_data, addr: u32) -> mqtt_if_result {
    // SAFETY: forwarded.
    unsafe {
        set_address(mq, |i| {
            i.set_ipaddr(addr);
            Ok(())
        })
    }
}

/// Gives the interface the IPv6 address `addr`, in text form (`"fd00::2"`,
/// RFC 4291 section 2.2, no zone; at most 45 bytes). The netif gets the
/// address (the platform's `netif_set_ip6addr`) and the interface reads
/// `<prefix>/<addr>` (the address as RFC 5952 writes it) and the all-nodes
/// topic `<prefix>/ff02::1`, subscribed at once when connected; IPv6
/// packets then go out through `mqtt_if_output6`. `"::"` removes the IPv6
/// address and unsubscribes both topics. Text that is not UTF-8 is
/// `MQTT_IF_ERR_UTF8`, longer than 45 bytes `MQTT_IF_ERR_TOO_LONG`, not an
/// IPv6 address, or a multicast or loopback one, `MQTT_IF_ERR_INVALID_ADDRESS`;
/// nothing changes then. The replay memory and counters stay.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_set_ip6addr(
    mq: *mut mqtt_if_data,
    addr: *const c_char,
) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: contract of `handle` and of strings.
        let mq = unsafe { handle(mq) }?;
        let text = unsafe { str_arg(addr, MQTT_IF_MAX_IP6ADDR) }?;
        let addr: Ipv6Addr = text.parse().map_err(|_| MQTT_IF_ERR_INVALID_ADDRESS)?;
        if addr.is_multicast() || addr.is_loopback() {
            return Err(MQTT_IF_ERR_INVALID_ADDRESS);
        }
        let addr = (!addr.is_unspecified()).then_some(addr);
        with(mq, |i| {
            i.set_ip6addr(addr);
            Ok(())
        })?;
        mq.platform.set_ip6addr(addr);
        Ok(MQTT_IF_OK)
    })
}

/// Sets the netmask (lwIP byte order). A mask whose ones are not
/// contiguous is `MQTT_IF_ERR_INVALID_ARGUMENT`, and nothing changes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_set_netmask(mq: *mut mqtt_if_data, addr: u32) -> mqtt_if_result {
    // SAFETY: forwarded.
    unsafe { set_address(mq, |i| i.set_netmask(addr)) }
}

/// Sets the gateway (lwIP byte order).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_set_gw(mq: *mut mqtt_if_data, addr: u32) -> mqtt_if_result {
    // SAFETY: forwarded.
    unsafe {
        set_address(mq, |i| {
            i.set_gw(addr);
            Ok(())
        })
    }
}

/// Calls a netif control callback after checking the handle is free.
unsafe fn netif_control(mq: *mut mqtt_if_data, f: impl FnOnce(&Platform)) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: contract of `handle`.
        let mq = unsafe { handle(mq) }?;
        with(mq, |_| Ok(()))?;
        f(&mq.platform);
        Ok(MQTT_IF_OK)
    })
}

/// Brings the netif up.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_set_up(mq: *mut mqtt_if_data) -> mqtt_if_result {
    // SAFETY: forwarded.
    unsafe { netif_control(mq, |p| p.set_up(true)) }
}

/// Takes the netif down (the broker connection stays).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_set_down(mq: *mut mqtt_if_data) -> mqtt_if_result {
    // SAFETY: forwarded.
    unsafe { netif_control(mq, |p| p.set_up(false)) }
}

/// Sets the MTU: 68 up to the MTU the interface was made with (1500).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_set_mtu(mq: *mut mqtt_if_data, mtu: c_int) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: contract of `handle`.
        let mq = unsafe { handle(mq) }?;
        let mtu = u16::try_from(mtu).map_err(|_| MQTT_IF_ERR_INVALID_ARGUMENT)?;
        with(mq, |i| i.set_mtu(usize::from(mtu)))?;
        mq.platform.set_mtu(mtu);
        Ok(MQTT_IF_OK)
    })
}

fn flag(flag: c_int) -> Result<u8, mqtt_if_result> {
    u8::try_from(flag).map_err(|_| MQTT_IF_ERR_INVALID_ARGUMENT)
}

/// Sets lwIP `NETIF_FLAG_*` bits (0 to 255) on the netif.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_set_flag(mq: *mut mqtt_if_data, flags: c_int) -> mqtt_if_result {
    ffi_fn!({
        let bits = flag(flags)?;
        // SAFETY: forwarded.
        Ok(unsafe { netif_control(mq, |p| p.set_flags(bits, 0)) })
    })
}

/// Clears lwIP `NETIF_FLAG_*` bits (0 to 255) on the netif.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_clear_flag(mq: *mut mqtt_if_data, flags: c_int) -> mqtt_if_result {
    ffi_fn!({
        let bits = flag(flags)?;
        // SAFETY: forwarded.
        Ok(unsafe { netif_control(mq, |p| p.set_flags(0, bits)) })
    })
}

/// Sets the MQTT keepalive (seconds, 0 = off; the default is 120). The
/// session is made anew, so a live connection is closed and made again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_set_keepalive(mq: *mut mqtt_if_data, secs: u16) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: contract of `handle`.
        with(unsafe { handle(mq) }?, |i| {
            i.set_keepalive(secs).map(|()| MQTT_IF_OK)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_uris_split_into_host_and_port() {
        assert_eq!(
            parse_broker_uri("mqtt://b.example:1884"),
            Ok(("b.example", 1884))
        );
        assert_eq!(parse_broker_uri("tcp://10.0.0.1"), Ok(("10.0.0.1", 1883)));
        assert_eq!(parse_broker_uri("broker"), Ok(("broker", 1883)));
        assert_eq!(parse_broker_uri("mqtt://[::1]:99/"), Ok(("::1", 99)));
        for bad in [
            "mqtts://b:8883",
            "ws://b",
            "mqtt://",
            "mqtt://b:0",
            "mqtt://b:x",
            "mqtt://u@b",
        ] {
            assert_eq!(
                parse_broker_uri(bad),
                Err(MQTT_IF_ERR_INVALID_ARGUMENT),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_result_code_has_a_message_and_its_number() {
        for (n, code) in mqtt_if_result::ALL.iter().enumerate() {
            assert_eq!(*code as usize, n);
            assert_eq!(mqtt_if_result::from_code(n as u32), Some(*code));
            assert!(!code.message().is_empty());
        }
        assert_eq!(mqtt_if_result::from_code(99), None);
    }
}
