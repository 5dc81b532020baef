//! Wire format v2, spoken among mqtt-vpn nodes that opt in (`docs/wire-v2.md`).
//!
//! ```text
//! offset  len  field
//!      0    4  MAGIC "MQV" 0x02
//!      4   16  epoch id ("boot id"): epoch start, Unix seconds, big-endian (8),
//!              then 8 random bytes; a sender starts a new epoch every minute
//!     20    8  counter: big-endian, 0 for the first packet of an epoch, +1 each
//!     28   16  Poly1305 tag
//!     44    n  XChaCha20 ciphertext of the IP packet
//! ```
//!
//! The AEAD is XChaCha20-Poly1305 with nonce = epoch id || counter (bytes
//! 4..28) and associated data = the address part of the topic the payload
//! is published to (the text after its last `/`), so a payload replayed to
//! another node's topic does not open. The key comes from the password by
//! PBKDF2-HMAC-SHA256 with [`KDF_ITERATIONS`] rounds ([`Key::derive`]).
//!
//! Receivers tell v2 from v1 by [`MAGIC`]; a v1 payload starts with a random
//! nonce, so it begins with [`MAGIC`] once in 2^32 and then simply fails to
//! open as v2. Like [`crate::wire`], nothing here allocates per packet or
//! picks a nonce: the caller passes the [`Header`] (the tunnel keeps the
//! counter) and owns every buffer.

use alloc::vec::Vec;
use core::fmt;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use sha2::Sha256;

pub use crate::replay::{BOOT_ID_LEN, epoch_id, epoch_start};

/// The first bytes of every v2 payload of one packet: "MQV" and the
/// version, 2.
pub const MAGIC: [u8; 4] = *b"MQV\x02";
/// The first bytes of a v2 payload of several packets (a batch): the
/// version byte with the batch bit, 0x80, set. Only sent to nodes that
/// announce they read batches.
pub const MAGIC_BATCH: [u8; 4] = *b"MQV\x82";
/// Longest topic address a batch can be sealed for (an IPv6 address in
/// text is at most 39 bytes).
const MAX_BATCH_ADDRESS: usize = 64;

/// What a v2 payload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One IP packet ([`MAGIC`]).
    Single,
    /// Whole IP packets back to back, each as long as its header says
    /// ([`MAGIC_BATCH`]). The associated data is the magic followed by the
    /// topic address, so a batch cannot be passed off as one packet.
    Batch,
}

impl Framing {
    /// The magic this framing starts with.
    pub const fn magic(self) -> [u8; 4] {
        match self {
            Self::Single => MAGIC,
            Self::Batch => MAGIC_BATCH,
        }
    }
}

/// The framing of a v2 payload, by its magic; `None` if it is not v2.
pub fn framing(payload: &[u8]) -> Option<Framing> {
    match payload.get(..MAGIC.len()) {
        Some(m) if m == MAGIC => Some(Framing::Single),
        Some(m) if m == MAGIC_BATCH => Some(Framing::Batch),
        _ => None,
    }
}

/// The associated data of a payload of `framing` for `address`, built in
/// `buf` for a batch; `None` for a batch address too long to be an IP
/// address.
fn associated_data<'a>(
    framing: Framing,
    address: &'a [u8],
    buf: &'a mut [u8; 4 + MAX_BATCH_ADDRESS],
) -> Option<&'a [u8]> {
    match framing {
        Framing::Single => Some(address),
        Framing::Batch => {
            let ad = buf.get_mut(..4 + address.len())?;
            ad[..4].copy_from_slice(&MAGIC_BATCH);
            ad[4..].copy_from_slice(address);
            Some(ad)
        }
    }
}
/// Length of the big-endian packet counter.
pub const COUNTER_LEN: usize = 8;
/// Magic, boot id and counter.
pub const HEADER_LEN: usize = MAGIC.len() + BOOT_ID_LEN + COUNTER_LEN;
/// Length of the Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Bytes a v2 payload adds to the packet it carries: 44, less than v1's 56,
/// so buffers sized for v1 hold v2.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;
const _: () = assert!(OVERHEAD <= crate::wire::OVERHEAD);

/// PBKDF2-HMAC-SHA256 rounds of [`Key::derive`].
pub const KDF_ITERATIONS: u32 = 10_000;
/// Start of the PBKDF2 salt; the network name follows it.
pub const KDF_DOMAIN: &[u8] = b"mqtt-vpn/wire-v2:";

const BOOT_ID_START: usize = MAGIC.len();
const COUNTER_START: usize = BOOT_ID_START + BOOT_ID_LEN;
const NONCE_START: usize = BOOT_ID_START;
const TAG_START: usize = HEADER_LEN;
const CIPHERTEXT_START: usize = OVERHEAD;

/// Why [`seal`] wrote nothing: the same as wire v1's.
pub use crate::wire::SealError;

