//! The committed Arduino zip, `libraries/mqtt_vpn_arduino.zip`, is what a
//! user adds with "Add .ZIP Library" without any Rust toolchain: it must be
//! made from this tree, carry the ESP8266 archive with every `mqtt_if_*`
//! function of the header, and come with its licences.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{repo_path, run, target_dir};

const ZIP: &str = "libraries/mqtt_vpn_arduino.zip";
const ESP8266_ARCHIVE: &str = "mqtt_vpn_arduino/src/esp8266/libmqttvpn.a";

fn work_dir(name: &str) -> PathBuf {
    let dir = target_dir().join("arduino-zip-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn member(zip: &Path, name: &str) -> Vec<u8> {
    run(Command::new("unzip").arg("-p").arg(zip).arg(name)).stdout
}

/// The functions include/mqttif.h declares, by name.
fn header_functions() -> BTreeSet<String> {
    let header = std::fs::read_to_string(repo_path("include/mqttif.h")).unwrap();
    let mut names = BTreeSet::new();
    for (i, _) in header.match_indices("mqtt_if_") {
        let rest = &header[i..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if rest[name.len()..].starts_with('(') {
            names.insert(name);
        }
    }
    names
}

#[test]
fn the_committed_zip_was_made_from_this_tree() {
    run(Command::new("bash")
        .arg(repo_path("scripts/package-arduino.sh"))
        .arg("--check")
        .arg(repo_path(ZIP)));
}

#[test]
fn the_committed_zip_carries_the_esp8266_archive_exporting_every_mqtt_if_function() {
    let archive = member(&repo_path(ZIP), ESP8266_ARCHIVE);
    assert!(
        archive.starts_with(b"!<arch>\n"),
        "{ESP8266_ARCHIVE} is missing or not an archive"
    );
    let dir = work_dir("exports");
    let path = dir.join("libmqttvpn.a");
    std::fs::write(&path, &archive).unwrap();
    if Command::new("xtensa-lx106-elf-nm")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "xtensa-lx106-elf-nm is missing in CI (binutils-xtensa-lx106)"
        );
        eprintln!(
            "SKIPPED export check: xtensa-lx106-elf-nm not installed (binutils-xtensa-lx106)"
        );
        return;
    }
    let nm = run(Command::new("xtensa-lx106-elf-nm")
        .args(["--defined-only", "--extern-only"])
        .arg(&path));
    let defined: BTreeSet<String> = String::from_utf8(nm.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [_, "T", name] => Some(name.to_string()),
            _ => None,
        })
        .collect();
    let functions = header_functions();
    assert!(
        functions.len() > 30,
        "read only {} functions from the header",
        functions.len()
    );
    let missing: Vec<_> = functions.difference(&defined).collect();
    assert!(
        missing.is_empty(),
        "the archive does not export {missing:?}"
    );
}

#[test]
fn the_committed_zip_carries_both_licences_and_its_build_record() {
    let zip = repo_path(ZIP);
    for licence in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let text = member(&zip, &format!("mqtt_vpn_arduino/{licence}"));
        let ours = std::fs::read(repo_path(licence)).unwrap();
        assert_eq!(
            text, ours,
            "{licence} in the zip differs from the repository's"
        );
    }
    let info = String::from_utf8(member(&zip, "mqtt_vpn_arduino/BUILD-INFO.txt")).unwrap();
    assert!(info.contains("inputs-sha256: "), "{info}");
    assert!(
        info.contains("archive: src/esp8266/libmqttvpn.a sha256 "),
        "{info}"
    );
}

#[test]
fn the_committed_zip_carries_the_shim_of_this_tree() {
    let zip = repo_path(ZIP);
    for file in ["mqtt_vpn_netif.c", "mqtt_vpn_netif.h"] {
        let shim = std::fs::read(repo_path(&format!("shim/{file}"))).unwrap();
        assert!(
            member(&zip, &format!("mqtt_vpn_arduino/src/{file}")) == shim,
            "the committed zip's src/{file} is not shim/{file}"
        );
    }
}

#[test]
fn packaging_twice_gives_the_same_bytes() {
    let dir = work_dir("twice");
    let zips = ["a.zip", "b.zip"].map(|name| {
        let zip = dir.join(name);
        run(Command::new("bash")
            .arg(repo_path("scripts/package-arduino.sh"))
            .arg(&zip));
        std::fs::read(zip).unwrap()
    });
    assert!(zips[0] == zips[1], "two packagings of one tree differ");
}
