//! Wire v1 `open` and `open_in_place` on arbitrary payloads, and a
//! seal/open round trip of the input read as `nonce || packet`.

use mqttvpn::wire::{self, Key, NONCE_LEN, OVERHEAD, OpenError, SealError};

/// The password of the committed wire-v1 vectors: the seeds that are real
/// vectors open, and so do their mutations that only touch the padding.
pub const PASSWORD: &[u8] = b"secret";

const PAD: core::ops::Range<usize> = NONCE_LEN..NONCE_LEN + 16;
const TAG: core::ops::Range<usize> = NONCE_LEN + 16..OVERHEAD;

/// Opens `data` with the key of [`PASSWORD`]; returns what `open` said.
pub fn run(data: &[u8]) -> Result<Vec<u8>, OpenError> {
    let key = Key::from_password(PASSWORD).expect("a non-empty password");
    let opened = open_both_ways(&key, data);
    if let Ok(packet) = &opened {
        altered_payloads_behave_like_the_c_nodes(&key, data, packet);
    }
    sealing_then_opening_returns_the_packet(&key, data);
    opened
}

/// `open` into a buffer and `open_in_place` agree, and the errors match the
/// payload's length.
fn open_both_ways(key: &Key, data: &[u8]) -> Result<Vec<u8>, OpenError> {
    let mut out = vec![0u8; data.len()];
    let copied = wire::open(key, data, &mut out).map(|n| out[..n].to_vec());
    let mut buf = data.to_vec();
    let in_place = wire::open_in_place(key, &mut buf).map(|p| p.to_vec());
    assert_eq!(copied, in_place, "open and open_in_place disagree");

    match &copied {
        Ok(packet) => assert_eq!(packet.len(), data.len() - OVERHEAD),
        Err(OpenError::TooShort) => assert!(data.len() <= OVERHEAD),
        Err(OpenError::Forged) => assert!(data.len() > OVERHEAD),
        Err(OpenError::BufferTooSmall) => panic!("the output buffer was large enough"),
    }
    if data.len() > OVERHEAD {
        // One byte short: refused before any work, whatever the payload.
        let short = data.len() - OVERHEAD - 1;
        assert_eq!(
            wire::open(key, data, &mut out[..short]),
            Err(OpenError::BufferTooSmall)
        );
    }
    copied
}

/// An opened payload: the tag covers the nonce and the ciphertext, not the
/// 16 padding bytes (the C nodes do not check them either).
fn altered_payloads_behave_like_the_c_nodes(key: &Key, data: &[u8], packet: &[u8]) {
    let mut out = vec![0u8; data.len()];
    for (at, expect_ok) in [
        (0, false),
        (PAD.start, true),
        (TAG.start, false),
        (OVERHEAD, false),
    ] {
        let mut altered = data.to_vec();
        altered[at] ^= 0x01;
        let result = wire::open(key, &altered, &mut out);
        if expect_ok {
            assert_eq!(result, Ok(packet.len()), "padding byte {at} was checked");
            assert_eq!(&out[..packet.len()], packet);
        } else {
            assert_eq!(result, Err(OpenError::Forged), "byte {at} was not covered");
        }
    }
}

/// The input as `nonce (24) || packet`: sealing it and opening the result
/// gives the packet back, in both the copying and the in-place form.
fn sealing_then_opening_returns_the_packet(key: &Key, data: &[u8]) {
    let Some((nonce, packet)) = data.split_first_chunk::<NONCE_LEN>() else {
        return;
    };
    let len = wire::sealed_len(packet.len());
    let mut sealed = vec![0u8; len];
    assert_eq!(
        wire::seal(key, nonce, packet, &mut sealed[..len - 1]),
        Err(SealError::BufferTooSmall)
    );
    assert_eq!(wire::seal(key, nonce, packet, &mut sealed), Ok(len));
    assert_eq!(&sealed[..NONCE_LEN], nonce);
    assert_eq!(&sealed[PAD], &[0u8; 16]);

    let mut in_place = vec![0u8; len];
    in_place[OVERHEAD..].copy_from_slice(packet);
    wire::seal_in_place(key, nonce, &mut in_place).unwrap();
    assert_eq!(in_place, sealed, "seal and seal_in_place disagree");

    let mut opened = vec![0u8; packet.len()];
    let result = wire::open(key, &sealed, &mut opened);
    if packet.is_empty() {
        // A payload must carry at least one byte; an empty packet seals
        // but does not open.
        assert_eq!(result, Err(OpenError::TooShort));
    } else {
        assert_eq!(result, Ok(packet.len()));
        assert_eq!(opened, packet);
        assert_eq!(wire::open_in_place(key, &mut sealed).unwrap(), packet);
        let other = Key::from_password(b"another password").unwrap();
        assert_eq!(
            wire::open(&other, &in_place, &mut opened),
            Err(OpenError::Forged)
        );
    }
}
