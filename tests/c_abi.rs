//! The C ABI as C sees it: `include/mqttif.h` compiles as strict C99 and as
//! C++, `tests/lwip/abi_test.c` passes against the static library (also
//! under valgrind), and one interface's heap stays small.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::process::Command;

use mqttvpn::ffi::{self, mqtt_if_data, mqtt_if_platform, mqtt_if_result};
use mqttvpn::wire::{self, Key};
use support::{gcc, host_staticlib, repo_path, run, target_dir};

fn work_dir(name: &str) -> PathBuf {
    let dir = target_dir().join("c-tests").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_header_compiles_as_strict_c99_and_as_cpp() {
    let dir = work_dir("header");
    let source = dir.join("use_header.c");
    std::fs::write(
        &source,
        "#include \"mqttif.h\"\n\
         #include <string.h>\n\
         int main(void) {\n\
           struct mqtt_if_platform p;\n\
           mqtt_if_data *mq;\n\
           memset(&p, 0, sizeof p);\n\
           (void)mqtt_if_set_platform(&p, NULL);\n\
           mq = mqtt_if_init(\"b\", 0, \"\");\n\
           mqtt_if_del(mq);\n\
           return mqtt_if_result_str(MQTT_IF_OK) == 0;\n\
         }\n",
    )
    .unwrap();
    let include = repo_path("include");
    for (compiler, std) in [("gcc", "-std=c99"), ("g++", "-std=c++11")] {
        let mut cmd = Command::new(compiler);
        cmd.args([
            std,
            "-pedantic",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsyntax-only",
        ])
        .arg("-I")
        .arg(&include);
        if compiler == "g++" {
            cmd.args(["-x", "c++"]);
        }
        run(cmd.arg(&source));
    }
}

#[test]
fn abi_test_passes_and_valgrind_finds_no_errors_or_leaks() {
    let lib = host_staticlib();
    let exe = work_dir("abi").join("abi_test");
    let lib = lib.to_str().expect("UTF-8 path");
    gcc(
        &exe,
        &["tests/lwip/abi_test.c"],
        &[lib, "-lpthread", "-ldl", "-lm"],
    );
    let out = run(&mut Command::new(&exe));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(", 0 failed"), "{stdout}");

    if !std::path::Path::new("/usr/bin/valgrind").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "valgrind missing in CI (scripts/install-deps.sh installs it)"
        );
        eprintln!("SKIPPED valgrind run of abi_test: valgrind is not installed");
        return;
    }
    let out = run(Command::new("valgrind")
        .args([
            "--error-exitcode=1",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--quiet",
        ])
        .arg(&exe));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "valgrind reported:\n{stderr}");
}

// ---- the heap of one interface ----

/// Counts the bytes allocated by the current thread while tracking is on.
struct Counting;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = TRACKING.try_with(|on| {
        if on.get() {
            CURRENT.with(|c| {
                c.set(c.get() + delta);
                PEAK.with(|p| p.set(p.get().max(c.get())));
            });
        }
    });
}

// SAFETY: forwards to the system allocator; the counters are thread-local
// cells without destructors, so touching them cannot allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The port's side of the heap test: a socket that takes everything, and
/// an IP stack that counts what it gets.
#[derive(Default)]
struct Port {
    sent: usize,
    delivered: usize,
}

unsafe extern "C" fn input(ctx: *mut c_void, _packet: *const u8, _len: usize) {
    // SAFETY: ctx is the test's `Port`.
    unsafe { (*ctx.cast::<Port>()).delivered += 1 };
}
unsafe extern "C" fn connect(_: *mut c_void, _: *const c_char, _: u16) -> c_int {
    1
}
unsafe extern "C" fn send(ctx: *mut c_void, _data: *const u8, len: usize) -> i32 {
    // SAFETY: ctx is the test's `Port`.
    unsafe { (*ctx.cast::<Port>()).sent += len };
    len as i32
}
unsafe extern "C" fn close(_: *mut c_void) {}
unsafe extern "C" fn random(_: *mut c_void, buf: *mut u8, len: usize) -> c_int {
    // SAFETY: the library passes a writable buffer of `len` bytes.
    unsafe { std::ptr::write_bytes(buf, 0x42, len) };
    0
}

fn ipv4_packet(len: usize, dst: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 0, 1, 1]);
    p[16..20].copy_from_slice(&dst);
    p
}

