//! Keeps STYLE.md's layer table ("The house") true: a file's folder under `src/` decides
//! which crates and which of Roster's own modules it may name, in `use` trees and in paths
//! written inline. Every violation is reported at once, with its file and line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Which names a layer may use: only those listed, or all but those listed.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Only(&'static [&'static str]),
    Not(&'static [&'static str]),
}

impl Rule {
    fn names(self) -> &'static [&'static str] {
        match self {
            Rule::Only(list) | Rule::Not(list) => list,
        }
    }

    /// The listed entry `path` starts with, compared segment by segment (`store` covers
    /// `store::Tx`, not `store_x`).
    fn entry_for(self, path: &[String]) -> Option<&'static str> {
        self.names().iter().copied().find(|entry| {
            let entry: Vec<&str> = entry.split("::").collect();
            path.len() >= entry.len() && entry.iter().zip(path).all(|(e, p)| e == p)
        })
    }
}

struct Layer {
    /// The folder under `src/`; `src/<dir>.rs`, if the module's root lives there, counts too.
    dir: &'static str,
    /// Extern crates, `-` written `_`. `std`, `core` and `alloc` are always allowed.
    crates: Rule,
    /// Roster's own modules, as paths below `crate` (`store::dialect`). A layer may always
    /// name its own module.
    modules: Rule,
}

/// Every crate of the actix family in Cargo.toml; a test checks that none is missing here.
const ACTIX: [&str; 3] = ["actix_web", "tracing_actix_web", "actix_multipart"];

/// The table's "never" column; for `grammar/` its "may use" column, since it may use nothing
/// else. Each comment quotes the row.
const LAYERS: &[Layer] = &[
    // grammar/: may use std, nom; never anything else in the crate, serde, sqlx, actix.
    // proptest is a dev-dependency, so only the grammar's tests can name it.
    Layer {
        dir: "grammar",
        crates: Rule::Only(&["nom", "proptest"]),
        modules: Rule::Only(&[]),
    },
    // scim/: may use grammar, serde, chrono; never sqlx, actix, engine, store. Nor auth or
    // http, which are not in its "may use" either, nor the composition root.
    Layer {
        dir: "scim",
        crates: Rule::Not(&[
            "sqlx",
            "sqlx_core",
            "rusqlite",
            ACTIX[0],
            ACTIX[1],
            ACTIX[2],
            "maud",
        ]),
        modules: Rule::Not(&["engine", "store", "auth", "http", "cli", "startup"]),
    },
    // engine/: never actix, HTTP types, sqlx (nor sqlx_core, nor rusqlite, the SQLite
    // writer's own driver), the SQLite/Postgres adapters. HTTP types are
    // actix's and `http/`'s; both backends share one code path through sqlx's Any driver
    // but for `store::dialect`, which is all there is of the adapters.
    Layer {
        dir: "engine",
        crates: Rule::Not(&[
            "sqlx",
            "sqlx_core",
            "rusqlite",
            ACTIX[0],
            ACTIX[1],
            ACTIX[2],
            "maud",
        ]),
        modules: Rule::Not(&["http", "store::dialect", "cli", "startup"]),
    },
    // store/: may use sqlx, scim value types, clock; never engine, http, actix. Not grammar
    // either: the filter compiler takes scim's query types (which re-export the comparison
    // operator), so the store depends on one layer above it, not two.
    Layer {
        dir: "store",
        crates: Rule::Not(&[ACTIX[0], ACTIX[1], ACTIX[2], "maud"]),
        modules: Rule::Not(&["engine", "http", "grammar", "auth", "cli", "startup"]),
    },
    // auth/: may use jsonwebtoken, clock; never actix, sqlx. So neither the layers that
    // call it (engine, http) nor store, nor the composition root.
    Layer {
        dir: "auth",
        crates: Rule::Not(&[
            "sqlx",
            "sqlx_core",
            "rusqlite",
            ACTIX[0],
            ACTIX[1],
            ACTIX[2],
            "maud",
        ]),
        modules: Rule::Not(&["engine", "store", "http", "cli", "startup"]),
    },
    // http/: never sqlx, store. (HTML, `maud`, is the console's, in http/ only: the other
    // layers ban it with actix.)
    Layer {
        dir: "http",
        crates: Rule::Not(&["sqlx", "sqlx_core", "rusqlite"]),
        modules: Rule::Not(&["store", "cli", "startup"]),
    },
];

