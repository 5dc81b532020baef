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
    // verify wants the ExecStart binary to exist; /bin/true stands in.
    verify_unit(
        &unit.replace("/usr/local/sbin/mqtt_vpn", "/bin/true"),
        "mqtt-vpn.service",
    );
}

/// The Debian package's pieces (scripts/build-release.sh builds the .deb,
/// scripts/test-release.sh checks it; too slow for CI, so the parts that
/// need no cross build are checked here): the unit template, the maintainer
/// scripts and the asset list in Cargo.toml.
#[test]
fn the_debian_package_template_unit_scripts_and_assets_are_sound() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("packaging/debian/mqtt-vpn@.service")).unwrap();
    assert!(
        unit.lines()
            .any(|l| l
                == "ExecStart=/usr/sbin/mqtt_vpn --config /etc/mqtt-vpn/%i.toml --interface %i"),
        "instance %i must read /etc/mqtt-vpn/%i.toml"
    );
    // Instances share /run/mqtt_vpn: one stopping must not remove it.
    assert!(unit.lines().any(|l| l == "RuntimeDirectoryPreserve=yes"));

    // Installing starts nothing; removing stops every instance.
    let script =
        |name: &str| std::fs::read_to_string(root.join("packaging/debian").join(name)).unwrap();
    let postinst = script("postinst");
    assert!(!postinst.contains("systemctl start") && !postinst.contains("systemctl enable"));
    assert!(script("prerm").contains("systemctl stop 'mqtt-vpn@*.service'"));
    for name in ["postinst", "prerm", "postrm"] {
        let path = root.join("packaging/debian").join(name);
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{name} must be executable");
    }

    // Every asset but the binary exists; the example config is 0600.
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("Cargo.toml")).unwrap()).unwrap();
    let assets = manifest["package"]["metadata"]["deb"]["assets"]
        .as_array()
        .unwrap();
    let mut installed = Vec::new();
    for asset in assets {
        let [src, dst, mode] = [0, 1, 2].map(|i| asset[i].as_str().unwrap());
        if !src.starts_with("target/") {
            assert!(root.join(src).is_file(), "asset {src} missing");
        }
        installed.push((dst, mode));
    }
    for want in [
        ("usr/sbin/mqtt_vpn", "755"),
        ("usr/lib/systemd/system/mqtt-vpn@.service", "644"),
        ("etc/mqtt-vpn/example.toml", "600"),
    ] {
        assert!(installed.contains(&want), "{want:?} not in {installed:?}");
    }

    // The template verified as instance mq0; /bin/true stands in for the binary.
    verify_unit(
        &unit.replace("/usr/sbin/mqtt_vpn", "/bin/true"),
        "mqtt-vpn@mq0.service",
    );
}

/// Runs `systemd-analyze verify` on `unit` saved as `name`: no complaint
/// allowed. Skipped, saying so, where systemd-analyze is not installed.
fn verify_unit(unit: &str, name: &str) {
    let Ok(out) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("SKIPPED systemd-analyze verify: systemd-analyze is not installed");
        return;
    };
    assert!(out.status.success());
    let dir = std::env::temp_dir().join(format!("mqttvpn-unit-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join(name);
    std::fs::write(&copy, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}
