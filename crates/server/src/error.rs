//! `CmdError`: the one catalogue of error replies a client can see.
//!
//! Every error text a command can return lives here, exactly as Redis spells it. A handler
//! returns `Err(CmdError::...)`; dispatch renders it as `-<text>`, closes nothing, and counts
//! it in `INFO errorstats` under its code (the first word: `ERR`, `WRONGTYPE`, `NOAUTH`, ...).
//! Protocol errors are not here: they live in the `resp` crate and close the connection.

use bytes::Bytes;

/// An error reply.
#[derive(Clone, Debug, PartialEq)]
pub enum CmdError {
    /// `WRONGTYPE Operation against a key holding the wrong kind of value`
    WrongType,
    /// `ERR syntax error`
    Syntax,
    /// `ERR value is not an integer or out of range`
    NotInteger,
    /// `ERR value is not a valid float`
    NotFloat,
    /// `ERR increment or decrement would overflow`
    Overflow,
    /// `ERR increment would produce NaN or Infinity`
    NanOrInfinity,
    /// `ERR no such key`
    NoSuchKey,
    /// `ERR index out of range`
    IndexOutOfRange,
    /// `ERR DB index is out of range`
    DbIndexOutOfRange,
    /// `ERR invalid expire time in '<cmd>' command`
    InvalidExpireTime(&'static str),
    /// `ERR wrong number of arguments for '<cmd>' command`
    WrongArity(String),
    /// `ERR unknown command '<name>', with args beginning with: '<a>' '<b>' `
    UnknownCommand { name: Bytes, args: Vec<Bytes> },
    /// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.`
    UnknownSubcommand { sub: Bytes, cmd: String },
    /// `ERR unknown subcommand or wrong number of arguments for '<sub>'. Try <CMD> HELP.`
    /// (a subcommand whose arguments fit none of its forms; `sub` as the client typed it)
    SubcommandSyntax { sub: Bytes, cmd: &'static str },
    /// `NOAUTH Authentication required.`
    NoAuth,
    /// `WRONGPASS invalid username-password pair or user is disabled.`
    WrongPass,
    /// `ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?`
    AuthNotConfigured,
    /// `NOPROTO unsupported protocol version`
    NoProto,
    /// `OOM command not allowed when used memory > 'maxmemory'.`
    Oom,
    /// `ERR string exceeds maximum allowed size (proto-max-bulk-len)`
    StringTooLong,
    /// `ERR offset is out of range`
    OffsetOutOfRange,
    /// `ERR source and destination objects are the same`
    SameObject,
    /// `ERR timeout is not a float or out of range`
    TimeoutNotFloat,
    /// `ERR timeout is negative`
    TimeoutNegative,
    /// `ERR timeout is out of range`
    TimeoutOutOfRange,
    /// `ERR timeout is not an integer or out of range`
    TimeoutNotInteger,
    /// `UNBLOCKED client unblocked via CLIENT UNBLOCK`
    Unblocked,
    /// `UNBLOCKED the stream key no longer exists` (XREADGROUP waiting on a deleted stream)
    StreamKeyGone,
    /// `ERR value is out of range, must be positive`
    MustBePositive,
    /// `ERR Client names cannot contain spaces, newlines or special characters.`
    BadClientName,
    /// `ERR No such client`
    NoSuchClient,
    /// `ERR max number of clients reached` (sent before closing a connection over maxclients)
    MaxClients,
    /// `ERR Errors trying to SHUTDOWN. Check logs.`
    ShutdownFailed,
    /// `LOADING Redis is loading the dataset in memory` (start-up load in progress)
    Loading,
    /// Any other error whose full text (code first, no `-`, no CRLF) is fixed at compile time.
    Static(&'static str),
    /// An error whose text is built at run time (config validation, unknown options).
    /// The text starts with its code, e.g. `ERR Unknown option ...`.
    Dynamic(Vec<u8>),
}

impl CmdError {
    /// The full error line without the leading `-` and trailing CRLF, as bytes (user input
    /// embedded in an error is echoed byte for byte, as Redis does).
    pub fn text(&self) -> Vec<u8> {
        use CmdError::*;
        let s: String = match self {
            WrongType => "WRONGTYPE Operation against a key holding the wrong kind of value".into(),
            Syntax => "ERR syntax error".into(),
            NotInteger => "ERR value is not an integer or out of range".into(),
            NotFloat => "ERR value is not a valid float".into(),
            Overflow => "ERR increment or decrement would overflow".into(),
            NanOrInfinity => "ERR increment would produce NaN or Infinity".into(),
            NoSuchKey => "ERR no such key".into(),
            IndexOutOfRange => "ERR index out of range".into(),
            DbIndexOutOfRange => "ERR DB index is out of range".into(),
            InvalidExpireTime(cmd) => format!("ERR invalid expire time in '{cmd}' command"),
            WrongArity(cmd) => format!("ERR wrong number of arguments for '{cmd}' command"),
            UnknownCommand { name, args } => {
                let mut list = Vec::new();
                for a in args {
                    if list.len() >= 128 {
                        break;
                    }
                    let room = 128 - list.len();
                    list.push(b'\'');
                    list.extend_from_slice(c_prefix(a, room));
                    list.extend_from_slice(b"' ");
                }
                let mut out = b"ERR unknown command '".to_vec();
                out.extend_from_slice(c_prefix(name, 128));
                out.extend_from_slice(b"', with args beginning with: ");
                out.extend_from_slice(&list);
                return clean(out);
            }
            UnknownSubcommand { sub, cmd } => {
                let mut out = b"ERR unknown subcommand '".to_vec();
                out.extend_from_slice(c_prefix(sub, 128));
                out.extend_from_slice(format!("'. Try {} HELP.", cmd.to_uppercase()).as_bytes());
                return clean(out);
            }
            SubcommandSyntax { sub, cmd } => {
                let mut out = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
                out.extend_from_slice(c_prefix(sub, 128));
                out.extend_from_slice(format!("'. Try {cmd} HELP.").as_bytes());
                return clean(out);
            }
            NoAuth => "NOAUTH Authentication required.".into(),
            WrongPass => "WRONGPASS invalid username-password pair or user is disabled.".into(),
            AuthNotConfigured => "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into(),
            NoProto => "NOPROTO unsupported protocol version".into(),
            Oom => "OOM command not allowed when used memory > 'maxmemory'.".into(),
            StringTooLong => "ERR string exceeds maximum allowed size (proto-max-bulk-len)".into(),
            OffsetOutOfRange => "ERR offset is out of range".into(),
            SameObject => "ERR source and destination objects are the same".into(),
            TimeoutNotFloat => "ERR timeout is not a float or out of range".into(),
            TimeoutNegative => "ERR timeout is negative".into(),
            TimeoutOutOfRange => "ERR timeout is out of range".into(),
            TimeoutNotInteger => "ERR timeout is not an integer or out of range".into(),
            Unblocked => "UNBLOCKED client unblocked via CLIENT UNBLOCK".into(),
            StreamKeyGone => "UNBLOCKED the stream key no longer exists".into(),
            MustBePositive => "ERR value is out of range, must be positive".into(),
            BadClientName => {
                "ERR Client names cannot contain spaces, newlines or special characters.".into()
            }
            NoSuchClient => "ERR No such client".into(),
            MaxClients => "ERR max number of clients reached".into(),
            ShutdownFailed => "ERR Errors trying to SHUTDOWN. Check logs.".into(),
            Loading => "LOADING Redis is loading the dataset in memory".into(),
            Static(s) => (*s).into(),
            Dynamic(s) => return s.clone(),
        };
        s.into_bytes()
    }

    /// The error code counted in `INFO errorstats`: the first word of the text.
    pub fn code(&self) -> String {
        let text = self.text();
        let word = text.split(|&b| b == b' ').next().unwrap_or(b"ERR");
        String::from_utf8_lossy(word).into_owned()
    }

    /// Builds a run-time error from text that starts with its code (`ERR ...`); CR and LF
    /// become spaces so the reply stays one line.
    pub fn dynamic(text: impl Into<Vec<u8>>) -> CmdError {
        CmdError::Dynamic(clean(text.into()))
    }
}

/// Up to `max` bytes of `b`, stopping at a NUL byte: what C's `%.128s` prints.
pub fn c_prefix(b: &[u8], max: usize) -> &[u8] {
    let b = match memchr::memchr(0, b) {
        Some(nul) => &b[..nul],
        None => b,
    };
    &b[..b.len().min(max)]
}

/// Redis replaces CR and LF in error texts with spaces, so a reply stays one line.
fn clean(mut s: Vec<u8>) -> Vec<u8> {
    for b in s.iter_mut() {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_command_text_keeps_trailing_space() {
        let e = CmdError::UnknownCommand {
            name: Bytes::from_static(b"foo"),
            args: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
        };
        assert_eq!(e.text(), b"ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
        assert_eq!(e.code(), "ERR");
        assert_eq!(CmdError::WrongType.code(), "WRONGTYPE");
    }

    #[test]
    fn subcommand_text() {
        let e = CmdError::UnknownSubcommand {
            sub: Bytes::from_static(b"no-such"),
            cmd: "client".into(),
        };
        assert_eq!(e.text(), b"ERR unknown subcommand 'no-such'. Try CLIENT HELP.");
    }
}