/// The composition root and leaves at the top of `src/`, plus `lib.rs`.
const ROOT_FILES: &[&str] = &[
    "cli.rs",
    "config.rs",
    "startup.rs",
    "telemetry.rs",
    "clock.rs",
    "main.rs",
    "lib.rs",
];

const ALWAYS_ALLOWED: &[&str] = &["std", "core", "alloc"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn src() -> PathBuf {
    root().join("src")
}

/// The crate names of every dependency in Cargo.toml, `-` written as `_`.
fn dependencies() -> BTreeSet<String> {
    let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut names = BTreeSet::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line.ends_with("dependencies]");
            continue;
        }
        if !in_deps || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((key, _)) = line.split_once('=') {
            let name = key.split('.').next().unwrap_or(key);
            names.insert(name.trim().replace('-', "_"));
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

/// The module a file under `src/` holds: `src/engine/seats.rs` is `engine::seats`,
/// `src/http/admin/mod.rs` is `http::admin`.
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).unwrap().with_extension("");
    let mut module: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if module.last().is_some_and(|m| m == "mod") {
        module.pop();
    }
    module
}

fn shown(file: &Path) -> String {
    file.strip_prefix(root())
        .unwrap_or(file)
        .display()
        .to_string()
}

// ---------------------------------------------------------------------------------------
// The scanner: a lexer that drops comments and literals, then the paths in what is left.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The tokens of Rust source, without comments (doc comments included), string, raw string,
/// byte string, char and number literals. Lines count from 1.
fn lex(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while let Some(c) = at(i) {
        let next = at(i + 1);
        let mut push = |tok: Tok| out.push(Token { tok, line });
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            '/' if next == Some('/') => {
                while at(i).is_some_and(|c| c != '\n') {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                // Block comments nest.
                let mut depth = 0;
                loop {
                    match (at(i), at(i + 1)) {
                        (Some('/'), Some('*')) => {
                            depth += 1;
                            i += 2;
                        }
                        (Some('*'), Some('/')) => {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        (Some(c), _) => {
                            if c == '\n' {
                                line += 1;
                            }
                            i += 1;
                        }
                        (None, _) => break,
                    }
                }
            }
            '"' => i = skip_string(&chars, i + 1, &mut line),
            '\'' => {
                if next == Some('\\') {
                    // An escaped char: skip the escape, then to the closing quote.
                    i += 3;
                    while at(i).is_some_and(|c| c != '\'') {
                        i += 1;
                    }
                    i += 1;
                } else if at(i + 2) == Some('\'') {
                    i += 3;
                } else {
                    // A lifetime or a label: its name lexes as an identifier, harmlessly.
                    i += 1;
                }
            }
            c if c.is_ascii_digit() => {
                while at(i).is_some_and(is_ident_continue) {
                    i += 1;
                }
            }
            c if is_ident_start(c) => {
                let start = i;
                while at(i).is_some_and(is_ident_continue) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut hashes = 0;
                while at(i + hashes) == Some('#') {
                    hashes += 1;
                }
                let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
                if raw_prefix && at(i + hashes) == Some('"') {
                    i = skip_raw_string(&chars, i + hashes + 1, hashes, &mut line);
                } else if word == "r" && hashes == 1 && at(i + 1).is_some_and(is_ident_start) {
                    // A raw identifier, `r#name`.
                    let start = i + 1;
                    i = start;
                    while at(i).is_some_and(is_ident_continue) {
                        i += 1;
                    }
                    push(Tok::Ident(chars[start..i].iter().collect()));
                } else if matches!(word.as_str(), "b" | "c") && at(i) == Some('"') {
                    i = skip_string(&chars, i + 1, &mut line);
                } else if word == "b" && at(i) == Some('\'') {
                    // A byte char: the quote is handled on the next turn.
                } else {
                    push(Tok::Ident(word));
                }
            }
            ':' if next == Some(':') => {
                push(Tok::PathSep);
                i += 2;
            }
            c => {
                if !c.is_whitespace() {
                    push(match c {
                        '{' => Tok::Open,
                        '}' => Tok::Close,
                        ',' => Tok::Comma,
                        ';' => Tok::Semi,
                        '*' => Tok::Star,
                        c => Tok::Punct(c),
                    });
                }
                i += 1;
            }
        }
    }
    out
}

/// From just after an opening `"` to just after its closing one.
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => {
                if chars.get(i + 1) == Some(&'\n') {
                    *line += 1;
                }
                i += 2;
            }
            '"' => return i + 1,
            c => {
                if c == '\n' {
                    *line += 1;
                }
                i += 1;
            }
        }
    }
    i
}

