//! `docs/c-api.md` is the C API the project promises: every prototype in
//! its "C ABI" section is declared, as written, by the generated header
//! `include/mqttif.h`, and every function, result code and platform
//! callback the header declares is on the page.

mod support;

use std::collections::BTreeMap;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// C text without comments, preprocessor lines and blocks (struct bodies).
fn declarations(c: &str) -> String {
    let mut out = String::new();
    let mut rest = c;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start..]
            .split_once("*/")
            .map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    let mut depth = 0;
    out.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        // The C++ guard's braces (`extern "C" {` ... `}`) enclose everything.
        .filter(|l| !l.contains("extern \"C\"") && l.trim() != "}")
        .flat_map(|l| l.chars().chain(['\n']))
        .filter(|&c| {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            depth == 0 && c != '}'
        })
        .collect()
}

/// Function prototypes by name, whitespace normalised.
fn prototypes(c: &str) -> BTreeMap<String, String> {
    declarations(c)
        .split(';')
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|d| d.contains('(') && !d.contains("(*") && !d.starts_with("typedef"))
        .filter_map(|d| {
            let head = d.split('(').next()?;
            let name = head.split([' ', '*']).next_back()?.to_string();
            name.starts_with("mqtt_").then_some((name, d))
        })
        .collect()
}

#[test]
fn every_prototype_on_the_page_is_the_headers() {
    let header = prototypes(&read("include/mqttif.h"));
    let page = prototypes(&support::code_blocks_of_section(
        &read("docs/c-api.md"),
        "C ABI",
    ));
    assert!(
        page.len() >= 40,
        "read only {} prototypes from the page",
        page.len()
    );
    for (name, proto) in &page {
        assert_eq!(
            header.get(name),
            Some(proto),
            "{name}: the page and include/mqttif.h disagree"
        );
    }
}

#[test]
fn every_function_of_the_header_is_on_the_page() {
    let header = prototypes(&read("include/mqttif.h"));
    let page = prototypes(&support::code_blocks_of_section(
        &read("docs/c-api.md"),
        "C ABI",
    ));
    let missing: Vec<_> = header.keys().filter(|n| !page.contains_key(*n)).collect();
    assert!(
        header.len() >= 40,
        "read only {} prototypes from the header",
        header.len()
    );
    assert!(
        missing.is_empty(),
        "not documented in docs/c-api.md: {missing:?}"
    );
}

/// The text of `header` from `start` up to the first `end` after it.
fn between<'a>(header: &'a str, start: &str, end: &str) -> &'a str {
    let from = header
        .find(start)
        .unwrap_or_else(|| panic!("no `{start}` in the header"));
    let rest = &header[from..];
    &rest[..rest.find(end).unwrap_or_else(|| panic!("no `{end}`"))]
}

#[test]
fn every_result_code_is_on_the_page_with_its_number() {
    let header = read("include/mqttif.h");
    let page = read("docs/c-api.md");
    let codes: Vec<(String, String)> = between(&header, "enum mqtt_if_result", "};")
        .lines()
        .filter_map(|line| {
            let (name, value) = line.trim().trim_end_matches(',').split_once(" = ")?;
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    assert!(codes.len() >= 18, "read only {codes:?}");
    for (name, value) in &codes {
        assert!(
            page.contains(&format!("| `{name}` | {value} |")),
            "docs/c-api.md has no row `{name}` | {value} in its result codes"
        );
    }
}

#[test]
fn every_platform_callback_is_on_the_page() {
    let header = read("include/mqttif.h");
    let page = read("docs/c-api.md");
    let fields: Vec<&str> = between(
        &header,
        "typedef struct mqtt_if_platform {",
        "} mqtt_if_platform;",
    )
    .split("(*")
    .skip(1)
    .filter_map(|rest| rest.split_once(')').map(|(name, _)| name))
    .collect();
    assert!(fields.len() >= 13, "read only {fields:?}");
    for field in fields {
        assert!(
            page.contains(&format!("| `{field}` |")),
            "docs/c-api.md does not describe the platform callback {field}"
        );
    }
}
