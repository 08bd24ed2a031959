//! Log lines in Redis's format: `pid:role dd Mon yyyy hh:mm:ss.mmm <level> message`.
//!
//! Tools and test harnesses grep these lines (`Ready to accept connections`, `PID: `), so the
//! format is part of compatibility. Level marks are Redis's: `.` debug, `-` verbose,
//! `*` notice, `#` warning.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Log levels, lowest first, as `loglevel` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `debug`
    Debug,
    /// `verbose`
    Verbose,
    /// `notice`
    Notice,
    /// `warning`
    Warning,
    /// `nothing`: log nothing.
    Nothing,
}

impl Level {
    /// Parses a `loglevel` word.
    pub fn from_word(w: &str) -> Level {
        match w {
            "debug" => Level::Debug,
            "verbose" => Level::Verbose,
            "warning" => Level::Warning,
            "nothing" => Level::Nothing,
            _ => Level::Notice,
        }
    }

    fn mark(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning | Level::Nothing => '#',
        }
    }
}

/// Where log lines go and which are kept.
#[derive(Debug, Clone)]
pub struct Logger {
    /// Lowest level written.
    pub level: Level,
    /// Log file path; empty means standard output.
    pub file: String,
    /// Role letter: `C` before the server is set up, `M` after (a master).
    pub role: char,
}

impl Default for Logger {
    fn default() -> Self {
        Logger { level: Level::Notice, file: String::new(), role: 'C' }
    }
}

impl Logger {
    /// Writes one line at `level`.
    pub fn log(&self, level: Level, msg: &str) {
        if level < self.level || self.level == Level::Nothing {
            return;
        }
        let line = format!(
            "{}:{} {} {} {}\n",
            std::process::id(),
            self.role,
            timestamp(SystemTime::now()),
            level.mark(),
            msg
        );
        if self.file.is_empty() {
            let _ = std::io::stdout().write_all(line.as_bytes());
            let _ = std::io::stdout().flush();
        } else if let Ok(mut f) =
            std::fs::OpenOptions::new().create(true).append(true).open(&self.file)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }

    /// `notice` level.
    pub fn notice(&self, msg: &str) {
        self.log(Level::Notice, msg);
    }

    /// `warning` level.
    pub fn warning(&self, msg: &str) {
        self.log(Level::Warning, msg);
    }

    /// `verbose` level.
    pub fn verbose(&self, msg: &str) {
        self.log(Level::Verbose, msg);
    }
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `28 Nov 2026 20:08:47.123` in UTC.
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, m, day) = civil_from_days(secs.div_euclid(86400));
    let sod = secs.rem_euclid(86400);
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        day,
        MONTHS[(m - 1) as usize],
        y,
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), by the well-known civil calendar algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_dates() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_896_527_123);
        assert_eq!(timestamp(t), "28 Nov 2026 20:08:47.123");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
