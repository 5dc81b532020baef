//! Build script: regenerates `include/mqttif.h` from the doc comments of
//! `src/ffi` with cbindgen (the header is documentation, and committed).
//!
//! The header is written only when its text changes, so a clean tree stays
//! clean. A cbindgen failure is a warning for a plain `cargo build` (the
//! committed header still works); with `CI` or `MQTTIF_HEADER_REQUIRED` set
//! it fails the build, so CI cannot pass with a stale header.
//!
//! It also hands the target triple to the crate as `MQTT_VPN_TARGET`, so
//! `mqtt_vpn --version` says which build it is (`0.1.0 (aarch64-unknown-linux-musl)`).
use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=cbindgen.toml");
    println!("cargo::rerun-if-changed=src/ffi");
    // A deleted or hand-edited header is made again.
    println!("cargo::rerun-if-changed=include/mqttif.h");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=MQTTIF_HEADER_REQUIRED");
    let target = env::var("TARGET").expect("set by cargo");
    println!("cargo::rustc-env=MQTT_VPN_TARGET={target}");

    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let required = env::var_os("CI").is_some() || env::var_os("MQTTIF_HEADER_REQUIRED").is_some();
    if let Err(error) = generate(&dir) {
        if required {
            panic!("generating include/mqttif.h: {error}");
        }
        println!("cargo::warning=include/mqttif.h not regenerated: {error}");
    }
}

fn generate(dir: &std::path::Path) -> Result<(), String> {
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))?;
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/ffi/mod.rs"))
        .with_src(dir.join("src/ffi/boundary.rs"))
        .with_src(dir.join("src/ffi/platform.rs"))
        .generate()
        .map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    bindings.write(&mut text);
    let path = dir.join("include/mqttif.h");
    if fs::read(&path).ok().as_deref() != Some(text.as_slice()) {
        fs::create_dir_all(dir.join("include")).map_err(|e| e.to_string())?;
        fs::write(&path, text).map_err(|e| e.to_string())?;
    }
    Ok(())
}
