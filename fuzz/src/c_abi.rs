//! The C ABI: an interface made through one of the `mqtt_if_init*`
//! functions or `mqtt_if_new`, then driven by a list of calls as a port
//! would make them (ticks, broker bytes, packets from lwIP, setters with
//! arbitrary strings), then deleted. The port is a fake platform table
//! whose callbacks check what the library hands them; it can answer a
//! received packet from inside `netif_input` and call back into the
//! library from `tcp_send`, as the contract allows and forbids.
//!
//! Input: `setup || creation arguments || calls`. Setup: bits 0-1 which
//! constructor (`mqtt_if_new`, `mqtt_if_init`, `mqtt_if_init_full`,
//! `mqtt_vpn_if_init`), bit 2 the VPN password "secret" (for the `init`
//! forms), bit 3 `tcp_connect` answers "connecting" instead of
//! "connected", bit 4 `netif_input` answers every packet with
//! `mqtt_if_output`, bit 5 `tcp_send` calls `mqtt_if_tick` and
//! `mqtt_if_del` (both refused as busy), bit 6 `netif_attach` fails, bit 7
//! a table with only the required callbacks. Strings are a length byte and
//! the bytes (see [`Input::c_string`]). Each call is one byte (see
//! [`Driver::call`]) followed by its arguments.

use std::ffi::{c_char, c_int, c_void};
use std::net::Ipv4Addr;
use std::sync::Mutex;

use mqttvpn::ffi::{self, mqtt_if_config, mqtt_if_data, mqtt_if_platform, mqtt_if_result};
use mqttvpn::ip::IpHeader;
use mqttvpn::topic;
use mqttvpn::wire::{self, Key};

use super::input::Input;
use mqtt_if_result::*;

/// Longest string argument of the C ABI.
const MAX_STRING: usize = 255;
/// Most calls made for one input.
const MAX_CALLS: usize = 512;

/// The platform registration is global: one run at a time (tests run in
/// parallel threads).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What the run did, for the regression tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the interface was made.
    pub created: bool,
    /// Calls made on it.
    pub calls: usize,
    /// Packets handed to `netif_input`.
    pub delivered: usize,
    /// Bytes the library sent to the broker.
    pub sent: usize,
}

/// The fake port: how it answers, what it saw, and every broken promise.
struct Port {
    mq: *mut mqtt_if_data,
    connect_result: c_int,
    /// 0: take everything; 1: at most 7 bytes a call; 2: nothing; 3: fail.
    send_mode: u8,
    answer_from_input: bool,
    reenter_from_send: bool,
    attach_fails: bool,
    mtu: u16,
    detached: usize,
    delivered: usize,
    sent: usize,
    random: u8,
    violations: Vec<String>,
}

/// The port behind a callback's context.
///
/// # Safety
/// `ctx` is the `Port` registered by [`run`], alive for the whole run.
unsafe fn port<'a>(ctx: *mut c_void) -> &'a mut Port {
    // SAFETY: the caller's contract; the library calls back on this thread
    // only, and `run` touches the port only between library calls.
    unsafe { &mut *ctx.cast::<Port>() }
}

impl Port {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.violations.push(what());
        }
    }
}

unsafe extern "C" fn attach(
    ctx: *mut c_void,
    mq: *mut mqtt_if_data,
    _ip: u32,
    _mask: u32,
    _gw: u32,
    mtu: u16,
) -> c_int {
    // SAFETY: registered by `run`.
    let port = unsafe { port(ctx) };
    port.check(!mq.is_null(), || "netif_attach got NULL".into());
    port.check((68..=1500).contains(&mtu), || format!("attach MTU {mtu}"));
    if port.attach_fails {
        return -1;
    }
    port.mq = mq;
    port.mtu = mtu;
    0
}

unsafe extern "C" fn detach(ctx: *mut c_void) {
    // SAFETY: registered by `run`.
    unsafe { port(ctx) }.detached += 1;
}