/// From just after the opening `"` of `r##"` to just after its closing `"##`.
fn skip_raw_string(chars: &[char], mut i: usize, hashes: usize, line: &mut usize) -> usize {
    while let Some(&c) = chars.get(i) {
        if c == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        if c == '\n' {
            *line += 1;
        }
        i += 1;
    }
    i
}

/// A path as written, with the module it was written in. A leading `::` is the segment
/// `"::"`.
#[derive(Debug, Clone, PartialEq)]
struct Written {
    line: usize,
    module: Vec<String>,
    path: Vec<String>,
}

impl Written {
    fn text(&self) -> String {
        match self.path.split_first() {
            Some((first, rest)) if first == "::" => format!("::{}", rest.join("::")),
            _ => self.path.join("::"),
        }
    }
}

fn ident(tokens: &[Token], i: usize) -> Option<&str> {
    match tokens.get(i).map(|t| &t.tok) {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

fn is(tokens: &[Token], i: usize, tok: &Tok) -> bool {
    tokens.get(i).is_some_and(|t| &t.tok == tok)
}

/// Every path in `src`, a file holding `module`: each leaf of each `use` tree (`pub use`
/// and `pub(crate) use` alike), `extern crate`, and every path of two or more segments
/// written inline (`crate::store::Tx`, `sqlx::query(..)`, `::sqlx::Row`). Inline `mod name {
/// .. }` blocks extend the module, so `super::` inside them resolves as rustc does.
fn paths(src: &str, module: &[String]) -> Vec<Written> {
    let tokens = lex(src);
    let mut out = Vec::new();
    let mut depth = 0usize;
    // Inline modules: name and the brace depth inside them.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        let prev = i.checked_sub(1).and_then(|p| tokens.get(p)).map(|t| &t.tok);
        let here: Vec<String> = module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(name, _)| name.clone()))
            .collect();
        match &token.tok {
            Tok::Open => {
                depth += 1;
                i += 1;
            }
            Tok::Close => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Tok::Ident(word) if word == "mod" && is(&tokens, i + 2, &Tok::Open) => {
                if let Some(name) = ident(&tokens, i + 1) {
                    inline.push((name.to_string(), depth + 1));
                }
                i += 2;
            }
            // `use<'a>` is precise capturing, not an import.
            Tok::Ident(word) if word == "use" && !is(&tokens, i + 1, &Tok::Punct('<')) => {
                let mut leaves = Vec::new();
                i = use_tree(&tokens, i + 1, Vec::new(), true, &mut leaves);
                for (line, path) in leaves {
                    out.push(Written {
                        line,
                        module: here.clone(),
                        path,
                    });
                }
            }
            Tok::Ident(word) if word == "crate" && prev == Some(&Tok::Ident("extern".into())) => {
                if let Some(name) = ident(&tokens, i + 1).filter(|n| *n != "self") {
                    out.push(Written {
                        line: token.line,
                        module: here.clone(),
                        path: vec!["::".into(), name.into()],
                    });
                }
                i += 2;
            }
            Tok::Ident(_) | Tok::PathSep => {
                let starts = match &token.tok {
                    // `a::b` starts a path unless it continues one or is a method
                    // (`x.collect::<..>`).
                    Tok::Ident(_) => {
                        is(&tokens, i + 1, &Tok::PathSep)
                            && !matches!(prev, Some(Tok::PathSep) | Some(Tok::Punct('.')))
                    }
                    // A leading `::` names an extern crate; after a name or `>` it continues
                    // a path (`Vec::<u8>::new`, `<T as Trait>::f`).
                    _ => !matches!(prev, Some(Tok::Ident(_)) | Some(Tok::Punct('>'))),
                };
                if !starts {
                    i += 1;
                    continue;
                }
                let mut path = Vec::new();
                let mut j = i;
                if token.tok == Tok::PathSep {
                    path.push("::".to_string());
                    j += 1;
                }
                while let Some(name) = ident(&tokens, j) {
                    path.push(name.to_string());
                    if is(&tokens, j + 1, &Tok::PathSep) && ident(&tokens, j + 2).is_some() {
                        j += 2;
                    } else {
                        j += 1;
                        break;
                    }
                }
                if path.iter().filter(|s| *s != "::").count() >= 2
                    || (path.len() == 2 && path[0] == "::")
                {
                    out.push(Written {
                        line: token.line,
                        module: here.clone(),
                        path,
                    });
                }
                i = j.max(i + 1);
            }
            _ => i += 1,
        }
    }
    out
}

