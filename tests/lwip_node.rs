//! The embedded path end to end: a simulated ESP8266 (real lwIP, the netif
//! shim, the C static library, `tests/lwip/sim_esp.c`) in host 2, a Linux
//! node in host 1, mosquitto in the middle. From host 1: ping, a 1 MB echo
//! through the ESP's telnet port and its web page, in plain and encrypted
//! mode, over IPv4 and over IPv6 (the ESP's netif with an address from
//! `mqtt_if_set_ip6addr`); and the ESP finding the broker again after a
//! restart.
//!
//! Needs root; skipped with a printed reason otherwise (never in CI).

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use support::{Lab, can_use_namespaces, gcc, have_mosquitto, host_staticlib, run, target_dir};

const LINUX: &str = "10.0.1.1";
const ESP: &str = "10.0.1.2";
const LINUX6: &str = "fd00::1";
const ESP6: &str = "fd00::2";
const UP: Duration = Duration::from_secs(20);

fn ready(test: &str) -> bool {
    can_use_namespaces(test) && have_mosquitto(test)
}

/// Builds the simulated ESP once per test process.
fn sim_esp() -> PathBuf {
    static SIM: OnceLock<PathBuf> = OnceLock::new();
    SIM.get_or_init(|| {
        let lib = host_staticlib();
        let dir = target_dir().join("c-tests").join("lwip");
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join(format!("sim_esp-{}", std::process::id()));
        gcc(
            &exe,
            &["tests/lwip/sim_esp.c", "shim/mqtt_vpn_netif.c"],
            &[
                "-I/usr/include/lwip",
                // The shim; support::gcc adds include/ (mqttif.h).
                &format!("-I{}", support::repo_path("shim").display()),
                // Debian's lwIP has NO_SYS=0 but runs here on one thread.
                "-DMQTT_VPN_NETIF_INPUT=ip_input",
                lib.to_str().expect("UTF-8 path"),
                "-llwip",
                "-lpthread",
                "-ldl",
                "-lm",
            ],
        );
        exe
    })
    .clone()
}

/// Which families the lab's nodes have addresses in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    /// 10.0.1.1 and 10.0.1.2 only.
    V4,
    /// fd00::1 and fd00::2 as well.
    Dual,
}

/// Mosquitto, the Linux node in host 1 and the ESP in host 2 (run through
/// `wrapper`, e.g. valgrind, if given); returns the lab and the ESP's
/// process index once host 1 can ping the ESP (at each of its addresses).
fn esp_lab(password: &str, family: Family, wrapper: &[&str]) -> (Lab, usize) {
    let mut lab = Lab::new(2);
    lab.start_mosquitto();
    let mut node_args: Vec<&str> = vec![];
    let mut esp_args: Vec<&str> = vec![];
    if !password.is_empty() {
        node_args.extend(["-k", password]);
    }
    if family == Family::Dual {
        node_args.extend(["-6", LINUX6]);
        esp_args.extend(["-6", ESP6]);
    }
    lab.start_node(1, LINUX, &node_args);
    let sim = sim_esp();
    let broker = lab.host(2).broker_ip.to_string();
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut cmd = lab.host(2).ns.command(program);
            cmd.args(args).arg(&sim);
            cmd
        }
        None => lab.host(2).ns.command(sim.to_str().expect("UTF-8 path")),
    };
    cmd.args(&esp_args)
        .args([broker.as_str(), "1883", ESP, password]);
    let esp = lab.start(cmd, "esp");
    assert!(
        lab.host(1).ns.wait_for_ping(ESP, UP).is_some(),
        "the ESP did not answer pings\n{}",
        lab.logs()
    );
    if family == Family::Dual {
        // The Linux side's IPv6 address may still be tentative (DAD).
        assert!(
            lab.host(1).ns.wait_for_ping(ESP6, UP).is_some(),
            "the ESP did not answer IPv6 pings\n{}",
            lab.logs()
        );
    }
    (lab, esp)
}

