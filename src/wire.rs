//! Wire format v1: the payload that the deployed C nodes put on the broker.
//!
//! - Plain mode (empty password): the payload is the IP packet itself.
//! - Sealed mode: `key = SHA-512(password)[0..32]` and
//!   `payload = nonce (24) || 16 zero bytes || Poly1305 tag (16) || XSalsa20 ciphertext`,
//!   which is NaCl's `crypto_secretbox` output with its `BOXZEROBYTES` left on
//!   the wire. The overhead is [`OVERHEAD`] = 56 bytes.
//!
//! Nothing here allocates or picks a nonce: the caller passes 24 random bytes
//! from a CSPRNG and owns every buffer. Like the C nodes, [`open`] does not
//! require the 16 padding bytes to be zero; the tag covers only the ciphertext.
//! v1 has no counter: a receiver remembers recent payloads by [`fingerprint`]
//! to drop replays ([`crate::replay::ReplayCache`]).

use core::fmt;

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Nonce, Tag, XSalsa20Poly1305};
use sha2::{Digest, Sha512};

/// Length of the random nonce at the start of a sealed payload.
pub const NONCE_LEN: usize = 24;
/// Length of the zero padding (NaCl `BOXZEROBYTES`) that follows the nonce.
pub const PAD_LEN: usize = 16;
/// Length of the Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed payload adds to the packet it carries.
pub const OVERHEAD: usize = NONCE_LEN + PAD_LEN + TAG_LEN;

const PAD_START: usize = NONCE_LEN;
const TAG_START: usize = NONCE_LEN + PAD_LEN;
const CIPHERTEXT_START: usize = OVERHEAD;

/// Why [`seal`] wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// The output buffer is shorter than the packet plus [`OVERHEAD`].
    BufferTooSmall,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall => f.write_str("output buffer too small for the sealed payload"),
        }
    }
}

/// Why [`open`] refused a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// The payload has no room for a nonce, padding, tag and at least one byte.
    TooShort,
    /// The tag did not verify: wrong key, or the payload was changed.
    Forged,
    /// The output buffer is shorter than the packet inside the payload.
    BufferTooSmall,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooShort => "payload shorter than nonce, padding, tag and one byte",
            Self::Forged => "authentication tag does not verify (wrong key or altered payload)",
            Self::BufferTooSmall => "output buffer too small for the opened packet",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SealError {}
#[cfg(feature = "std")]
impl std::error::Error for OpenError {}

/// A wire-v1 key: the first 32 bytes of SHA-512 of the password.
///
/// Holds the ready cipher, so sealing a packet does no key setup.
#[derive(Clone)]
pub struct Key {
    cipher: XSalsa20Poly1305,
}

impl Key {
    /// Derives the key from a password, as the C nodes do (no salt, no KDF).
    ///
    /// Returns `None` for an empty password: that means plain mode.
    pub fn from_password(password: &[u8]) -> Option<Self> {
        Self::derive_bytes(password).map(|raw| Self::from_bytes(&raw))
    }

    /// The 32 raw key bytes [`Key::from_password`] uses: the first half of
    /// SHA-512 of the password. `None` for an empty password.
    pub fn derive_bytes(password: &[u8]) -> Option<[u8; 32]> {
        if password.is_empty() {
            return None;
        }
        let digest = Sha512::digest(password);
        digest[..32].try_into().ok()
    }