/// Parses one use tree from `i` under `prefix`, pushes each leaf (its line, its full path)
/// to `out`, and returns where parsing stopped: after the `;` if `top`.
fn use_tree(
    tokens: &[Token],
    mut i: usize,
    prefix: Vec<String>,
    top: bool,
    out: &mut Vec<(usize, Vec<String>)>,
) -> usize {
    let mut path = prefix;
    let mut line = tokens.get(i).map_or(0, |t| t.line);
    if top && is(tokens, i, &Tok::PathSep) {
        path.push("::".into());
        i += 1;
    }
    let mut leaf = true;
    loop {
        match tokens.get(i).map(|t| &t.tok) {
            Some(Tok::Ident(name)) if name != "as" => {
                line = tokens[i].line;
                // `{self, ..}` names the group's own prefix.
                if name != "self" || path.is_empty() {
                    path.push(name.clone());
                }
                i += 1;
                if is(tokens, i, &Tok::PathSep) {
                    i += 1;
                    continue;
                }
                break;
            }
            Some(Tok::Star) => {
                line = tokens[i].line;
                i += 1;
                break;
            }
            Some(Tok::Open) => {
                leaf = false;
                i += 1;
                while !is(tokens, i, &Tok::Close) && i < tokens.len() {
                    i = use_tree(tokens, i, path.clone(), false, out);
                    if is(tokens, i, &Tok::Comma) {
                        i += 1;
                    } else {
                        break;
                    }
                }
                if is(tokens, i, &Tok::Close) {
                    i += 1;
                }
                break;
            }
            _ => break,
        }
    }
    if ident(tokens, i) == Some("as") {
        i += 2;
    }
    if leaf && !path.is_empty() {
        out.push((line, path));
    }
    if top {
        while i < tokens.len() && !is(tokens, i, &Tok::Semi) {
            i += 1;
        }
        i += 1;
    }
    i
}

/// What a path names.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// Below `crate`: `["store", "Tx"]`.
    Crate(Vec<String>),
    /// An extern crate and below: `["sqlx", "Row"]`.
    Extern(Vec<String>),
}

