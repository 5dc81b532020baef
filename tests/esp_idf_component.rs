//! The ESP-IDF component in `esp-idf/components/mqtt_vpn`: its transport
//! compiles warning-free against ESP-IDF declaration stubs
//! (`tests/esp_idf/stubs`) and Debian's lwIP headers, code written for the
//! ESP32 C API of `docs/c-api.md` (`mqtt_vpn_if_init` with
//! `ip4_addr_t` addresses) compiles unchanged and links with the host build
//! of the library, and `CMakeLists.txt` registers the sources (the netif
//! shim from the repository's `shim/`, the one copy the Arduino library
//! links to) and the prebuilt archive. Nothing here runs on a chip or runs
//! the task.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{host_staticlib, repo_path, run, target_dir};

const COMPONENT: &str = "esp-idf/components/mqtt_vpn";
const SHIM: &str = "shim";
/// The C ABI header, `mqttif.h`.
const C_ABI: &str = "include";
const STUBS: &str = "tests/esp_idf/stubs";

fn work_dir(name: &str) -> PathBuf {
    let dir = target_dir().join("esp-idf-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// gcc as the component is compiled on the host: gnu11, warnings are
/// errors, the stubs before Debian's lwIP headers.
fn gcc() -> Command {
    let mut cmd = Command::new("gcc");
    cmd.args([
        "-std=gnu11",
        "-D_DEFAULT_SOURCE",
        "-Wall",
        "-Wextra",
        "-Werror",
    ]);
    // The component's INCLUDE_DIRS, as CMakeLists.txt names them.
    for dir in [STUBS, &format!("{COMPONENT}/include"), SHIM, C_ABI] {
        cmd.arg("-I").arg(repo_path(dir));
    }
    cmd.arg("-I").arg("/usr/include/lwip");
    cmd
}

fn compile(source: &Path, object: &Path, extra: &[&str]) {
    run(gcc()
        .args(extra)
        .arg("-c")
        .arg(source)
        .arg("-o")
        .arg(object));
}

/// The global symbols an object file uses but does not define.
fn undefined_symbols(object: &Path) -> Vec<String> {
    let out = run(Command::new("nm").arg("-u").arg(object)).stdout;
    String::from_utf8(out)
        .expect("UTF-8 from nm")
        .lines()
        .filter_map(|line| line.split_whitespace().last().map(str::to_string))
        .collect()
}

#[test]
fn the_transport_compiles_without_warnings_against_the_esp_idf_stubs() {
    let dir = work_dir("transport");
    let object = dir.join("mqtt_vpn_idf.o");
    compile(
        &repo_path(&format!("{COMPONENT}/mqtt_vpn_idf.c")),
        &object,
        &[],
    );
    let used = undefined_symbols(&object);
    for call in [
        // The shim's platform setup (it calls mqtt_if_set_platform).
        "mqtt_vpn_netif_register",
        "mqtt_vpn_if_init",
        "mqtt_if_tick",
        "mqtt_if_tcp_received",
        "mqtt_if_tcp_connected",
        "mqtt_if_tcp_closed",
        "tcpip_api_call",
        "esp_timer_get_time",
        "esp_fill_random",
        "esp_restart",
        "xTaskCreate",
    ] {
        assert!(
            used.iter().any(|s| s == call),
            "mqtt_vpn_idf.c does not call {call}: {used:?}"
        );
    }
    // The platform table is filled in once, by the shim.
    for setup in ["mqtt_if_set_platform", "mqtt_vpn_netif_platform"] {
        assert!(
            !used.iter().any(|s| s == setup),
            "mqtt_vpn_idf.c calls {setup} itself instead of mqtt_vpn_netif_register"
        );
    }
}

#[test]
fn code_calling_the_spec_init_with_ip4_addr_t_compiles_and_links_with_the_library() {
    let lib = host_staticlib();
    let dir = work_dir("link");
    let objects = [
        (format!("{COMPONENT}/mqtt_vpn_idf.c"), "mqtt_vpn_idf.o"),
        (format!("{SHIM}/mqtt_vpn_netif.c"), "mqtt_vpn_netif.o"),
        (format!("{STUBS}/stubs.c"), "stubs.o"),
        ("tests/esp_idf/app_main.c".to_string(), "app_main.o"),
    ];
    for (source, object) in &objects {
        compile(&repo_path(source), &dir.join(object), &[]);
    }
    // The ip4_addr_t call must reach the component's function, never the
    // Rust symbol with uint32_t parameters.
    let used = undefined_symbols(&dir.join("app_main.o"));
    assert!(used.iter().any(|s| s == "mqtt_vpn_idf_if_init"), "{used:?}");
    assert!(!used.iter().any(|s| s == "mqtt_vpn_if_init"), "{used:?}");
    assert!(
        used.iter()
            .any(|s| s == "mqtt_if_add_wildcard_reading_topic"),
        "{used:?}"
    );
    let exe = dir.join("app");
    run(Command::new("gcc")
        .arg("-o")
        .arg(&exe)
        .args(objects.iter().map(|(_, object)| dir.join(object)))
        .arg(&lib)
        .args(["-llwip", "-lpthread", "-ldl", "-lm"]));
    assert!(exe.exists(), "the example did not link");
}

#[test]
fn the_readme_example_compiles_against_the_component_header() {
    let readme = std::fs::read_to_string(repo_path(&format!("{COMPONENT}/README.md"))).unwrap();
    let example = readme
        .split("```c\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README.md has a ```c example");
    assert!(example.contains("mqtt_vpn_if_init("), "{example}");
    assert!(
        example.contains("mqtt_if_add_wildcard_reading_topic(mq)"),
        "{example}"
    );
    let dir = work_dir("readme");
    let source = dir.join("example.c");
    // ESP-IDF declares app_main in its startup code; -Wextra wants a
    // prototype here.
    std::fs::write(&source, format!("void app_main(void);\n{example}")).unwrap();
    compile(&source, &dir.join("example.o"), &[]);
}

#[test]
fn the_rust_init_stays_callable_by_its_parenthesised_name_or_without_the_macro() {
    let dir = work_dir("rust-init");
    let call = "(mqtt_vpn_if_init)(\"mqtt://b\", 0, 0, 0, 0, 0x0201000au, 0x00ffffffu, 0u)";
    let source = dir.join("direct.c");
    std::fs::write(
        &source,
        format!(
            "#include \"mqtt_vpn_idf.h\"\n\
             mqtt_if_data *direct(void);\n\
             mqtt_if_data *direct(void) {{ return {call}; }}\n\
             mqtt_if_data *plain(void);\n\
             #undef mqtt_vpn_if_init\n\
             mqtt_if_data *plain(void) {{ return mqtt_vpn_if_init(\"mqtt://b\", 0, 0, 0, 0, 1u, 2u, 3u); }}\n"
        ),
    )
    .unwrap();
    let object = dir.join("direct.o");
    compile(&source, &object, &[]);
    let used = undefined_symbols(&object);
    assert!(used.iter().any(|s| s == "mqtt_vpn_if_init"), "{used:?}");
    assert!(
        !used.iter().any(|s| s == "mqtt_vpn_idf_if_init"),
        "{used:?}"
    );

    // With MQTT_VPN_IDF_NO_COMPAT the name is the Rust function's.
    let source = dir.join("no_compat.c");
    std::fs::write(
        &source,
        "#include \"mqtt_vpn_idf.h\"\n\
         mqtt_if_data *plain(void);\n\
         mqtt_if_data *plain(void) { return mqtt_vpn_if_init(\"mqtt://b\", 0, 0, 0, 0, 1u, 2u, 3u); }\n",
    )
    .unwrap();
    let object = dir.join("no_compat.o");
    compile(&source, &object, &["-DMQTT_VPN_IDF_NO_COMPAT"]);
    let used = undefined_symbols(&object);
    assert_eq!(used, ["mqtt_vpn_if_init"]);
}

/// `NAME(args)` calls of a CMakeLists.txt: comments dropped, arguments
/// split on whitespace outside quotes, quotes removed, `${VAR}` of `set()`
/// expanded.
fn cmake_calls(text: &str) -> Vec<(String, Vec<String>)> {
    let code: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut calls = Vec::new();
    let mut vars: HashMap<String, String> = HashMap::new();
    let mut rest = code.as_str();
    while let Some(open) = rest.find('(') {
        let name = rest[..open]
            .split_whitespace()
            .last()
            .unwrap_or("")
            .to_string();
        let close = rest[open..].find(')').expect("a closing parenthesis") + open;
        let mut args = Vec::new();
        let mut current = String::new();
        let mut quoted = false;
        for c in rest[open + 1..close].chars() {
            match c {
                '"' => quoted = !quoted,
                c if c.is_whitespace() && !quoted => {
                    if !current.is_empty() {
                        args.push(std::mem::take(&mut current));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            args.push(current);
        }
        let args: Vec<String> = args
            .into_iter()
            .map(|arg| {
                vars.iter().fold(arg, |arg, (var, value)| {
                    arg.replace(&format!("${{{var}}}"), value)
                })
            })
            .collect();
        if name == "set" && args.len() == 2 {
            vars.insert(args[0].clone(), args[1].clone());
        }
        calls.push((name, args));
        rest = &rest[close + 1..];
    }
    calls
}

/// The values after `keyword` up to the next all-caps keyword.
fn keyword_values<'a>(args: &'a [String], keyword: &str) -> Vec<&'a str> {
    let is_keyword = |a: &str| {
        !a.is_empty()
            && a.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            && !a.starts_with('$')
    };
    args.iter()
        .skip_while(|a| a.as_str() != keyword)
        .skip(1)
        .take_while(|a| !is_keyword(a))
        .map(String::as_str)
        .collect()
}

#[test]
fn cmake_lists_registers_the_transport_the_shared_shim_and_the_prebuilt_archive() {
    let component = repo_path(COMPONENT);
    let text = std::fs::read_to_string(component.join("CMakeLists.txt")).unwrap();
    let calls = cmake_calls(&text);
    let args_of = |name: &str| {
        calls
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, args)| args.clone())
            .unwrap_or_else(|| panic!("no {name}() in CMakeLists.txt: {calls:?}"))
    };

    let register = args_of("idf_component_register");
    let srcs = keyword_values(&register, "SRCS");
    assert_eq!(srcs.len(), 2, "{srcs:?}");
    assert!(srcs.contains(&"mqtt_vpn_idf.c"), "{srcs:?}");
    let shim = srcs
        .iter()
        .find(|s| s.ends_with("mqtt_vpn_netif.c"))
        .expect("the netif shim in SRCS");
    // One copy of the shim: the path leads to the repository's shim/,
    // never into the Arduino library.
    assert_eq!(
        component.join(shim).canonicalize().unwrap(),
        repo_path(&format!("{SHIM}/mqtt_vpn_netif.c"))
            .canonicalize()
            .unwrap()
    );
    assert!(
        !text.contains("arduino"),
        "CMakeLists.txt still names the Arduino library:\n{text}"
    );
    for src in &srcs {
        assert!(component.join(src).exists(), "{src} does not exist");
    }
    let includes = keyword_values(&register, "INCLUDE_DIRS");
    assert!(includes.contains(&"include"), "{includes:?}");
    for dir in &includes {
        assert!(component.join(dir).is_dir(), "{dir} is not a directory");
    }
    assert!(
        includes
            .iter()
            .any(|dir| component.join(dir).join("mqtt_vpn_netif.h").exists()),
        "no INCLUDE_DIRS entry holds mqtt_vpn_netif.h: {includes:?}"
    );
    assert!(
        includes
            .iter()
            .any(|dir| component.join(dir).join("mqttif.h").exists()),
        "no INCLUDE_DIRS entry holds mqttif.h: {includes:?}"
    );
    let requires = keyword_values(&register, "REQUIRES");
    for want in ["lwip", "freertos", "esp_hw_support"] {
        assert!(
            requires.contains(&want),
            "REQUIRES lacks {want}: {requires:?}"
        );
    }

    assert_eq!(
        args_of("add_prebuilt_library"),
        ["mqttvpn", "lib/${IDF_TARGET}/libmqttvpn.a"]
    );
    assert_eq!(
        args_of("target_link_libraries"),
        ["${COMPONENT_LIB}", "INTERFACE", "mqttvpn"]
    );
}
