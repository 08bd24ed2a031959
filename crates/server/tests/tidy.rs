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

/// Every command row, with its subcommands.
fn every_row() -> Vec<(String, &'static keel_server::commands::spec::CommandSpec)> {
    let mut rows = Vec::new();
    for spec in table().all() {
        rows.push((spec.name.to_string(), spec));
        for sub in spec.subcommands {
            rows.push((format!("{}|{}", spec.name, sub.name), sub));
        }
    }
    rows
}

/// Key specs are well formed: known flag names in the order Redis prints them, and key
/// positions inside the arity (a command called with the fewest arguments its arity allows
/// still has every position a spec names).
#[test]
fn key_specs_fit_the_arity() {
    use keel_server::commands::spec::{flags, BeginSearch, FindKeys, KEY_FLAG_NAMES};
    let mut bad = Vec::new();
    for (name, spec) in every_row() {
        let min_argc = spec.arity.abs();
        if !spec.key_specs.is_empty() && !spec.key_flags.is_empty() {
            bad.push(format!("{name}: key_flags are ignored when key_specs are given"));
        }
        for ks in spec.specs() {
            let order: Vec<usize> = ks
                .flags
                .iter()
                .map(|f| KEY_FLAG_NAMES.iter().position(|n| n == f).unwrap_or(usize::MAX))
                .collect();
            if order.contains(&usize::MAX) || order.windows(2).any(|w| w[0] >= w[1]) {
                bad.push(format!("{name}: key-spec flags {:?} unknown or out of order", ks.flags));
            }
            let start = match ks.begin {
                BeginSearch::Index(pos) => pos,
                // A keyword is optional: its search only has to start inside the shortest
                // command line.
                BeginSearch::Keyword { startfrom, .. } => {
                    if startfrom == 0 || startfrom.abs() > min_argc {
                        bad.push(format!("{name}: keyword search from {startfrom}"));
                    }
                    continue;
                }
                BeginSearch::Unknown => continue,
            };
            // The furthest position the spec needs with the fewest arguments.
            let needed = match ks.find {
                FindKeys::Range { lastkey, .. } if lastkey >= 0 => start + lastkey,
                // A range to the end may be empty (PFMERGE with no source keys).
                FindKeys::Range { .. } => start - 1,
                FindKeys::Keynum { keynumidx, firstkey, .. } => start + keynumidx.max(firstkey),
                FindKeys::Unknown => start,
            };
            // A key count may be 0 where keys are optional (EVAL's numkeys), so the count
            // itself may be the last argument.
            let optional = i32::from(
                spec.has(flags::NO_MANDATORY_KEYS) && matches!(ks.find, FindKeys::Keynum { .. }),
            );
            if start < 1 || needed >= min_argc + optional {
                bad.push(format!(
                    "{name}: key spec reaches position {needed}, arity {}",
                    spec.arity
                ));
            }
            if matches!(ks.find, FindKeys::Keynum { .. }) && spec.getkeys.is_none() {
                bad.push(format!("{name}: a key count needs the command's own key finder"));
            }
        }
        let movable = spec.specs().any(|ks| {
            !matches!((ks.begin, ks.find), (BeginSearch::Index(_), FindKeys::Range { .. }))
        });
        if spec.has(flags::MOVABLEKEYS) != movable {
            bad.push(format!("{name}: movablekeys must follow from the key specs"));
        }
    }
    assert!(bad.is_empty(), "malformed key specs:\n{}", bad.join("\n"));
}