impl Target {
    fn text(&self) -> String {
        match self {
            Target::Crate(p) if p.is_empty() => "crate".into(),
            Target::Crate(p) => format!("crate::{}", p.join("::")),
            Target::Extern(p) => p.join("::"),
        }
    }
}

/// Resolves `crate::`, `self::`, `super::` (relative to where the path was written), a
/// leading `::`, and a first segment that is an extern crate. Anything else names an item
/// in scope, which only a `use` (scanned on its own) could have brought in: `None`.
fn resolve(written: &Written, externs: &BTreeSet<String>) -> Option<Target> {
    let (first, rest) = written.path.split_first()?;
    let rest = rest.to_vec();
    match first.as_str() {
        "::" => (!rest.is_empty()).then_some(Target::Extern(rest)),
        "crate" => Some(Target::Crate(rest)),
        "self" => Some(Target::Crate([written.module.clone(), rest].concat())),
        "super" => {
            let ups = written.path.iter().take_while(|s| *s == "super").count();
            let keep = written.module.len().checked_sub(ups)?;
            let below = written.path.get(ups..)?.to_vec();
            Some(Target::Crate(
                [written.module[..keep].to_vec(), below].concat(),
            ))
        }
        name if externs.contains(name) => Some(Target::Extern(written.path.clone())),
        _ => None,
    }
}

/// `None` if `layer` may name `target`, else the rule it breaks.
fn breaks(layer: &Layer, target: &Target) -> Option<String> {
    let dir = layer.dir;
    match target {
        Target::Crate(path) => {
            if path.first().is_some_and(|m| m == dir) {
                return None;
            }
            match (layer.modules, layer.modules.entry_for(path)) {
                (Rule::Only(_), Some(_)) | (Rule::Not(_), None) => None,
                (Rule::Only(list), None) => Some(format!(
                    "{dir}/ may use only its own modules{}",
                    list.iter()
                        .map(|m| format!(", crate::{m}"))
                        .collect::<String>()
                )),
                (Rule::Not(_), Some(entry)) => Some(format!("{dir}/ may not use crate::{entry}")),
            }
        }
        Target::Extern(path) => {
            if path
                .first()
                .is_some_and(|k| ALWAYS_ALLOWED.contains(&k.as_str()))
            {
                return None;
            }
            match (layer.crates, layer.crates.entry_for(path)) {
                (Rule::Only(_), Some(_)) | (Rule::Not(_), None) => None,
                (Rule::Only(list), None) => Some(format!(
                    "{dir}/ may use only the crates std, {}",
                    list.join(", ")
                )),
                (Rule::Not(_), Some(entry)) => Some(format!("{dir}/ may not use crate {entry}")),
            }
        }
    }
}

/// The violations in one file's text, each `file:line: path: rule`.
fn check(
    layer: &Layer,
    file: &str,
    text: &str,
    module: &[String],
    externs: &BTreeSet<String>,
) -> Vec<String> {
    let mut found = Vec::new();
    for written in paths(text, module) {
        let Some(target) = resolve(&written, externs) else {
            continue;
        };
        if let Some(rule) = breaks(layer, &target) {
            let mut path = target.text();
            if written.text() != path {
                path = format!("{path} (written `{}`)", written.text());
            }
            found.push(format!("{file}:{}: {path}: {rule}", written.line));
        }
    }
    found.dedup();
    found
}

fn externs() -> BTreeSet<String> {
    let mut names = dependencies();
    names.extend(ALWAYS_ALLOWED.iter().map(|s| s.to_string()));
    names
}

// ---------------------------------------------------------------------------------------
// The checks on `src/`.
// ---------------------------------------------------------------------------------------