    /// Uses 32 raw key bytes.
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        Self {
            cipher: XSalsa20Poly1305::new(key.into()),
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// The length of the sealed payload for a packet of `packet_len` bytes.
pub const fn sealed_len(packet_len: usize) -> usize {
    packet_len + OVERHEAD
}

/// Seals `packet` into `out` with the caller's random `nonce`.
///
/// Returns the payload length, `packet.len() + OVERHEAD`.
pub fn seal(
    key: &Key,
    nonce: &[u8; NONCE_LEN],
    packet: &[u8],
    out: &mut [u8],
) -> Result<usize, SealError> {
    let len = sealed_len(packet.len());
    let out = out.get_mut(..len).ok_or(SealError::BufferTooSmall)?;
    out[CIPHERTEXT_START..].copy_from_slice(packet);
    seal_in_place(key, nonce, out)?;
    Ok(len)
}

/// Seals in place: `buf` holds [`OVERHEAD`] bytes of headroom followed by the
/// packet, and becomes the payload. Lets a driver read a packet straight into
/// `buf[OVERHEAD..]` and publish `buf` without a copy.
pub fn seal_in_place(key: &Key, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> Result<(), SealError> {
    if buf.len() < OVERHEAD {
        return Err(SealError::BufferTooSmall);
    }
    let (head, body) = buf.split_at_mut(CIPHERTEXT_START);
    let tag = key
        .cipher
        .encrypt_in_place_detached(Nonce::from_slice(nonce), &[], body)
        // Only refused for messages longer than 2^38 bytes, which a slice here cannot be.
        .map_err(|_| SealError::BufferTooSmall)?;
    head[..PAD_START].copy_from_slice(nonce);
    head[PAD_START..TAG_START].fill(0);
    head[TAG_START..].copy_from_slice(&tag);
    Ok(())
}

/// Opens a sealed `payload` into `out`; returns the packet length.
pub fn open(key: &Key, payload: &[u8], out: &mut [u8]) -> Result<usize, OpenError> {
    let len = opened_len(payload.len())?;
    let out = out.get_mut(..len).ok_or(OpenError::BufferTooSmall)?;
    out.copy_from_slice(&payload[CIPHERTEXT_START..]);
    if let Err(error) = decrypt(key, &payload[..CIPHERTEXT_START], out) {
        // The tag is checked before decrypting; leave no ciphertext behind.
        out.fill(0);
        return Err(error);
    }
    Ok(len)
}

/// Opens a sealed payload in place; returns the packet, a sub-slice of `payload`.
pub fn open_in_place<'a>(key: &Key, payload: &'a mut [u8]) -> Result<&'a mut [u8], OpenError> {
    opened_len(payload.len())?;
    let (head, body) = payload.split_at_mut(CIPHERTEXT_START);
    decrypt(key, head, body)?;
    Ok(body)
}

/// Identifies a sealed payload for replay detection: the first 8 bytes of
/// its Poly1305 tag, little-endian. `None` if the payload is too short to
/// hold a packet.
///
/// An exact replay has the same tag. The tag covers the nonce and the
/// ciphertext but not the 16 padding bytes, so a replay with altered padding
/// (which [`open`] accepts) has the same fingerprint too. Two different
/// payloads share one with probability 2^-64, even when a C node reused a
/// nonce; only the holder of the key can choose a tag.
pub fn fingerprint(payload: &[u8]) -> Option<u64> {
    opened_len(payload.len()).ok()?;
    let mut first = [0u8; 8];
    first.copy_from_slice(&payload[TAG_START..TAG_START + 8]);
    Some(u64::from_le_bytes(first))
}

fn opened_len(payload_len: usize) -> Result<usize, OpenError> {
    match payload_len.checked_sub(OVERHEAD) {
        Some(len) if len > 0 => Ok(len),
        _ => Err(OpenError::TooShort),
    }
}

/// `head` is the first [`OVERHEAD`] bytes of a payload, `body` its ciphertext.
fn decrypt(key: &Key, head: &[u8], body: &mut [u8]) -> Result<(), OpenError> {
    let nonce = Nonce::from_slice(&head[..PAD_START]);
    let tag = Tag::from_slice(&head[TAG_START..CIPHERTEXT_START]);
    key.cipher
        .decrypt_in_place_detached(nonce, &[], body, tag)
        .map_err(|_| OpenError::Forged)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKET: &[u8] =
        b"\x45\x00\x00\x14\x00\x00\x00\x00\x40\x11\x00\x00\x0a\x00\x01\x02\xff\xff\xff\xff";

    #[test]
    fn an_empty_password_means_plain_mode() {
        assert!(Key::from_password(b"").is_none());
        assert!(Key::from_password(b"x").is_some());
    }

    #[test]
    fn sealed_payload_opens_to_the_packet_and_keeps_the_nonce_in_front() {
        let key = Key::from_password(b"secret").unwrap();
        let nonce = [7u8; NONCE_LEN];
        let mut payload = [0u8; 128];
        let n = seal(&key, &nonce, PACKET, &mut payload).unwrap();
        assert_eq!(n, PACKET.len() + OVERHEAD);
        assert_eq!(&payload[..NONCE_LEN], &nonce);
        assert_eq!(&payload[PAD_START..TAG_START], &[0u8; PAD_LEN]);
        let mut packet = [0u8; 64];
        let m = open(&key, &payload[..n], &mut packet).unwrap();
        assert_eq!(&packet[..m], PACKET);
    }

    #[test]
    fn in_place_and_copying_forms_agree() {
        let key = Key::from_password(b"secret").unwrap();
        let nonce = [9u8; NONCE_LEN];
        let mut copied = [0u8; 128];
        let n = seal(&key, &nonce, PACKET, &mut copied).unwrap();
        let mut in_place = [0u8; OVERHEAD + PACKET.len()];
        in_place[OVERHEAD..].copy_from_slice(PACKET);
        seal_in_place(&key, &nonce, &mut in_place).unwrap();
        assert_eq!(&copied[..n], &in_place[..]);
        assert_eq!(open_in_place(&key, &mut in_place).unwrap(), PACKET);
    }

    #[test]
    fn padding_bytes_are_not_checked_like_the_c_nodes() {
        let key = Key::from_password(b"secret").unwrap();
        let mut payload = [0u8; 128];
        let n = seal(&key, &[1; NONCE_LEN], PACKET, &mut payload).unwrap();
        payload[PAD_START] = 0xff;
        let mut packet = [0u8; 64];
        assert_eq!(open(&key, &payload[..n], &mut packet), Ok(PACKET.len()));
    }

    #[test]
    fn short_buffers_are_refused_not_overrun() {
        let key = Key::from_password(b"secret").unwrap();
        let mut small = [0u8; OVERHEAD + 3];
        assert_eq!(
            seal(&key, &[0; NONCE_LEN], PACKET, &mut small),
            Err(SealError::BufferTooSmall)
        );
        let mut payload = [0u8; 128];
        let n = seal(&key, &[0; NONCE_LEN], PACKET, &mut payload).unwrap();
        let mut out = [0u8; 4];
        assert_eq!(
            open(&key, &payload[..n], &mut out),
            Err(OpenError::BufferTooSmall)
        );
        assert_eq!(
            open(&key, &payload[..OVERHEAD], &mut out),
            Err(OpenError::TooShort)
        );
    }
}
