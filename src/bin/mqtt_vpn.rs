//! `mqtt_vpn`: the Linux node. Parses flags, runs the node, maps errors to
//! exit statuses (2: usage, 1: runtime).

use std::process::ExitCode;

use clap::Parser;
use mqttvpn::linux::{self, Settings};

fn main() -> ExitCode {
    let settings = Settings::parse();
    let mut random = [0u8; 4];
    if let Err(e) = getrandom::fill(&mut random) {
        eprintln!("mqtt_vpn: error: OS random source: {e}");
        return ExitCode::from(1);
    }
    let config = match settings.resolve(u32::from_le_bytes(random)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("mqtt_vpn: error: {e}\n\nFor more information, try '--help'.");
            return ExitCode::from(2);
        }
    };
    linux::init_logging(config.debug);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mqtt_vpn: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(linux::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mqtt_vpn: error: {e}");
            ExitCode::from(1)
        }
    }
}
