//! The wire codec on its own, for ports that bring their own MQTT client
//! (and for checking the codec on the device's CPU): key derivation, seal
//! and open of wire v1 and v2 payloads into caller buffers. Nothing here
//! touches an interface; an unused function costs no flash once the linker
//! drops it (`--gc-sections`).

use core::ffi::c_char;

use super::MQTT_IF_MAX_PREFIX;
use super::boundary::{ffi_fn, mqtt_if_result, non_null, opt_bytes_arg, str_arg};
use crate::{wire, wire2};

use mqtt_if_result::*;

/// Length of a key, in bytes.
pub const MQTT_IF_KEY_LEN: usize = 32;
/// Bytes a wire v1 payload adds to a packet (nonce, padding, tag).
pub const MQTT_IF_WIRE_V1_OVERHEAD: usize = wire::OVERHEAD;
/// Bytes a wire v2 payload adds to a packet (magic, boot id, counter, tag).
pub const MQTT_IF_WIRE_V2_OVERHEAD: usize = wire2::OVERHEAD;
/// Longest password the key functions take, in bytes.
pub const MQTT_IF_MAX_PASSWORD: usize = super::MQTT_IF_MAX_STRING;

/// A caller's input buffer; NULL is allowed only for length 0.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes.
unsafe fn input<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], mqtt_if_result> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(MQTT_IF_ERR_NULL);
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// A caller's output buffer and the place for the written length.
///
/// # Safety
/// `ptr` is NULL or points to `cap` writable bytes; `written` is NULL or
/// points to a writable `size_t`.
unsafe fn output<'a>(
    ptr: *mut u8,
    cap: usize,
    written: *mut usize,
) -> Result<(&'a mut [u8], &'a mut usize), mqtt_if_result> {
    if ptr.is_null() || written.is_null() {
        return Err(MQTT_IF_ERR_NULL);
    }
    // SAFETY: the caller's contract.
    unsafe { Ok((core::slice::from_raw_parts_mut(ptr, cap), &mut *written)) }
}

/// A fixed-size byte array argument (key, nonce, boot id).
///
/// # Safety
/// `ptr` is NULL or points to `N` readable bytes.
unsafe fn array_arg<'a, const N: usize>(ptr: *const u8) -> Result<&'a [u8; N], mqtt_if_result> {
    // SAFETY: forwarded contract; `[u8; N]` has alignment 1.
    unsafe { non_null(ptr.cast::<[u8; N]>()) }
}

fn open_error(error: wire2::OpenError) -> mqtt_if_result {
    match error {
        wire2::OpenError::TooShort => MQTT_IF_ERR_TOO_SHORT,
        wire2::OpenError::NotV2 => MQTT_IF_ERR_NOT_V2,
        wire2::OpenError::Forged => MQTT_IF_ERR_FORGED,
        wire2::OpenError::BufferTooSmall => MQTT_IF_ERR_BUFFER_TOO_SMALL,
    }
}

/// Derives the wire v1 key of `password` (NUL-terminated, at most 255
/// bytes) into `key_out` (32 bytes): the first 32 bytes of its SHA-512, as the C nodes
/// do. An empty password has no key (plain mode): `MQTT_IF_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_key_v1(
    password: *const c_char,
    key_out: *mut u8,
) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: the caller's contract (header).
        let password = unsafe { opt_bytes_arg(password, MQTT_IF_MAX_PASSWORD) }?;
        // SAFETY: the caller's contract (header).
        let key_out =
            unsafe { key_out.cast::<[u8; MQTT_IF_KEY_LEN]>().as_mut() }.ok_or(MQTT_IF_ERR_NULL)?;
        *key_out = wire::Key::derive_bytes(password).ok_or(MQTT_IF_ERR_INVALID_ARGUMENT)?;
        Ok(MQTT_IF_OK)
    })
}

/// Derives the wire v2 key of `password` for the network `network` (the
/// topic prefix, at most 128 bytes) into `key_out` (32 bytes): PBKDF2-HMAC-SHA256,
/// 10 000 rounds (slow on a device: seconds on an ESP8266). An empty
/// password has no key: `MQTT_IF_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_key_v2(
    password: *const c_char,
    network: *const c_char,
    key_out: *mut u8,
) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: the caller's contract (header).
        let password = unsafe { opt_bytes_arg(password, MQTT_IF_MAX_PASSWORD) }?;
        // SAFETY: the caller's contract (header).
        let network = unsafe { str_arg(network, MQTT_IF_MAX_PREFIX) }?;
        // SAFETY: the caller's contract (header).
        let key_out =
            unsafe { key_out.cast::<[u8; MQTT_IF_KEY_LEN]>().as_mut() }.ok_or(MQTT_IF_ERR_NULL)?;
        *key_out = wire2::Key::derive_bytes(password, network.as_bytes())
            .ok_or(MQTT_IF_ERR_INVALID_ARGUMENT)?;
        Ok(MQTT_IF_OK)
    })
}

