//! MQTT 3.1.1 packets: encoding what a client sends, decoding what a server
//! sends, and framing a byte stream into packets.
//!
//! * [`ClientPacket::encode`] writes one packet into a caller buffer; its
//!   length is known first from [`ClientPacket::encoded_len`].
//! * [`Framer`] cuts a TCP byte stream into packets, whatever the chunking;
//!   a packet longer than its buffer is skipped as it streams in (its first
//!   bytes are kept, so a too-long QoS 1 publish can still be acknowledged).
//! * [`ServerPacket::decode`] reads one framed packet; it borrows the frame.
//!
//! Every length is checked before it is used: no input makes any function
//! here panic.

use alloc::boxed::Box;
use alloc::vec;
use core::fmt;

/// Largest remaining length that four length bytes can express.
pub const MAX_REMAINING_LEN: usize = 268_435_455;
/// Longest MQTT string or binary field, in bytes.
pub const MAX_STRING_LEN: usize = 65_535;
/// Length of the PUBACK, PUBREC and PUBCOMP packets a client sends.
pub const ACK_LEN: usize = 4;

/// Control packet types (the high nibble of the first byte).
mod kind {
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const PUBREC: u8 = 5;
    pub const PUBREL: u8 = 6;
    pub const PUBCOMP: u8 = 7;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const UNSUBSCRIBE: u8 = 10;
    pub const UNSUBACK: u8 = 11;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
    pub const DISCONNECT: u8 = 14;
}

/// Bits of the first byte of a PUBLISH.
mod publish_flags {
    pub const RETAIN: u8 = 0b0001;
    pub const QOS_SHIFT: u8 = 1;
    pub const QOS_MASK: u8 = 0b11;
    pub const DUP: u8 = 0b1000;
}

/// Bits of the CONNECT flags byte.
mod connect_flags {
    pub const CLEAN_SESSION: u8 = 0x02;
    pub const WILL: u8 = 0x04;
    pub const WILL_RETAIN: u8 = 0x20;
    pub const PASSWORD: u8 = 0x40;
    pub const USERNAME: u8 = 0x80;
}

/// Field offsets of the CONNACK body.
mod connack {
    pub const FLAGS: usize = 0;
    pub const CODE: usize = 1;
    pub const LEN: usize = 2;
    pub const SESSION_PRESENT: u8 = 0x01;
}

/// Field offsets of the SUBACK body.
mod suback {
    pub const PACKET_ID: usize = 0;
    pub const CODES: usize = 2;
    pub const FAILURE: u8 = 0x80;
}

/// The variable header of CONNECT: protocol name "MQTT" and level 4 (3.1.1).
const PROTOCOL: [u8; 7] = [0, 4, b'M', b'Q', b'T', b'T', 4];

/// Why a packet could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is shorter than [`ClientPacket::encoded_len`].
    BufferTooSmall,
    /// A string or binary field is longer than [`MAX_STRING_LEN`] bytes.
    StringTooLong,
    /// The packet is longer than [`MAX_REMAINING_LEN`] allows.
    PacketTooLong,
    /// A SUBSCRIBE or UNSUBSCRIBE without any topic filter.
    NoFilters,
    /// A password without a user name, which MQTT 3.1.1 forbids.
    PasswordWithoutUsername,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BufferTooSmall => "output buffer too small for the MQTT packet",
            Self::StringTooLong => "MQTT string longer than 65535 bytes",
            Self::PacketTooLong => "MQTT packet longer than 268435455 bytes",
            Self::NoFilters => "SUBSCRIBE or UNSUBSCRIBE without a topic filter",
            Self::PasswordWithoutUsername => "MQTT password without a user name",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

/// Why received bytes are not a packet a client accepts. Each is a protocol
/// violation: the connection cannot continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The remaining length needs a fifth byte (or is otherwise malformed).
    MalformedRemainingLength,
    /// Packet type 0 or 15.
    ReservedPacketType,
    /// The fixed header flags are not the ones the packet type requires.
    InvalidFlags,
    /// The body is shorter or longer than its fields.
    BadLength,
    /// A topic that is not UTF-8.
    InvalidUtf8,
    /// A PUBLISH with QoS 3.
    InvalidQos,
    /// A CONNACK or SUBACK return code that MQTT 3.1.1 does not define, or
    /// reserved CONNACK flag bits set.
    InvalidReturnCode,
    /// Packet identifier 0 where one is required.
    PacketIdZero,
    /// A packet only a client sends (CONNECT, SUBSCRIBE, UNSUBSCRIBE,
    /// PINGREQ, DISCONNECT).
    NotForClient,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MalformedRemainingLength => "malformed MQTT remaining length",
            Self::ReservedPacketType => "reserved MQTT packet type",
            Self::InvalidFlags => "invalid MQTT fixed header flags",
            Self::BadLength => "MQTT packet length does not match its fields",
            Self::InvalidUtf8 => "MQTT topic is not UTF-8",
            Self::InvalidQos => "MQTT PUBLISH with QoS 3",
            Self::InvalidReturnCode => "undefined MQTT return code or flags",
            Self::PacketIdZero => "MQTT packet identifier 0",
            Self::NotForClient => "MQTT packet that only a client sends",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// Why a server refused a connection: the CONNACK return codes 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectRefused {
    /// 1: the server does not speak MQTT 3.1.1.
    UnacceptableProtocolVersion,
    /// 2: the client identifier is not allowed.
    IdentifierRejected,
    /// 3: the MQTT service is unavailable.
    ServerUnavailable,
    /// 4: the user name or password is malformed or wrong.
    BadUserNameOrPassword,
    /// 5: the client is not authorized to connect.
    NotAuthorized,
}

impl ConnectRefused {
    /// The CONNACK return code.
    pub fn code(self) -> u8 {
        match self {
            Self::UnacceptableProtocolVersion => 1,
            Self::IdentifierRejected => 2,
            Self::ServerUnavailable => 3,
            Self::BadUserNameOrPassword => 4,
            Self::NotAuthorized => 5,
        }
    }