/// Why [`open`] refused a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Shorter than a header, tag and one byte.
    TooShort,
    /// Does not start with [`MAGIC`]: not a v2 payload.
    NotV2,
    /// The tag did not verify: wrong key, wrong topic, or altered payload.
    Forged,
    /// The output buffer is shorter than the packet inside the payload.
    BufferTooSmall,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooShort => "payload shorter than a v2 header, tag and one byte",
            Self::NotV2 => "payload does not start with the wire-v2 magic",
            Self::Forged => {
                "authentication tag does not verify (wrong key, wrong topic or altered payload)"
            }
            Self::BufferTooSmall => "output buffer too small for the opened packet",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for OpenError {}

/// A wire-v2 key, holding the ready cipher.
#[derive(Clone)]
pub struct Key {
    cipher: XChaCha20Poly1305,
}

impl Key {
    /// Derives the key from a password: PBKDF2-HMAC-SHA256, [`KDF_ITERATIONS`]
    /// rounds, salt = [`KDF_DOMAIN`] followed by `network` (the topic prefix
    /// unless the operators chose another network name). Slow on purpose:
    /// call it once at start. `None` for an empty password.
    pub fn derive(password: &[u8], network: &[u8]) -> Option<Self> {
        Self::derive_bytes(password, network).map(|raw| Self::from_bytes(&raw))
    }

    /// The 32 raw key bytes [`Key::derive`] uses, for a device that stores
    /// the derived key rather than deriving it at every boot.
    pub fn derive_bytes(password: &[u8], network: &[u8]) -> Option<[u8; 32]> {
        if password.is_empty() {
            return None;
        }
        let mut salt = Vec::with_capacity(KDF_DOMAIN.len() + network.len());
        salt.extend_from_slice(KDF_DOMAIN);
        salt.extend_from_slice(network);
        let mut raw = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, &salt, KDF_ITERATIONS, &mut raw);
        Some(raw)
    }

    /// Uses 32 raw key bytes.
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wire2::Key(..)")
    }
}

/// Who sealed a payload and its place in that sender's sequence; together
/// they are the nonce, so a sender must never seal twice with one header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Random per start of the sender.
    pub boot_id: [u8; BOOT_ID_LEN],
    /// 0 for the first payload of an epoch, one more for each after it.
    pub counter: u64,
}

impl Header {
    fn write(&self, framing: Framing, head: &mut [u8]) {
        head[..BOOT_ID_START].copy_from_slice(&framing.magic());
        head[BOOT_ID_START..COUNTER_START].copy_from_slice(&self.boot_id);
        head[COUNTER_START..HEADER_LEN].copy_from_slice(&self.counter.to_be_bytes());
    }
}

/// Whether `payload` starts with [`MAGIC`] or [`MAGIC_BATCH`] (it may
/// still fail to open).
pub fn is_v2(payload: &[u8]) -> bool {
    framing(payload).is_some()
}

/// Reads the header of a v2 payload of either framing without
/// authenticating it.
pub fn header(payload: &[u8]) -> Result<Header, OpenError> {
    if !is_v2(payload) {
        return Err(if payload.len() < MAGIC.len() {
            OpenError::TooShort
        } else {
            OpenError::NotV2
        });
    }
    opened_len(payload.len())?;
    let mut boot_id = [0u8; BOOT_ID_LEN];
    boot_id.copy_from_slice(&payload[BOOT_ID_START..COUNTER_START]);
    let mut counter = [0u8; COUNTER_LEN];
    counter.copy_from_slice(&payload[COUNTER_START..HEADER_LEN]);
    Ok(Header {
        boot_id,
        counter: u64::from_be_bytes(counter),
    })
}

/// The length of the v2 payload for a packet of `packet_len` bytes.
pub const fn sealed_len(packet_len: usize) -> usize {
    packet_len + OVERHEAD
}

/// Seals `packet` into `out` for the topic whose address part is `address`
/// (`b"10.0.1.2"` for `mqttip/10.0.1.2`). Returns the payload length.
pub fn seal(
    key: &Key,
    header: &Header,
    address: &[u8],
    packet: &[u8],
    out: &mut [u8],
) -> Result<usize, SealError> {
    let len = sealed_len(packet.len());
    let out = out.get_mut(..len).ok_or(SealError::BufferTooSmall)?;
    out[CIPHERTEXT_START..].copy_from_slice(packet);
    seal_in_place(key, header, address, out)?;
    Ok(len)
}

/// Seals in place: `buf` holds [`OVERHEAD`] bytes of headroom followed by the
/// packet, and becomes the payload.
pub fn seal_in_place(
    key: &Key,
    header: &Header,
    address: &[u8],
    buf: &mut [u8],
) -> Result<(), SealError> {
    seal_framed_in_place(key, header, Framing::Single, address, buf)
}

