//! Counters a sketch can print: `mqtt_if_get_stats` copies an interface's
//! packet, byte and drop counters (every reason the core drops for, each
//! way) into a caller's `struct mqtt_if_stats`.

use core::ffi::c_char;

use super::boundary::{ffi_fn, mqtt_if_result};
use super::{handle, mqtt_if_data};
use crate::tunnel::{Direction, DropReason};

use mqtt_if_result::*;

/// Why a packet was dropped: the index into `mqtt_if_stats.dropped_out` and
/// `dropped_in`. Numbers are never reused; `mqtt_if_drop_reason_str` names
/// each.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum mqtt_if_drop_reason {
    /// Not an IPv4 or IPv6 packet, or its header is cut short.
    MQTT_IF_DROP_MALFORMED = 0,
    /// IPv6 multicast other than ff02::1.
    MQTT_IF_DROP_MULTICAST_NOT_CARRIED = 1,
    /// Larger than the MTU.
    MQTT_IF_DROP_TOO_LARGE = 2,
    /// Larger than a buffer of the library.
    MQTT_IF_DROP_BUFFER_TOO_SMALL = 3,
    /// Received on a topic this interface does not read.
    MQTT_IF_DROP_UNKNOWN_TOPIC = 4,
    /// A sealed payload too short to hold a packet.
    MQTT_IF_DROP_TOO_SHORT = 5,
    /// A sealed payload that does not open with the key (wrong password or
    /// altered).
    MQTT_IF_DROP_DECRYPT_FAILED = 6,
    /// A payload already received.
    MQTT_IF_DROP_REPLAYED = 7,
    /// A wire v2 payload whose counter or epoch is too old.
    MQTT_IF_DROP_TOO_OLD = 8,
    /// A payload of a wire version this interface does not read.
    MQTT_IF_DROP_WRONG_VERSION = 9,
    /// Wire v2 without a set wall clock.
    MQTT_IF_DROP_NO_BOOT_ID = 10,
    /// A received packet whose inner destination is not this interface's
    /// address, a broadcast, a multicast group or a reading topic's address.
    MQTT_IF_DROP_NOT_FOR_THIS_NODE = 11,
    /// A wire v2 payload from a new sender while the sender table is full.
    MQTT_IF_DROP_SENDER_TABLE_FULL = 12,
}

/// How many drop reasons there are: the length of the drop arrays.
pub const MQTT_IF_DROP_REASONS: usize = 13;

const _: () = assert!(MQTT_IF_DROP_REASONS == DropReason::ALL.len());

impl mqtt_if_drop_reason {
    fn core(self) -> DropReason {
        match self {
            Self::MQTT_IF_DROP_MALFORMED => DropReason::Malformed,
            Self::MQTT_IF_DROP_MULTICAST_NOT_CARRIED => DropReason::MulticastNotCarried,
            Self::MQTT_IF_DROP_TOO_LARGE => DropReason::TooLarge,
            Self::MQTT_IF_DROP_BUFFER_TOO_SMALL => DropReason::BufferTooSmall,
            Self::MQTT_IF_DROP_UNKNOWN_TOPIC => DropReason::UnknownTopic,
            Self::MQTT_IF_DROP_TOO_SHORT => DropReason::TooShort,
            Self::MQTT_IF_DROP_DECRYPT_FAILED => DropReason::DecryptFailed,
            Self::MQTT_IF_DROP_REPLAYED => DropReason::Replayed,
            Self::MQTT_IF_DROP_TOO_OLD => DropReason::TooOld,
            Self::MQTT_IF_DROP_WRONG_VERSION => DropReason::WrongVersion,
            Self::MQTT_IF_DROP_NO_BOOT_ID => DropReason::NoBootId,
            Self::MQTT_IF_DROP_NOT_FOR_THIS_NODE => DropReason::NotForThisNode,
            Self::MQTT_IF_DROP_SENDER_TABLE_FULL => DropReason::SenderTableFull,
        }
    }