    /// Reads a CONNACK return code: `Ok(())` for 0 (accepted).
    fn from_code(code: u8) -> Result<Result<(), Self>, DecodeError> {
        Ok(Err(match code {
            0 => return Ok(Ok(())),
            1 => Self::UnacceptableProtocolVersion,
            2 => Self::IdentifierRejected,
            3 => Self::ServerUnavailable,
            4 => Self::BadUserNameOrPassword,
            5 => Self::NotAuthorized,
            _ => return Err(DecodeError::InvalidReturnCode),
        }))
    }
}

impl fmt::Display for ConnectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnacceptableProtocolVersion => {
                "connection refused: unacceptable protocol version"
            }
            Self::IdentifierRejected => "connection refused: identifier rejected",
            Self::ServerUnavailable => "connection refused: server unavailable",
            Self::BadUserNameOrPassword => "connection refused: bad user name or password",
            Self::NotAuthorized => "connection refused: not authorized",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConnectRefused {}

/// Quality of service of a PUBLISH or a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QoS {
    /// 0: at most once; no acknowledgement.
    AtMostOnce,
    /// 1: at least once; acknowledged with PUBACK.
    AtLeastOnce,
    /// 2: exactly once; PUBREC, PUBREL, PUBCOMP.
    ExactlyOnce,
}

impl QoS {
    fn from_bits(bits: u8) -> Result<Self, DecodeError> {
        match bits {
            0 => Ok(Self::AtMostOnce),
            1 => Ok(Self::AtLeastOnce),
            2 => Ok(Self::ExactlyOnce),
            _ => Err(DecodeError::InvalidQos),
        }
    }

    fn bits(self) -> u8 {
        match self {
            Self::AtMostOnce => 0,
            Self::AtLeastOnce => 1,
            Self::ExactlyOnce => 2,
        }
    }
}

/// A Last Will: what the broker publishes (at QoS 0) when the connection
/// ends without a DISCONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Will<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Message.
    pub payload: &'a [u8],
    /// Publish it retained.
    pub retain: bool,
}

/// The fields of a CONNECT. The session is always started clean by
/// [`crate::mqtt::Session`], but the codec encodes either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Client identifier; may be empty (the server then assigns one).
    pub client_id: &'a str,
    /// User name.
    pub username: Option<&'a str>,
    /// Password (binary data in MQTT 3.1.1); needs a user name.
    pub password: Option<&'a [u8]>,
    /// Keepalive in seconds; 0 turns it off.
    pub keepalive_secs: u16,
    /// Ask the server to drop any earlier session state.
    pub clean_session: bool,
    /// Last Will, if any.
    pub will: Option<Will<'a>>,
}

/// A packet a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientPacket<'a> {
    /// CONNECT.
    Connect(Connect<'a>),
    /// PUBLISH at QoS 0, not retained.
    Publish {
        /// Topic name.
        topic: &'a str,
        /// Application message.
        payload: &'a [u8],
    },
    /// PUBLISH at QoS 0, retained: the broker keeps it for later
    /// subscribers (an empty payload deletes the retained message).
    PublishRetained {
        /// Topic name.
        topic: &'a str,
        /// Application message.
        payload: &'a [u8],
    },
    /// SUBSCRIBE to `filters`, each with the maximum QoS `qos`.
    Subscribe {
        /// Packet identifier, not 0.
        packet_id: u16,
        /// Topic filters, at least one.
        filters: &'a [&'a str],
        /// Requested maximum QoS of each filter.
        qos: QoS,
    },
    /// UNSUBSCRIBE from `filters`.
    Unsubscribe {
        /// Packet identifier, not 0.
        packet_id: u16,
        /// Topic filters, at least one.
        filters: &'a [&'a str],
    },
    /// PUBACK: acknowledges a QoS 1 PUBLISH.
    PubAck(u16),
    /// PUBREC: first acknowledgement of a QoS 2 PUBLISH.
    PubRec(u16),
    /// PUBCOMP: answers a PUBREL, completing a QoS 2 exchange.
    PubComp(u16),
    /// PINGREQ.
    PingReq,
    /// DISCONNECT.
    Disconnect,
}