/// `ping -6` from host 1 to `dst`: asserts that every one of `count`
/// echoes of `size` payload bytes came back, and returns ping's round-trip
/// summary line (`rtt min/avg/max/mdev = ...`).
fn ping6_every_echo(lab: &Lab, dst: &str, count: u32, size: usize) -> String {
    let out = lab
        .host(1)
        .ns
        .command("ping")
        .args(["-6", "-n", "-q", "-c", &count.to_string(), "-i", "0.2"])
        .args(["-W", "2", "-s", &size.to_string(), dst])
        .output()
        .expect("ping runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let received = format!("{count} packets transmitted, {count} received");
    assert!(
        out.status.success() && text.contains(&received),
        "ping -6 -s {size} {dst}: not every echo came back\n{text}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        lab.logs()
    );
    let rtt = text
        .lines()
        .find(|l| l.starts_with("rtt"))
        .unwrap_or_default()
        .to_string();
    eprintln!("ping -6 -s {size} {dst}: {rtt}");
    rtt
}

/// Sends `bytes` random bytes to the ESP's echo port at `esp` from host 1
/// and checks that the same bytes come back.
fn echo_round_trip(lab: &Lab, esp: &str, bytes: usize) {
    let data = lab.path("echo.bin");
    run(Command::new("sh")
        .arg("-c")
        .arg(format!("head -c {bytes} /dev/urandom > {}", data.display())));
    let sent = run(Command::new("sha256sum").arg(&data));
    let sent = String::from_utf8_lossy(&sent.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let out = lab.host(1).ns.sh(&format!(
        "timeout 90 nc -N {esp} 23 < {} | sha256sum",
        data.display()
    ));
    let echoed = String::from_utf8_lossy(&out.stdout);
    assert!(
        echoed.starts_with(&sent),
        "echo of {bytes} bytes came back different: sent {sent}, got {echoed} {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        lab.logs()
    );
}

/// The ESP's web page at `host` (`10.0.1.2` or `[fd00::2]`), fetched from host 1.
fn web_page(lab: &Lab, host: &str) -> String {
    let out = lab
        .host(1)
        .ns
        .sh(&format!("curl -g -s --max-time 10 http://{host}/"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const HELLO: &str = "hello from esp8266!";

fn the_esp_serves_over_the_tunnel(password: &str) {
    let (lab, _esp) = esp_lab(password, Family::V4, &[]);
    let ns = &lab.host(1).ns;
    assert!(ns.ping(ESP, 5, 56), "ping\n{}", lab.logs());
    assert!(ns.ping(ESP, 5, 1372), "1400-byte pings\n{}", lab.logs());
    assert_eq!(web_page(&lab, ESP), HELLO, "{}", lab.logs());
    echo_round_trip(&lab, ESP, 1 << 20);
    assert_eq!(web_page(&lab, ESP), HELLO, "{}", lab.logs());
}

/// The same services over IPv6, with IPv4 still working beside it.
fn the_esp_serves_over_ipv6(password: &str) {
    let (lab, _esp) = esp_lab(password, Family::Dual, &[]);
    ping6_every_echo(&lab, ESP6, 5, 56);
    // 1352 bytes of payload: 1400-byte IPv6 packets.
    ping6_every_echo(&lab, ESP6, 5, 1352);
    let web6 = format!("[{ESP6}]");
    assert_eq!(web_page(&lab, &web6), HELLO, "{}", lab.logs());
    echo_round_trip(&lab, ESP6, 256 << 10);
    assert_eq!(web_page(&lab, &web6), HELLO, "{}", lab.logs());
    assert!(
        lab.host(1).ns.ping(ESP, 3, 56),
        "IPv4 beside IPv6\n{}",
        lab.logs()
    );
    assert_eq!(web_page(&lab, ESP), HELLO, "{}", lab.logs());
}

#[test]
fn the_simulated_esp_answers_ping_echo_and_http_in_plain_mode() {
    if !ready("lwip_plain") {
        return;
    }
    the_esp_serves_over_the_tunnel("");
}

#[test]
fn the_simulated_esp_answers_ping_echo_and_http_encrypted() {
    if !ready("lwip_encrypted") {
        return;
    }
    the_esp_serves_over_the_tunnel("pw");
}

#[test]
fn the_simulated_esp_answers_ping6_echo_and_http_over_ipv6_in_plain_mode() {
    if !ready("lwip_ipv6_plain") {
        return;
    }
    the_esp_serves_over_ipv6("");
}

#[test]
fn the_simulated_esp_answers_ping6_echo_and_http_over_ipv6_encrypted() {
    if !ready("lwip_ipv6_encrypted") {
        return;
    }
    the_esp_serves_over_ipv6("pw");
}

#[test]
fn the_simulated_esp_reconnects_and_resubscribes_after_a_broker_restart() {
    if !ready("lwip_broker_restart") {
        return;
    }
    let (mut lab, esp) = esp_lab("pw", Family::V4, &[]);
    let connects = |lab: &mut Lab| {
        lab.proc(esp)
            .log_text()
            .matches("connected to the broker")
            .count()
    };
    let before = connects(&mut lab);
    lab.proc(0).kill(); // mosquitto, as a crash
    std::thread::sleep(Duration::from_millis(500));
    lab.start_mosquitto();
    let back = lab.host(1).ns.wait_for_ping(ESP, Duration::from_secs(15));
    assert!(
        back.is_some(),
        "no ping 15 s after the broker restart\n{}",
        lab.logs()
    );
    assert!(connects(&mut lab) > before, "{}", lab.logs());
    assert_eq!(web_page(&lab, ESP), HELLO, "{}", lab.logs());
}

#[test]
fn the_simulated_esp_under_valgrind_has_no_errors_and_frees_everything() {
    if !ready("lwip_valgrind") {
        return;
    }
    if !std::path::Path::new("/usr/bin/valgrind").exists() {
        assert!(std::env::var_os("CI").is_none(), "valgrind missing in CI");
        eprintln!("SKIPPED lwip_valgrind: valgrind is not installed");
        return;
    }
    // Dual stack: the IPv6 paths of the shim run under valgrind too.
    let (mut lab, esp) = esp_lab(
        "pw",
        Family::Dual,
        &[
            "valgrind",
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
        ],
    );
    assert!(lab.host(1).ns.ping(ESP, 3, 1372), "{}", lab.logs());
    assert_eq!(web_page(&lab, ESP), HELLO, "{}", lab.logs());
    echo_round_trip(&lab, ESP, 64 << 10);
    ping6_every_echo(&lab, ESP6, 3, 1352);
    assert_eq!(
        web_page(&lab, &format!("[{ESP6}]")),
        HELLO,
        "{}",
        lab.logs()
    );
    echo_round_trip(&lab, ESP6, 64 << 10);
    let code = lab.proc(esp).stop();
    let log = lab.proc(esp).log_text();
    assert!(log.contains("sim_esp: stopping"), "{log}");
    assert_eq!(code, Some(0), "valgrind or the ESP failed:\n{log}");
    assert!(log.contains("ERROR SUMMARY: 0 errors"), "{log}");
}