    /// Every reason, in number order.
    const ALL: [Self; MQTT_IF_DROP_REASONS] = [
        Self::MQTT_IF_DROP_MALFORMED,
        Self::MQTT_IF_DROP_MULTICAST_NOT_CARRIED,
        Self::MQTT_IF_DROP_TOO_LARGE,
        Self::MQTT_IF_DROP_BUFFER_TOO_SMALL,
        Self::MQTT_IF_DROP_UNKNOWN_TOPIC,
        Self::MQTT_IF_DROP_TOO_SHORT,
        Self::MQTT_IF_DROP_DECRYPT_FAILED,
        Self::MQTT_IF_DROP_REPLAYED,
        Self::MQTT_IF_DROP_TOO_OLD,
        Self::MQTT_IF_DROP_WRONG_VERSION,
        Self::MQTT_IF_DROP_NO_BOOT_ID,
        Self::MQTT_IF_DROP_NOT_FOR_THIS_NODE,
        Self::MQTT_IF_DROP_SENDER_TABLE_FULL,
    ];
}

/// An interface's counters, as `mqtt_if_get_stats` fills them in.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mqtt_if_stats {
    /// IP packets published.
    pub tx_packets: u64,
    /// Bytes of those packets (before sealing).
    pub tx_bytes: u64,
    /// IP packets handed to the netif.
    pub rx_packets: u64,
    /// Bytes of those packets.
    pub rx_bytes: u64,
    /// Outbound packets the core dropped, by `mqtt_if_drop_reason`.
    pub dropped_out: [u64; MQTT_IF_DROP_REASONS],
    /// Inbound payloads the core dropped, by `mqtt_if_drop_reason`.
    pub dropped_in: [u64; MQTT_IF_DROP_REASONS],
    /// Outbound packets dropped because no MQTT session was up.
    pub dropped_not_connected: u64,
    /// Outbound packets dropped because the transmit buffer stayed full.
    pub dropped_tx_full: u64,
    /// MQTT messages longer than the receive buffer, skipped.
    pub oversize_skipped: u64,
    /// PINGREQs sent.
    pub pings_sent: u64,
    /// The broker's last keepalive round trip in milliseconds (0: none yet).
    pub ping_rtt_ms: u64,
    /// Outbound packets dropped because the port's random callback failed.
    pub dropped_no_random: u64,
}

/// Copies the counters of `mq` into `*stats`. Safe to call from a platform
/// callback (it only reads); `MQTT_IF_ERR_BUSY` if the interface is being
/// changed at that moment.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_get_stats(
    mq: *const mqtt_if_data,
    stats: *mut mqtt_if_stats,
) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: contract of `handle`.
        let mq = unsafe { handle(mq) }?;
        // SAFETY: a non-NULL `stats` is writable (header).
        let out = unsafe { stats.as_mut() }.ok_or(MQTT_IF_ERR_NULL)?;
        let iface = mq.iface.try_borrow().map_err(|_| MQTT_IF_ERR_BUSY)?;
        let (counters, session, [not_connected, tx_full, no_random]) = iface.stats();
        let mut s = mqtt_if_stats {
            tx_packets: counters.tx_packets,
            tx_bytes: counters.tx_bytes,
            rx_packets: counters.rx_packets,
            rx_bytes: counters.rx_bytes,
            dropped_not_connected: not_connected,
            dropped_tx_full: tx_full,
            oversize_skipped: session.oversize_skipped,
            pings_sent: session.pings_sent,
            ping_rtt_ms: session.ping_rtt_ms,
            dropped_no_random: no_random,
            ..mqtt_if_stats::default()
        };
        for (i, reason) in mqtt_if_drop_reason::ALL.iter().enumerate() {
            s.dropped_out[i] = counters.dropped(Direction::Outbound, reason.core());
            s.dropped_in[i] = counters.dropped(Direction::Inbound, reason.core());
        }
        *out = s;
        Ok(MQTT_IF_OK)
    })
}

/// The snake_case name of drop reason `reason` (`"decrypt_failed"`), or
/// `"unknown"`; a static string, never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mqtt_if_drop_reason_str(reason: u32) -> *const c_char {
    ffi_fn!({
        let name = mqtt_if_drop_reason::ALL
            .get(usize::try_from(reason).unwrap_or(usize::MAX))
            .map_or(c"unknown", |r| r.core().c_name());
        Ok(name.as_ptr())
    })
}
