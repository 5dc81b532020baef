//! The Arduino library in `arduino/mqtt_vpn_arduino`: the zip that
//! `scripts/package-arduino.sh` writes has the layout the Arduino IDE wants,
//! `library.properties` says what it must, `src/mqttif.h` declares every
//! function of the Arduino section of `docs/c-api.md` with exactly its type
//! and keeps the rest of the C ABI reachable, the lwIP netif shim (one copy
//! in `shim/`: `src/mqtt_vpn_netif.{c,h}` link to it, the zip carries the
//! files) compiles for the ESP8266 CPU, and the example sketches and sketches written the
//! way the original library's users write them (`tests/arduino/dropin`)
//! compile and link against the real library (host build, Arduino core
//! stubbed in `tests/arduino/stubs`); the NAT example with every lwIP
//! variant. Nothing here runs on a board.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{host_staticlib, repo_path, run, target_dir};

const LIBRARY: &str = "arduino/mqtt_vpn_arduino";
/// The one copy of the lwIP netif shim, shared with the ESP-IDF component.
const SHIM: &str = "shim";
const SHIM_FILES: [&str; 2] = ["mqtt_vpn_netif.c", "mqtt_vpn_netif.h"];
const SKETCHES: [&str; 3] = ["mqtt_vpn_telnet", "mqtt_vpn_webserver", "mqtt_vpn_nat"];
/// C functions the Arduino header keeps only as `mqtt_vpn_c::...`: the init
/// forms that skip its platform setup, and the hook the port defines.
const C_ONLY: [&str; 4] = [
    "mqtt_if_init_auth",
    "mqtt_if_init_full",
    "mqtt_vpn_if_init",
    "mqtt_vpn_panic_hook",
];

fn work_dir(name: &str) -> PathBuf {
    let dir = target_dir().join("arduino-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

fn have(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

/// Runs the packaging script into a fresh directory; returns the zip.
fn package(dir: &Path) -> PathBuf {
    let zip = dir.join("mqtt_vpn_arduino.zip");
    run(Command::new("bash")
        .arg(repo_path("scripts/package-arduino.sh"))
        .arg(&zip));
    assert!(zip.exists(), "the script wrote no {}", zip.display());
    zip
}

/// The names in the zip, one per line.
fn zip_names(zip: &Path) -> String {
    let out = run(Command::new("unzip").arg("-Z1").arg(zip));
    String::from_utf8(out.stdout).expect("UTF-8 from unzip")
}

/// One member of the zip.
fn zip_member(zip: &Path, name: &str) -> Vec<u8> {
    run(Command::new("unzip").arg("-p").arg(zip).arg(name)).stdout
}

fn parse_properties(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {line:?}"));
            (key.trim().to_string(), value.trim().to_string())
        })
        .collect()
}

/// The C++ prototypes of the spec's Arduino section (`## Arduino` up to the
/// next `## `), one string each, comments removed.
fn spec_prototypes() -> Vec<String> {
    let spec = repo_path("docs/c-api.md");
    let text = support::code_blocks_of_section(
        &std::fs::read_to_string(&spec).expect("docs/c-api.md"),
        "Arduino",
    );
    strip_comments(&text)
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| s.contains('('))
        .collect()
}

/// `ret name(T1 a, T2, ...)` as (ret, name, [T1, T2, ...]).
fn split_prototype(proto: &str) -> (String, String, Vec<String>) {
    let (head, params) = proto.split_once('(').expect("a prototype");
    let params = params.trim_end().trim_end_matches(')');
    let name_at = head
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let ret = head[..name_at].trim().to_string();
    let name = head[name_at..].to_string();
    let types = params
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "void")
        .map(|p| {
            if p.ends_with('*') {
                return p.to_string();
            }
            match p.rfind([' ', '*']) {
                Some(i) => p[..=i].trim().to_string(),
                None => p.to_string(),
            }
        })
        .collect();
    (ret, name, types)
}

