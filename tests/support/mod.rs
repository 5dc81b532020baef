//! The one test harness for real brokers, real TUN devices and network
//! namespaces.
//!
//! A [`Lab`] is a star of network namespaces: a broker namespace in the
//! middle and one namespace per node, each joined to it by a veth pair in
//! 198.18.0.0/15 (node `n` is 198.18.n.2, its broker-side peer 198.18.n.1).
//! The broker (mosquitto, or a node with `--broker-listen`) listens in the
//! broker namespace; each node's TUN interface and VPN address exist only in
//! its own namespace. Everything a lab starts is stopped by PID and every
//! namespace deleted when the lab is dropped, also when a test fails.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The node binary under test (absent when an example includes this file).
pub const MQTT_VPN: &str = match option_env!("CARGO_BIN_EXE_mqtt_vpn") {
    Some(path) => path,
    None => "mqtt_vpn",
};
/// Port of the broker inside the broker namespace.
pub const BROKER_PORT: u16 = 1883;

/// Whether root-only tests can run. Prints why not; in CI a missing
/// privilege is a failure, not a skip.
pub fn can_use_namespaces(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: CI must run as root for network-namespace tests"
    );
    eprintln!("SKIPPED {test}: needs root for network namespaces and TUN devices");
    false
}

/// Whether mosquitto is installed; panics in CI, where .ci/run installs it.
pub fn have_mosquitto(test: &str) -> bool {
    if Path::new(mosquitto_path()).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: mosquitto missing in CI (scripts/install-deps.sh installs it)"
    );
    eprintln!("SKIPPED {test}: mosquitto is not installed (scripts/install-deps.sh)");
    false
}

fn mosquitto_path() -> &'static str {
    "/usr/sbin/mosquitto"
}

/// A port on 127.0.0.1 that nobody listens on right now.
pub fn free_loopback_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A mosquitto on `127.0.0.1:port` in the test's own network namespace (no
/// root needed), stopped by PID on drop.
pub struct LoopbackMosquitto {
    /// Its listening port.
    pub port: u16,
    proc: Proc,
    dir: PathBuf,
}

impl LoopbackMosquitto {
    /// Starts mosquitto with `extra_config` lines and waits until it listens.
    pub fn start(port: u16, extra_config: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mqtt-vpn-broker-{}", unique_tag()));
        fs::create_dir_all(&dir).unwrap();
        let config = dir.join("mosquitto.conf");
        fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{extra_config}"
            ),
        )
        .unwrap();
        let mut cmd = Command::new(mosquitto_path());
        cmd.arg("-c").arg(&config);
        let mut broker = Self {
            port,
            proc: Proc::spawn(cmd, dir.join("mosquitto.log")),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                broker.proc.is_running() && Instant::now() < deadline,
                "mosquitto does not listen on {port}:\n{}",
                broker.proc.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        broker
    }
}

