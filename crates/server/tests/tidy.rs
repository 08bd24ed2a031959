//! Tidy checks that keep the docs and the code in step (run with the other tests).

// Test code may panic on unexpected failures: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keel_server::commands::table;
use keel_server::config::{pflags, PARAMS};

fn compatibility() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../COMPATIBILITY.md"))
        .expect("COMPATIBILITY.md at the repository root")
}

/// Every command in the table is listed in COMPATIBILITY.md as `NAME` (uppercase, in
/// backticks), so the document never claims less or more than the server has.
#[test]
fn every_command_is_documented() {
    let doc = compatibility();
    let mut missing = Vec::new();
    for spec in table().all() {
        let name = format!("`{}`", spec.name.to_uppercase());
        if !doc.contains(&name) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "COMPATIBILITY.md does not list: {}", missing.join(", "));
}

/// Every parameter Keel accepts but does not act on yet is named in COMPATIBILITY.md's
/// "accepted, not yet in effect" list.
#[test]
fn parameters_not_in_effect_are_documented() {
    let doc = compatibility();
    let section = doc.split("accepted, not yet in effect").nth(1).unwrap_or("");
    let mut missing = Vec::new();
    for p in PARAMS.iter().filter(|p| p.flags & pflags::NOT_IN_EFFECT != 0) {
        if !section.contains(&format!("`{}`", p.name)) {
            missing.push(p.name);
        }
    }
    assert!(
        missing.is_empty(),
        "COMPATIBILITY.md's not-in-effect list lacks: {}",
        missing.join(", ")
    );
}

/// Error texts live in error.rs: no other source file spells out an `-ERR` reply.
#[test]
fn error_texts_live_in_error_rs() {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut offenders = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(src)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("error.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("\"-ERR ") {
                    offenders.push(path.display().to_string());
                }
            }
        }
    }
    assert!(offenders.is_empty(), "raw error replies outside error.rs: {offenders:?}");
}