impl ClientPacket<'_> {
    /// First byte: the type in the high nibble, the flags MQTT 3.1.1
    /// requires in the low one.
    fn first_byte(&self) -> u8 {
        let (kind, flags) = match self {
            Self::Connect(_) => (kind::CONNECT, 0),
            Self::Publish { .. } => (kind::PUBLISH, 0),
            Self::PublishRetained { .. } => (kind::PUBLISH, 0b0001),
            Self::Subscribe { .. } => (kind::SUBSCRIBE, 0b0010),
            Self::Unsubscribe { .. } => (kind::UNSUBSCRIBE, 0b0010),
            Self::PubAck(_) => (kind::PUBACK, 0),
            Self::PubRec(_) => (kind::PUBREC, 0),
            Self::PubComp(_) => (kind::PUBCOMP, 0),
            Self::PingReq => (kind::PINGREQ, 0),
            Self::Disconnect => (kind::DISCONNECT, 0),
        };
        (kind << 4) | flags
    }

    /// Length of the body after the fixed header.
    fn remaining_len(&self) -> Result<usize, EncodeError> {
        let len = match *self {
            Self::Connect(c) => {
                if c.password.is_some() && c.username.is_none() {
                    return Err(EncodeError::PasswordWithoutUsername);
                }
                let mut len = PROTOCOL.len() + 1 + 2 + string_len(c.client_id.len())?;
                if let Some(user) = c.username {
                    len += string_len(user.len())?;
                }
                if let Some(password) = c.password {
                    len += string_len(password.len())?;
                }
                if let Some(will) = c.will {
                    len += string_len(will.topic.len())? + string_len(will.payload.len())?;
                }
                len
            }
            Self::Publish { topic, payload } | Self::PublishRetained { topic, payload } => {
                string_len(topic.len())?
                    .checked_add(payload.len())
                    .ok_or(EncodeError::PacketTooLong)?
            }
            Self::Subscribe { filters, .. } => filters_len(filters, 1)?,
            Self::Unsubscribe { filters, .. } => filters_len(filters, 0)?,
            Self::PubAck(_) | Self::PubRec(_) | Self::PubComp(_) => 2,
            Self::PingReq | Self::Disconnect => 0,
        };
        if len > MAX_REMAINING_LEN {
            return Err(EncodeError::PacketTooLong);
        }
        Ok(len)
    }

    /// Length of the whole encoded packet.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        let len = self.remaining_len()?;
        Ok(1 + remaining_len_len(len) + len)
    }

    /// Writes the packet at the start of `out`; returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let len = self.remaining_len()?;
        let total = 1 + remaining_len_len(len) + len;
        let out = out.get_mut(..total).ok_or(EncodeError::BufferTooSmall)?;
        let mut w = Writer { buf: out, pos: 0 };
        w.put(&[self.first_byte()])?;
        let mut rl = [0u8; 4];
        let n = encode_remaining_length(len, &mut rl)?;
        w.put(rl.get(..n).ok_or(EncodeError::PacketTooLong)?)?;
        match *self {
            Self::Connect(c) => {
                let mut flags = 0;
                if c.clean_session {
                    flags |= connect_flags::CLEAN_SESSION;
                }
                if c.username.is_some() {
                    flags |= connect_flags::USERNAME;
                }
                if c.password.is_some() {
                    flags |= connect_flags::PASSWORD;
                }
                if let Some(will) = c.will {
                    flags |= connect_flags::WILL;
                    if will.retain {
                        flags |= connect_flags::WILL_RETAIN;
                    }
                }
                w.put(&PROTOCOL)?;
                w.put(&[flags])?;
                w.put(&c.keepalive_secs.to_be_bytes())?;
                w.put_string(c.client_id.as_bytes())?;
                if let Some(will) = c.will {
                    w.put_string(will.topic.as_bytes())?;
                    w.put_string(will.payload)?;
                }
                if let Some(user) = c.username {
                    w.put_string(user.as_bytes())?;
                }
                if let Some(password) = c.password {
                    w.put_string(password)?;
                }
            }
            Self::Publish { topic, payload } | Self::PublishRetained { topic, payload } => {
                w.put_string(topic.as_bytes())?;
                w.put(payload)?;
            }
            Self::Subscribe {
                packet_id,
                filters,
                qos,
            } => {
                w.put(&packet_id.to_be_bytes())?;
                for filter in filters {
                    w.put_string(filter.as_bytes())?;
                    w.put(&[qos.bits()])?;
                }
            }
            Self::Unsubscribe { packet_id, filters } => {
                w.put(&packet_id.to_be_bytes())?;
                for filter in filters {
                    w.put_string(filter.as_bytes())?;
                }
            }
            Self::PubAck(id) | Self::PubRec(id) | Self::PubComp(id) => {
                w.put(&id.to_be_bytes())?;
            }
            Self::PingReq | Self::Disconnect => {}
        }
        Ok(w.pos)
    }
}

/// Bytes of a length-prefixed string or binary field.
fn string_len(len: usize) -> Result<usize, EncodeError> {
    if len > MAX_STRING_LEN {
        Err(EncodeError::StringTooLong)
    } else {
        Ok(2 + len)
    }
}

/// Packet identifier plus each filter with `extra` bytes after it.
fn filters_len(filters: &[&str], extra: usize) -> Result<usize, EncodeError> {
    if filters.is_empty() {
        return Err(EncodeError::NoFilters);
    }
    filters.iter().try_fold(2usize, |len, filter| {
        len.checked_add(string_len(filter.len())? + extra)
            .ok_or(EncodeError::PacketTooLong)
    })
}

/// Writes into a slice; never panics, reports a short buffer instead.
struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.pos + bytes.len();
        self.buf
            .get_mut(self.pos..end)
            .ok_or(EncodeError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    fn put_string(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let len = u16::try_from(bytes.len()).map_err(|_| EncodeError::StringTooLong)?;
        self.put(&len.to_be_bytes())?;
        self.put(bytes)
    }
}

/// Writes the fixed header and topic of a QoS 0 PUBLISH whose
/// `payload_len` payload bytes follow them; returns the header length. For
/// a caller that writes the payload in place ([`crate::mqtt::Session::publish_with`]):
/// the bytes are those [`ClientPacket::encode`] writes before the payload.
pub fn encode_publish_header(
    topic: &str,
    payload_len: usize,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let len = string_len(topic.len())?
        .checked_add(payload_len)
        .filter(|&len| len <= MAX_REMAINING_LEN)
        .ok_or(EncodeError::PacketTooLong)?;
    let mut rl = [0u8; 4];
    let n = encode_remaining_length(len, &mut rl)?;
    let total = 1 + n + string_len(topic.len())?;
    let out = out.get_mut(..total).ok_or(EncodeError::BufferTooSmall)?;
    let mut w = Writer { buf: out, pos: 0 };
    w.put(&[ClientPacket::Publish {
        topic,
        payload: &[],
    }
    .first_byte()])?;
    w.put(rl.get(..n).ok_or(EncodeError::PacketTooLong)?)?;
    w.put_string(topic.as_bytes())?;
    Ok(total)
}

/// How many bytes the remaining length `len` takes (1 to 4).
pub fn remaining_len_len(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `len` as a remaining length (7 bits a byte, least significant
/// first, high bit = more follows); returns how many bytes it took.
pub fn encode_remaining_length(len: usize, out: &mut [u8; 4]) -> Result<usize, EncodeError> {
    if len > MAX_REMAINING_LEN {
        return Err(EncodeError::PacketTooLong);
    }
    let mut rest = len;
    for (i, byte) in out.iter_mut().enumerate() {
        // Cannot truncate: masked to 7 bits.
        *byte = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            return Ok(i + 1);
        }
        *byte |= 0x80;
    }
    Err(EncodeError::PacketTooLong)
}

/// Reads a remaining length from the bytes after the first byte of a
/// packet: `Ok(None)` if more bytes are needed, otherwise the length and
/// how many bytes encoded it. A fourth byte with its continuation bit set is
/// an error at once, without waiting for a fifth.
pub fn decode_remaining_length(bytes: &[u8]) -> Result<Option<(usize, usize)>, DecodeError> {
    let mut len = 0usize;
    for (i, &byte) in bytes.iter().take(4).enumerate() {
        len |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((len, i + 1)));
        }
        if i == 3 {
            return Err(DecodeError::MalformedRemainingLength);
        }
    }
    Ok(None)
}

