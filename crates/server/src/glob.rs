//! Glob-style pattern matching with Redis's exact rules (KEYS, SCAN MATCH, CONFIG GET,
//! PSUBSCRIBE).
//!
//! Supported: `*` (any run of bytes), `?` (one byte), `[abc]`, `[^abc]`, ranges `[a-z]`
//! (either order), and `\x` to take `x` literally, inside or outside brackets; optionally
//! ASCII case-insensitive (CONFIG GET matches parameter names that way). Quirks kept on
//! purpose, because clients can observe them: an unterminated `[` class still matches, a `-`
//! right before the closing `]` makes a range ending in `]`, and range bounds compare bytes
//! as *signed* chars (so `[a-\xff]` is an empty range, as on Redis's x86 builds).

/// Patterns nested deeper than this (one level per `*`) simply fail, bounding the recursion.
const MAX_NESTING: u32 = 1000;

/// True if `string` matches `pattern`; `nocase` folds ASCII letters.
pub fn matches(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut m = Matcher { nocase, give_up: false };
    m.match_from(pattern, string, 0)
}

/// State shared by the recursive calls of one match.
struct Matcher {
    /// Fold ASCII case.
    nocase: bool,
    /// Set once a `*` has tried every suffix of the string without success: then no earlier
    /// `*` can do better by consuming more, so all callers stop trying (this keeps
    /// `a*a*a*...b` patterns linear).
    give_up: bool,
}

/// The byte at `i`, or 0 past the end: the pattern is read as if NUL-terminated, which is
/// what the look-aheads below rely on.
fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

impl Matcher {
    /// Folds `b` when matching case-insensitively.
    fn fold(&self, b: u8) -> u8 {
        if self.nocase {
            b.to_ascii_lowercase()
        } else {
            b
        }
    }

    /// Matches the whole of `s` against the whole of `p`.
    fn match_from(&mut self, p: &[u8], s: &[u8], nesting: u32) -> bool {
        if nesting > MAX_NESTING {
            return false;
        }
        let (mut pi, mut si) = (0usize, 0usize);
        while pi < p.len() && si < s.len() {
            match p[pi] {
                b'*' => {
                    while pi < p.len() && at(p, pi + 1) == b'*' {
                        pi += 1;
                    }
                    if pi + 1 == p.len() {
                        return true;
                    }
                    while si < s.len() {
                        if self.match_from(&p[pi + 1..], &s[si..], nesting + 1) {
                            return true;
                        }
                        if self.give_up {
                            return false;
                        }
                        si += 1;
                    }
                    self.give_up = true;
                    return false;
                }
                b'?' => si += 1,
                b'[' => {
                    pi += 1;
                    let negate = at(p, pi) == b'^';
                    if negate {
                        pi += 1;
                    }
                    let c = s[si];
                    let mut hit = false;
                    loop {
                        let left = p.len().saturating_sub(pi);
                        if at(p, pi) == b'\\' && left >= 2 {
                            pi += 1;
                            hit |= p[pi] == c;
                        } else if at(p, pi) == b']' {
                            break;
                        } else if left == 0 {
                            // Unterminated class: step back so the shared advance below lands
                            // exactly on the end of the pattern.
                            pi -= 1;
                            break;
                        } else if left >= 3 && p[pi + 1] == b'-' {
                            // Redis orders the bounds first and folds case after, so a
                            // mixed-case range like `[Z-a]` can become empty.
                            let (a, b) = (p[pi], p[pi + 2]);
                            let (lo, hi) = if signed(a) <= signed(b) { (a, b) } else { (b, a) };
                            let (lo, hi, c) = (self.fold(lo), self.fold(hi), self.fold(c));
                            hit |= (signed(lo)..=signed(hi)).contains(&signed(c));
                            pi += 2;
                        } else {
                            hit |= self.fold(p[pi]) == self.fold(c);
                        }
                        pi += 1;
                    }
                    if hit == negate {
                        return false;
                    }
                    si += 1;
                }
                other => {
                    let lit = if other == b'\\' && p.len() - pi >= 2 {
                        pi += 1;
                        p[pi]
                    } else {
                        other
                    };
                    if self.fold(lit) != self.fold(s[si]) {
                        return false;
                    }
                    si += 1;
                }
            }
            pi += 1;
            if si == s.len() {
                // Trailing stars match the empty rest of the string.
                while at(p, pi) == b'*' {
                    pi += 1;
                }
                break;
            }
        }
        pi >= p.len() && si == s.len()
    }
}

/// A byte as C's (signed) `char` on x86, for range comparisons.
fn signed(b: u8) -> i8 {
    b as i8
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(p: &[u8], s: &[u8]) -> bool {
        matches(p, s, false)
    }

    #[test]
    fn basics() {
        // As in Redis, nothing matches the empty string but the empty pattern (KEYS * still
        // lists an empty key because it skips matching for a bare `*`).
        assert!(!m(b"*", b""));
        assert!(m(b"*", b"anything"));
        assert!(m(b"h?llo", b"hello"));
        assert!(!m(b"h?llo", b"hllo"));
        assert!(m(b"h*llo", b"hllo"));
        assert!(m(b"h*llo", b"heeeello"));
        assert!(m(b"h[ae]llo", b"hallo"));
        assert!(!m(b"h[ae]llo", b"hillo"));
        assert!(m(b"h[^e]llo", b"hallo"));
        assert!(!m(b"h[^e]llo", b"hello"));
        assert!(m(b"h[a-b]llo", b"hbllo"));
        assert!(m(b"h[b-a]llo", b"hallo"));
        assert!(m(b"h\\*llo", b"h*llo"));
        assert!(!m(b"h\\*llo", b"hello"));
        assert!(m(b"[\\]]", b"]"));
        assert!(m(b"a*", b"a"));
        assert!(m(b"a**", b"a"));
        assert!(!m(b"", b"a"));
        assert!(m(b"", b""));
        assert!(!m(b"a", b""));
    }

    #[test]
    fn quirks() {
        // Unterminated classes.
        assert!(m(b"[ab", b"a"));
        assert!(m(b"[^", b"x"));
        assert!(!m(b"[", b"x"));
        // A trailing backslash is literal.
        assert!(m(b"a\\", b"a\\"));
        // Range bounds are signed chars: 0x80..=0xff sort below ASCII.
        assert!(!m(b"[a-\xff]", b"b"));
        assert!(m(b"[\x80-a]", b"A"));
        assert!(m(b"[\x80-a]", b"\xff"));
    }

    #[test]
    fn nocase() {
        assert!(matches(b"MAX*", b"maxmemory", true));
        assert!(!matches(b"MAX*", b"maxmemory", false));
        assert!(matches(b"[A-C]x", b"bX", true));
        // Bounds are ordered before folding: `[Z-a]` folds to the empty `z..a`.
        assert!(!matches(b"[Z-a]", b"z", true));
        assert!(matches(b"[Z-a]", b"_", false));
    }

    #[test]
    fn many_stars_terminate() {
        let pat = [b"a*".repeat(30), b"b".to_vec()].concat();
        assert!(!m(&pat, &b"a".repeat(60)));
    }
}