#[test]
fn layers_only_use_what_style_md_allows() {
    let externs = externs();
    assert!(
        externs.contains("nom") && externs.contains("sqlx"),
        "Cargo.toml was not read: {externs:?}"
    );
    let mut problems = Vec::new();
    for layer in LAYERS {
        let dir = src().join(layer.dir);
        if !dir.is_dir() {
            problems.push(format!("src/{}/: the layer's folder is missing", layer.dir));
            continue;
        }
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        let root_file = src().join(format!("{}.rs", layer.dir));
        if root_file.is_file() {
            files.push(root_file);
        }
        files.sort();
        if files.is_empty() {
            problems.push(format!("src/{}/: the layer holds no .rs file", layer.dir));
            continue;
        }
        let mut resolved = 0;
        for file in &files {
            let text = fs::read_to_string(file).unwrap();
            let module = module_of(file);
            resolved += paths(&text, &module)
                .iter()
                .filter(|w| resolve(w, &externs).is_some())
                .count();
            problems.extend(check(layer, &shown(file), &text, &module, &externs));
        }
        if resolved == 0 {
            problems.push(format!(
                "src/{}/: not one path found in {} files; the scanner is broken",
                layer.dir,
                files.len()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} layering problem(s) against STYLE.md's table:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_folder_and_file_in_src_is_in_the_table() {
    let mut unknown = Vec::new();
    for entry in fs::read_dir(src()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let known = if entry.path().is_dir() {
            LAYERS.iter().any(|l| l.dir == name)
        } else {
            ROOT_FILES.contains(&name.as_str())
                || name
                    .strip_suffix(".rs")
                    .is_some_and(|stem| LAYERS.iter().any(|l| l.dir == stem))
        };
        if !known {
            unknown.push(format!("src/{name}"));
        }
    }
    assert!(
        unknown.is_empty(),
        "not in STYLE.md's table, so no layer rule covers them: {unknown:?}"
    );
}

#[test]
fn the_rules_name_only_modules_and_crates_that_exist() {
    let deps = dependencies();
    let mut stale = Vec::new();
    for layer in LAYERS {
        for module in layer.modules.names() {
            let path = src().join(module.replace("::", "/"));
            if !path.with_extension("rs").is_file() && !path.is_dir() {
                stale.push(format!("{}: crate::{module} is not a module", layer.dir));
            }
        }
        for krate in layer.crates.names() {
            if !deps.contains(*krate) {
                stale.push(format!("{}: {krate} is not in Cargo.toml", layer.dir));
            }
        }
        // A layer that bans actix bans the whole family, so a new actix crate cannot slip in.
        let names = layer.crates.names();
        if matches!(layer.crates, Rule::Not(_)) && names.contains(&ACTIX[0]) {
            for dep in deps.iter().filter(|d| d.contains("actix")) {
                if !names.contains(&dep.as_str()) {
                    stale.push(format!("{}: bans actix but not {dep}", layer.dir));
                }
            }
        }
    }
    assert!(stale.is_empty(), "stale layer rules: {stale:?}");
}

// ---------------------------------------------------------------------------------------
// The scanner checked.
// ---------------------------------------------------------------------------------------

mod scanner {
    use super::*;

    fn module(m: &str) -> Vec<String> {
        m.split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    fn test_externs() -> BTreeSet<String> {
        ["std", "sqlx", "actix_web", "serde", "nom"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// Every resolved path in `src`, written in `at`, as text.
    fn targets(src: &str, at: &str) -> Vec<String> {
        paths(src, &module(at))
            .iter()
            .filter_map(|w| resolve(w, &test_externs()))
            .map(|t| t.text())
            .collect()
    }

    fn layer(dir: &str) -> &'static Layer {
        LAYERS.iter().find(|l| l.dir == dir).unwrap()
    }

    fn violations(dir: &str, file_module: &str, src: &str) -> Vec<String> {
        check(
            layer(dir),
            "f.rs",
            src,
            &module(file_module),
            &test_externs(),
        )
    }

    #[test]
    fn grouped_and_nested_imports() {
        assert_eq!(
            targets("use crate::{engine::Engine, store::Store};", "http"),
            ["crate::engine::Engine", "crate::store::Store"]
        );
        assert_eq!(
            targets("use crate::{a::{b, c}, d};", "http"),
            ["crate::a::b", "crate::a::c", "crate::d"]
        );
        assert_eq!(
            targets("use crate::store::{self, Tx as T, dialect::*};", "http"),
            ["crate::store", "crate::store::Tx", "crate::store::dialect"]
        );
        assert_eq!(
            targets("use {crate::store::Tx, sqlx::Row};", "http"),
            ["crate::store::Tx", "sqlx::Row"]
        );
        assert_eq!(
            targets(
                "use crate::{\n    engine::Engine,\n    store::Store,\n};",
                "http"
            )
            .len(),
            2
        );
        let lines: Vec<usize> = paths(
            "use crate::{\n    engine::Engine,\n    store::Store,\n};",
            &[],
        )
        .iter()
        .map(|w| w.line)
        .collect();
        assert_eq!(lines, [2, 3]);
    }

    #[test]
    fn visibility_does_not_hide_an_import() {
        assert_eq!(
            targets("pub use crate::store::Tx;", "http"),
            ["crate::store::Tx"]
        );
        assert_eq!(
            targets("pub(crate) use crate::store::Tx;", "http"),
            ["crate::store::Tx"]
        );
        assert_eq!(
            targets(
                "pub(super) use super::super::store::{Tx};",
                "http::admin::x"
            ),
            ["crate::http::store::Tx"]
        );
    }

    #[test]
    fn super_and_self_resolve_from_the_files_module() {
        assert_eq!(
            targets("use super::X;", "engine::foo"),
            ["crate::engine::X"]
        );
        assert_eq!(
            targets("use super::super::store::X;", "engine::foo"),
            ["crate::store::X"]
        );
        // `engine/mod.rs` is the module `engine` itself.
        assert_eq!(
            targets("use super::store::X;", "engine"),
            ["crate::store::X"]
        );
        assert_eq!(
            targets("use self::seats::X;", "engine"),
            ["crate::engine::seats::X"]
        );
        assert_eq!(targets("use super::*;", "engine::foo"), ["crate::engine"]);
        // Above the crate root is not a path at all.
        assert!(targets("use super::super::X;", "engine").is_empty());
        // An inline module adds a level; after it closes, the file's module is back.
        let src =
            "mod tests {\n    use super::super::X;\n    fn f() { if x { } }\n}\nuse super::Y;";
        assert_eq!(
            targets(src, "engine::foo"),
            ["crate::engine::X", "crate::engine::Y"]
        );
        // Inline, not only in `use`.
        assert_eq!(
            targets("let t = super::super::store::open();", "engine::foo"),
            ["crate::store::open"]
        );
    }

    #[test]
    fn paths_written_inline() {
        assert_eq!(
            targets(
                "fn f(t: &mut crate::store::Tx) { crate::engine::Engine::new(x); }",
                "http"
            ),
            ["crate::store::Tx", "crate::engine::Engine::new"]
        );
        assert_eq!(
            targets(
                "let q = sqlx::query(s); let d: actix_web::web::Data<E> = ::sqlx::x::<u8>();",
                "engine"
            ),
            ["sqlx::query", "actix_web::web::Data", "sqlx::x"]
        );
        assert_eq!(
            targets("#[derive(serde::Serialize)] struct S;", "grammar"),
            ["serde::Serialize"]
        );
        assert_eq!(
            targets("pub(in crate::store) fn f() {}", "engine"),
            ["crate::store"]
        );
        assert_eq!(targets("extern crate sqlx;", "engine"), ["sqlx"]);
        assert_eq!(targets("use ::sqlx::Row;", "engine"), ["sqlx::Row"]);
        assert_eq!(targets("use sqlx;", "engine"), ["sqlx"]);
    }

    #[test]
    fn names_that_only_look_like_crates_are_not_crates() {
        // A longer name, a path's later segment, a method, an unknown first segment.
        assert!(targets(
            "use my_sqlx::query; foo::sqlx::query(); x.sqlx::<T>(); Vec::<u8>::new(); \
             <T as Tr>::sqlx(); Self::X; ast::Filter::And;",
            "engine"
        )
        .is_empty());
        // `crate` alone is a visibility, not a path.
        assert!(targets("pub(crate) fn f() {}", "engine").is_empty());
    }

    #[test]
    fn comments_and_literals_are_not_code() {
        let src = r####"
// use sqlx::Row;
/// crate::store::Tx in a doc comment
//! crate::store::Tx in a module doc
/* crate::store::Tx /* nested */ sqlx::query */
let a = "crate::store::Tx \" sqlx::query";
let b = r"sqlx::query";
let c = r#"crate::store::Tx "quoted" sqlx::x"#;
let d = br##"sqlx::y "# still inside"##;
let e = b"sqlx::z";
let f = '"'; let g = '\''; let h = b'"'; let i = '\u{22}';
fn j<'a>(x: &'a str) -> &'a str { 'outer: loop { break 'outer; } x }
let k = "multi
line";
let l = crate::engine::Engine::new();
"####;
        let found = paths(src, &[]);
        let texts: Vec<String> = found.iter().map(|w| w.text()).collect();
        assert_eq!(texts, ["crate::engine::Engine::new"]);
        assert_eq!(
            found[0].line, 15,
            "lines count through comments and strings"
        );
    }

    #[test]
    fn raw_identifiers_are_names() {
        assert_eq!(targets("r#crate::r#store::X", "http"), ["crate::store::X"]);
    }

    #[test]
    fn rules_match_whole_segments() {
        let engine = layer("engine");
        let crate_path = |p: &str| Target::Crate(module(p));
        assert!(breaks(engine, &crate_path("store::Tx")).is_none());
        assert!(breaks(engine, &crate_path("store::dialect::Backend")).is_some());
        assert!(breaks(engine, &crate_path("store::dialects")).is_none());
        assert!(breaks(engine, &crate_path("http::x")).is_some());
        assert!(breaks(engine, &crate_path("https")).is_none());
        assert!(breaks(engine, &Target::Extern(module("sqlx::Row"))).is_some());
        assert!(breaks(engine, &Target::Extern(module("std::fmt"))).is_none());
        let grammar = layer("grammar");
        assert!(breaks(grammar, &crate_path("grammar::ast")).is_none());
        assert!(breaks(grammar, &crate_path("scim")).is_some());
        assert!(breaks(grammar, &crate_path("")).is_some());
        assert!(breaks(grammar, &Target::Extern(module("nom::IResult"))).is_none());
        assert!(breaks(grammar, &Target::Extern(module("serde::Serialize"))).is_some());
    }

    #[test]
    fn a_violation_names_file_line_and_path() {
        let found = violations(
            "engine",
            "engine::foo",
            "use std::fmt;\nuse super::super::store::dialect::Backend;\nfn f() { sqlx::query(q) }",
        );
        assert_eq!(
            found,
            [
                "f.rs:2: crate::store::dialect::Backend (written `super::super::store::dialect::Backend`): engine/ may not use crate::store::dialect",
                "f.rs:3: sqlx::query: engine/ may not use crate sqlx",
            ]
        );
        assert!(violations("scim", "scim::x", "use crate::grammar::parse_path;").is_empty());
        assert_eq!(
            violations(
                "grammar",
                "grammar::parser",
                "use super::ast::Filter;\nuse crate::scim::X;"
            )
            .len(),
            1
        );
        assert_eq!(
            violations(
                "http",
                "http::admin",
                "let s: crate::store::Store = todo!();"
            )
            .len(),
            1
        );
    }
}