/// A topic name a client may publish to: not empty, at most
/// [`MAX_STRING_LEN`] bytes, no wildcard (`+`, `#`) and no NUL.
pub fn is_valid_topic_name(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= MAX_STRING_LEN && !topic.contains(['+', '#', '\0'])
}

/// A topic filter a client may subscribe to: not empty, at most
/// [`MAX_STRING_LEN`] bytes, no NUL, `+` only as a whole level and `#` only
/// as the whole last level.
pub fn is_valid_topic_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > MAX_STRING_LEN || filter.contains('\0') {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        let ok = match level {
            "+" => true,
            "#" => last,
            _ => !level.contains(['+', '#']),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// A PUBLISH received from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Application message.
    pub payload: &'a [u8],
    /// Delivery QoS.
    pub qos: QoS,
    /// Packet identifier; `Some` exactly when QoS is 1 or 2.
    pub packet_id: Option<u16>,
    /// The server sent this message before (QoS 1 or 2).
    pub dup: bool,
    /// A retained message.
    pub retain: bool,
}

/// The header of a PUBLISH: what the first bytes of its body say, enough to
/// acknowledge it even when the rest was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishHeader {
    /// Delivery QoS.
    pub qos: QoS,
    /// Packet identifier; `Some` exactly when QoS is 1 or 2.
    pub packet_id: Option<u16>,
    /// The DUP flag.
    pub dup: bool,
    /// The RETAIN flag.
    pub retain: bool,
    /// Length of the topic name.
    topic_len: usize,
    /// Where the payload starts in the body.
    payload_offset: usize,
}

impl PublishHeader {
    /// Reads the flags of `first_byte` and the topic length and packet
    /// identifier at the start of `body` (which may be only a prefix of the
    /// body). The topic itself is not checked here.
    pub fn decode(first_byte: u8, body: &[u8]) -> Result<Self, DecodeError> {
        if first_byte >> 4 != kind::PUBLISH {
            return Err(DecodeError::InvalidFlags);
        }
        let qos =
            QoS::from_bits((first_byte >> publish_flags::QOS_SHIFT) & publish_flags::QOS_MASK)?;
        let topic_len = usize::from(read_u16(body, 0)?);
        let mut offset = 2 + topic_len;
        let packet_id = if qos == QoS::AtMostOnce {
            None
        } else {
            let id = read_u16(body, offset)?;
            if id == 0 {
                return Err(DecodeError::PacketIdZero);
            }
            offset += 2;
            Some(id)
        };
        Ok(Self {
            qos,
            packet_id,
            dup: first_byte & publish_flags::DUP != 0,
            retain: first_byte & publish_flags::RETAIN != 0,
            topic_len,
            payload_offset: offset,
        })
    }
}

/// A packet a server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerPacket<'a> {
    /// CONNACK.
    ConnAck {
        /// The server kept state from an earlier session.
        session_present: bool,
        /// `Ok` when the connection is accepted.
        result: Result<(), ConnectRefused>,
    },
    /// PUBLISH.
    Publish(Publish<'a>),
    /// PUBACK.
    PubAck(u16),
    /// PUBREC.
    PubRec(u16),
    /// PUBREL.
    PubRel(u16),
    /// PUBCOMP.
    PubComp(u16),
    /// SUBACK: one return code per filter, in order: the granted QoS (0, 1,
    /// 2) or 0x80 for a failure.
    SubAck {
        /// Packet identifier of the SUBSCRIBE.
        packet_id: u16,
        /// Return codes, already checked to be 0, 1, 2 or 0x80.
        return_codes: &'a [u8],
    },
    /// UNSUBACK.
    UnsubAck(u16),
    /// PINGRESP.
    PingResp,
}

/// The SUBACK return code of a refused filter.
pub const SUBACK_FAILURE: u8 = suback::FAILURE;

impl<'a> ServerPacket<'a> {
    /// Decodes the packet whose first byte is `first_byte` and whose body
    /// (everything after the remaining length) is `body`.
    pub fn decode(first_byte: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
        let flags = first_byte & 0x0f;
        let kind = first_byte >> 4;
        let expected_flags = match kind {
            kind::PUBLISH => flags,
            kind::PUBREL | kind::SUBSCRIBE | kind::UNSUBSCRIBE => 0b0010,
            _ => 0,
        };
        if flags != expected_flags {
            return Err(DecodeError::InvalidFlags);
        }
        match kind {
            kind::CONNACK => {
                if body.len() != connack::LEN {
                    return Err(DecodeError::BadLength);
                }
                let ack_flags = body[connack::FLAGS];
                if ack_flags & !connack::SESSION_PRESENT != 0 {
                    return Err(DecodeError::InvalidReturnCode);
                }
                Ok(Self::ConnAck {
                    session_present: ack_flags & connack::SESSION_PRESENT != 0,
                    result: ConnectRefused::from_code(body[connack::CODE])?,
                })
            }
            kind::PUBLISH => {
                let header = PublishHeader::decode(first_byte, body)?;
                let topic = body
                    .get(2..2 + header.topic_len)
                    .ok_or(DecodeError::BadLength)?;
                let topic = core::str::from_utf8(topic).map_err(|_| DecodeError::InvalidUtf8)?;
                let payload = body
                    .get(header.payload_offset..)
                    .ok_or(DecodeError::BadLength)?;
                Ok(Self::Publish(Publish {
                    topic,
                    payload,
                    qos: header.qos,
                    packet_id: header.packet_id,
                    dup: header.dup,
                    retain: header.retain,
                }))
            }
            kind::PUBACK => Ok(Self::PubAck(packet_id_only(body)?)),
            kind::PUBREC => Ok(Self::PubRec(packet_id_only(body)?)),
            kind::PUBREL => Ok(Self::PubRel(packet_id_only(body)?)),
            kind::PUBCOMP => Ok(Self::PubComp(packet_id_only(body)?)),
            kind::SUBACK => {
                let packet_id = nonzero_id(read_u16(body, suback::PACKET_ID)?)?;
                let return_codes = body.get(suback::CODES..).unwrap_or_default();
                if return_codes.is_empty() {
                    return Err(DecodeError::BadLength);
                }
                if !return_codes
                    .iter()
                    .all(|&c| matches!(c, 0..=2 | suback::FAILURE))
                {
                    return Err(DecodeError::InvalidReturnCode);
                }
                Ok(Self::SubAck {
                    packet_id,
                    return_codes,
                })
            }
            kind::UNSUBACK => Ok(Self::UnsubAck(packet_id_only(body)?)),
            kind::PINGRESP => {
                if body.is_empty() {
                    Ok(Self::PingResp)
                } else {
                    Err(DecodeError::BadLength)
                }
            }
            kind::CONNECT
            | kind::SUBSCRIBE
            | kind::UNSUBSCRIBE
            | kind::PINGREQ
            | kind::DISCONNECT => Err(DecodeError::NotForClient),
            _ => Err(DecodeError::ReservedPacketType),
        }
    }
}

