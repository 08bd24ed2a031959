//! `Args`: a cursor over a command's arguments with typed readers.
//!
//! Each reader returns `Result<_, CmdError>` with the error Redis gives for that kind of
//! argument, so a handler reads its arguments with `?` and never formats an error itself.

use crate::error::CmdError;
use crate::types::num;
use bytes::Bytes;

/// The arguments of one command. `argv[0]` is the command name as the client sent it.
#[derive(Debug)]
pub struct Args {
    argv: Vec<Bytes>,
    pos: usize,
}

impl Args {
    /// Wraps a full argv; the cursor starts after the command name.
    pub fn new(argv: Vec<Bytes>) -> Args {
        Args { argv, pos: 1 }
    }

    /// The whole argument vector, name included.
    pub fn argv(&self) -> &[Bytes] {
        &self.argv
    }

    /// Takes the argument vector back (for propagation to the AOF).
    pub fn into_argv(self) -> Vec<Bytes> {
        self.argv
    }

    /// Number of arguments including the command name (Redis's `argc`).
    pub fn len(&self) -> usize {
        self.argv.len()
    }

    /// True when there are no arguments at all (not even a name).
    pub fn is_empty(&self) -> bool {
        self.argv.is_empty()
    }

    /// Redis's error for a subcommand of container `cmd` called with arguments none of its
    /// forms takes; it names the subcommand as the client typed it.
    pub fn subcommand_syntax(&self, cmd: &'static str) -> CmdError {
        CmdError::SubcommandSyntax { sub: self.get(1).cloned().unwrap_or_default(), cmd }
    }

    /// Argument `i` (0 is the command name).
    pub fn get(&self, i: usize) -> Option<&Bytes> {
        self.argv.get(i)
    }

    /// Arguments not read yet.
    pub fn remaining(&self) -> usize {
        self.argv.len().saturating_sub(self.pos)
    }

    /// The cursor position (index of the next argument).
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves the cursor to argument `i`.
    pub fn seek(&mut self, i: usize) {
        self.pos = i;
    }

    /// The rest of the arguments as a slice, without consuming them.
    pub fn rest(&self) -> &[Bytes] {
        self.argv.get(self.pos..).unwrap_or(&[])
    }

    /// The next argument as bytes. Dispatch has checked arity, so running out means a
    /// handler's grammar allows an optional argument: that is a syntax error.
    pub fn next_bytes(&mut self) -> Result<Bytes, CmdError> {
        let b = self.argv.get(self.pos).cloned().ok_or(CmdError::Syntax)?;
        self.pos += 1;
        Ok(b)
    }

    /// The next argument as bytes of its own, for a handler that keeps it after the command
    /// (a name, a channel, a consumer): an argument shares the client's whole read buffer,
    /// which keeping it would keep alive.
    pub fn next_owned(&mut self) -> Result<Bytes, CmdError> {
        Ok(Bytes::copy_from_slice(self.next_ref()?))
    }

    /// The next argument, borrowed.
    pub fn next_ref(&mut self) -> Result<&[u8], CmdError> {
        let b = self.argv.get(self.pos).ok_or(CmdError::Syntax)?;
        self.pos += 1;
        Ok(b)
    }

    /// The next argument as an integer with Redis's strict rules.
    pub fn next_i64(&mut self) -> Result<i64, CmdError> {
        let b = self.next_ref()?;
        num::parse_i64(b).ok_or(CmdError::NotInteger)
    }

    /// The next argument as a double (`inf`, `-inf`, `1e3` accepted; `nan` refused).
    pub fn next_f64(&mut self) -> Result<f64, CmdError> {
        let b = self.next_ref()?;
        num::parse_f64(b).ok_or(CmdError::NotFloat)
    }

    /// Consumes the next argument if it equals `kw` (ASCII case-insensitive).
    pub fn eat(&mut self, kw: &str) -> bool {
        match self.argv.get(self.pos) {
            Some(b) if b.eq_ignore_ascii_case(kw.as_bytes()) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// Replaces argument `i` (does nothing past the end). Used by handlers that rewrite
    /// their command before it is propagated or re-executed after blocking (XADD `*`,
    /// XREAD `$`).
    pub fn set(&mut self, i: usize, value: Bytes) {
        if let Some(a) = self.argv.get_mut(i) {
            *a = value;
        }
    }

    /// The next argument, uppercased, for matching option keywords.
    pub fn peek_upper(&self) -> Option<Vec<u8>> {
        self.argv.get(self.pos).map(|b| b.to_ascii_uppercase())
    }
}
