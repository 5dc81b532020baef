//! The command line: bad flags and settings exit with status 2 and a message
//! that says what to fix; runtime failures exit 1. No root needed.

use std::process::Command;

const MQTT_VPN: &str = env!("CARGO_BIN_EXE_mqtt_vpn");

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(MQTT_VPN)
        .args(args)
        .env_remove("MQTT_VPN_PASSWORD")
        .env_remove("MQTT_VPN_BROKER_PASSWORD")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const OK: [&str; 4] = ["-a", "10.0.1.1", "-b", "tcp://127.0.0.1:1"];

#[test]
fn usage_errors_exit_2_with_a_message_that_says_what_to_fix() {
    let cases: &[(&[&str], &str)] = &[
        (&["-b", "tcp://h"], "give -a"),
        (&["-a", "10.0.1.1"], "give -b"),
        (
            &["-a", "10.0.1.300", "-b", "tcp://h"],
            "invalid IPv4 address",
        ),
        (
            &["-a", "0.0.0.0", "-b", "tcp://h"],
            "cannot be a node's address",
        ),
        (&["-a", "10.0.1.1", "-b", "h:1883"], "invalid broker URL"),
        (&["-a", "10.0.1.1", "-b", "ftp://h"], "unknown scheme"),
        (&["-a", "10.0.1.1", "-b", "tcp://h:70000"], "bad port"),
        (&["-m", "255.0.255.0"], "not contiguous"),
        (&["--prefix", "vpn/#"], "invalid --prefix"),
        (&["--prefix", "$SYS"], "reserved"),
        (&["--mtu", "100"], "out of range"),
        (&["--mtu", "70000"], "invalid value"),
        (&["--keepalive", "1"], "at least 5 seconds"),
        (&["-p", "secret"], "needs a user name"),
        (&["--insecure"], "not ssl://"),
        (&["-x", "129", "-6", "fd00::1"], "prefix length"),
        (&["-i", "a/very/long/interface/name"], "interface name"),
        (
            &["--vpn-password-file", "/nonexistent/pw"],
            "cannot read the VPN password file",
        ),
        (
            &["--config", "/nonexistent.toml"],
            "cannot read config file",
        ),
        (&["--no-such-flag"], "unexpected argument"),
        (&["--client-cert", "c.pem"], "--client-key"),
    ];
    for (extra, hint) in cases {
        let mut args: Vec<&str> = Vec::new();
        let overrides_required = extra.iter().any(|a| *a == "-a" || *a == "-b");
        if !overrides_required {
            args.extend(OK);
        }
        args.extend(*extra);
        let (code, stderr) = run(&args);
        assert_eq!(code, 2, "{args:?} should exit 2, stderr: {stderr}");
        assert!(
            stderr.contains(hint),
            "{args:?}: expected '{hint}' in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    }
}

#[test]
fn a_config_file_with_an_unknown_key_is_refused_by_name() {
    let path = std::env::temp_dir().join(format!("mqttvpn-cli-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "address = \"10.0.1.1\"\nbroker = \"tcp://h\"\nbrokr = \"x\"\n",
    )
    .unwrap();
    let (code, stderr) = run(&["--config", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("brokr"), "{stderr}");
}

#[test]
fn help_lists_every_flag_of_the_c_tool() {
    let out = Command::new(MQTT_VPN).arg("-h").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "-i,", "-a,", "-b,", "-m,", "-u,", "-p,", "-k,", "-6,", "-x,", "-n,", "-t,", "-d,", "-h,",
    ] {
        assert!(help.contains(flag), "help lacks {flag}:\n{help}");
    }
}

#[test]
fn an_unreadable_ca_file_is_a_runtime_error_with_exit_1() {
    let (code, stderr) = run(&[
        "-a",
        "10.0.1.1",
        "-b",
        "ssl://127.0.0.1:1",
        "--ca-file",
        "/nonexistent/ca.pem",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/ca.pem"), "{stderr}");
}

#[test]
fn without_privileges_the_node_says_how_to_get_them_and_exits_1() {
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if !root {
        eprintln!("SKIPPED no_privileges: needs root to drop to nobody with setpriv");
        return;
    }
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(MQTT_VPN)
        .args(OK)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("run as root or grant CAP_NET_ADMIN"),
        "{stderr}"
    );
}

#[test]
fn status_without_a_running_node_says_so_and_exits_1() {
    let (code, stderr) = run(&["status", "--control", "/nonexistent/mq9.sock"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot reach the node at /nonexistent/mq9.sock"),
        "{stderr}"
    );
    let (code, stderr) = run(&["status", "--bogus"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("usage: mqtt_vpn status"), "{stderr}");
}

#[test]
fn an_empty_password_file_or_variable_is_an_error_not_silent_plain_mode() {
    let path = std::env::temp_dir().join(format!("mqttvpn-empty-{}", std::process::id()));
    for content in ["", "\n", "\nsecond line"] {
        std::fs::write(&path, content).unwrap();
        let mut args = OK.to_vec();
        args.extend(["--vpn-password-file", path.to_str().unwrap()]);
        let (code, stderr) = run(&args);
        assert_eq!(code, 2, "{content:?}: {stderr}");
        assert!(stderr.contains("empty first line"), "{content:?}: {stderr}");
    }
    std::fs::remove_file(&path).unwrap();
    for variable in ["MQTT_VPN_PASSWORD", "MQTT_VPN_BROKER_PASSWORD"] {
        let mut command = Command::new(MQTT_VPN);
        command.args(OK).env_remove("MQTT_VPN_PASSWORD");
        command
            .env_remove("MQTT_VPN_BROKER_PASSWORD")
            .env(variable, "");
        if variable == "MQTT_VPN_BROKER_PASSWORD" {
            command.args(["-u", "user"]);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{variable}: {stderr}");
        assert!(
            stderr.contains(&format!("{variable} is set but empty")),
            "{stderr}"
        );
    }
}

#[test]
fn serving_a_broker_beyond_loopback_needs_logins_or_an_explicit_open() {
    let (code, stderr) = run(&["-a", "10.0.1.1", "--broker-listen", "0.0.0.0:1883"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--broker-auth-file"), "{stderr}");
    let path = std::env::temp_dir().join(format!("mqttvpn-logins-{}", std::process::id()));
    std::fs::write(&path, "no colon here\n").unwrap();
    let (code, stderr) = run(&[
        "-a",
        "10.0.1.1",
        "--broker-listen",
        "0.0.0.0:1883",
        "--broker-auth-file",
        path.to_str().unwrap(),
    ]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("expected user:password"), "{stderr}");
}

#[test]
fn a_served_broker_certificate_needs_its_key_and_a_broker_to_serve() {
    let base = ["-i", "mq9", "-a", "10.0.1.1", "-k", "pw"];
    let (code, stderr) = run(&[
        &base[..],
        &[
            "--broker-listen",
            "127.0.0.1:1883",
            "--broker-cert",
            "/etc/hostname",
        ],
    ]
    .concat());
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--broker-cert and --broker-key go together"),
        "{stderr}"
    );
    let (code, stderr) = run(&[
        &base[..],
        &[
            "-b",
            "tcp://h",
            "--broker-cert",
            "/etc/hostname",
            "--broker-key",
            "/etc/hostname",
        ],
    ]
    .concat());
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--broker-cert needs --broker-listen"),
        "{stderr}"
    );
}