/// Seals `packet` (`len` bytes) as a wire v1 payload with `key` (32 bytes) and the
/// caller's random 24-byte `nonce` into `out` (`cap` bytes); `*out_len` is
/// set to `len + MQTT_IF_WIRE_V1_OVERHEAD`. A nonce must never be used twice
/// with one key.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_seal_v1(
    key: *const u8,
    nonce: *const u8,
    packet: *const u8,
    len: usize,
    out: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: the caller's contract (header), for each argument.
        let (key, nonce, packet, (out, out_len)) = unsafe {
            (
                array_arg::<32>(key)?,
                array_arg::<{ wire::NONCE_LEN }>(nonce)?,
                input(packet, len)?,
                output(out, cap, out_len)?,
            )
        };
        let key = wire::Key::from_bytes(key);
        *out_len =
            wire::seal(&key, nonce, packet, out).map_err(|_| MQTT_IF_ERR_BUFFER_TOO_SMALL)?;
        Ok(MQTT_IF_OK)
    })
}

/// Opens the wire v1 `payload` (`len` bytes) with `key` (32 bytes) into `out` (`cap`
/// bytes); `*out_len` is set to the packet length. A refused payload
/// (`MQTT_IF_ERR_TOO_SHORT`, `MQTT_IF_ERR_FORGED` or
/// `MQTT_IF_ERR_BUFFER_TOO_SMALL`) leaves `*out_len` alone and `out` without
/// plaintext: untouched, or zeroed where a forged payload was checked.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_open_v1(
    key: *const u8,
    payload: *const u8,
    len: usize,
    out: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: the caller's contract (header), for each argument.
        let (key, payload, (out, out_len)) = unsafe {
            (
                array_arg::<32>(key)?,
                input(payload, len)?,
                output(out, cap, out_len)?,
            )
        };
        let key = wire::Key::from_bytes(key);
        *out_len = wire::open(&key, payload, out).map_err(|e| match e {
            wire::OpenError::TooShort => MQTT_IF_ERR_TOO_SHORT,
            wire::OpenError::Forged => MQTT_IF_ERR_FORGED,
            wire::OpenError::BufferTooSmall => MQTT_IF_ERR_BUFFER_TOO_SMALL,
        })?;
        Ok(MQTT_IF_OK)
    })
}

/// Seals `packet` as a wire v2 payload for `topic` (NUL-terminated; its
/// address part, after the last `/`, is authenticated) with `key` (32 bytes), the
/// sender's 16-byte `boot_id` and `counter` into `out`; `*out_len` is set to
/// `len + MQTT_IF_WIRE_V2_OVERHEAD`. A (boot id, counter) pair must never be
/// used twice with one key.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_seal_v2(
    key: *const u8,
    boot_id: *const u8,
    counter: u64,
    topic: *const c_char,
    packet: *const u8,
    len: usize,
    out: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: the caller's contract (header), for each argument.
        let (key, boot_id, topic, packet, (out, out_len)) = unsafe {
            (
                array_arg::<32>(key)?,
                array_arg::<{ wire2::BOOT_ID_LEN }>(boot_id)?,
                str_arg(topic, super::MQTT_IF_MAX_TOPIC)?,
                input(packet, len)?,
                output(out, cap, out_len)?,
            )
        };
        let key = wire2::Key::from_bytes(key);
        let header = wire2::Header {
            boot_id: *boot_id,
            counter,
        };
        *out_len = wire2::seal(&key, &header, wire2::topic_address(topic), packet, out)
            .map_err(|_| MQTT_IF_ERR_BUFFER_TOO_SMALL)?;
        Ok(MQTT_IF_OK)
    })
}

