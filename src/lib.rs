//! # mqtt-vpn: IP over an MQTT broker
//!
//! Every node connects to one MQTT broker, publishes each IP packet to
//! `<prefix>/<destination address>` and subscribes to its own address and to
//! broadcast, so the broker does the switching. With a pre-shared password
//! every packet is sealed with XSalsa20-Poly1305, byte-compatible with the C
//! nodes already deployed (wire v1).
//!
//! ## Layers
//!
//! Dependencies point down only.
//!
//! ```text
//!  drivers   linux (tokio + tun-rs, TLS, WebSocket)   ffi (C ABI, driven by an lwIP shim)
//!               |                                       |
//!  link      link     one broker connection: connect, backoff, keepalive, (re)subscribe,
//!                     packets through the tunnel (both drivers run it)
//!               |                                       |
//!  session   mqtt     sans-IO MQTT 3.1.1 client: bytes in, bytes and events out
//!               |                                       |
//!  core      tunnel   one node's decisions: packet -> publish, publish -> packet, counters
//!            wire     wire v1: key, seal, open, into caller buffers
//!            wire2    wire v2 (opt-in): PBKDF2 key, counter nonces; replay: bounded replay memory
//!            ip       IPv4/IPv6 header peek: length checked once, then no panics
//!            topic    <prefix>/<address> format and parse, prefix validation
//!            route    IPv4 subnets and static routes; uri: broker URIs
//! ```
//!
//! The core ([`wire`], [`wire2`], [`replay`], [`ip`], [`topic`], [`tunnel`]),
//! the [`mqtt`] session and the broker [`link`] are `no_std` + `alloc`:
//! it never reads a clock, a socket or a random source. Callers pass random
//! bytes in and get results written into buffers they own; nothing is
//! allocated per packet. Errors are small `Copy` enums with `Display`.
//!
//! The drivers own the I/O. With the `linux` feature (on by default) the
//! [`linux`] module runs a node on a TUN device; it is what the `mqtt_vpn`
//! binary calls.
//!
//! ## Features
//! - `std` (default): implements `std::error::Error` for the core errors.
//! - `linux` (default, implies `std`): the Linux daemon.
//! - `ffi`: the C ABI (`mqtt_if_*`, the platform registry) for lwIP ports;
//!   the embedded library and the C ABI tests turn it on, the daemon does
//!   not carry it.
//!
//! Build the embedded library with `cargo build --no-default-features
//! --features ffi --lib`: without `std`, `ffi` adds a global allocator over
//! the C `malloc`/`free` and a panic handler that calls the port's
//! `mqtt_vpn_panic_hook`, so the static library links on bare-metal
//! targets. Every profile aborts on panic, which is what a bare-metal target
//! does anyway.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

// The crate is also a staticlib: without `std` it needs the allocator and
// panic handler that `ffi` brings for the embedded library.
#[cfg(not(any(feature = "std", feature = "ffi")))]
compile_error!("a build without `std` is the embedded library: enable the `ffi` feature too");

#[cfg(all(feature = "linux", not(target_os = "linux")))]
compile_error!("the `linux` feature builds the TUN daemon and needs target_os = \"linux\"");

pub mod ip;
pub mod link;
pub mod mqtt;
pub mod replay;
pub mod route;
pub mod topic;
pub mod tunnel;
pub mod uri;
pub mod wire;
pub mod wire2;

#[cfg(feature = "ffi")]
pub mod ffi;

#[cfg(feature = "linux")]
pub mod linux;