fn publish_frame(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(payload);
    let mut frame = vec![0x30];
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

/// The closing figure of the embedded path (and, at its end, the counters
/// `mqtt_if_get_stats` reports): everything one interface at
/// MTU 1500 allocates (registration, init, connect, subscriptions, sealed
/// 1500-byte packets both ways, delete), measured by a counting global
/// allocator on this thread. The interface allocates its buffers once,
/// at init, and nothing per packet.
///
/// The bound here is for a 64-bit host, where pointers, `Vec`s and
/// `String`s are twice their size on the device: 8 476 bytes here were
/// 7 954 on the lx106 (`scripts/test-lx106.sh`, which holds the device to
/// 8 KiB).
#[test]
fn one_interface_at_mtu_1500_peaks_under_8_5_kib_of_heap_on_a_64_bit_host() {
    let mut port = Port::default();
    let table = mqtt_if_platform {
        netif_attach: None,
        netif_detach: None,
        netif_input: Some(input),
        netif_set_addr: None,
        netif_set_up: None,
        netif_set_mtu: None,
        netif_set_flags: None,
        tcp_connect: Some(connect),
        tcp_send: Some(send),
        tcp_close: Some(close),
        random: Some(random),
        log: None,
        netif_set_ip6addr: None,
    };
    let address = u32::from_ne_bytes([10, 0, 1, 2]);
    let key = Key::from_password(b"secret").unwrap();
    let outbound = ipv4_packet(1500, [10, 0, 1, 1]);
    // A fresh nonce for each round: a repeated payload is a replay.
    let inbound: Vec<Vec<u8>> = (0..50u8)
        .map(|round| {
            let mut sealed = vec![0u8; wire::sealed_len(1500)];
            wire::seal(
                &key,
                &[round; 24],
                &ipv4_packet(1500, [10, 0, 1, 2]),
                &mut sealed,
            )
            .unwrap();
            publish_frame("mqttip/10.0.1.2", &sealed)
        })
        .collect();
    // A changed tag: not a replay (its fingerprint is new), not genuine.
    let mut forged = inbound[1].clone();
    let tag = forged.len() - wire::sealed_len(1500) + wire::NONCE_LEN + wire::PAD_LEN;
    forged[tag] ^= 1;
    let ctx = (&raw mut port).cast::<c_void>();

    TRACKING.with(|t| t.set(true));
    let (after_init, after_traffic);
    // SAFETY: the table and `port` outlive the interface; the handle is
    // used only until `mqtt_if_del`.
    unsafe {
        assert_eq!(
            ffi::mqtt_if_set_platform(&table, ctx),
            mqtt_if_result::MQTT_IF_OK
        );
        let mq: *mut mqtt_if_data =
            ffi::mqtt_if_init(c"broker".as_ptr(), address, c"secret".as_ptr());
        assert!(!mq.is_null());
        after_init = CURRENT.with(Cell::get);
        ffi::mqtt_if_tick(mq, 0);
        assert_eq!(
            ffi::mqtt_if_tcp_received(mq, [0x20, 2, 0, 0].as_ptr(), 4),
            4
        );
        assert!(ffi::mqtt_if_is_connected(mq));
        for (round, inbound) in (0..50u64).zip(&inbound) {
            let r = ffi::mqtt_if_output(mq, outbound.as_ptr(), outbound.len(), 0);
            assert_eq!(r, mqtt_if_result::MQTT_IF_OK);
            // Received in two pieces, as a socket may hand it over.
            let (a, b) = inbound.split_at(700);
            assert_eq!(ffi::mqtt_if_tcp_received(mq, a.as_ptr(), a.len()), a.len());
            assert_eq!(ffi::mqtt_if_tcp_received(mq, b.as_ptr(), b.len()), b.len());
            ffi::mqtt_if_tick(mq, round * 100);
        }
        after_traffic = CURRENT.with(Cell::get);

        // The counters a sketch prints: every packet, and each drop by reason.
        let replay = &inbound[0];
        for frame in [replay, &forged] {
            let n = ffi::mqtt_if_tcp_received(mq, frame.as_ptr(), frame.len());
            assert_eq!(n, frame.len());
        }
        let mut stats = ffi::mqtt_if_stats::default();
        assert_eq!(
            ffi::mqtt_if_get_stats(mq, &mut stats),
            mqtt_if_result::MQTT_IF_OK
        );
        assert_eq!((stats.tx_packets, stats.rx_packets), (50, 50));
        assert_eq!(stats.tx_bytes, 50 * 1500);
        let reason = |r: ffi::mqtt_if_drop_reason| r as usize;
        use ffi::mqtt_if_drop_reason::*;
        assert_eq!(stats.dropped_in[reason(MQTT_IF_DROP_REPLAYED)], 1);
        assert_eq!(stats.dropped_in[reason(MQTT_IF_DROP_DECRYPT_FAILED)], 1);
        assert_eq!(stats.dropped_in.iter().sum::<u64>(), 2);
        assert_eq!(stats.dropped_out.iter().sum::<u64>(), 0);
        let name = std::ffi::CStr::from_ptr(ffi::mqtt_if_drop_reason_str(6));
        assert_eq!(name.to_str(), Ok("decrypt_failed"));
        let name = std::ffi::CStr::from_ptr(ffi::mqtt_if_drop_reason_str(99));
        assert_eq!(name.to_str(), Ok("unknown"));
        assert_eq!(
            ffi::mqtt_if_get_stats(mq, std::ptr::null_mut()),
            mqtt_if_result::MQTT_IF_ERR_NULL
        );
        ffi::mqtt_if_del(mq);
    }
    TRACKING.with(|t| t.set(false));
    let peak = PEAK.with(Cell::get);
    let left = CURRENT.with(Cell::get);
    eprintln!(
        "one interface at MTU 1500 (encrypted): {after_init} bytes after init, \
         {after_traffic} after 50 packets each way, peak {peak} bytes, \
         {left} left after mqtt_if_del (the platform registration)"
    );
    assert_eq!(port.delivered, 50);
    assert!(port.sent > 50 * 1556);
    assert_eq!(
        after_traffic, after_init,
        "the interface allocated per packet"
    );
    assert!(peak <= 8704, "peak heap {peak} bytes is over 8.5 KiB");
}
