//! `INFO`: every section rendered with Redis's exact field names.

use crate::server::Ctx;
use std::fmt::Write;

/// Renders the requested sections (`default` when none is named).
pub fn render(ctx: &mut Ctx<'_>, sections: &[Vec<u8>]) -> Vec<u8> {
    let all = sections.is_empty()
        || sections.iter().any(|s| s == b"all" || s == b"everything" || s == b"default");
    let want = |name: &str| all || sections.iter().any(|s| s == name.as_bytes());
    let mut out = String::new();
    if want("server") {
        let uptime = ctx.srv.start_instant.elapsed().as_secs();
        let _ = write!(
            out,
            "# Server\r\nredis_version:{}\r\nkeel_version:{}\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nexecutable:{}\r\nconfig_file:{}\r\n",
            crate::REDIS_VERSION,
            crate::KEEL_VERSION,
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            ctx.srv.run_id,
            ctx.srv.port,
            uptime,
            uptime / 86400,
            ctx.srv.config.int(crate::config::P::Hz),
            ctx.srv.executable,
            ctx.srv.config.file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        );
    }
    if want("keyspace") {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str("# Keyspace\r\n");
        for (i, db) in ctx.srv.ks.dbs().iter().enumerate() {
            if !db.is_empty() {
                let _ = write!(
                    out,
                    "db{}:keys={},expires={},avg_ttl={}\r\n",
                    i,
                    db.len(),
                    db.expires_len(),
                    db.avg_ttl
                );
            }
        }
    }
    out.into_bytes()
}