/// Opens the wire v2 `payload` received on `topic` with `key` (32 bytes) into `out`;
/// `*out_len` is set to the packet length. A refused payload
/// (`MQTT_IF_ERR_TOO_SHORT`, `MQTT_IF_ERR_NOT_V2`, `MQTT_IF_ERR_FORGED` or
/// `MQTT_IF_ERR_BUFFER_TOO_SMALL`) leaves `*out_len` alone and `out` without
/// plaintext: untouched, or zeroed where a forged payload was checked. Replays are not checked here (an
/// interface does that).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mqtt_if_open_v2(
    key: *const u8,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
    out: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> mqtt_if_result {
    ffi_fn!({
        // SAFETY: the caller's contract (header), for each argument.
        let (key, topic, payload, (out, out_len)) = unsafe {
            (
                array_arg::<32>(key)?,
                str_arg(topic, super::MQTT_IF_MAX_TOPIC)?,
                input(payload, len)?,
                output(out, cap, out_len)?,
            )
        };
        let key = wire2::Key::from_bytes(key);
        let (_, len) =
            wire2::open(&key, wire2::topic_address(topic), payload, out).map_err(open_error)?;
        *out_len = len;
        Ok(MQTT_IF_OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKET: &[u8] = &[
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 1, 1, 10, 0, 1, 2,
    ];

    fn key_v1() -> [u8; 32] {
        let mut key = [0u8; 32];
        let r = unsafe { mqtt_if_key_v1(c"secret".as_ptr(), key.as_mut_ptr()) };
        assert_eq!(r, MQTT_IF_OK);
        key
    }

    #[test]
    fn a_v1_payload_sealed_through_the_c_abi_opens_to_the_packet() {
        let key = key_v1();
        let mut sealed = [0u8; 100];
        let mut opened = [0u8; 100];
        let (mut sealed_len, mut opened_len) = (0, 0);
        unsafe {
            let nonce = [7u8; 24];
            let r = mqtt_if_seal_v1(
                key.as_ptr(),
                nonce.as_ptr(),
                PACKET.as_ptr(),
                PACKET.len(),
                sealed.as_mut_ptr(),
                sealed.len(),
                &mut sealed_len,
            );
            assert_eq!(r, MQTT_IF_OK);
            assert_eq!(sealed_len, PACKET.len() + MQTT_IF_WIRE_V1_OVERHEAD);
            let r = mqtt_if_open_v1(
                key.as_ptr(),
                sealed.as_ptr(),
                sealed_len,
                opened.as_mut_ptr(),
                opened.len(),
                &mut opened_len,
            );
            assert_eq!(r, MQTT_IF_OK);
        }
        assert_eq!(&opened[..opened_len], PACKET);
    }

    #[test]
    fn a_v2_payload_opens_only_on_the_topic_it_was_sealed_for() {
        let key = [3u8; 32];
        let mut sealed = [0u8; 100];
        let mut opened = [0u8; 100];
        let (mut sealed_len, mut opened_len) = (0, 0);
        unsafe {
            let boot = [1u8; 16];
            let r = mqtt_if_seal_v2(
                key.as_ptr(),
                boot.as_ptr(),
                5,
                c"mqttip/10.0.1.2".as_ptr(),
                PACKET.as_ptr(),
                PACKET.len(),
                sealed.as_mut_ptr(),
                sealed.len(),
                &mut sealed_len,
            );
            assert_eq!(r, MQTT_IF_OK);
            let open = |topic: &core::ffi::CStr, out: &mut [u8], len: &mut usize| {
                mqtt_if_open_v2(
                    key.as_ptr(),
                    topic.as_ptr(),
                    sealed.as_ptr(),
                    sealed_len,
                    out.as_mut_ptr(),
                    out.len(),
                    len,
                )
            };
            assert_eq!(
                open(c"mqttip/10.0.1.3", &mut opened, &mut opened_len),
                MQTT_IF_ERR_FORGED
            );
            assert_eq!(
                open(c"mqttip/10.0.1.2", &mut opened[..4], &mut opened_len),
                MQTT_IF_ERR_BUFFER_TOO_SMALL
            );
            assert_eq!(
                open(c"mqttip/10.0.1.2", &mut opened, &mut opened_len),
                MQTT_IF_OK
            );
        }
        assert_eq!(&opened[..opened_len], PACKET);
    }

    #[test]
    fn null_pointers_and_empty_passwords_are_refused() {
        let mut key = [0u8; 32];
        let mut len = 0;
        unsafe {
            assert_eq!(
                mqtt_if_key_v1(c"".as_ptr(), key.as_mut_ptr()),
                MQTT_IF_ERR_INVALID_ARGUMENT
            );
            assert_eq!(
                mqtt_if_key_v1(c"x".as_ptr(), core::ptr::null_mut()),
                MQTT_IF_ERR_NULL
            );
            assert_eq!(
                mqtt_if_key_v2(c"x".as_ptr(), core::ptr::null(), key.as_mut_ptr()),
                MQTT_IF_ERR_NULL
            );
            assert_eq!(
                mqtt_if_open_v1(
                    key.as_ptr(),
                    core::ptr::null(),
                    60,
                    key.as_mut_ptr(),
                    32,
                    &mut len
                ),
                MQTT_IF_ERR_NULL
            );
            assert_eq!(
                mqtt_if_open_v1(
                    key.as_ptr(),
                    key.as_ptr(),
                    32,
                    key.as_mut_ptr(),
                    32,
                    &mut len
                ),
                MQTT_IF_ERR_TOO_SHORT
            );
        }
    }
}
