//! The README, run as written: every ```bash block of README.md, in order, in one shell, in
//! a fresh folder (so a fresh database), with the `roster` this build made first on PATH.
//! A line `#=> TEXT` in a block is output the README shows: the output of the blocks must
//! hold each such TEXT, in order. The blocks are read from README.md, never copied here.
//!
//! Two comments steer the run, each on the line before a block:
//! - `<!-- readme-test: skip -->`: not run (building, the test command itself, an example
//!   with a production database URL);
//! - `<!-- readme-test: serve -->`: the block's first line starts the server in the
//!   foreground, as a newcomer does in a terminal of its own; the run starts it in the
//!   background (`cargo run --release --` is the `roster` on PATH) and waits until it answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[derive(Debug, PartialEq)]
enum Mark {
    Run,
    Skip,
    Serve,
}

/// The ```bash blocks of a Markdown text, each with its mark.
fn blocks(markdown: &str) -> Vec<(Mark, String)> {
    let mut out = vec![];
    let mut mark = Mark::Run;
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            Some(body) => {
                if line.trim_start().starts_with("```") {
                    out.push((std::mem::replace(&mut mark, Mark::Run), body.clone()));
                    current = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
            None => {
                let t = line.trim();
                if t == "```bash" {
                    current = Some(String::new());
                } else if t == "<!-- readme-test: skip -->" {
                    mark = Mark::Skip;
                } else if t == "<!-- readme-test: serve -->" {
                    mark = Mark::Serve;
                } else if !t.is_empty() {
                    mark = Mark::Run;
                }
            }
        }
    }
    out
}

/// The shell script the blocks make, and the outputs they show.
fn script(blocks: &[(Mark, String)]) -> (String, Vec<String>) {
    let mut script = String::from("exec 2>&1\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n");
    let mut shown = vec![];
    for (mark, body) in blocks {
        for line in body.lines() {
            if let Some(text) = line.trim_start().strip_prefix("#=> ") {
                shown.push(text.trim_end().to_string());
            }
        }
        match mark {
            Mark::Skip => {}
            Mark::Run => {
                script.push_str(body);
                script.push('\n');
            }
            Mark::Serve => {
                let first = body
                    .lines()
                    .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                    .unwrap_or_default();
                let command = first
                    .trim()
                    .replace("cargo run --release --locked -- ", "roster ")
                    .replace("cargo run --release -- ", "roster ");
                script.push_str(&format!(
                    "{command} &\nuntil curl -fs http://127.0.0.1:8080/healthz > /dev/null; do sleep 0.2; done\n"
                ));
            }
        }
    }
    (script, shown)
}

#[test]
fn the_readme_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let (script, shown) = script(&blocks(&readme));
    assert!(!shown.is_empty(), "the README shows no output to check");
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_roster")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("timeout")
        .args(["300", "bash", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("ROSTER_DATABASE_URL")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut at = 0;
    for expected in &shown {
        match text[at..].find(expected.as_str()) {
            Some(i) => at += i + expected.len(),
            None => panic!(
                "the README shows\n    {expected}\nbut the blocks printed, from there on:\n{}",
                &text[at..]
            ),
        }
    }
    for bad in ["command not found", "No such file or directory"] {
        assert!(!text.contains(bad), "{bad}:\n{text}");
    }
}

#[test]
fn blocks_and_marks_are_read() {
    let md = "x\n<!-- readme-test: skip -->\n```bash\nscripts/test.sh\n```\n\
              ```bash\necho hi\n#=> hi\n```\n<!-- readme-test: serve -->\n\n```bash\ncargo run --release -- serve\n```\n";
    let b = blocks(md);
    assert_eq!(
        b.iter().map(|(m, _)| m).collect::<Vec<_>>(),
        vec![&Mark::Skip, &Mark::Run, &Mark::Serve]
    );
    let (script, shown) = script(&b);
    assert_eq!(shown, vec!["hi".to_string()]);
    assert!(script.contains("echo hi"));
    assert!(!script.contains("scripts/test.sh"));
    assert!(script.contains("roster serve &"));
}
