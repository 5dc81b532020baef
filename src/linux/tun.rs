//! The TUN device: IPv4 (and optional IPv6) address, MTU, no packet
//! information header. The interface disappears when the device is dropped.

use std::io;
use std::path::Path;

use tun_rs::{AsyncDevice, DeviceBuilder};

use super::RunError;
use super::config::NodeConfig;

const TUN_PATH: &str = "/dev/net/tun";

/// Creates and brings up the node's TUN interface.
pub fn open(config: &NodeConfig) -> Result<AsyncDevice, RunError> {
    if !Path::new(TUN_PATH).exists() {
        return Err(RunError::Tun(
            "no /dev/net/tun: load the tun module (modprobe tun) or give the container the device"
                .into(),
        ));
    }
    let prefix_len = u32::from(config.netmask).leading_ones() as u8;
    let mut builder = DeviceBuilder::new()
        .packet_information(false)
        .ipv4(config.address, prefix_len, None)
        .mtu(config.mtu)
        .offload(config.offload);
    if let Some(name) = &config.interface {
        builder = builder.name(name);
    }
    if let Some((address, len)) = config.ipv6 {
        builder = builder.ipv6(address, len);
    }
    builder
        .build_async()
        .map_err(|e| RunError::Tun(explain(&e, config)))
}

fn explain(e: &io::Error, config: &NodeConfig) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            format!("cannot create the TUN interface ({e}): run as root or grant CAP_NET_ADMIN")
        }
        io::ErrorKind::ResourceBusy | io::ErrorKind::AlreadyExists => format!(
            "cannot create TUN interface {}: {e} (is another node using that name?)",
            config.interface.as_deref().unwrap_or("tunN")
        ),
        _ => format!("cannot create the TUN interface: {e}"),
    }
}

/// Points the kernel's routes for the `--route` subnets at the interface
/// `name` (with `ip route replace`, so a restart finds them in place).
/// A failure is logged: the tunnel still works for its own subnet.
pub fn add_routes(name: &str, routes: &[crate::tunnel::Route]) {
    for route in routes {
        let cidr = route.destination.to_string();
        // The child gets no copy of the passwords the node may have been
        // given in its environment.
        match std::process::Command::new("ip")
            .args(["route", "replace", &cidr, "dev", name])
            .env_remove("MQTT_VPN_PASSWORD")
            .env_remove("MQTT_VPN_BROKER_PASSWORD")
            .output()
        {
            Ok(out) if out.status.success() => {
                tracing::info!("route {cidr} via node {} on {name}", route.via);
            }
            Ok(out) => tracing::warn!(
                "cannot add the kernel route {cidr} dev {name}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => tracing::warn!(
                "cannot run `ip route replace {cidr} dev {name}` ({e}): add the route yourself"
            ),
        }
    }
}
