//! Wire v1 against the vectors made with NaCl by the C implementation's
//! authors, kept in `tests/data/wire-v1.json`.

use mqttvpn::wire::{self, Key, NONCE_LEN, OpenError};
use serde_json::Value;

const COPY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/wire-v1.json");

fn vectors() -> Value {
    serde_json::from_slice(&std::fs::read(COPY).expect("tests/data/wire-v1.json")).unwrap()
}

fn hex_field(entry: &Value, name: &str) -> Vec<u8> {
    hex::decode(
        entry[name]
            .as_str()
            .unwrap_or_else(|| panic!("field {name}")),
    )
    .unwrap()
}

fn entries<'a>(all: &'a Value, list: &str) -> &'a [Value] {
    let entries = all[list].as_array().unwrap();
    assert!(!entries.is_empty(), "no `{list}` entries");
    entries
}

#[test]
fn every_vector_seals_to_its_payload_and_opens_to_its_plaintext() {
    let all = vectors();
    for v in entries(&all, "vectors") {
        let name = v["name"].as_str().unwrap();
        let password = hex_field(v, "password_hex");
        assert_eq!(
            password,
            v["password"].as_str().unwrap().as_bytes(),
            "{name}"
        );
        let key = Key::from_password(&password).unwrap();
        let nonce: [u8; NONCE_LEN] = hex_field(v, "nonce").try_into().unwrap();
        let plaintext = hex_field(v, "plaintext");
        let payload = hex_field(v, "payload");

        let mut sealed = vec![0u8; plaintext.len() + wire::OVERHEAD];
        let n = wire::seal(&key, &nonce, &plaintext, &mut sealed).unwrap();
        assert_eq!(
            hex::encode(&sealed[..n]),
            hex::encode(&payload),
            "{name}: seal"
        );

        let mut opened = vec![0u8; payload.len()];
        let m = wire::open(&key, &payload, &mut opened).unwrap();
        assert_eq!(opened[..m], plaintext[..], "{name}: open");
    }
}

#[test]
fn the_key_is_the_first_half_of_sha512_of_the_password() {
    let all = vectors();
    for v in entries(&all, "vectors") {
        // The key itself is opaque; sealing with the listed raw key must give
        // the same payload as sealing with the key derived from the password.
        let raw: [u8; 32] = hex_field(v, "key").try_into().unwrap();
        let nonce: [u8; NONCE_LEN] = hex_field(v, "nonce").try_into().unwrap();
        let plaintext = hex_field(v, "plaintext");
        let mut sealed = vec![0u8; plaintext.len() + wire::OVERHEAD];
        wire::seal(&Key::from_bytes(&raw), &nonce, &plaintext, &mut sealed).unwrap();
        assert_eq!(sealed, hex_field(v, "payload"), "{}", v["name"]);
    }
}

#[test]
fn every_reject_entry_is_refused_with_a_typed_error() {
    let all = vectors();
    for r in entries(&all, "reject") {
        let name = r["name"].as_str().unwrap();
        let key = Key::from_password(r["password"].as_str().unwrap().as_bytes()).unwrap();
        let payload = hex_field(r, "payload");
        let mut out = vec![0u8; payload.len() + 1];
        let err = wire::open(&key, &payload, &mut out).unwrap_err();
        let expected = if payload.len() <= wire::OVERHEAD {
            OpenError::TooShort
        } else {
            OpenError::Forged
        };
        assert_eq!(err, expected, "{name}: {}", r["why"]);
    }
}
