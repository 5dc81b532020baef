//! The bodies of the fuzz targets, one module each, with the properties
//! they check. Every `run` takes the fuzzer's bytes, must never panic on
//! any input, and panics (a crash for libFuzzer, a failure for a test) when
//! a property does not hold.
//!
//! The fuzz binaries in `fuzz_targets/` call these; so does
//! `tests/fuzz_regressions.rs` in the root crate (it includes this file
//! with `#[path]`), which replays the committed corpora and every crash
//! kept in `tests/data/fuzz-regressions/` on a normal `cargo test` build.
//! Nothing here depends on libFuzzer.
//!
//! Input formats (the seeds in `corpus/<target>/` follow them; see
//! `make_seeds.py`):
//!
//! - `wire_open`: a wire-v1 payload, opened with the key of the password
//!   [`wire_open::PASSWORD`] (that of the committed vectors).
//! - `ip_peek`: a buffer that may start with an IP packet.
//! - `topic_parse`: `flags (1 byte) || prefix || '\n' || topic || '\n' ||
//!   payload`.
//! - `mqtt_session`: `options (1 byte) || chunking seed (4 bytes) ||` the
//!   byte stream a broker sends.
//! - `c_abi`: `setup (1 byte) ||` creation arguments `||` a list of calls;
//!   see [`c_abi`].

pub mod c_abi;
pub mod input;
pub mod ip_peek;
pub mod mqtt_session;
pub mod topic_parse;
pub mod wire_open;
