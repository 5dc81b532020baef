//! `mqtt_vpn`: the Linux node. See `mqtt_vpn --help`.

fn main() -> std::process::ExitCode {
    mqttvpn::linux::cli::main(std::env::args_os())
}