unsafe extern "C" fn input(ctx: *mut c_void, packet: *const u8, len: usize) {
    // SAFETY: registered by `run`.
    let port = unsafe { port(ctx) };
    port.delivered += 1;
    if packet.is_null() {
        return port.violations.push("netif_input got NULL".into());
    }
    // SAFETY: the library hands `len` readable bytes for the call.
    let bytes = unsafe { std::slice::from_raw_parts(packet, len) };
    let mtu = usize::from(port.mtu);
    port.check(len <= mtu, || {
        format!("delivered {len} bytes over MTU {mtu}")
    });
    let total = IpHeader::parse(bytes).map(|h| h.total_len);
    port.check(total == Ok(len), || {
        format!("delivered {len} bytes: {total:?}")
    });
    if port.answer_from_input {
        let mq = port.mq;
        // As lwIP answers a ping: allowed from netif_input.
        // SAFETY: `mq` is the live interface that is delivering.
        let r = unsafe { ffi::mqtt_if_output(mq, packet, len, 0) };
        // SAFETY: as above; `port` is not used across the call.
        let port = unsafe { self::port(ctx) };
        port.check(
            matches!(
                r,
                MQTT_IF_OK | MQTT_IF_ERR_NOT_CONNECTED | MQTT_IF_ERR_DROPPED
            ),
            || format!("mqtt_if_output from netif_input: {r:?}"),
        );
    }
}

unsafe extern "C" fn set_addr(_: *mut c_void, _: u32, _: u32, _: u32) {}

unsafe extern "C" fn set_up(_: *mut c_void, _: bool) {}

unsafe extern "C" fn set_mtu(ctx: *mut c_void, mtu: u16) {
    // SAFETY: registered by `run`.
    let port = unsafe { port(ctx) };
    let max = port.mtu;
    port.check((68..=max).contains(&mtu), || {
        format!("set MTU {mtu} > {max}")
    });
}

unsafe extern "C" fn set_flags(_: *mut c_void, _: u8, _: u8) {}

unsafe extern "C" fn connect(ctx: *mut c_void, host: *const c_char, port_number: u16) -> c_int {
    // SAFETY: registered by `run`.
    let port = unsafe { port(ctx) };
    if host.is_null() {
        port.violations.push("tcp_connect got NULL".into());
        return -1;
    }
    // SAFETY: the library passes a NUL-terminated host name.
    let host = unsafe { std::ffi::CStr::from_ptr(host) };
    let len = host.to_bytes().len();
    port.check((1..=MAX_STRING).contains(&len), || {
        format!("host of {len} bytes")
    });
    port.check(port_number != 0, || "port 0".into());
    port.connect_result
}

unsafe extern "C" fn send(ctx: *mut c_void, data: *const u8, len: usize) -> i32 {
    // SAFETY: registered by `run`.
    let port = unsafe { port(ctx) };
    port.check(!data.is_null() && len > 0, || format!("tcp_send({len})"));
    if port.reenter_from_send {
        let mq = port.mq;
        // Forbidden from a callback: both must be refused, and the
        // interface must survive.
        // SAFETY: `mq` is the live interface that is sending.
        let tick = unsafe { ffi::mqtt_if_tick(mq, 0) };
        // SAFETY: as above; refused while in use.
        unsafe { ffi::mqtt_if_del(mq) };
        // SAFETY: as above.
        let port = unsafe { self::port(ctx) };
        port.check(tick == MQTT_IF_ERR_BUSY, || {
            format!("mqtt_if_tick from tcp_send: {tick:?}")
        });
    }
    // SAFETY: as above.
    let port = unsafe { self::port(ctx) };
    let taken = match port.send_mode {
        0 => len,
        1 => len.min(7),
        2 => 0,
        _ => return -1,
    };
    port.sent += taken;
    taken as i32
}

unsafe extern "C" fn close(_: *mut c_void) {}

