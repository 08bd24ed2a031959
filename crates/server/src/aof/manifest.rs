//! The multi-part AOF manifest: which BASE, INCR and history files make up the log.
//!
//! The file is line based, as Redis 7 writes it: `file <name> seq <n> type <b|i|h>`, one
//! line per file, BASE first, then history, then the INCR files in sequence order. Lines
//! starting with `#` are comments; names are quoted (C-style escapes) when they hold spaces,
//! quotes or non-printable bytes, so Redis and Keel read each other's manifests.

use std::fmt::Write as _;

/// What a file listed in the manifest holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// The snapshot the log starts from (`b`).
    Base,
    /// Commands appended after the BASE (`i`).
    Incr,
    /// A file replaced by a rewrite, waiting to be deleted (`h`).
    History,
}

impl FileType {
    fn letter(self) -> char {
        match self {
            FileType::Base => 'b',
            FileType::Incr => 'i',
            FileType::History => 'h',
        }
    }
}

/// One line of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// File name inside the AOF directory.
    pub name: String,
    /// Sequence number.
    pub seq: u64,
    /// Role of the file.
    pub kind: FileType,
}

/// The parsed manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The BASE file, if any.
    pub base: Option<FileInfo>,
    /// INCR files in increasing sequence order.
    pub incrs: Vec<FileInfo>,
    /// Files a rewrite replaced, to be deleted.
    pub history: Vec<FileInfo>,
}

/// The longest manifest line Redis accepts.
const MAX_LINE: usize = 1024;

impl Manifest {
    /// Parses manifest text. Errors carry the wording Redis logs.
    pub fn parse(text: &[u8]) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        let mut lines = 0usize;
        for line in text.split_inclusive(|&b| b == b'\n') {
            if line.len() > MAX_LINE {
                return Err("The AOF manifest file contains too long line".into());
            }
            if line.first() == Some(&b'#') {
                continue;
            }
            if line.last() != Some(&b'\n') {
                return Err("The AOF manifest file is invalid format".into());
            }
            let words = split_args(&line[..line.len() - 1])
                .ok_or_else(|| "Invalid AOF manifest file format".to_string())?;
            if words.is_empty() {
                continue;
            }
            if words.len() < 6 || words.len() % 2 != 0 {
                return Err("Invalid AOF manifest file format".into());
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                match pair[0].as_slice() {
                    b"file" => name = Some(String::from_utf8_lossy(&pair[1]).into_owned()),
                    b"seq" => seq = std::str::from_utf8(&pair[1]).ok().and_then(|s| s.parse().ok()),
                    b"type" => {
                        kind = match pair[1].as_slice() {
                            b"b" => Some(FileType::Base),
                            b"i" => Some(FileType::Incr),
                            b"h" => Some(FileType::History),
                            _ => None,
                        }
                    }
                    // Keys a later version may add are skipped, as Redis does.
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err("Invalid AOF manifest file format".into());
            };
            let info = FileInfo { name, seq, kind };
            match kind {
                FileType::Base => {
                    if m.base.is_some() {
                        return Err("Found duplicate base file information".into());
                    }
                    m.base = Some(info);
                }
                FileType::History => m.history.push(info),
                FileType::Incr => {
                    if m.incrs.last().is_some_and(|last| last.seq >= seq) {
                        return Err("Found a non-monotonic sequence number".into());
                    }
                    m.incrs.push(info);
                }
            }
            lines += 1;
        }
        if lines == 0 {
            return Err("Found an empty AOF manifest".into());
        }
        Ok(m)
    }

    /// The manifest's text, in the order and syntax Redis writes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in self.base.iter().chain(&self.history).chain(&self.incrs) {
            let _ = writeln!(out, "file {} seq {} type {}", quote(&f.name), f.seq, f.kind.letter());
        }
        out
    }

    /// The highest BASE sequence number used so far.
    pub fn base_seq(&self) -> u64 {
        self.base.as_ref().map_or(0, |b| b.seq)
    }

    /// The highest INCR sequence number used so far.
    pub fn incr_seq(&self) -> u64 {
        self.incrs.last().map_or(0, |i| i.seq)
    }
}

