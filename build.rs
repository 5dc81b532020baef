//! Build script. The C header generation (cbindgen -> include/mqttif.h) lands
//! with the C ABI; for now it only declares when to rerun.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
}