unsafe extern "C" fn random(ctx: *mut c_void, buf: *mut u8, len: usize) -> c_int {
    // SAFETY: registered by `run`.
    let port = unsafe { port(ctx) };
    for i in 0..len {
        port.random = port.random.wrapping_add(0x3b);
        // SAFETY: the library passes `len` writable bytes.
        unsafe { buf.add(i).write(port.random) };
    }
    0
}

unsafe extern "C" fn log(ctx: *mut c_void, level: c_int, msg: *const c_char, len: usize) {
    // SAFETY: registered by `run`.
    let port = unsafe { port(ctx) };
    port.check((1..=3).contains(&level), || format!("log level {level}"));
    port.check(!msg.is_null() && len <= 160, || {
        format!("log line of {len}")
    });
}

/// The callbacks; any the harness does not know (added to the table
/// later) are NULL, which every optional callback may be.
#[allow(clippy::needless_update)]
fn table(minimal: bool) -> mqtt_if_platform {
    let optional = !minimal;
    mqtt_if_platform {
        netif_attach: optional.then_some(attach as _),
        netif_detach: optional.then_some(detach as _),
        netif_input: Some(input),
        netif_set_addr: optional.then_some(set_addr as _),
        netif_set_up: optional.then_some(set_up as _),
        netif_set_mtu: optional.then_some(set_mtu as _),
        netif_set_flags: optional.then_some(set_flags as _),
        tcp_connect: Some(connect),
        tcp_send: Some(send),
        tcp_close: Some(close),
        random: Some(random),
        log: optional.then_some(log as _),
        // SAFETY: every field of the table is an `Option` of a function
        // pointer, for which all zeros is `None`.
        ..unsafe { std::mem::zeroed() }
    }
}

/// A C string argument: NULL for an empty one.
fn ptr(s: &[u8]) -> *const c_char {
    if s.len() <= 1 {
        std::ptr::null()
    } else {
        s.as_ptr().cast()
    }
}

/// The text of a C string argument, if it is one the library takes.
fn text(s: &[u8]) -> Option<&str> {
    let bytes = s.strip_suffix(&[0]).unwrap_or(s);
    std::str::from_utf8(bytes).ok().filter(|t| !t.is_empty())
}

fn lwip(addr: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(addr.octets())
}

/// Runs the input.
pub fn run(data: &[u8]) -> Outcome {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut input = Input::new(data);
    let setup = input.u8();
    let port = Box::into_raw(Box::new(Port {
        mq: std::ptr::null_mut(),
        connect_result: if setup & 0x08 != 0 { 0 } else { 1 },
        send_mode: 0,
        answer_from_input: setup & 0x10 != 0,
        reenter_from_send: setup & 0x20 != 0,
        attach_fails: setup & 0x40 != 0,
        mtu: 1500,
        detached: 0,
        delivered: 0,
        sent: 0,
        random: 0,
        violations: Vec::new(),
    }));
    let minimal = setup & 0x80 != 0;
    let table = table(minimal);
    // SAFETY: the table is copied; `port` outlives every interface of this run.
    let registered = unsafe { ffi::mqtt_if_set_platform(&table, port.cast()) };
    assert_eq!(registered, MQTT_IF_OK);

    let mut driver = Driver::create(setup, &mut input, port);
    let mut outcome = Outcome {
        created: !driver.mq.is_null(),
        ..Outcome::default()
    };
    if driver.mq.is_null() {
        driver.null_handles_are_refused();
    } else {
        // SAFETY: only read between library calls.
        let attached = unsafe { (*port).mq };
        if !minimal {
            assert_eq!(attached, driver.mq, "netif_attach got another handle");
        }
        // The minimal table has no netif_attach: the port learns the handle here.
        // SAFETY: as above.
        unsafe { (*port).mq = driver.mq };
        while !input.is_empty() && outcome.calls < MAX_CALLS {
            driver.call(&mut input);
            outcome.calls += 1;
            driver.check_port();
        }
        // SAFETY: the live handle, given up here.
        unsafe { ffi::mqtt_if_del(driver.mq) };
        driver.check_port();
        // SAFETY: as above.
        let detached = unsafe { (*port).detached };
        assert_eq!(detached, usize::from(!minimal), "netif_detach calls");
    }
    // SAFETY: NULL is a no-op.
    unsafe { ffi::mqtt_if_del(std::ptr::null_mut()) };
    // SAFETY: from Box::into_raw above; no interface uses it any more.
    let port = unsafe { Box::from_raw(port) };
    outcome.delivered = port.delivered;
    outcome.sent = port.sent;
    outcome
}