impl Drop for LoopbackMosquitto {
    fn drop(&mut self) {
        self.proc.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Runs a command to completion and fails the test if it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn unique_tag() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A network namespace, deleted on drop; `Netns::new("lan", tag)` is
/// `mqv-lan-<tag>`.
pub struct Netns {
    /// Its name, as `ip netns` knows it.
    pub name: String,
}

impl Netns {
    pub fn new(role: &str, tag: &str) -> Self {
        let name = format!("mqv-{role}-{tag}");
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n <ns> ARGS`, which must succeed.
    pub fn ip(&self, args: &[&str]) -> Output {
        run(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `sh -c script` inside the namespace and returns its output.
    pub fn sh(&self, script: &str) -> Output {
        self.command("sh")
            .args(["-c", script])
            .output()
            .expect("spawn sh")
    }

    /// `ping -c count` from this namespace; true when every reply came.
    pub fn ping(&self, dst: &str, count: u32, size: usize) -> bool {
        self.command("ping")
            .args(["-n", "-q", "-c", &count.to_string(), "-i", "0.2", "-W", "1"])
            .args(["-s", &size.to_string(), dst])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Pings once a second until a reply comes or `timeout` passes; returns
    /// how long it took.
    pub fn wait_for_ping(&self, dst: &str, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.ping(dst, 1, 56) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A process started by a test, stopped by PID on drop (SIGTERM, then
/// SIGKILL after 3 s).
pub struct Proc {
    child: Option<Child>,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Proc {
    fn spawn(mut cmd: Command, log: PathBuf) -> Self {
        let file = fs::File::create(&log).expect("log file");
        cmd.stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        Self {
            child: Some(child),
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends a signal by PID.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the process: SIGTERM, then SIGKILL after 3 s. Returns its exit
    /// code if it exited by itself.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Kills with SIGKILL at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A node's namespace and its link to the broker namespace.
pub struct Host {
    /// The node's namespace.
    pub ns: Netns,
    /// The address of the broker as this host sees it.
    pub broker_ip: Ipv4Addr,
}

/// A broker namespace with node namespaces around it. Field order matters:
/// processes stop before namespaces are deleted.
pub struct Lab {
    procs: Vec<Proc>,
    hosts: Vec<Host>,
    /// The namespace in the middle, where the broker runs.
    pub broker_ns: Netns,
    dir: PathBuf,
    tag: String,
    /// The program that runs a node, and arguments before the node flags.
    pub node_command: (PathBuf, Vec<String>),
}

impl Lab {
    /// A broker namespace and `hosts` node namespaces linked to it.
    pub fn new(hosts: usize) -> Self {
        let tag = unique_tag();
        let dir = std::env::temp_dir().join(format!("mqtt-vpn-lab-{tag}"));
        fs::create_dir_all(&dir).unwrap();
        let broker_ns = Netns::new("brk", &tag);
        let mut lab = Self {
            procs: Vec::new(),
            hosts: Vec::new(),
            broker_ns,
            dir,
            tag,
            node_command: (PathBuf::from(MQTT_VPN), Vec::new()),
        };
        for n in 1..=hosts {
            lab.add_host(n);
        }
        lab
    }

    fn add_host(&mut self, n: usize) {
        let ns = Netns::new(&format!("h{n}"), &self.tag);
        let hub_side = format!("v{n}");
        self.broker_ns.ip(&[
            "link", "add", &hub_side, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
        ]);
        let hub_ip = format!("198.18.{n}.1/24");
        let host_ip = format!("198.18.{n}.2/24");
        self.broker_ns
            .ip(&["addr", "add", &hub_ip, "dev", &hub_side]);
        self.broker_ns.ip(&["link", "set", &hub_side, "up"]);
        ns.ip(&["addr", "add", &host_ip, "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
        self.hosts.push(Host {
            ns,
            broker_ip: Ipv4Addr::new(198, 18, n as u8, 1),
        });
    }

    /// Host `n` (1-based).
    pub fn host(&self, n: usize) -> &Host {
        &self.hosts[n - 1]
    }

    /// The broker URL host `n` uses.
    pub fn broker_url(&self, n: usize) -> String {
        format!("tcp://{}:{BROKER_PORT}", self.host(n).broker_ip)
    }

    /// A file path inside the lab's temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Starts mosquitto in the broker namespace; returns its index for
    /// [`Lab::proc`].
    pub fn start_mosquitto(&mut self) -> usize {
        self.start_mosquitto_with("")
    }

    /// Starts mosquitto with extra configuration lines (more listeners, TLS)
    /// after the plain listener on [`BROKER_PORT`].
    pub fn start_mosquitto_with(&mut self, extra_config: &str) -> usize {
        let conf = self.path("mosquitto.conf");
        let mut f = fs::File::create(&conf).unwrap();
        writeln!(
            f,
            "per_listener_settings false\nallow_anonymous true\npersistence false\n\
             listener {BROKER_PORT} 0.0.0.0\n{extra_config}"
        )
        .unwrap();
        let mut cmd = self.broker_ns.command(mosquitto_path());
        cmd.arg("-c").arg(&conf);
        let index = self.start(cmd, "mosquitto");
        self.wait_for_broker();
        index
    }

    /// Waits until something accepts TCP on the broker port.
    pub fn wait_for_broker(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let probe = format!("exec 3<>/dev/tcp/127.0.0.1/{BROKER_PORT}");
        while Instant::now() < deadline {
            let bash = self.broker_ns.command("bash").args(["-c", &probe]).output();
            if bash.is_ok_and(|o| o.status.success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no broker listening after 10 s\n{}", self.logs());
    }

    /// Starts a process, logging to `<name>.log` in the lab dir.
    pub fn start(&mut self, cmd: Command, name: &str) -> usize {
        let log = self.path(&format!("{name}.log"));
        self.procs.push(Proc::spawn(cmd, log));
        self.procs.len() - 1
    }

    /// Starts `mqtt_vpn` in host `n`'s namespace with interface `mq0`,
    /// address `address` and the extra `args`.
    pub fn start_node(&mut self, n: usize, address: &str, args: &[&str]) -> usize {
        let url = self.broker_url(n);
        self.start_node_via(n, address, &url, args)
    }

    /// Starts `mqtt_vpn` in host `n`'s namespace like [`Lab::start_node`],
    /// with the broker URL `broker` (another port or scheme).
    pub fn start_node_via(
        &mut self,
        n: usize,
        address: &str,
        broker: &str,
        args: &[&str],
    ) -> usize {
        let mut cmd = self.node_in(&self.host(n).ns);
        cmd.args(["-i", "mq0", "-a", address, "-b", broker])
            .args(args)
            .env("RUST_LOG", "mqttvpn=debug,info");
        self.start(cmd, &format!("node{n}"))
    }

    /// A command that runs a node in `ns`; add the node's flags.
    pub fn node_in(&self, ns: &Netns) -> Command {
        let (program, pre) = &self.node_command;
        let mut cmd = ns.command(program.to_str().expect("UTF-8 path"));
        cmd.args(pre);
        cmd
    }

    /// Starts a hub node in the broker namespace: VPN address 10.0.1.254,
    /// VPN password `password`, and the in-process broker on [`BROKER_PORT`]
    /// instead of mosquitto. Returns once the broker listens.
    pub fn start_hub(&mut self, password: &str) -> usize {
        // Only the test namespaces reach it.
        self.start_hub_with(password, &["--broker-open"])
    }

    /// [`Lab::start_hub`] with more flags for the hub (logins, say).
    pub fn start_hub_with(&mut self, password: &str, extra: &[&str]) -> usize {
        let listen = format!("0.0.0.0:{BROKER_PORT}");
        let mut hub = self.node_in(&self.broker_ns);
        hub.args([
            "-i",
            "mq0",
            "-a",
            "10.0.1.254",
            "-k",
            password,
            "--broker-listen",
            &listen,
        ])
        .args(extra);
        let index = self.start(hub, "hub");
        self.wait_for_broker();
        index
    }

    /// The process at `index`.
    pub fn proc(&mut self, index: usize) -> &mut Proc {
        &mut self.procs[index]
    }

    /// Every log, for failure messages.
    pub fn logs(&self) -> String {
        self.procs
            .iter()
            .map(|p| format!("--- {}\n{}", p.log.display(), p.log_text()))
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            p.stop();
        }
        self.procs.clear();
        self.hosts.clear();
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Asks a node for its counters (SIGUSR1) and returns the value of `name`
/// from the newest counters line of its log, waiting up to 2 s for it.
pub fn counter(node: &Proc, name: &str) -> u64 {
    counters(node).get(name).copied().unwrap_or(0)
}

/// The crate's directory (where `Cargo.toml` is).
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The cargo target directory of this test build: `CARGO_TARGET_DIR` if
/// set, else the one the test executable sits in
/// (`<target>/<profile>/deps/<test>`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return repo_path("").join(dir);
    }
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo_path("target"))
}

/// The C static library as a host port links it: `libmqttvpn.a` built with
/// `std` but without the Linux driver, by `cargo build --lib` into its own
/// target directory (`<target>/embedded-host`, so it never waits for or
/// disturbs the build running the tests). Built once per test process.
pub fn host_staticlib() -> PathBuf {
    static LIB: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LIB.get_or_init(|| {
        let target = target_dir().join("embedded-host");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        run(Command::new(cargo)
            .args([
                "build",
                "--lib",
                "--no-default-features",
                "--features",
                "std,ffi",
            ])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(repo_path("")));
        let lib = target.join("debug").join("libmqttvpn.a");
        assert!(lib.exists(), "cargo build did not make {}", lib.display());
        lib
    })
    .clone()
}

/// Compiles and links C `sources` (relative to the crate) with gcc,
/// `-std=c99 -Wall -Wextra -Werror`, the generated header and `args`
/// (more sources, libraries, defines) into `out`.
pub fn gcc(out: &Path, sources: &[&str], args: &[&str]) {
    let mut cmd = Command::new("gcc");
    cmd.args([
        "-std=c99",
        "-D_DEFAULT_SOURCE",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-g",
    ])
    .arg("-I")
    .arg(repo_path("include"))
    .arg("-o")
    .arg(out);
    for source in sources {
        cmd.arg(repo_path(source));
    }
    cmd.args(args);
    run(&mut cmd);
}

/// Resident memory of process `pid` in KiB (`VmRSS` in `/proc/<pid>/status`),
/// or `None` once the process is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Number of open file descriptors of process `pid` (entries of
/// `/proc/<pid>/fd`), or `None` once the process is gone.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Asks a node for its counters (SIGUSR1) and returns every `name=value`
/// pair of the newest counters line, waiting up to 2 s for it. Drop
/// counters that are still 0 are absent from the line, so read them with
/// `.get(name).copied().unwrap_or(0)`.
pub fn counters(node: &Proc) -> std::collections::BTreeMap<String, u64> {
    let before = node.log_text().matches("counters:").count();
    node.signal("USR1");
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let log = node.log_text();
        if log.matches("counters:").count() > before {
            let line = log
                .lines()
                .rev()
                .find(|l| l.contains("counters:"))
                .unwrap_or("");
            return line
                .split_whitespace()
                .filter_map(|kv| {
                    let (name, value) = kv.split_once('=')?;
                    Some((name.to_owned(), value.parse().ok()?))
                })
                .collect();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "node printed no counters after SIGUSR1:\n{}",
        node.log_text()
    );
}

/// Runs `f` on a short-lived thread that has entered namespace `ns` with
/// `setns(2)`: sockets it makes stay in that namespace and can be used
/// from any thread.
fn in_namespace<T: Send + 'static>(
    ns: &Netns,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    use std::os::fd::AsRawFd;
    unsafe extern "C" {
        fn setns(fd: std::os::raw::c_int, nstype: std::os::raw::c_int) -> std::os::raw::c_int;
    }
    const CLONE_NEWNET: std::os::raw::c_int = 0x4000_0000;
    let path = format!("/run/netns/{}", ns.name);
    std::thread::spawn(move || {
        let handle = fs::File::open(&path)?;
        // SAFETY: `handle` is an open namespace file for the whole call;
        // setns only changes the network namespace of this thread, which
        // ends after `f`.
        if unsafe { setns(handle.as_raw_fd(), CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        f()
    })
    .join()
    .expect("namespace thread panicked")
}

/// Opens a TCP connection from inside namespace `ns` (say, to the broker at
/// `127.0.0.1:BROKER_PORT` in [`Lab::broker_ns`]), so the test process
/// itself can speak to what runs there.
pub fn connect_in(ns: &Netns, addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpStream> {
    in_namespace(ns, move || {
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
    })
}

/// Binds a TCP listener inside namespace `ns`, so the test process can play
/// a server there.
pub fn listen_in(ns: &Netns, addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    in_namespace(ns, move || std::net::TcpListener::bind(addr))
}

/// A TCP transfer of random bytes from host 1 to port 5001 of `dst` (a
/// listener in host 2), running in the background; see
/// [`Lab::start_tcp_transfer`].
pub struct TcpTransfer {
    server: Child,
    sender: Option<Child>,
    received: PathBuf,
}

impl Lab {
    /// Writes `bytes` random bytes to a file, starts `nc -l 5001 |
    /// sha256sum` in host 2 and `nc dst 5001 < file && sha256sum < file` in
    /// host 1 (IPv4 or IPv6 after `dst`), and returns at once.
    pub fn start_tcp_transfer(&self, dst: &str, bytes: usize) -> TcpTransfer {
        let family = if dst.contains(':') { "-6" } else { "-4" };
        let data = self.path("data.bin");
        let received = self.path("received.sha256");
        run(Command::new("sh")
            .arg("-c")
            .arg(format!("head -c {bytes} /dev/urandom > {}", data.display())));
        let server = self
            .host(2)
            .ns
            .command("sh")
            .arg("-c")
            .arg(format!(
                "timeout 90 nc {family} -l 5001 | sha256sum > {}",
                received.display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the listener");
        std::thread::sleep(Duration::from_millis(300));
        let sender = self
            .host(1)
            .ns
            .command("sh")
            .arg("-c")
            .arg(format!(
                "nc {family} -N -w 60 {dst} 5001 < {0} && sha256sum < {0}",
                data.display()
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the sender");
        TcpTransfer {
            server,
            sender: Some(sender),
            received,
        }
    }
}

impl TcpTransfer {
    /// Waits for both ends; returns the sha256 sent and the sha256
    /// received, or why the transfer failed.
    pub fn finish(mut self) -> Result<(String, String), String> {
        let sender = self.sender.take().expect("finished once");
        let sent = sender.wait_with_output().map_err(|e| e.to_string())?;
        let server = self.server.wait().map_err(|e| e.to_string())?;
        if !sent.status.success() || !server.success() {
            return Err(format!(
                "nc failed (sender {}, listener {server})",
                sent.status
            ));
        }
        let first_word = |s: &str| s.split_whitespace().next().unwrap_or("").to_owned();
        Ok((
            first_word(&String::from_utf8_lossy(&sent.stdout)),
            first_word(&fs::read_to_string(&self.received).unwrap_or_default()),
        ))
    }
}

impl Drop for TcpTransfer {
    fn drop(&mut self) {
        // Only after a failed test: stop both shells by PID.
        for child in self.sender.iter_mut().chain([&mut self.server]) {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// The sha256 of nothing: what a listener that received no byte reports.
pub const EMPTY_SHA256_PREFIX: &str = "e3b0c442";

/// The code blocks of the `## <heading>` section of a Markdown page (such
/// as docs/c-api.md), joined, without their fences and language tags.
pub fn code_blocks_of_section(markdown: &str, heading: &str) -> String {
    let section = markdown
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("the page has no `## {heading}` section"));
    section
        .split("```")
        .skip(1)
        .step_by(2)
        // Past the language tag of the fence.
        .map(|block| block.split_once('\n').map_or("", |(_, code)| code))
        .collect::<Vec<_>>()
        .join("\n")
}
