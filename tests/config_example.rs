//! The shipped example configuration parses and resolves.

use mqttvpn::linux::Settings;

#[test]
fn the_example_config_file_has_only_known_keys_and_valid_values() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mqtt-vpn.toml");
    let settings = Settings::from_file(std::path::Path::new(path)).unwrap();
    assert_eq!(settings.address, Some("10.0.1.1".parse().unwrap()));
    assert_eq!(settings.broker, ["ssl://broker.example.net:8883"]);
    // Resolving reads the password files, which only exist on a real install.
    let without_files = Settings {
        broker_password_file: None,
        vpn_password_file: None,
        ..settings
    };
    let config = without_files.resolve(1).unwrap();
    assert_eq!(config.mtu, 1500);
    assert_eq!(config.interface.as_deref(), Some("mq0"));
}

#[test]
fn the_systemd_unit_gives_the_control_socket_a_writable_runtime_directory() {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mqtt-vpn.service"),
    )
    .unwrap();
    // ProtectSystem=strict makes /run read-only; the socket lives in /run/mqtt_vpn.
    assert!(unit.contains("ProtectSystem=strict"));
    assert!(
        unit.lines()
            .any(|l| l.trim() == "RuntimeDirectory=mqtt_vpn"),
        "no RuntimeDirectory=mqtt_vpn in the unit"
    );
    let Ok(out) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("SKIPPED systemd-analyze verify: systemd-analyze is not installed");
        return;
    };
    assert!(out.status.success());
    let dir = std::env::temp_dir().join(format!("mqttvpn-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("mqtt-vpn.service");
    // verify wants the ExecStart binary to exist; /bin/true stands in.
    std::fs::write(&copy, unit.replace("/usr/local/sbin/mqtt_vpn", "/bin/true")).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}