/// The interface, what the harness knows of its configuration, and the clock.
struct Driver {
    mq: *mut mqtt_if_data,
    port: *mut Port,
    prefix: String,
    address: Ipv4Addr,
    password: Vec<u8>,
    mtu: usize,
    now: u64,
    packet_id: u16,
}

impl Driver {
    fn create(setup: u8, input: &mut Input<'_>, port: *mut Port) -> Self {
        let secret: &[u8] = if setup & 0x04 != 0 {
            b"secret\0"
        } else {
            b"\0"
        };
        let mut driver = Self {
            mq: std::ptr::null_mut(),
            port,
            prefix: topic::DEFAULT_PREFIX.into(),
            address: Ipv4Addr::UNSPECIFIED,
            password: secret[..secret.len() - 1].to_vec(),
            mtu: 1500,
            now: 0,
            packet_id: 0,
        };
        let broker = c"broker".as_ptr();
        // SAFETY (all four forms): every string is NUL-terminated and lives
        // until the call returns.
        driver.mq = match setup & 3 {
            0 => {
                let strings: Vec<Vec<u8>> = (0..6).map(|_| input.c_string()).collect();
                let config = mqtt_if_config {
                    broker_host: ptr(&strings[0]),
                    broker_port: input.u16(),
                    broker_user: ptr(&strings[1]),
                    broker_password: ptr(&strings[2]),
                    topic_prefix: ptr(&strings[3]),
                    password: ptr(&strings[4]),
                    client_id: ptr(&strings[5]),
                    ipaddr: input.lwip_addr(),
                    netmask: input.lwip_addr(),
                    gw: input.lwip_addr(),
                    mtu: input.u16(),
                    keepalive_secs: input.u16(),
                };
                driver.learn(&strings[3], &strings[4], config.ipaddr);
                if config.mtu != 0 {
                    driver.mtu = usize::from(config.mtu);
                }
                let mut mq = std::ptr::dangling_mut::<mqtt_if_data>();
                let r = unsafe { ffi::mqtt_if_new(&config, &mut mq) };
                assert_eq!(r == MQTT_IF_OK, !mq.is_null(), "mqtt_if_new: {r:?}");
                assert_ne!(r, MQTT_IF_ERR_PANIC);
                mq
            }
            1 => {
                let ip = input.lwip_addr();
                driver.address = Ipv4Addr::from(ip.to_ne_bytes());
                unsafe { ffi::mqtt_if_init(broker, ip, secret.as_ptr().cast()) }
            }
            2 => {
                let user = input.c_string();
                let broker_password = input.c_string();
                let prefix = input.c_string();
                let port_number = input.u32() as c_int;
                let (ip, mask, gw) = (input.lwip_addr(), input.lwip_addr(), input.lwip_addr());
                driver.learn(&prefix, secret, ip);
                unsafe {
                    ffi::mqtt_if_init_full(
                        broker,
                        ptr(&user),
                        ptr(&broker_password),
                        port_number,
                        ptr(&prefix),
                        secret.as_ptr().cast(),
                        ip,
                        mask,
                        gw,
                    )
                }
            }
            _ => {
                let uri = input.c_string();
                let user = input.c_string();
                let broker_password = input.c_string();
                let prefix = input.c_string();
                let (ip, mask, gw) = (input.lwip_addr(), input.lwip_addr(), input.lwip_addr());
                driver.learn(&prefix, secret, ip);
                unsafe {
                    ffi::mqtt_vpn_if_init(
                        uri.as_ptr().cast(),
                        ptr(&user),
                        ptr(&broker_password),
                        ptr(&prefix),
                        secret.as_ptr().cast(),
                        ip,
                        mask,
                        gw,
                    )
                }
            }
        };
        // SAFETY: only read between library calls.
        if unsafe { (*port).attach_fails } && !driver.mq.is_null() && setup & 0x80 == 0 {
            panic!("an interface was made although netif_attach failed");
        }
        driver
    }

