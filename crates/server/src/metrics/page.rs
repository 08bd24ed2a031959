//! The status page (`GET /` on the metrics port): one self-contained HTML document (inline
//! CSS and SVG, no scripts or external assets) with memory against `maxmemory`, clients,
//! persistence and the BullMQ queues, each with a sparkline of the last hour's samples.
//! The page reloads itself every ten seconds, the sampling interval.

use super::bullmq::STATES;
use super::{Sample, Snapshot};
use crate::memory::human;
use std::collections::VecDeque;
use std::fmt::Write;

const WIDTH: f64 = 160.0;
const HEIGHT: f64 = 32.0;

/// Text made safe for HTML element content and attribute values.
fn esc(raw: &[u8]) -> String {
    let mut s = String::new();
    for ch in String::from_utf8_lossy(raw).chars() {
        match ch {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    s
}

/// An inline SVG line of `values` scaled to the highest one (a flat line when there are
/// fewer than two points or all are zero).
fn sparkline(values: &[f64]) -> String {
    let max = values.iter().copied().fold(0.0, f64::max);
    let y = |v: f64| {
        let frac = if max > 0.0 { v / max } else { 0.0 };
        HEIGHT - 2.0 - frac * (HEIGHT - 4.0)
    };
    let points = match values {
        [] => format!("0,{0:.1} {WIDTH},{0:.1}", y(0.0)),
        [v] => format!("0,{0:.1} {WIDTH},{0:.1}", y(*v)),
        _ => {
            let step = WIDTH / (values.len() - 1) as f64;
            let mut p = String::new();
            for (i, v) in values.iter().enumerate() {
                let _ = write!(
                    p,
                    "{}{:.1},{:.1}",
                    if i > 0 { " " } else { "" },
                    i as f64 * step,
                    y(*v)
                );
            }
            p
        }
    };
    format!(
        "<svg class=\"spark\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\"><polyline fill=\"none\" stroke=\"#2f7ae5\" stroke-width=\"1.5\" points=\"{points}\"/></svg>"
    )
}

/// A series of the history, followed by the current value.
fn series(history: &VecDeque<Sample>, now: f64, pick: impl Fn(&Sample) -> f64) -> Vec<f64> {
    history.iter().map(pick).chain(std::iter::once(now)).collect()
}

/// Commands per second between consecutive samples.
fn ops_rate(history: &VecDeque<Sample>, snap: &Snapshot) -> Vec<f64> {
    let points: Vec<(u64, u64)> = history
        .iter()
        .map(|s| (s.at, s.commands))
        .chain(std::iter::once((snap.now, snap.commands)))
        .collect();
    points
        .windows(2)
        .map(|w| {
            let secs = w[1].0.saturating_sub(w[0].0) as f64 / 1000.0;
            if secs > 0.0 {
                w[1].1.saturating_sub(w[0].1) as f64 / secs
            } else {
                0.0
            }
        })
        .collect()
}

fn ok(good: bool) -> &'static str {
    if good {
        "<span class=\"ok\">ok</span>"
    } else {
        "<span class=\"err\">err</span>"
    }
}

/// One figure box: a title, the figure (with `id` for tests and scrapers of the DOM), a
/// detail line and a sparkline.
fn card(out: &mut String, title: &str, id: &str, figure: &str, detail: &str, spark: &str) {
    let _ = write!(
        out,
        "<section class=\"card\"><h2>{title}</h2><div class=\"fig\" id=\"{id}\">{figure}</div><div class=\"detail\">{detail}</div>{spark}</section>"
    );
}

/// Renders the page.
pub fn render(snap: &Snapshot, history: &VecDeque<Sample>) -> String {
    let mut out = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\"><title>Keel status</title><style>\
body{font-family:system-ui,sans-serif;margin:24px;background:#f6f7f9;color:#1d2330}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:13px;text-transform:uppercase;color:#5b6475;margin:0 0 6px}\
.sub{color:#5b6475;margin-bottom:18px}.cards{display:flex;flex-wrap:wrap;gap:14px}\
.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:14px;min-width:200px}\
.fig{font-size:26px;font-weight:600}.detail{color:#5b6475;font-size:13px;margin:4px 0}\
.bar{height:8px;background:#e4e8ef;border-radius:4px;overflow:hidden;margin:6px 0}.bar div{height:8px;background:#2f7ae5}\
.bar.hot div{background:#d9433b}.ok{color:#1e8a4c;font-weight:600}.err{color:#d9433b;font-weight:600}\
table{border-collapse:collapse;background:#fff;margin-top:18px;border:1px solid #dde1e8}\
th,td{padding:6px 10px;border-bottom:1px solid #eef0f4;text-align:right;font-size:14px}th:first-child,td:first-child{text-align:left}\
</style></head><body><h1>Keel status</h1>",
    );
    let _ = write!(
        out,
        "<div class=\"sub\">up {}s &middot; {} keys &middot; sampled every 10 s, last hour shown</div><div class=\"cards\">",
        snap.uptime,
        snap.dbs.iter().map(|d| d.1).sum::<u64>()
    );
    let mem = series(history, snap.used as f64, |s| s.used as f64);
    let (limit, bar) = if snap.maxmemory > 0 {
        let pct = snap.used as f64 * 100.0 / snap.maxmemory as f64;
        let hot = if pct >= 80.0 { " hot" } else { "" };
        (
            format!("{:.1}% of maxmemory {}", pct, human(snap.maxmemory)),
            format!(
                "<div class=\"bar{hot}\"><div style=\"width:{:.1}%\"></div></div>",
                pct.min(100.0)
            ),
        )
    } else {
        ("no maxmemory limit".to_string(), String::new())
    };
    card(
        &mut out,
        "Memory",
        "memory-used",
        &human(snap.used),
        &format!("<span id=\"memory-limit\">{limit}</span>{bar}"),
        &sparkline(&mem),
    );
    let clients = series(history, snap.clients as f64, |s| s.clients as f64);
    card(
        &mut out,
        "Clients",
        "clients",
        &snap.clients.to_string(),
        &format!("{} blocked", snap.blocked),
        &sparkline(&clients),
    );
    let rate = ops_rate(history, snap);
    card(
        &mut out,
        "Commands",
        "commands",
        &snap.commands.to_string(),
        &format!("{:.0} ops/s recently", rate.last().copied().unwrap_or(0.0)),
        &sparkline(&rate),
    );
    let aof = if snap.aof_enabled {
        format!("AOF on, last write {}", ok(snap.aof_write_ok))
    } else {
        "AOF off".to_string()
    };
    card(
        &mut out,
        "Persistence",
        "persistence",
        &aof,
        &format!(
            "last RDB save {} &middot; {} changes since &middot; rewrite {}",
            ok(snap.rdb_ok),
            snap.rdb_changes,
            ok(snap.aof_rewrite_ok)
        ),
        "",
    );
    out.push_str("</div>");
    queues(&mut out, snap, history);
    out.push_str("</body></html>\n");
    out
}