fn read_u16(body: &[u8], offset: usize) -> Result<u16, DecodeError> {
    match body.get(offset..offset + 2) {
        Some(&[hi, lo]) => Ok(u16::from_be_bytes([hi, lo])),
        _ => Err(DecodeError::BadLength),
    }
}

fn nonzero_id(id: u16) -> Result<u16, DecodeError> {
    if id == 0 {
        Err(DecodeError::PacketIdZero)
    } else {
        Ok(id)
    }
}

/// The body of PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: exactly a
/// packet identifier.
fn packet_id_only(body: &[u8]) -> Result<u16, DecodeError> {
    if body.len() != 2 {
        return Err(DecodeError::BadLength);
    }
    nonzero_id(read_u16(body, 0)?)
}

/// One packet cut out of the stream by [`Framer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The first byte: type and flags.
    pub first_byte: u8,
    /// The body, or only its first bytes when the packet was too long.
    pub body: &'a [u8],
    /// The body length the packet declared.
    pub body_len: usize,
}

impl Frame<'_> {
    /// The packet was longer than the framer's buffer: `body` holds only its
    /// first bytes, the rest was discarded.
    pub fn is_truncated(&self) -> bool {
        self.body.len() < self.body_len
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameState {
    /// Reading the first byte and the remaining length.
    Header,
    /// Reading the body.
    Body,
    /// A whole packet is held; the next read starts another.
    Complete,
}

/// Cuts a byte stream into packets.
///
/// The buffer is allocated once, in [`Framer::new`]. A packet whose body is
/// longer than the buffer is not an error: its first bytes are kept, the
/// rest discarded as it streams in, and it completes as a truncated
/// [`Frame`], so the stream stays in sync.
#[derive(Debug)]
pub struct Framer {
    buf: Box<[u8]>,
    /// The first byte and up to four remaining-length bytes.
    header: [u8; 5],
    header_len: usize,
    body_len: usize,
    /// Body bytes consumed so far (kept or discarded).
    received: usize,
    state: FrameState,
}

impl Framer {
    /// A framer keeping bodies of up to `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        Self {
            buf: vec![0; max_body].into_boxed_slice(),
            header: [0; 5],
            header_len: 0,
            body_len: 0,
            received: 0,
            state: FrameState::Header,
        }
    }

    /// Forgets any partial packet: the next byte starts a new one.
    pub fn reset(&mut self) {
        self.header_len = 0;
        self.body_len = 0;
        self.received = 0;
        self.state = FrameState::Header;
    }

    /// Largest body kept whole.
    pub fn max_body(&self) -> usize {
        self.buf.len()
    }

    /// Consumes bytes of `input` up to the end of one packet; returns how
    /// many. When that completes a packet, [`Framer::frame`] returns it until
    /// the next call. An error leaves the framer unusable until
    /// [`Framer::reset`].
    pub fn read(&mut self, input: &[u8]) -> Result<usize, DecodeError> {
        if self.state == FrameState::Complete {
            self.reset();
        }
        let mut used = 0;
        while self.state == FrameState::Header {
            let Some(&byte) = input.get(used) else {
                return Ok(used);
            };
            used += 1;
            *self
                .header
                .get_mut(self.header_len)
                .ok_or(DecodeError::MalformedRemainingLength)? = byte;
            self.header_len += 1;
            if self.header_len == 1 {
                if matches!(byte >> 4, 0 | 15) {
                    return Err(DecodeError::ReservedPacketType);
                }
                continue;
            }
            let length_bytes = self.header.get(1..self.header_len).unwrap_or_default();
            if let Some((len, _)) = decode_remaining_length(length_bytes)? {
                self.body_len = len;
                self.state = FrameState::Body;
            }
        }
        let rest = input.get(used..).unwrap_or_default();
        let take = rest.len().min(self.body_len - self.received);
        // Keep what fits in the buffer, drop the rest.
        let keep_end = (self.received + take).min(self.buf.len());
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.received.min(keep_end)..keep_end),
            rest.get(..keep_end.saturating_sub(self.received)),
        ) {
            dst.copy_from_slice(src);
        }
        self.received += take;
        used += take;
        if self.received == self.body_len {
            self.state = FrameState::Complete;
        }
        Ok(used)
    }

    /// The packet completed by the last [`Framer::read`], if it completed one.
    pub fn frame(&self) -> Option<Frame<'_>> {
        if self.state != FrameState::Complete {
            return None;
        }
        Some(Frame {
            first_byte: self.header[0],
            body: self
                .buf
                .get(..self.body_len.min(self.buf.len()))
                .unwrap_or_default(),
            body_len: self.body_len,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_publish_header_is_what_encode_writes_before_the_payload() {
        for payload_len in [0usize, 1, 100, 125, 126, 20_000] {
            let payload = alloc::vec![0xabu8; payload_len];
            let packet = ClientPacket::Publish {
                topic: "mqttip/10.0.1.2",
                payload: &payload,
            };
            let mut whole = alloc::vec![0u8; packet.encoded_len().unwrap()];
            packet.encode(&mut whole).unwrap();
            let mut header = [0u8; 64];
            let n = encode_publish_header("mqttip/10.0.1.2", payload_len, &mut header).unwrap();
            assert_eq!(&header[..n], &whole[..whole.len() - payload_len]);
        }
    }

    use super::*;
    use alloc::vec::Vec;

    fn encode(packet: ClientPacket<'_>) -> Vec<u8> {
        let len = packet.encoded_len().unwrap();
        let mut out = vec![0xee; len + 3];
        let n = packet.encode(&mut out).unwrap();
        assert_eq!(n, len);
        out.truncate(n);
        out
    }

    #[test]
    fn connect_without_login_encodes_to_exact_bytes() {
        let bytes = encode(ClientPacket::Connect(Connect {
            client_id: "node1",
            username: None,
            password: None,
            keepalive_secs: 60,
            clean_session: true,
            will: None,
        }));
        #[rustfmt::skip]
        let expected = [
            0x10, 17,
            0, 4, b'M', b'Q', b'T', b'T', 4, // protocol name and level
            0x02,                            // clean session
            0, 60,                           // keepalive
            0, 5, b'n', b'o', b'd', b'e', b'1',
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn connect_with_login_encodes_to_exact_bytes() {
        let bytes = encode(ClientPacket::Connect(Connect {
            client_id: "c",
            username: Some("u"),
            password: Some(b"pw"),
            keepalive_secs: 0x0102,
            clean_session: true,
            will: None,
        }));
        #[rustfmt::skip]
        let expected = [
            0x10, 20,
            0, 4, b'M', b'Q', b'T', b'T', 4,
            0xc2,                            // user, password, clean session
            1, 2,
            0, 1, b'c',
            0, 1, b'u',
            0, 2, b'p', b'w',
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn a_password_needs_a_user_name() {
        let packet = ClientPacket::Connect(Connect {
            client_id: "c",
            username: None,
            password: Some(b"pw"),
            keepalive_secs: 0,
            clean_session: true,
            will: None,
        });
        assert_eq!(
            packet.encoded_len(),
            Err(EncodeError::PasswordWithoutUsername)
        );
    }

    #[test]
    fn publish_encodes_at_qos_0() {
        let bytes = encode(ClientPacket::Publish {
            topic: "a/b",
            payload: &[1, 2, 3],
        });
        assert_eq!(bytes, [0x30, 8, 0, 3, b'a', b'/', b'b', 1, 2, 3]);
    }

    #[test]
    fn subscribe_and_unsubscribe_encode_every_filter() {
        let filters = ["a", "b/c"];
        let bytes = encode(ClientPacket::Subscribe {
            packet_id: 0x1234,
            filters: &filters,
            qos: QoS::AtMostOnce,
        });
        #[rustfmt::skip]
        assert_eq!(bytes, [0x82, 12, 0x12, 0x34, 0, 1, b'a', 0, 0, 3, b'b', b'/', b'c', 0]);
        let bytes = encode(ClientPacket::Subscribe {
            packet_id: 1,
            filters: &["x"],
            qos: QoS::AtLeastOnce,
        });
        assert_eq!(bytes, [0x82, 6, 0, 1, 0, 1, b'x', 1]);
        let bytes = encode(ClientPacket::Unsubscribe {
            packet_id: 7,
            filters: &filters,
        });
        assert_eq!(bytes, [0xa2, 10, 0, 7, 0, 1, b'a', 0, 3, b'b', b'/', b'c']);
        let none = ClientPacket::Subscribe {
            packet_id: 1,
            filters: &[],
            qos: QoS::AtMostOnce,
        };
        assert_eq!(none.encoded_len(), Err(EncodeError::NoFilters));
    }

    #[test]
    fn acknowledgements_ping_and_disconnect_encode_to_exact_bytes() {
        assert_eq!(encode(ClientPacket::PubAck(0x0102)), [0x40, 2, 1, 2]);
        assert_eq!(encode(ClientPacket::PubRec(0x0102)), [0x50, 2, 1, 2]);
        assert_eq!(encode(ClientPacket::PubComp(0x0102)), [0x70, 2, 1, 2]);
        assert_eq!(encode(ClientPacket::PingReq), [0xc0, 0]);
        assert_eq!(encode(ClientPacket::Disconnect), [0xe0, 0]);
    }

    #[test]
    fn a_short_output_buffer_is_reported() {
        let mut out = [0u8; 9];
        let packet = ClientPacket::Publish {
            topic: "a/b",
            payload: &[1, 2, 3],
        };
        assert_eq!(packet.encode(&mut out), Err(EncodeError::BufferTooSmall));
    }

    #[test]
    fn remaining_length_takes_one_to_four_bytes() {
        let cases: [(usize, &[u8]); 8] = [
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xff, 0xff, 0x7f]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (MAX_REMAINING_LEN, &[0xff, 0xff, 0xff, 0x7f]),
        ];
        for (len, bytes) in cases {
            let mut out = [0u8; 4];
            let n = encode_remaining_length(len, &mut out).unwrap();
            assert_eq!(&out[..n], bytes, "{len}");
            assert_eq!(remaining_len_len(len), n);
            assert_eq!(decode_remaining_length(bytes), Ok(Some((len, n))));
            // One byte short: more is needed.
            assert_eq!(decode_remaining_length(&bytes[..n - 1]), Ok(None));
        }
        let mut out = [0u8; 4];
        assert_eq!(
            encode_remaining_length(MAX_REMAINING_LEN + 1, &mut out),
            Err(EncodeError::PacketTooLong)
        );
    }

    #[test]
    fn a_fifth_remaining_length_byte_is_malformed() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(
            decode_remaining_length(&bytes),
            Err(DecodeError::MalformedRemainingLength)
        );
        let mut framer = Framer::new(16);
        assert_eq!(
            framer.read(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            Err(DecodeError::MalformedRemainingLength)
        );
    }

    #[test]
    fn connack_decodes_acceptance_and_each_refusal() {
        assert_eq!(
            ServerPacket::decode(0x20, &[0, 0]),
            Ok(ServerPacket::ConnAck {
                session_present: false,
                result: Ok(())
            })
        );
        assert_eq!(
            ServerPacket::decode(0x20, &[1, 0]),
            Ok(ServerPacket::ConnAck {
                session_present: true,
                result: Ok(())
            })
        );
        let refusals = [
            ConnectRefused::UnacceptableProtocolVersion,
            ConnectRefused::IdentifierRejected,
            ConnectRefused::ServerUnavailable,
            ConnectRefused::BadUserNameOrPassword,
            ConnectRefused::NotAuthorized,
        ];
        for (code, refused) in (1u8..).zip(refusals) {
            assert_eq!(refused.code(), code);
            assert_eq!(
                ServerPacket::decode(0x20, &[0, code]),
                Ok(ServerPacket::ConnAck {
                    session_present: false,
                    result: Err(refused)
                })
            );
        }
        assert_eq!(
            ServerPacket::decode(0x20, &[0, 6]),
            Err(DecodeError::InvalidReturnCode)
        );
        assert_eq!(
            ServerPacket::decode(0x20, &[2, 0]),
            Err(DecodeError::InvalidReturnCode)
        );
        assert_eq!(
            ServerPacket::decode(0x20, &[0]),
            Err(DecodeError::BadLength)
        );
        assert_eq!(
            ServerPacket::decode(0x21, &[0, 0]),
            Err(DecodeError::InvalidFlags)
        );
    }

    #[test]
    fn publish_decodes_at_each_qos() {
        let qos0 = [0, 3, b'a', b'/', b'b', 9, 8];
        assert_eq!(
            ServerPacket::decode(0x31, &qos0),
            Ok(ServerPacket::Publish(Publish {
                topic: "a/b",
                payload: &[9, 8],
                qos: QoS::AtMostOnce,
                packet_id: None,
                dup: false,
                retain: true,
            }))
        );
        let qos1 = [0, 1, b't', 0, 5, 7];
        assert_eq!(
            ServerPacket::decode(0x32, &qos1),
            Ok(ServerPacket::Publish(Publish {
                topic: "t",
                payload: &[7],
                qos: QoS::AtLeastOnce,
                packet_id: Some(5),
                dup: false,
                retain: false,
            }))
        );
        let qos2 = [0, 1, b't', 1, 0];
        assert_eq!(
            ServerPacket::decode(0x3c, &qos2),
            Ok(ServerPacket::Publish(Publish {
                topic: "t",
                payload: &[],
                qos: QoS::ExactlyOnce,
                packet_id: Some(256),
                dup: true,
                retain: false,
            }))
        );
    }

    #[test]
    fn malformed_publishes_are_refused() {
        assert_eq!(
            ServerPacket::decode(0x36, &[0, 1, b't', 0, 1]),
            Err(DecodeError::InvalidQos)
        );
        assert_eq!(
            ServerPacket::decode(0x30, &[0, 4, b't']),
            Err(DecodeError::BadLength)
        );
        assert_eq!(
            ServerPacket::decode(0x32, &[0, 1, b't', 0]),
            Err(DecodeError::BadLength)
        );
        assert_eq!(
            ServerPacket::decode(0x32, &[0, 1, b't', 0, 0]),
            Err(DecodeError::PacketIdZero)
        );
        assert_eq!(
            ServerPacket::decode(0x30, &[0, 1, 0xff]),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(ServerPacket::decode(0x30, &[]), Err(DecodeError::BadLength));
    }

    #[test]
    fn acknowledgements_decode_their_packet_identifier() {
        assert_eq!(
            ServerPacket::decode(0x40, &[0, 9]),
            Ok(ServerPacket::PubAck(9))
        );
        assert_eq!(
            ServerPacket::decode(0x50, &[0, 9]),
            Ok(ServerPacket::PubRec(9))
        );
        assert_eq!(
            ServerPacket::decode(0x62, &[0, 9]),
            Ok(ServerPacket::PubRel(9))
        );
        assert_eq!(
            ServerPacket::decode(0x70, &[0, 9]),
            Ok(ServerPacket::PubComp(9))
        );
        assert_eq!(
            ServerPacket::decode(0xb0, &[0, 9]),
            Ok(ServerPacket::UnsubAck(9))
        );
        assert_eq!(ServerPacket::decode(0xd0, &[]), Ok(ServerPacket::PingResp));
        assert_eq!(
            ServerPacket::decode(0x60, &[0, 9]),
            Err(DecodeError::InvalidFlags)
        );
        assert_eq!(
            ServerPacket::decode(0x40, &[0, 9, 0]),
            Err(DecodeError::BadLength)
        );
        assert_eq!(
            ServerPacket::decode(0x40, &[0, 0]),
            Err(DecodeError::PacketIdZero)
        );
        assert_eq!(
            ServerPacket::decode(0xd0, &[0]),
            Err(DecodeError::BadLength)
        );
    }

    #[test]
    fn suback_decodes_granted_and_failed_filters() {
        assert_eq!(
            ServerPacket::decode(0x90, &[0, 3, 0, 0x80, 1]),
            Ok(ServerPacket::SubAck {
                packet_id: 3,
                return_codes: &[0, 0x80, 1]
            })
        );
        assert_eq!(
            ServerPacket::decode(0x90, &[0, 3]),
            Err(DecodeError::BadLength)
        );
        assert_eq!(
            ServerPacket::decode(0x90, &[0, 3, 3]),
            Err(DecodeError::InvalidReturnCode)
        );
    }

    #[test]
    fn packets_only_a_client_sends_are_refused() {
        for first_byte in [0x10, 0x82, 0xa2, 0xc0, 0xe0] {
            assert_eq!(
                ServerPacket::decode(first_byte, &[]),
                Err(DecodeError::NotForClient)
            );
        }
        assert_eq!(
            ServerPacket::decode(0xf0, &[]),
            Err(DecodeError::ReservedPacketType)
        );
        let mut framer = Framer::new(8);
        assert_eq!(framer.read(&[0x00]), Err(DecodeError::ReservedPacketType));
    }

    #[test]
    fn topic_names_and_filters_are_checked() {
        assert!(is_valid_topic_name("mqttip/10.0.1.2"));
        assert!(!is_valid_topic_name(""));
        assert!(!is_valid_topic_name("mqttip/+"));
        assert!(!is_valid_topic_name("a\0"));
        for good in ["mqttip/#", "#", "+", "a/+/b", "+/+", "mqttip/10.0.1.2"] {
            assert!(is_valid_topic_filter(good), "{good}");
        }
        for bad in ["", "a/#/b", "a#", "a+/b", "a/b+", "\0"] {
            assert!(!is_valid_topic_filter(bad), "{bad}");
        }
    }

    /// Feeds `stream` to a framer in pieces of the given sizes; collects
    /// every frame as (first byte, kept body, declared length).
    fn frames(framer: &mut Framer, stream: &[u8], pieces: &[usize]) -> Vec<(u8, Vec<u8>, usize)> {
        let mut out = Vec::new();
        let mut rest = stream;
        let mut sizes = pieces.iter().copied().cycle();
        while !rest.is_empty() {
            let size = sizes.next().unwrap().min(rest.len());
            let mut chunk = &rest[..size];
            rest = &rest[size..];
            while !chunk.is_empty() {
                let n = framer.read(chunk).unwrap();
                assert!(n > 0);
                chunk = &chunk[n..];
                if let Some(f) = framer.frame() {
                    out.push((f.first_byte, f.body.to_vec(), f.body_len));
                }
            }
        }
        out
    }

    #[rustfmt::skip]
    const STREAM: [u8; 17] = [
        0x20, 2, 0, 0,                     // CONNACK
        0xd0, 0,                           // PINGRESP
        0x30, 7, 0, 3, b'a', b'/', b'b', 1, 2, // PUBLISH a/b [1, 2]
        0x90, 3,                           // SUBACK (body below)
    ];

    #[test]
    fn several_packets_in_one_read_and_any_split_give_the_same_frames() {
        let mut stream = STREAM.to_vec();
        stream.extend_from_slice(&[0, 1, 0]);
        let mut framer = Framer::new(64);
        let whole = frames(&mut framer, &stream, &[stream.len()]);
        assert_eq!(
            whole,
            [
                (0x20, vec![0, 0], 2),
                (0xd0, vec![], 0),
                (0x30, vec![0, 3, b'a', b'/', b'b', 1, 2], 7),
                (0x90, vec![0, 1, 0], 3),
            ]
        );
        for split in 0..=stream.len() {
            let mut framer = Framer::new(64);
            let (a, b) = stream.split_at(split);
            let mut got = frames(&mut framer, a, &[a.len().max(1)]);
            got.extend(frames(&mut framer, b, &[b.len().max(1)]));
            assert_eq!(got, whole, "split at {split}");
        }
        let mut framer = Framer::new(64);
        assert_eq!(frames(&mut framer, &stream, &[1]), whole);
    }

    #[test]
    fn an_oversize_packet_is_truncated_and_the_next_one_still_parsed() {
        let mut stream = vec![0x32, 0x83, 0x01, 0, 1, b't', 0, 42];
        stream.extend((0..126).map(|i| i as u8)); // body of 131 bytes
        stream.extend_from_slice(&[0xd0, 0]);
        for piece in [1, 2, 7, 64, stream.len()] {
            let mut framer = Framer::new(16);
            let got = frames(&mut framer, &stream, &[piece]);
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].0, 0x32);
            assert_eq!(got[0].1, stream[3..19]);
            assert_eq!(got[0].2, 131);
            assert_eq!(got[1], (0xd0, vec![], 0));
        }
        let mut framer = Framer::new(16);
        framer.read(&stream).unwrap();
        let frame = framer.frame().unwrap();
        assert!(frame.is_truncated());
        let header = PublishHeader::decode(frame.first_byte, frame.body).unwrap();
        assert_eq!(header.packet_id, Some(42));
        assert_eq!(header.qos, QoS::AtLeastOnce);
    }

    #[test]
    fn a_framer_with_no_buffer_still_keeps_sync() {
        let mut framer = Framer::new(0);
        let got = frames(&mut framer, &STREAM[..15], &[3]);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], (0xd0, vec![], 0));
        assert_eq!(got[2], (0x30, vec![], 7));
    }

    /// A small deterministic generator, so the no-panic sweep needs no crate.
    fn noise(seed: &mut u64) -> u8 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*seed >> 33) as u8
    }

    #[test]
    fn no_input_makes_the_framer_or_decoder_panic() {
        let mut seed = 1;
        for _ in 0..2000 {
            let len = usize::from(noise(&mut seed) % 40);
            let bytes: Vec<u8> = (0..len).map(|_| noise(&mut seed)).collect();
            let _ = ServerPacket::decode(bytes.first().copied().unwrap_or(0), &bytes);
            let _ = PublishHeader::decode(0x34, &bytes);
            let _ = decode_remaining_length(&bytes);
            let mut framer = Framer::new(usize::from(noise(&mut seed) % 8));
            let mut rest = &bytes[..];
            while let Ok(n) = framer.read(rest) {
                if let Some(f) = framer.frame() {
                    let _ = ServerPacket::decode(f.first_byte, f.body);
                }
                if n == 0 {
                    break;
                }
                rest = &rest[n..];
            }
        }
    }
}