    fn learn(&mut self, prefix: &[u8], password: &[u8], ip: u32) {
        self.prefix = text(prefix).unwrap_or(topic::DEFAULT_PREFIX).into();
        self.password = password.strip_suffix(&[0]).unwrap_or(password).to_vec();
        self.address = Ipv4Addr::from(ip.to_ne_bytes());
    }

    fn check_port(&self) {
        // SAFETY: only read between library calls.
        let violations = unsafe { std::mem::take(&mut (*self.port).violations) };
        assert!(
            violations.is_empty(),
            "the library broke the port contract: {violations:?}"
        );
    }

    fn null_handles_are_refused(&self) {
        let null = std::ptr::null_mut();
        // SAFETY: NULL handles are checked.
        unsafe {
            assert_eq!(ffi::mqtt_if_tick(null, 0), MQTT_IF_ERR_NULL);
            assert_eq!(ffi::mqtt_if_tcp_received(null, [0u8].as_ptr(), 1), 0);
            assert_eq!(
                ffi::mqtt_if_output(null, [0u8].as_ptr(), 1, 0),
                MQTT_IF_ERR_NULL
            );
            assert_eq!(
                ffi::mqtt_if_set_password(null, c"x".as_ptr()),
                MQTT_IF_ERR_NULL
            );
            assert!(!ffi::mqtt_if_is_connected(null));
        }
    }

    /// Feeds broker bytes; what is not taken is offered again after a tick,
    /// as a port keeps an unread pbuf.
    fn receive(&mut self, bytes: &[u8]) {
        // SAFETY: the live handle; `bytes` is readable.
        let taken = unsafe { ffi::mqtt_if_tcp_received(self.mq, bytes.as_ptr(), bytes.len()) };
        assert!(
            taken <= bytes.len(),
            "took {taken} of {} bytes",
            bytes.len()
        );
        if taken < bytes.len() {
            self.tick(10);
            let rest = &bytes[taken..];
            // SAFETY: as above.
            let again = unsafe { ffi::mqtt_if_tcp_received(self.mq, rest.as_ptr(), rest.len()) };
            assert!(again <= rest.len());
        }
    }

    fn tick(&mut self, ms: u64) {
        self.now += ms;
        // SAFETY: the live handle.
        let r = unsafe { ffi::mqtt_if_tick(self.mq, self.now) };
        assert_eq!(r, MQTT_IF_OK);
    }

