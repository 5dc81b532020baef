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
