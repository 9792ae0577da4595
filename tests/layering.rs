//! Keeps STYLE.md's layer table true: a file's folder under `src/` decides which crates and
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! which of Roster's own modules it may name. Fails on the first forbidden reference.

use std::fs;
use std::path::{Path, PathBuf};

struct Layer {
    dir: &'static str,
    /// `None`: any of the crate's dependencies; `Some(list)`: only these.
    crates_allowed: Option<&'static [&'static str]>,
    crates_forbidden: &'static [&'static str],
    /// Roster modules this layer may not name (`crate::X`).
    modules_forbidden: &'static [&'static str],
}

const LAYERS: &[Layer] = &[
    Layer {
        dir: "grammar",
        crates_allowed: Some(&["nom", "proptest"]),
        crates_forbidden: &[],
        modules_forbidden: &[
            "scim",
            "engine",
            "store",
            "auth",
            "http",
            "cli",
            "config",
            "startup",
            "telemetry",
            "clock",
        ],
    },
    Layer {
        dir: "scim",
        crates_allowed: None,
        crates_forbidden: &["sqlx", "actix_web", "actix_http", "actix_rt", "tokio"],
        modules_forbidden: &["engine", "store", "auth", "http", "cli", "startup"],
    },
    Layer {
        dir: "engine",
        crates_allowed: None,
        crates_forbidden: &["sqlx", "actix_web", "actix_http", "actix_rt"],
        modules_forbidden: &["http", "cli", "startup", "store::sqlite", "store::postgres"],
    },
    Layer {
        dir: "store",
        crates_allowed: None,
        crates_forbidden: &["actix_web", "actix_http", "actix_rt"],
        modules_forbidden: &["engine", "http", "auth", "cli", "startup"],
    },
    Layer {
        dir: "auth",
        crates_allowed: None,
        crates_forbidden: &["sqlx", "actix_web", "actix_http", "actix_rt"],
        modules_forbidden: &["http", "store", "engine", "cli", "startup"],
    },
    Layer {
        dir: "http",
        crates_allowed: None,
        crates_forbidden: &["sqlx"],
        modules_forbidden: &["store", "cli", "startup"],
    },
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The crate names of every dependency in Cargo.toml, `-` written as `_`.
fn dependencies() -> Vec<String> {
    let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line.ends_with("dependencies]");
            continue;
        }
        if !in_deps || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, _)) = line.split_once('=') {
            names.push(name.trim().replace('-', "_"));
        }
    }
    names
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Does `code` name `path` as the start of a Rust path (`path::`), not as part of a
/// longer identifier?
fn names(code: &str, path: &str) -> bool {
    let needle = format!("{path}::");
    code.match_indices(&needle).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        !matches!(before, Some(c) if c.is_alphanumeric() || c == '_' || c == ':')
    }) || code.contains(&format!("use {path};"))
}

fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(n, line)| {
        let code = line.split("//").next().unwrap_or("");
        (!code.trim().is_empty()).then_some((n + 1, code))
    })
}

#[test]
fn layers_only_use_what_style_md_allows() {
    let deps = dependencies();
    assert!(
        deps.iter().any(|d| d == "nom"),
        "Cargo.toml was not read: {deps:?}"
    );
    let mut problems = Vec::new();
    for layer in LAYERS {
        let mut files = Vec::new();
        rust_files(&root().join("src").join(layer.dir), &mut files);
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            let shown = file
                .strip_prefix(root())
                .unwrap_or(&file)
                .display()
                .to_string();
            for (n, code) in code_lines(&text) {
                for dep in &deps {
                    let allowed = layer
                        .crates_allowed
                        .is_none_or(|list| list.contains(&dep.as_str()));
                    let forbidden = !allowed || layer.crates_forbidden.contains(&dep.as_str());
                    if forbidden && names(code, dep) {
                        problems.push(format!(
                            "{shown}:{n}: {} may not use crate {dep}",
                            layer.dir
                        ));
                    }
                }
                for module in layer.modules_forbidden {
                    if names(code, &format!("crate::{module}")) {
                        problems.push(format!(
                            "{shown}:{n}: {} may not use crate::{module}",
                            layer.dir
                        ));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering violations:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_catches_a_forbidden_reference() {
    assert!(names("use sqlx::query;", "sqlx"));
    assert!(names(
        "    let x = crate::store::sqlite::open();",
        "crate::store::sqlite"
    ));
    assert!(!names("use my_sqlx::query;", "sqlx"));
    assert!(!names("use crate::grammar::parse_filter;", "crate::store"));
}