    /// One call, chosen by the next byte.
    fn call(&mut self, input: &mut Input<'_>) {
        let mq = self.mq;
        let op = input.u8();
        // SAFETY (every call): `mq` is the live handle; pointers passed with
        // a length hold that many bytes; strings are NUL-terminated.
        match op % 24 {
            0 => self.tick(u64::from(input.u16())),
            1 => self.receive(input.long_bytes()),
            2 => {
                let code = input.u8();
                self.receive(&[0x20, 2, 0, if code > 5 { 0 } else { code }]);
            }
            3 => self.publish(input),
            4 => {
                let packet = input.long_bytes();
                let next_hop = if op & 0x80 != 0 { input.lwip_addr() } else { 0 };
                self.output(packet, next_hop);
            }
            5 => {
                let dst = Ipv4Addr::from(input.u32());
                let len = 20 + usize::from(input.u16()) % 1600;
                self.output(&ipv4_packet(self.address, dst, len), 0);
            }
            6 => {
                let password = input.c_string();
                let r = unsafe { ffi::mqtt_if_set_password(mq, password.as_ptr().cast()) };
                if password.len() - 1 <= MAX_STRING {
                    assert_eq!(r, MQTT_IF_OK);
                    self.password = password[..password.len() - 1].to_vec();
                } else {
                    assert_eq!(r, MQTT_IF_ERR_TOO_LONG);
                }
            }
            7 => {
                let r = unsafe { ffi::mqtt_if_set_password(mq, std::ptr::null()) };
                assert_eq!(r, MQTT_IF_OK);
                self.password.clear();
            }
            8 => {
                let addr = input.lwip_addr();
                assert_eq!(unsafe { ffi::mqtt_if_set_ipaddr(mq, addr) }, MQTT_IF_OK);
                self.address = Ipv4Addr::from(addr.to_ne_bytes());
            }
            9 => {
                let mask = input.lwip_addr();
                let contiguous = mqttvpn::tunnel::is_contiguous_netmask(mask.to_ne_bytes().into());
                let expected = if contiguous {
                    MQTT_IF_OK
                } else {
                    MQTT_IF_ERR_INVALID_ARGUMENT
                };
                assert_eq!(unsafe { ffi::mqtt_if_set_netmask(mq, mask) }, expected);
            }
            10 => assert_eq!(
                unsafe { ffi::mqtt_if_set_gw(mq, input.lwip_addr()) },
                MQTT_IF_OK
            ),
            11 => {
                let mtu = input.u32() as c_int;
                let r = unsafe { ffi::mqtt_if_set_mtu(mq, mtu) };
                let fits = usize::try_from(mtu).is_ok_and(|m| (68..=self.mtu).contains(&m));
                let expected = if fits {
                    MQTT_IF_OK
                } else {
                    MQTT_IF_ERR_INVALID_ARGUMENT
                };
                assert_eq!(
                    r, expected,
                    "mqtt_if_set_mtu({mtu}) of a {} interface",
                    self.mtu
                );
            }
            12 => {
                let flags = c_int::from(input.u16() as i16);
                let r = if op & 0x80 != 0 {
                    unsafe { ffi::mqtt_if_set_flag(mq, flags) }
                } else {
                    unsafe { ffi::mqtt_if_clear_flag(mq, flags) }
                };
                let expected = if (0..=255).contains(&flags) {
                    MQTT_IF_OK
                } else {
                    MQTT_IF_ERR_INVALID_ARGUMENT
                };
                assert_eq!(r, expected);
            }
            13 => assert_eq!(
                unsafe { ffi::mqtt_if_set_keepalive(mq, input.u16()) },
                MQTT_IF_OK
            ),
            14 => {
                let addr = if op & 0x80 != 0 {
                    input.lwip_addr()
                } else {
                    lwip(Ipv4Addr::new(10, 0, 1, 3))
                };
                assert_eq!(
                    unsafe { ffi::mqtt_if_add_reading_topic(mq, addr) },
                    MQTT_IF_OK
                );
            }
            15 => assert_eq!(
                unsafe { ffi::mqtt_if_add_wildcard_reading_topic(mq) },
                MQTT_IF_OK
            ),
            16 => assert_eq!(unsafe { ffi::mqtt_if_flush_reading_topic(mq) }, MQTT_IF_OK),
            17 => assert_eq!(unsafe { ffi::mqtt_if_subscribe(mq) }, MQTT_IF_OK),
            18 => assert_eq!(unsafe { ffi::mqtt_if_unsubscribe(mq) }, MQTT_IF_OK),
            19 => {
                let r = unsafe { ffi::mqtt_if_tcp_connected(mq) };
                assert!(matches!(r, MQTT_IF_OK | MQTT_IF_ERR_STATE), "{r:?}");
            }
            20 => {
                let r = unsafe { ffi::mqtt_if_tcp_closed(mq) };
                assert!(matches!(r, MQTT_IF_OK | MQTT_IF_ERR_STATE), "{r:?}");
            }
            21 => {
                let how = input.u8();
                // SAFETY: only written between library calls.
                unsafe {
                    (*self.port).send_mode = how & 3;
                    (*self.port).connect_result = c_int::from(how >> 2 & 3) - 1;
                }
            }
            22 => self.control_packet(input),
            _ => {
                let code = input.u32();
                let s = ffi::mqtt_if_result_str(code);
                assert!(!s.is_null());
                unsafe {
                    if op & 0x80 != 0 {
                        assert_eq!(ffi::mqtt_if_set_up(mq), MQTT_IF_OK);
                    } else {
                        assert_eq!(ffi::mqtt_if_set_down(mq), MQTT_IF_OK);
                    }
                    let _ = ffi::mqtt_if_is_connected(mq);
                }
            }
        }
    }

