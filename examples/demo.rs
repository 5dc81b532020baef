//! A working tunnel in one command (as root):
//! `cargo run --release --example demo`
//!
//! Builds a small lab of network namespaces: a "cloud" namespace running a
//! hub node with the in-process broker (`--broker-listen`), and two hosts
//! that reach it over veth links. Each host runs a node; the demo pings
//! across the encrypted tunnel, fetches 20 MB over TCP with a checksum,
//! prints a summary and removes everything it made.
//!
//! The same binary also serves as the node and as the tiny TCP server and
//! client of the fetch, run inside the namespaces, so nothing else needs to
//! be installed beyond iproute2 and ping.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const FETCH_BYTES: usize = 20 * 1024 * 1024;
const PORT: u16 = 8080;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("node") => mqttvpn::linux::cli::main(args[1..].iter().cloned()),
        Some("serve") => serve(),
        Some("fetch") => fetch(&args[2]),
        _ => demo(),
    }
}

/// The deterministic content the server sends: byte i is a hash of i.
fn content() -> Vec<u8> {
    (0..FETCH_BYTES as u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect()
}

fn serve() -> ExitCode {
    let listener = TcpListener::bind(("0.0.0.0", PORT)).expect("bind");
    let (mut stream, _) = listener.accept().expect("accept");
    stream.write_all(&content()).expect("send");
    ExitCode::SUCCESS
}

fn fetch(address: &str) -> ExitCode {
    let start = Instant::now();
    let mut stream = TcpStream::connect(address).expect("connect");
    let mut data = Vec::with_capacity(FETCH_BYTES);
    stream.read_to_end(&mut data).expect("receive");
    let secs = start.elapsed().as_secs_f64();
    let ok = Sha256::digest(&data) == Sha256::digest(content());
    println!(
        "{} {:.2} {}",
        data.len(),
        data.len() as f64 * 8.0 / secs / 1e6,
        if ok { "intact" } else { "CORRUPT" }
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn demo() -> ExitCode {
    if !support::can_use_namespaces("demo") {
        eprintln!("run the demo as root: sudo -E cargo run --release --example demo");
        return ExitCode::from(1);
    }
    let me = std::env::current_exe().expect("current_exe");
    let mut lab = support::Lab::new(2);
    lab.node_command = (me.clone(), vec!["node".into()]);
    println!(
        "lab: cloud namespace {} with hosts {} and {}",
        lab.broker_ns.name,
        lab.host(1).ns.name,
        lab.host(2).ns.name
    );

    lab.start_hub("demo-password");
    println!("hub node 10.0.1.254 with the in-process broker on 1883");
    let a = lab.start_node(1, "10.0.1.1", &["-k", "demo-password"]);
    let b = lab.start_node(2, "10.0.1.2", &["-k", "demo-password"]);
    let Some(up) = lab
        .host(1)
        .ns
        .wait_for_ping("10.0.1.2", Duration::from_secs(20))
    else {
        eprintln!("the tunnel did not come up:\n{}", lab.logs());
        return ExitCode::from(1);
    };
    println!(
        "tunnel up after {:.1}s (encrypted, wire v1)",
        up.as_secs_f64()
    );

    let ping = lab
        .host(1)
        .ns
        .command("ping")
        .args(["-n", "-c", "10", "-i", "0.2", "10.0.1.2"])
        .output()
        .expect("ping");
    let ping_text = String::from_utf8_lossy(&ping.stdout);
    let rtt = ping_text
        .lines()
        .find(|l| l.contains("rtt"))
        .unwrap_or("no rtt line");
    let loss = ping_text
        .lines()
        .find(|l| l.contains("packet loss"))
        .unwrap_or("no loss line");
    println!("ping 10.0.1.1 -> 10.0.1.2: {loss}\n  {rtt}");

    let mut server = lab.host(2).ns.command(me.to_str().unwrap());
    server.arg("serve");
    lab.start(server, "server");
    std::thread::sleep(Duration::from_millis(300));
    let fetched = lab
        .host(1)
        .ns
        .command(me.to_str().unwrap())
        .args(["fetch", &format!("10.0.1.2:{PORT}")])
        .output()
        .expect("fetch");
    let report = String::from_utf8_lossy(&fetched.stdout);
    let fields: Vec<&str> = report.split_whitespace().collect();
    let fetched_ok = fetched.status.success() && fields.len() == 3;
    if fetched_ok {
        println!(
            "fetched {} bytes over TCP at {} Mbit/s, checksum {}",
            fields[0], fields[1], fields[2]
        );
    } else {
        eprintln!(
            "fetch failed: {report}{}",
            String::from_utf8_lossy(&fetched.stderr)
        );
    }
    for (name, index) in [("node 10.0.1.1", a), ("node 10.0.1.2", b)] {
        let p = lab.proc(index);
        let tx = support::counter(p, "tx_packets");
        let rx = support::counter(p, "rx_packets");
        println!("{name}: {tx} packets sent, {rx} received");
    }
    let ok = ping.status.success() && fetched_ok;
    println!(
        "{}; cleaning up namespaces and processes",
        if ok { "demo passed" } else { "demo FAILED" }
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
