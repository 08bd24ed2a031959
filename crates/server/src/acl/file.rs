//! The ACL file (`aclfile`): `user <name> <rules...>` lines, loaded all or nothing
//! (`ACL LOAD`, startup) and written whole (`ACL SAVE`).

use super::{has_spaces, merge_selectors, name_of, Acl, User};
use bytes::Bytes;
use std::collections::BTreeMap;

/// Reads and applies `path`. On any error nothing changes and the error lists every
/// problem found, in Redis's words (without the `ERR ` prefix).
pub fn load(acl: &mut Acl, path: &str) -> Result<(), String> {
    let text = std::fs::read(path).map_err(|e| {
        format!("Error loading ACLs, opening file '{path}': {}", crate::config::io_reason(&e))
    })?;
    let mut users: BTreeMap<String, User> = BTreeMap::new();
    let mut errors = String::new();
    for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = raw.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let lineno = n + 1;
        // The file is split on single spaces, not shell-style: ACL SAVE never quotes.
        let argv: Vec<Bytes> = line.split(|&b| b == b' ').map(Bytes::copy_from_slice).collect();
        if argv.len() < 2 || &argv[0][..] != b"user" {
            errors.push_str(&format!(
                "{path}:{lineno} should start with user keyword followed by the username. "
            ));
            continue;
        }
        if has_spaces(&argv[1]) {
            errors.push_str(&format!(
                "'{path}:{lineno}: username '{}' contains invalid characters. ",
                name_of(&argv[1])
            ));
            continue;
        }
        let name = name_of(&argv[1]);
        if users.contains_key(&name) {
            errors.push_str(&format!("WARNING: Duplicate user '{name}' found on line {lineno}. "));
            continue;
        }
        let mut user = User::with_channels(acl.all_channels_default);
        let merged = match merge_selectors(&argv[2..]) {
            Ok(m) => m,
            Err(_) => {
                errors.push_str(&format!(
                    "{path}:{lineno}: Unmatched parenthesis in selector definition."
                ));
                Vec::new()
            }
        };
        let mut syntax_seen = false;
        for op in &merged {
            let op = op.trim_ascii();
            if let Err(e) = user.apply_with(op, acl.all_channels_default) {
                if e == super::RuleError::Unknown {
                    errors.push_str(&format!(
                        "{path}:{lineno}: Error in applying operation '{}': {}. ",
                        String::from_utf8_lossy(op),
                        e.text()
                    ));
                } else if !syntax_seen {
                    errors.push_str(&format!("{path}:{lineno}: {}. ", e.text()));
                    syntax_seen = true;
                }
            }
        }
        users.insert(name, user);
    }
    if !errors.is_empty() {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        return Err(errors);
    }
    users.entry("default".to_string()).or_insert_with(User::default_user);
    acl.users = users;
    acl.refresh();
    Ok(())
}

/// The file text `ACL SAVE` writes: one `user` line per user, in name order.
pub fn render(acl: &Acl) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, user) in &acl.users {
        out.extend_from_slice(b"user ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&user.describe());
        out.push(b'\n');
    }
    out
}

/// Writes the users to `path` through a temporary file renamed over it, so a crash never
/// leaves half a file.
pub fn save(acl: &Acl, path: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp-{}", std::process::id());
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, &render(acl))?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