    fn output(&mut self, packet: &[u8], next_hop: u32) {
        // SAFETY: the live handle; `packet` is readable.
        let r = unsafe { ffi::mqtt_if_output(self.mq, packet.as_ptr(), packet.len(), next_hop) };
        assert!(
            matches!(
                r,
                MQTT_IF_OK | MQTT_IF_ERR_NOT_CONNECTED | MQTT_IF_ERR_DROPPED
            ),
            "mqtt_if_output: {r:?}"
        );
    }

    /// A PUBLISH from the broker, to one of the node's topics or any other,
    /// sealed with the node's password or not, in two pieces.
    fn publish(&mut self, input: &mut Input<'_>) {
        let how = input.u8();
        let topic = match how & 3 {
            0 => format!("{}/{}", self.prefix, self.address),
            1 => format!("{}/255.255.255.255", self.prefix),
            2 => format!("{}/10.0.1.3", self.prefix),
            _ => String::from_utf8_lossy(input.short_bytes()).into_owned(),
        };
        let qos = (how >> 2 & 3) % 3;
        let packet = input.long_bytes();
        let payload = match Key::from_password(&self.password) {
            Some(key) if how & 0x10 != 0 => {
                let mut sealed = vec![0u8; wire::sealed_len(packet.len())];
                wire::seal(&key, &[how; wire::NONCE_LEN], packet, &mut sealed).unwrap();
                sealed
            }
            _ => packet.to_vec(),
        };
        self.packet_id = self.packet_id.wrapping_add(1).max(1);
        let frame = publish_frame(&topic, qos, self.packet_id, &payload);
        let split = usize::from(input.u16()) % (frame.len() + 1);
        self.receive(&frame[..split]);
        self.receive(&frame[split..]);
    }

    /// A SUBACK, UNSUBACK, PUBREL, PINGRESP or PUBACK from the broker.
    fn control_packet(&mut self, input: &mut Input<'_>) {
        let which = input.u8();
        let id = input.u16().max(1).to_be_bytes();
        let code = [0, 1, 2, 0x80][usize::from(which >> 4 & 3)];
        let packet: &[u8] = match which % 5 {
            0 => &[0x90, 3, id[0], id[1], code],
            1 => &[0xb0, 2, id[0], id[1]],
            2 => &[0x62, 2, id[0], id[1]],
            3 => &[0xd0, 0],
            _ => &[0x40, 2, id[0], id[1]],
        };
        self.receive(packet);
    }
}

/// An IPv4 packet of `len` bytes from `src` to `dst`.
fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len.min(0xffff) as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p
}

/// An MQTT PUBLISH frame.
fn publish_frame(topic: &str, qos: u8, packet_id: u16, payload: &[u8]) -> Vec<u8> {
    let topic = &topic.as_bytes()[..topic.len().min(0xffff)];
    let mut body = Vec::with_capacity(4 + topic.len() + payload.len());
    body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    body.extend_from_slice(topic);
    if qos > 0 {
        body.extend_from_slice(&packet_id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    let mut frame = vec![0x30 | qos << 1];
    let mut rest = body.len();
    loop {
        let byte = (rest % 128) as u8;
        rest /= 128;
        frame.push(if rest > 0 { byte | 0x80 } else { byte });
        if rest == 0 {
            break;
        }
    }
    frame.extend_from_slice(&body);
    frame
}