/// Names `<prefix>.<seq>.base.rdb|aof` and `<prefix>.<seq>.incr.aof`, as Redis names them.
pub fn base_name(prefix: &str, seq: u64, rdb: bool) -> String {
    format!("{prefix}.{seq}.base.{}", if rdb { "rdb" } else { "aof" })
}

/// The INCR file name for `seq`.
pub fn incr_name(prefix: &str, seq: u64) -> String {
    format!("{prefix}.{seq}.incr.aof")
}

/// The manifest file name.
pub fn manifest_name(prefix: &str) -> String {
    format!("{prefix}.manifest")
}

/// Quotes a name the way Redis's manifest writer does: bare when it has no space, quote,
/// backslash or non-printable byte, otherwise double-quoted with C escapes.
fn quote(name: &str) -> String {
    let plain = name.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'));
    if plain && !name.is_empty() {
        return name.to_string();
    }
    let mut out = String::from("\"");
    for b in name.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            b if b.is_ascii_graphic() || b == b' ' => out.push(char::from(b)),
            b => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    out
}

/// Splits a line into words with the quoting rules of Redis's config and manifest files:
/// double quotes with C escapes (`\n`, `\xHH`...), single quotes with only `\'`. Returns
/// None for unbalanced quotes or a closing quote not followed by a space.
fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let mut word = Vec::new();
        match line[i] {
            b'"' => {
                i += 1;
                loop {
                    let &b = line.get(i)?;
                    i += 1;
                    match b {
                        b'"' => break,
                        b'\\' => {
                            let &e = line.get(i)?;
                            i += 1;
                            match e {
                                b'x' => {
                                    let hex = line.get(i..i + 2)?;
                                    let hex = std::str::from_utf8(hex).ok()?;
                                    word.push(u8::from_str_radix(hex, 16).ok()?);
                                    i += 2;
                                }
                                b'n' => word.push(b'\n'),
                                b'r' => word.push(b'\r'),
                                b't' => word.push(b'\t'),
                                b'b' => word.push(8),
                                b'a' => word.push(7),
                                other => word.push(other),
                            }
                        }
                        other => word.push(other),
                    }
                }
                if line.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                    return None;
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    let &b = line.get(i)?;
                    i += 1;
                    match b {
                        b'\'' => break,
                        b'\\' if line.get(i) == Some(&b'\'') => {
                            word.push(b'\'');
                            i += 1;
                        }
                        other => word.push(other),
                    }
                }
                if line.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                    return None;
                }
            }
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    word.push(line[i]);
                    i += 1;
                }
            }
        }
        words.push(word);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_with_quoting() {
        let m = Manifest {
            base: Some(FileInfo { name: "a b.1.base.rdb".into(), seq: 1, kind: FileType::Base }),
            incrs: vec![
                FileInfo { name: "x.1.incr.aof".into(), seq: 1, kind: FileType::Incr },
                FileInfo { name: "x\"\n.2.incr.aof".into(), seq: 2, kind: FileType::Incr },
            ],
            history: vec![FileInfo { name: "old".into(), seq: 3, kind: FileType::History }],
        };
        let text = m.render();
        assert!(text.starts_with("file \"a b.1.base.rdb\" seq 1 type b\nfile old seq 3 type h\n"));
        assert_eq!(Manifest::parse(text.as_bytes()).unwrap(), m);
    }

    #[test]
    fn rejects_what_redis_rejects() {
        assert!(Manifest::parse(b"").is_err());
        assert!(Manifest::parse(b"file a seq 1 type b").is_err());
        assert!(Manifest::parse(b"file a seq 1\n").is_err());
        assert!(Manifest::parse(b"file a seq 2 type i\nfile b seq 1 type i\n").is_err());
        assert!(Manifest::parse(b"file a seq 1 type b\nfile b seq 2 type b\n").is_err());
        let m = Manifest::parse(b"# c\nfile a seq 1 type b extra 1\n").unwrap();
        assert_eq!(m.base_seq(), 1);
    }
}
