//! The C ABI. The `mqtt_if_*` family lands with the embedded path; this
//! module holds the bare-metal runtime for builds without `std`.
#![allow(unsafe_code)]

#[cfg(not(feature = "std"))]
mod embedded;