/// A C++ function per prototype that calls it with arguments of exactly the
/// spec's parameter types, keeps the result as the spec's return type (or,
/// for `void`, returns the call from a `void` function), and binds the name
/// to a pointer of exactly the prototype's function type.
fn calls_of(prototypes: &[String]) -> String {
    let mut source = String::from("#include <mqttif.h>\n\n");
    for (n, proto) in prototypes.iter().enumerate() {
        let (ret, name, types) = split_prototype(proto);
        let decls: String = types
            .iter()
            .enumerate()
            .map(|(i, t)| format!("  {t} a{i}{{}};\n"))
            .collect();
        let args = (0..types.len())
            .map(|i| format!("a{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let call = if ret == "void" {
            format!("  {name}({args});\n  return {name}({args});\n")
        } else {
            format!("  {ret} r = {name}({args});\n  (void)r;\n")
        };
        let pointer = format!(
            "{ret} (*const pointer_{n})({}) = {name};\n",
            types.join(", ")
        );
        source.push_str(&format!(
            "// {proto}\nvoid call_{n}() {{\n{decls}{call}}}\n{pointer}\n"
        ));
    }
    source
}

/// C text without its comments.
fn strip_comments(c: &str) -> String {
    let mut code = String::new();
    let mut rest = c;
    while let Some(start) = rest.find("/*") {
        code.push_str(&rest[..start]);
        rest = rest[start..]
            .split_once("*/")
            .map_or("", |(_, after)| after);
    }
    code.push_str(rest);
    code.lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names `include/mqttif.h` declares: (functions, enumerators, types).
fn c_header_names() -> (Vec<String>, Vec<String>, Vec<String>) {
    let header = std::fs::read_to_string(repo_path("include/mqttif.h")).unwrap();
    let code = strip_comments(&header);
    let identifiers = |text: &str| -> Vec<String> {
        text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut functions = Vec::new();
    for (before, _) in code.match_indices('(') {
        let head = &code[..before];
        let name = head
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        if name.starts_with("mqtt_") && !functions.iter().any(|f| f == name) {
            functions.push(name.to_string());
        }
    }
    let mut enumerators = Vec::new();
    for line in code.lines().map(str::trim) {
        if let Some((name, _)) = line.split_once(" = ") {
            if name.starts_with("MQTT_IF_") && !name.contains(' ') {
                enumerators.push(name.to_string());
            }
        }
    }
    let mut types = Vec::new();
    let words = identifiers(&code);
    for pair in words.windows(2) {
        if (pair[0] == "struct" || pair[0] == "enum")
            && pair[1].starts_with("mqtt_if_")
            && !types.contains(&pair[1])
        {
            types.push(pair[1].clone());
        }
    }
    (functions, enumerators, types)
}

fn gxx(dir: &Path) -> Command {
    let mut cmd = Command::new("g++");
    cmd.args(["-std=gnu++17", "-Wall", "-Wextra", "-Werror", "-DESP8266"])
        .arg("-I")
        .arg(repo_path("tests/arduino/stubs"))
        .arg("-I")
        .arg(repo_path(&format!("{LIBRARY}/src")))
        .arg("-I")
        .arg("/usr/include/lwip")
        .current_dir(dir);
    cmd
}

#[test]
fn the_zip_has_one_top_folder_with_properties_sources_and_examples() {
    let zip = package(&work_dir("layout"));
    let names = zip_names(&zip);
    let names: Vec<&str> = names.lines().collect();
    for name in &names {
        assert!(
            name.starts_with("mqtt_vpn_arduino/"),
            "{name} is outside the top folder"
        );
    }
    let mut wanted = vec![
        "mqtt_vpn_arduino/library.properties".to_string(),
        "mqtt_vpn_arduino/src/mqttif.h".to_string(),
        "mqtt_vpn_arduino/src/mqttif_c.h".to_string(),
        "mqtt_vpn_arduino/src/mqtt_vpn_netif.c".to_string(),
        "mqtt_vpn_arduino/src/mqtt_vpn_netif.h".to_string(),
        "mqtt_vpn_arduino/src/mqtt_vpn_transport.cpp".to_string(),
        "mqtt_vpn_arduino/src/esp8266/README.md".to_string(),
        "mqtt_vpn_arduino/src/esp32/README.md".to_string(),
    ];
    wanted.extend(SKETCHES.map(|s| format!("mqtt_vpn_arduino/examples/{s}/{s}.ino")));
    for want in &wanted {
        assert!(
            names.contains(&want.as_str()),
            "{want} missing from {names:#?}"
        );
    }
}

#[test]
fn the_library_s_shim_sources_are_relative_links_to_the_one_copy_in_shim() {
    for file in SHIM_FILES {
        let link = repo_path(&format!("{LIBRARY}/src/{file}"));
        let meta = std::fs::symlink_metadata(&link).unwrap();
        assert!(
            meta.file_type().is_symlink(),
            "{} is not a symbolic link to {SHIM}/{file}",
            link.display()
        );
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new(&format!("../../../{SHIM}/{file}")),
            "{} points elsewhere",
            link.display()
        );
        assert_eq!(
            link.canonicalize().unwrap(),
            repo_path(&format!("{SHIM}/{file}")).canonicalize().unwrap()
        );
    }
}

#[test]
fn the_zip_carries_the_shim_as_files_not_links() {
    let zip = package(&work_dir("shim-files"));
    // `unzip -Z` lists each member's mode first: `l...` for a link.
    let listing = run(Command::new("unzip").arg("-Z").arg(&zip)).stdout;
    let listing = String::from_utf8(listing).expect("UTF-8 from unzip");
    for line in listing.lines() {
        assert!(!line.starts_with('l'), "a link in the zip: {line}");
    }
    for file in SHIM_FILES {
        let member = zip_member(&zip, &format!("mqtt_vpn_arduino/src/{file}"));
        let shim = std::fs::read(repo_path(&format!("{SHIM}/{file}"))).unwrap();
        assert!(member == shim, "the zip's src/{file} is not {SHIM}/{file}");
    }
}

#[test]
fn the_zip_carries_the_generated_c_header_as_mqttif_c_h() {
    let zip = package(&work_dir("header-copy"));
    let header = zip_member(&zip, "mqtt_vpn_arduino/src/mqttif_c.h");
    let generated = std::fs::read(repo_path("include/mqttif.h")).unwrap();
    assert!(
        header == generated,
        "the zip's mqttif_c.h is not include/mqttif.h"
    );
}

#[test]
fn the_library_reads_the_generated_c_header_through_a_link_not_a_copy() {
    let path = repo_path(&format!("{LIBRARY}/src/mqttif_c.h"));
    let target = std::fs::read_link(&path).expect("mqttif_c.h is a symbolic link");
    assert_eq!(target, std::path::Path::new("../../../include/mqttif.h"));
    let through_link = std::fs::read(&path).unwrap();
    let generated = std::fs::read(repo_path("include/mqttif.h")).unwrap();
    assert!(
        through_link == generated,
        "the link does not reach include/mqttif.h"
    );
}

#[test]
fn library_properties_is_key_value_with_the_required_values() {
    let zip = package(&work_dir("properties"));
    let text = zip_member(&zip, "mqtt_vpn_arduino/library.properties");
    let props = parse_properties(&String::from_utf8(text).expect("UTF-8 library.properties"));
    for (key, value) in [
        ("name", "mqtt_vpn_arduino"),
        ("version", "0.1.0"),
        ("architectures", "esp8266,esp32"),
        ("precompiled", "true"),
        ("ldflags", "-lmqttvpn"),
        ("includes", "mqttif.h"),
    ] {
        assert_eq!(props.get(key).map(String::as_str), Some(value), "{key}");
    }
    for key in [
        "sentence",
        "paragraph",
        "category",
        "url",
        "author",
        "maintainer",
    ] {
        assert!(
            props.get(key).is_some_and(|v| !v.is_empty()),
            "{key} is missing or empty"
        );
    }
}

#[test]
fn every_arduino_call_of_the_doc_compiles_and_binds_to_a_pointer_of_its_exact_type() {
    let prototypes = spec_prototypes();
    assert!(
        prototypes.len() >= 19,
        "too few prototypes parsed: {prototypes:#?}"
    );
    let header = std::fs::read_to_string(repo_path(&format!("{LIBRARY}/src/mqttif.h"))).unwrap();
    for proto in &prototypes {
        let (_, name, _) = split_prototype(proto);
        assert!(
            header.contains(&name),
            "src/mqttif.h does not mention {name}"
        );
    }
    let dir = work_dir("spec-calls");
    let source = dir.join("spec_calls.cpp");
    std::fs::write(&source, calls_of(&prototypes)).unwrap();
    let object = dir.join("spec_calls.o");
    run(gxx(&dir).arg("-c").arg(&source).arg("-o").arg(&object));

    // IPAddress converts to uint32_t, so a call could compile against the C
    // form alone and skip the platform setup: the IPAddress overloads must
    // be the ones called.
    let symbols = run(Command::new("nm").arg("-C").arg(&object)).stdout;
    let symbols = String::from_utf8(symbols).expect("UTF-8 from nm");
    for proto in &prototypes {
        let (_, name, types) = split_prototype(proto);
        if !types.iter().any(|t| t == "IPAddress") {
            continue;
        }
        let found = symbols.lines().any(|line| {
            let Some(params) = line
                .split_once(&format!(" {name}("))
                .and_then(|(_, rest)| rest.strip_suffix(')'))
            else {
                return false;
            };
            let params: Vec<&str> = params.split(", ").collect();
            params.len() == types.len()
                && params
                    .iter()
                    .zip(&types)
                    .all(|(p, t)| (*p == "IPAddress") == (t == "IPAddress"))
        });
        assert!(found, "no IPAddress overload called for {proto}\n{symbols}");
    }
}

#[test]
fn every_name_of_the_c_header_is_reachable_from_a_sketch() {
    let (functions, enumerators, types) = c_header_names();
    assert!(functions.len() >= 40, "read only {functions:?}");
    assert!(enumerators.len() >= 18, "read only {enumerators:?}");
    assert!(types.len() >= 4, "read only {types:?}");
    let arduino: Vec<String> = spec_prototypes()
        .iter()
        .map(|proto| split_prototype(proto).1)
        .collect();
    let mut source = String::from("#include <mqttif.h>\n#include <type_traits>\n\n");
    for name in &functions {
        // The whole C ABI, qualified.
        source.push_str(&format!(
            "static_assert(std::is_function<decltype(mqtt_vpn_c::{name})>::value, \"{name}\");\n"
        ));
        // Unqualified as in C, unless the Arduino API has its own form.
        if !arduino.contains(name) && !C_ONLY.contains(&name.as_str()) {
            source.push_str(&format!(
                "static_assert(std::is_same<decltype(&{name}), decltype(&mqtt_vpn_c::{name})>::value, \"{name}\");\n"
            ));
        }
    }
    for name in &enumerators {
        source.push_str(&format!(
            "static_assert({name} == mqtt_vpn_c::{name}, \"{name}\");\n"
        ));
    }
    for name in &types {
        source.push_str(&format!(
            "static_assert(std::is_same<{name}, mqtt_vpn_c::{name}>::value, \"{name}\");\n"
        ));
    }
    let dir = work_dir("c-names");
    let file = dir.join("c_names.cpp");
    std::fs::write(&file, source).unwrap();
    run(gxx(&dir).arg("-fsyntax-only").arg(&file));
}

#[test]
fn the_netif_shim_compiles_for_the_esp8266_cpu() {
    let compiler = "xtensa-lx106-elf-gcc";
    if !have(compiler) {
        assert!(
            !in_ci(),
            "{compiler} missing in CI (scripts/install-deps.sh installs it)"
        );
        eprintln!("SKIPPED: {compiler} is not installed (apt-get install gcc-xtensa-lx106)");
        return;
    }
    let dir = work_dir("xtensa");
    // The shim from its one copy, with the Arduino library's mqttif.h.
    for ipv6 in ["0", "1"] {
        let object = dir.join(format!("mqtt_vpn_netif-ipv6-{ipv6}.o"));
        run(Command::new(compiler)
            .args(["-std=c99", "-Os", "-mlongcalls", "-ffreestanding"])
            .args(["-Wall", "-Wextra", "-Werror", "-c"])
            .arg(format!("-DMQTT_VPN_TEST_IPV6={ipv6}"))
            .arg("-I")
            .arg(repo_path("tests/arduino/xtensa"))
            .arg("-I")
            .arg("/usr/include/lwip")
            .arg("-I")
            .arg(repo_path(&format!("{LIBRARY}/src")))
            .arg(repo_path(&format!("{SHIM}/mqtt_vpn_netif.c")))
            .arg("-o")
            .arg(&object));
        assert!(object.exists(), "no {}", object.display());
    }
}

#[test]
fn the_example_sketches_compile_and_link_against_the_library() {
    let dir = work_dir("sketches");
    for sketch in SKETCHES {
        let ino = repo_path(&format!("{LIBRARY}/examples/{sketch}/{sketch}.ino"));
        compile_and_link_sketch(&dir, sketch, &ino, &[]);
    }
    // The transport leaves the platform table to the shim's one setup.
    let undefined = run(Command::new("nm")
        .arg("-u")
        .arg(dir.join("mqtt_vpn_transport.o")))
    .stdout;
    let undefined = String::from_utf8(undefined).expect("UTF-8 from nm");
    let used: Vec<&str> = undefined
        .lines()
        .filter_map(|line| line.split_whitespace().last())
        .collect();
    assert!(used.contains(&"mqtt_vpn_netif_register"), "{used:?}");
    for setup in ["mqtt_if_set_platform", "mqtt_vpn_netif_platform"] {
        assert!(
            !used.contains(&setup),
            "mqtt_vpn_transport.cpp calls {setup} itself: {used:?}"
        );
    }
}

/// The ESP8266 core's lwIP variants as its board menu sets them:
/// (variant, LWIP_FEATURES, LWIP_IPV6). Its lwipopts.h makes IP_NAPT
/// `LWIP_FEATURES && !LWIP_IPV6`; the stub `lwip/napt.h` does the same.
const LWIP_VARIANTS: [(&str, u8, u8); 3] = [
    ("v2 Lower Memory / Higher Bandwidth", 1, 0),
    ("v2 IPv6 Lower Memory / Higher Bandwidth", 1, 1),
    ("v2 Lower Memory / Higher Bandwidth (no features)", 0, 0),
];

#[test]
fn the_nat_example_builds_with_every_lwip_variant_and_says_at_start_why_nat_is_off() {
    let ino = repo_path(&format!("{LIBRARY}/examples/mqtt_vpn_nat/mqtt_vpn_nat.ino"));
    for (n, (variant, features, ipv6)) in LWIP_VARIANTS.into_iter().enumerate() {
        let dir = work_dir(&format!("nat-variant-{n}"));
        let exe = compile_and_link_sketch(
            &dir,
            "mqtt_vpn_nat",
            &ino,
            &[
                &format!("-DMQTT_VPN_TEST_LWIP_FEATURES={features}"),
                &format!("-DMQTT_VPN_TEST_LWIP_IPV6={ipv6}"),
            ],
        );
        // The stubs' main() runs setup() and one loop(); the serial port
        // and the NAPT calls print to stdout.
        let output = run(&mut Command::new(&exe));
        let said = String::from_utf8_lossy(&output.stdout).into_owned();
        let napt = features == 1 && ipv6 == 0;
        if napt {
            assert!(
                said.contains("ip_napt_init(") && said.contains("ip_napt_enable_no("),
                "{variant}: NAPT not turned on:\n{said}"
            );
            assert!(!said.contains("NAT off"), "{variant}:\n{said}");
        } else {
            let first = said.lines().next().unwrap_or("");
            assert!(
                first.starts_with("NAT off") && first.contains("no NAPT"),
                "{variant}: the first line does not say why NAT is off:\n{said}"
            );
            assert!(!said.contains("ip_napt"), "{variant}:\n{said}");
        }
    }
}

/// The drop-in sketches are compiled as the IDE's default warning level
/// lets them: `char *name = "..."` is what the original's users write.
const DROPIN_FLAGS: [&str; 1] = ["-Wno-write-strings"];

/// Sketches in the style of the original library's examples (the same
/// global names, among them `mqtt_vpn_addr` and `mqtt_vpn_target_addr`,
/// `char *` settings, the same calls): they compile and link unchanged.
#[test]
fn sketches_written_for_the_original_library_compile_and_link_unchanged() {
    let dir = work_dir("dropin");
    for sketch in ["telnet_like", "webserver_like", "nat_like"] {
        let ino = repo_path(&format!("tests/arduino/dropin/{sketch}/{sketch}.ino"));
        let source = std::fs::read_to_string(&ino).unwrap();
        assert!(
            source.contains("IPAddress mqtt_vpn_addr("),
            "{sketch} no longer names its address as the original's examples do"
        );
        compile_and_link_sketch(&dir, sketch, &ino, &DROPIN_FLAGS);
    }
}

/// The original's control functions return void: a sketch may return
/// their call from a void function and keep them in function pointers of
/// the original's types.
#[test]
fn a_sketch_using_the_control_functions_as_void_functions_compiles_and_links() {
    let dir = work_dir("dropin-void");
    let ino = repo_path("tests/arduino/dropin/console_like/console_like.ino");
    compile_and_link_sketch(&dir, "console_like", &ino, &DROPIN_FLAGS);
}

/// Compiles the library's sources, the stubs and `ino` as the IDE would
/// (`-include Arduino.h`, C++) with `flags`, and links them with the
/// host build of the library; returns the executable.
fn compile_and_link_sketch(dir: &Path, sketch: &str, ino: &Path, flags: &[&str]) -> PathBuf {
    let lib = host_staticlib();
    let src = repo_path(&format!("{LIBRARY}/src"));
    // src/mqtt_vpn_netif.c is the link to shim/, as the IDE finds it.
    run(Command::new("gcc")
        .args([
            "-std=c99",
            "-D_DEFAULT_SOURCE",
            "-Wall",
            "-Wextra",
            "-Werror",
        ])
        .arg("-DMQTT_VPN_NETIF_INPUT=ip_input")
        .arg("-I")
        .arg(&src)
        .arg("-I")
        .arg("/usr/include/lwip")
        .arg("-c")
        .arg(src.join("mqtt_vpn_netif.c"))
        .arg("-o")
        .arg(dir.join("mqtt_vpn_netif.o")));
    run(gxx(dir)
        .arg("-c")
        .arg(src.join("mqtt_vpn_transport.cpp"))
        .arg("-o")
        .arg(dir.join("mqtt_vpn_transport.o")));
    run(gxx(dir)
        .args(flags)
        .arg("-c")
        .arg(repo_path("tests/arduino/stubs/stubs.cpp"))
        .arg("-o")
        .arg(dir.join("stubs.o")));
    let object = dir.join(format!("{sketch}.o"));
    // The IDE adds `#include <Arduino.h>` to a sketch and compiles it as C++.
    run(gxx(dir)
        .args(flags)
        .args(["-x", "c++", "-include", "Arduino.h", "-c"])
        .arg(ino)
        .arg("-o")
        .arg(&object));
    let exe = dir.join(sketch);
    run(Command::new("g++")
        .arg("-o")
        .arg(&exe)
        .arg(&object)
        .args(["stubs.o", "mqtt_vpn_transport.o", "mqtt_vpn_netif.o"])
        .arg(&lib)
        .args(["-llwip", "-lpthread", "-ldl", "-lm"])
        .current_dir(dir));
    assert!(exe.exists(), "{sketch} did not link");
    exe
}

/// The ESP32 transport shares its transmit buffer between its own task and
/// lwIP's thread, which only the lwIP core lock keeps apart: without core
/// locking it must not build. (The race itself needs an ESP32 to show; this
/// checks the guard, by preprocessing the transport as arduino-esp32 would.)
#[test]
fn the_esp32_transport_refuses_to_build_without_lwip_core_locking() {
    let dir = work_dir("esp32-locking");
    let preprocess = |locking: u8| {
        Command::new("g++")
            .args(["-std=gnu++17", "-E", "-o", "/dev/null", "-DESP32"])
            .arg(format!("-DMQTT_VPN_TEST_CORE_LOCKING={locking}"))
            .arg("-I")
            .arg(repo_path("tests/arduino/stubs-esp32"))
            .arg("-I")
            .arg(repo_path("tests/esp_idf/stubs"))
            .arg("-I")
            .arg(repo_path("tests/arduino/stubs"))
            .arg("-I")
            .arg(repo_path(&format!("{LIBRARY}/src")))
            .arg("-I")
            .arg("/usr/include/lwip")
            .arg(repo_path(&format!("{LIBRARY}/src/mqtt_vpn_transport.cpp")))
            .current_dir(&dir)
            .output()
            .expect("run g++")
    };
    let with_lock = preprocess(1);
    assert!(
        with_lock.status.success(),
        "with core locking it preprocesses: {}",
        String::from_utf8_lossy(&with_lock.stderr)
    );
    let without = preprocess(0);
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(
        !without.status.success() && stderr.contains("needs lwIP core locking"),
        "without core locking it must stop with a reason: {stderr}"
    );
}