/// The queue table: one row per queue with its counts, memory and backlog sparkline.
fn queues(out: &mut String, snap: &Snapshot, history: &VecDeque<Sample>) {
    if snap.queues.is_empty() {
        out.push_str("<p id=\"queues\">No BullMQ queues found.</p>");
        return;
    }
    out.push_str("<table id=\"queues\"><tr><th>queue</th><th>db</th>");
    for state in STATES {
        let _ = write!(out, "<th>{state}</th>");
    }
    out.push_str("<th>memory</th><th>backlog, last hour</th></tr>");
    for q in &snap.queues {
        let name = esc(&q.name);
        let _ = write!(
            out,
            "<tr data-queue=\"{name}\" data-db=\"{}\"><td>{name}</td><td>{}</td>",
            q.db, q.db
        );
        for (state, n) in STATES.iter().zip(q.counts) {
            let _ = write!(out, "<td data-state=\"{state}\">{n}</td>");
        }
        let backlog = series(history, q.backlog() as f64, |s| {
            s.queues
                .iter()
                .find(|((db, n), _)| *db == q.db && *n == q.name)
                .map_or(0.0, |(_, v)| *v as f64)
        });
        let _ = write!(out, "<td>{}</td><td>{}</td></tr>", human(q.memory), sparkline(&backlog));
    }
    out.push_str("</table>");
    if snap.queues_truncated {
        out.push_str("<p class=\"detail\">More queues exist than metrics-max-queues shows.</p>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc(b"<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
    }

    #[test]
    fn sparklines_scale_to_the_highest_point() {
        let s = sparkline(&[0.0, 5.0, 10.0]);
        assert!(s.contains("points=\"0.0,30.0 80.0,16.0 160.0,2.0\""), "{s}");
        assert!(sparkline(&[]).contains("points=\"0,30.0 160,30.0\""));
        assert!(sparkline(&[3.0]).contains("points=\"0,2.0 160,2.0\""));
    }
}