/// Like [`seal_in_place`], for either framing: with [`Framing::Batch`],
/// `buf` holds the headroom and then whole IP packets back to back.
pub fn seal_framed_in_place(
    key: &Key,
    header: &Header,
    framing: Framing,
    address: &[u8],
    buf: &mut [u8],
) -> Result<(), SealError> {
    if buf.len() < OVERHEAD {
        return Err(SealError::BufferTooSmall);
    }
    let mut ad = [0u8; 4 + MAX_BATCH_ADDRESS];
    let ad = associated_data(framing, address, &mut ad).ok_or(SealError::BufferTooSmall)?;
    let (head, body) = buf.split_at_mut(CIPHERTEXT_START);
    header.write(framing, head);
    let tag = key
        .cipher
        .encrypt_in_place_detached(XNonce::from_slice(&head[NONCE_START..TAG_START]), ad, body)
        // Only refused beyond 2^38 bytes, which a packet cannot be.
        .map_err(|_| SealError::BufferTooSmall)?;
    head[TAG_START..].copy_from_slice(&tag);
    Ok(())
}

/// Opens a v2 `payload` received on the topic whose address part is
/// `address` into `out`; returns its header and the packet length.
pub fn open(
    key: &Key,
    address: &[u8],
    payload: &[u8],
    out: &mut [u8],
) -> Result<(Header, usize), OpenError> {
    let header = header(payload)?;
    let len = payload.len() - OVERHEAD;
    let out = out.get_mut(..len).ok_or(OpenError::BufferTooSmall)?;
    out.copy_from_slice(&payload[CIPHERTEXT_START..]);
    if let Err(error) = decrypt(key, address, &payload[..CIPHERTEXT_START], out) {
        // The tag is checked before decrypting; leave no ciphertext behind.
        out.fill(0);
        return Err(error);
    }
    Ok((header, len))
}

/// Opens a v2 payload in place; returns its header and the packet, a
/// sub-slice of `payload`.
pub fn open_in_place<'a>(
    key: &Key,
    address: &[u8],
    payload: &'a mut [u8],
) -> Result<(Header, &'a mut [u8]), OpenError> {
    let header = header(payload)?;
    let (head, body) = payload.split_at_mut(CIPHERTEXT_START);
    decrypt(key, address, head, body)?;
    Ok((header, body))
}

fn opened_len(payload_len: usize) -> Result<usize, OpenError> {
    match payload_len.checked_sub(OVERHEAD) {
        Some(len) if len > 0 => Ok(len),
        _ => Err(OpenError::TooShort),
    }
}

/// `head` is the first [`OVERHEAD`] bytes of a payload (its magic says
/// the framing), `body` its ciphertext.
fn decrypt(key: &Key, address: &[u8], head: &[u8], body: &mut [u8]) -> Result<(), OpenError> {
    let framing = framing(head).ok_or(OpenError::NotV2)?;
    let mut ad = [0u8; 4 + MAX_BATCH_ADDRESS];
    let ad = associated_data(framing, address, &mut ad).ok_or(OpenError::Forged)?;
    let nonce = XNonce::from_slice(&head[NONCE_START..TAG_START]);
    let tag = Tag::from_slice(&head[TAG_START..CIPHERTEXT_START]);
    key.cipher
        .decrypt_in_place_detached(nonce, ad, body, tag)
        .map_err(|_| OpenError::Forged)
}

/// The address part of a topic, which v2 authenticates: the text after the
/// last `/` (the whole topic if it has none).
pub fn topic_address(topic: &str) -> &[u8] {
    topic
        .rsplit_once('/')
        .map_or(topic, |(_, address)| address)
        .as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKET: &[u8] =
        b"\x45\x00\x00\x14\x00\x00\x00\x00\x40\x11\x00\x00\x0a\x00\x01\x02\xff\xff\xff\xff";

    fn header(counter: u64) -> Header {
        Header {
            boot_id: [3; BOOT_ID_LEN],
            counter,
        }
    }

    #[test]
    fn in_place_and_copying_forms_agree() {
        let key = Key::from_bytes(&[1; 32]);
        let mut copied = [0u8; 128];
        let n = seal(&key, &header(5), b"10.0.1.2", PACKET, &mut copied).unwrap();
        let mut in_place = [0u8; OVERHEAD + PACKET.len()];
        in_place[OVERHEAD..].copy_from_slice(PACKET);
        seal_in_place(&key, &header(5), b"10.0.1.2", &mut in_place).unwrap();
        assert_eq!(&copied[..n], &in_place[..]);
        let (h, packet) = open_in_place(&key, b"10.0.1.2", &mut in_place).unwrap();
        assert_eq!(
            (h, &*packet),
            (super::header(&copied[..n]).unwrap(), PACKET)
        );
    }

    #[test]
    fn the_address_part_is_what_follows_the_last_slash() {
        assert_eq!(topic_address("site/vpn/10.0.1.2"), b"10.0.1.2");
        assert_eq!(topic_address("mqttip/fd00:1::2"), b"fd00:1::2");
        assert_eq!(topic_address("bare"), b"bare");
    }
}
