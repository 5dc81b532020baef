//! The `mqtt_vpn` command: flags in, exit status out (0: stopped by a
//! signal, 1: runtime failure, 2: usage error).

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use super::{Settings, init_logging, run};

/// Parses `args` (program name first), runs the node and maps the outcome to
/// an exit status. Never panics on bad input.
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if args.get(1).is_some_and(|a| a == "status") {
        return status(&args[2..]);
    }
    let settings = match Settings::try_parse_from(args) {
        Ok(settings) => settings,
        Err(e) => {
            // Prints help/version to stdout (status 0) or the error to stderr (status 2).
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
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
    init_logging(config.debug);
    let threads = usize::from(config.threads);
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mqtt_vpn: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mqtt_vpn: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// `mqtt_vpn status [-i IFACE | --control PATH]`: prints the report of a
/// running node (its brokers, peers and counters).
fn status(args: &[OsString]) -> ExitCode {
    const USAGE: &str = "usage: mqtt_vpn status [-i <interface> | --control <socket>]";
    let socket = match args {
        [] => None,
        [flag, value] if flag == "-i" || flag == "--interface" => {
            Some(super::control::default_socket(&value.to_string_lossy()))
        }
        [flag, value] if flag == "--control" => Some(value.into()),
        [flag] if flag == "-h" || flag == "--help" => {
            println!("Prints a running node's brokers, peers and counters.\n\n{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("mqtt_vpn status: unexpected arguments\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match super::control::status(socket.as_deref()) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mqtt_vpn status: {e}");
            ExitCode::from(1)
        }
    }
}
