//! Geo commands (Redis's `geo` group): GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH,
//! GEOSEARCHSTORE and the older GEORADIUS family.
//!
//! A geo index is an ordinary sorted set whose scores are 52-bit geohashes
//! (`types::geohash`), so GEOADD hands its work to ZADD and the searches read score ranges.
//! Replies follow Redis's formatting: coordinates in its "human" 17-decimal form, distances
//! with four decimals, and unsorted search results in the order the grid cells are visited.

use super::spec::{acl, flags::*, keyspecs, CommandSpec, KeyPos, KeySpec};
use crate::args::Args;
use crate::error::{c_prefix, CmdError};
use crate::server::Ctx;
use crate::types::geohash::{self, Extent, Shape};
use crate::types::num;
use crate::types::zset::ZSetValue;
use bytes::Bytes;
use resp::Frame;

const G: &str = "geo";
const RADIUS_COST: &str = "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.";
const SEARCH_COST: &str = "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape";

/// The geo family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("geoadd", -5, WRITE | DENYOOM, acl::GEO, KeyPos::ONE, geoadd).doc(
        G,
        "3.2.0",
        "Adds one or more members to a geospatial index. The key is created if it doesn't exist.",
        "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
    ),
    CommandSpec::new("geodist", -4, READONLY, acl::GEO, KeyPos::ONE, geodist).doc(
        G,
        "3.2.0",
        "Returns the distance between two members of a geospatial index.",
        "O(1)",
    ),
    CommandSpec::new("geohash", -2, READONLY, acl::GEO, KeyPos::ONE, geohash_cmd).doc(
        G,
        "3.2.0",
        "Returns members from a geospatial index as geohash strings.",
        "O(1) for each member requested.",
    ),
    CommandSpec::new("geopos", -2, READONLY, acl::GEO, KeyPos::ONE, geopos).doc(
        G,
        "3.2.0",
        "Returns the longitude and latitude of members from a geospatial index.",
        "O(1) for each member requested.",
    ),
    CommandSpec::new("georadius", -6, WRITE | DENYOOM, acl::GEO, KeyPos::ONE, georadius)
        .doc(
            G,
            "3.2.0",
            "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.",
            RADIUS_COST,
        )
        .key_specs(&keyspecs::radius_store(6)),
    CommandSpec::new("georadius_ro", -6, READONLY, acl::GEO, KeyPos::ONE, georadius_ro).doc(
        G,
        "3.2.10",
        "Returns members from a geospatial index that are within a distance from a coordinate.",
        RADIUS_COST,
    ),
    CommandSpec::new(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM,
        acl::GEO,
        KeyPos::ONE,
        georadiusbymember,
    )
    .doc(
        G,
        "3.2.0",
        "Queries a geospatial index for members within a distance from a member, optionally stores the result.",
        RADIUS_COST,
    )
    .key_specs(&keyspecs::radius_store(5)),
    CommandSpec::new("georadiusbymember_ro", -5, READONLY, acl::GEO, KeyPos::ONE, georadiusbymember_ro)
        .doc(
            G,
            "3.2.10",
            "Returns members from a geospatial index that are within a distance from a member.",
            RADIUS_COST,
        ),
    CommandSpec::new("geosearch", -7, READONLY, acl::GEO, KeyPos::ONE, geosearch).doc(
        G,
        "6.2.0",
        "Queries a geospatial index for members inside an area of a box or a circle.",
        SEARCH_COST,
    ),
    CommandSpec::new("geosearchstore", -8, WRITE | DENYOOM, acl::GEO, KeyPos::new(1, 2, 1), geosearchstore)
        .doc(
            G,
            "6.2.0",
            "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.",
            SEARCH_COST,
        )
        .key_specs(&[KeySpec::at(1, &["OW", "update"]), KeySpec::at(2, &["RO", "access"])]),
];

// ---------------------------------------------------------------------------------------
// Argument helpers.
// ---------------------------------------------------------------------------------------

/// Redis compares keywords with `strcasecmp`, which stops at a NUL byte.
fn is_kw(arg: &[u8], kw: &str) -> bool {
    c_prefix(arg, arg.len()).eq_ignore_ascii_case(kw.as_bytes())
}

/// Metres per unit for a unit name.
fn parse_unit(arg: &[u8]) -> Result<f64, CmdError> {
    const UNITS: [(&str, f64); 4] = [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)];
    UNITS
        .iter()
        .find(|(name, _)| is_kw(arg, name))
        .map(|(_, metres)| *metres)
        .ok_or(CmdError::Static("ERR unsupported unit provided. please use M, KM, FT, MI"))
}

/// Reads a double, answering `err` when it is not one.
fn parse_num(arg: &[u8], err: CmdError) -> Result<f64, CmdError> {
    num::parse_f64(arg).ok_or(err)
}

/// A longitude/latitude pair, checked against the Mercator-limited ranges.
fn parse_lonlat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let lon = parse_num(lon, CmdError::NotFloat)?;
    let lat = parse_num(lat, CmdError::NotFloat)?;
    if !(geohash::LON_MIN..=geohash::LON_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(CmdError::dynamic(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// `radius unit`: the radius and metres per unit.
fn parse_radius(radius: &[u8], unit: &[u8]) -> Result<(Extent, f64), CmdError> {
    let r = parse_num(radius, CmdError::Static("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err(CmdError::Static("ERR radius cannot be negative"));
    }
    Ok((Extent::Radius(r), parse_unit(unit)?))
}

/// `width height unit`: the box and metres per unit.
fn parse_box(width: &[u8], height: &[u8], unit: &[u8]) -> Result<(Extent, f64), CmdError> {
    let width = parse_num(width, CmdError::Static("ERR need numeric width"))?;
    let height = parse_num(height, CmdError::Static("ERR need numeric height"))?;
    if width < 0.0 || height < 0.0 {
        return Err(CmdError::Static("ERR height or width cannot be negative"));
    }
    Ok((Extent::Box { width, height }, parse_unit(unit)?))
}

/// The position of `member` in a geo set.
fn member_position(z: &ZSetValue, member: &[u8]) -> Result<(f64, f64), CmdError> {
    z.score(member)
        .map(geohash::decode_score)
        .ok_or(CmdError::Static("ERR could not decode requested zset member"))
}

// ---------------------------------------------------------------------------------------
// Reply formatting.
// ---------------------------------------------------------------------------------------

/// A coordinate as Redis prints it: 17 decimals, trailing zeros trimmed; a double frame
/// with that text for RESP3 clients, a bulk string for RESP2 ones.
fn coord(v: f64) -> Frame {
    let mut text = format!("{v:.17}").into_bytes();
    num::trim_fixed(&mut text);
    Frame::DoubleText(Bytes::from(text))
}

/// A [longitude, latitude] pair reply.
fn coords(lon: f64, lat: f64) -> Frame {
    Frame::Array(vec![coord(lon), coord(lat)])
}

/// A distance with four decimals. Redis 7.2 scales by 10^4 and rounds half to even
/// (`llrint`) before placing the decimal point, rather than calling printf.
fn distance_text(d: f64) -> Frame {
    let scaled = (d * 10_000.0).round_ties_even();
    if !scaled.is_finite() || scaled.abs() >= 9.0e18 {
        // Far beyond any distance on Earth; only reachable with absurd units.
        return Frame::Bulk(Bytes::from(format!("{d:.4}")));
    }
    let v = scaled as i64;
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    Frame::Bulk(Bytes::from(format!("{sign}{}.{:04}", a / 10_000, a % 10_000)))
}

// ---------------------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS.
// ---------------------------------------------------------------------------------------

/// `GEOADD key [NX|XX] [CH] longitude latitude member [longitude latitude member ...]`:
/// adds positions. Runs as the equivalent ZADD (which also announces `zadd`), and is
/// propagated as that ZADD.
fn geoadd(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let mut zadd_argv = vec![Bytes::from_static(b"zadd"), key];
    let (mut nx, mut xx) = (false, false);
    while let Some(arg) = args.get(args.pos()) {
        let opt: &'static [u8] = if is_kw(arg, "nx") {
            nx = true;
            b"nx"
        } else if is_kw(arg, "xx") {
            xx = true;
            b"xx"
        } else if is_kw(arg, "ch") {
            b"ch"
        } else {
            break;
        };
        zadd_argv.push(Bytes::from_static(opt));
        args.seek(args.pos() + 1);
    }
    let triples = args.rest();
    if !triples.len().is_multiple_of(3) || (nx && xx) {
        return Err(CmdError::Syntax);
    }
    for t in triples.chunks(3) {
        let (lon, lat) = parse_lonlat(&t[0], &t[1])?;
        let score = geohash::encode_score(lon, lat).ok_or(CmdError::NotFloat)?;
        zadd_argv.push(Bytes::from(num::i64_bytes(score as i64)));
        zadd_argv.push(t[2].clone());
    }
    let mut zadd_args = Args::new(zadd_argv.clone());
    let reply = super::zset::zadd(ctx, &mut zadd_args)?;
    ctx.propagate_as(vec![zadd_argv]);
    Ok(reply)
}

/// `GEODIST key member1 member2 [M|KM|FT|MI]`: the distance between two members, or null
/// when either is missing.
fn geodist(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let a = args.next_bytes()?;
    let b = args.next_bytes()?;
    let unit = match args.remaining() {
        0 => 1.0,
        1 => parse_unit(args.next_ref()?)?,
        _ => return Err(CmdError::Syntax),
    };
    let Some(z) = ctx.zset_read(&key)? else { return Ok(Frame::Null) };
    let (Some(sa), Some(sb)) = (z.score(&a), z.score(&b)) else { return Ok(Frame::Null) };
    let (lon1, lat1) = geohash::decode_score(sa);
    let (lon2, lat2) = geohash::decode_score(sb);
    Ok(distance_text(geohash::distance(lon1, lat1, lon2, lat2) / unit))
}

/// The reply of GEOHASH and GEOPOS: `found(score)` for each member present, `missing` for
/// the others (and for every member of a missing key).
fn per_member(
    ctx: &mut Ctx<'_>,
    args: &mut Args,
    missing: Frame,
    found: fn(f64) -> Frame,
) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let members = args.rest().to_vec();
    let z = ctx.zset_read(&key)?;
    let reply = members
        .iter()
        .map(|m| z.as_ref().and_then(|z| z.score(m)).map_or_else(|| missing.clone(), found))
        .collect();
    Ok(Frame::Array(reply))
}

/// `GEOHASH key [member ...]`: standard 11-character geohashes (null for missing members).
fn geohash_cmd(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    per_member(ctx, args, Frame::Null, |s| Frame::bulk(&geohash::standard_hash(s)))
}

/// `GEOPOS key [member ...]`: [longitude, latitude] of each member (null for missing ones).
fn geopos(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    per_member(ctx, args, Frame::NullArray, |s| {
        let (lon, lat) = geohash::decode_score(s);
        coords(lon, lat)
    })
}

// ---------------------------------------------------------------------------------------
// The searches.
// ---------------------------------------------------------------------------------------

/// Which command is searching: it decides the fixed arguments and the accepted options.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cmd {
    /// GEORADIUS[_RO] key lon lat radius unit
    Radius { store_ok: bool },
    /// GEORADIUSBYMEMBER[_RO] key member radius unit
    ByMember { store_ok: bool },
    /// GEOSEARCH key ...
    Geosearch,
    /// GEOSEARCHSTORE dst key ...
    Store,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    None,
    Asc,
    Desc,
}

/// A parsed search request.
struct Query {
    centre: Option<(f64, f64)>,
    area: Option<(Extent, f64)>,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    order: Order,
    count: usize,
    any: bool,
    store: Option<Bytes>,
    store_dist: bool,
}

/// One point found by a search.
struct Hit {
    member: Bytes,
    score: f64,
    lon: f64,
    lat: f64,
    /// Metres from the centre.
    dist: f64,
}

/// Parses the arguments after the fixed ones, in Redis's order: each option is checked as
/// it is met, so the first bad one decides the error. `z` is the source set (FROMMEMBER
/// needs it; with no set, the member is not looked up).
fn parse_options(
    cmd_name: &[u8],
    argv: &[Bytes],
    search: Cmd,
    z: Option<&ZSetValue>,
    q: &mut Query,
) -> Result<(), CmdError> {
    let is_search = matches!(search, Cmd::Geosearch | Cmd::Store);
    let store_ok =
        matches!(search, Cmd::Radius { store_ok: true } | Cmd::ByMember { store_ok: true });
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
        (false, false, false, false);
    let mut i = 0;
    while i < argv.len() {
        let arg = &argv[i][..];
        let left = argv.len() - i - 1;
        if is_kw(arg, "withdist") {
            q.with_dist = true;
        } else if is_kw(arg, "withhash") {
            q.with_hash = true;
        } else if is_kw(arg, "withcoord") {
            q.with_coord = true;
        } else if is_kw(arg, "any") {
            q.any = true;
        } else if is_kw(arg, "asc") {
            q.order = Order::Asc;
        } else if is_kw(arg, "desc") {
            q.order = Order::Desc;
        } else if is_kw(arg, "count") && left >= 1 {
            let n = num::parse_i64(&argv[i + 1]).ok_or(CmdError::NotInteger)?;
            if n <= 0 {
                return Err(CmdError::Static("ERR COUNT must be > 0"));
            }
            q.count = usize::try_from(n).unwrap_or(usize::MAX);
            i += 1;
        } else if (is_kw(arg, "store") || is_kw(arg, "storedist")) && left >= 1 && store_ok {
            q.store = Some(argv[i + 1].clone());
            q.store_dist = is_kw(arg, "storedist");
            i += 1;
        } else if is_kw(arg, "storedist") && search == Cmd::Store {
            q.store_dist = true;
        } else if is_kw(arg, "frommember") && left >= 1 && is_search && !from_lonlat {
            if let Some(z) = z {
                q.centre = Some(member_position(z, &argv[i + 1])?);
            }
            from_member = true;
            i += 1;
        } else if is_kw(arg, "fromlonlat") && left >= 2 && is_search && !from_member {
            q.centre = Some(parse_lonlat(&argv[i + 1], &argv[i + 2])?);
            from_lonlat = true;
            i += 2;
        } else if is_kw(arg, "byradius") && left >= 2 && is_search && !by_box {
            q.area = Some(parse_radius(&argv[i + 1], &argv[i + 2])?);
            by_radius = true;
            i += 2;
        } else if is_kw(arg, "bybox") && left >= 3 && is_search && !by_radius {
            q.area = Some(parse_box(&argv[i + 1], &argv[i + 2], &argv[i + 3])?);
            by_box = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if q.store.is_some() && (q.with_dist || q.with_hash || q.with_coord) {
        let who = if search == Cmd::Store { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" };
        return Err(CmdError::dynamic(format!(
            "ERR {who} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    // Redis names the command as the caller spelled it.
    let name = String::from_utf8_lossy(c_prefix(cmd_name, cmd_name.len()));
    if is_search && !(from_member || from_lonlat) {
        return Err(CmdError::dynamic(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if is_search && !(by_radius || by_box) {
        return Err(CmdError::dynamic(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    Ok(())
}

/// Reads the points of the cells around the shape, in Redis's cell order, keeping those
/// inside. With `limit` (COUNT ... ANY) it stops once that many are found.
fn collect_hits(z: &ZSetValue, shape: &Shape, limit: usize) -> Vec<Hit> {
    let mut hits: Vec<Hit> = Vec::new();
    let full = |hits: &Vec<Hit>| limit > 0 && hits.len() >= limit;
    let mut last: Option<(usize, geohash::Cell)> = None;
    for (i, cell) in geohash::search_cells(shape).into_iter().enumerate() {
        let Some(cell) = cell else { continue };
        // Large areas can make neighbours coincide; Redis skips a cell equal to the one read
        // just before it (its check never fires right after the centre cell).
        if matches!(last, Some((li, lc)) if li != 0 && lc == cell) {
            continue;
        }
        if full(&hits) {
            break;
        }
        let (min, max) = geohash::score_range(cell);
        let start = z.count_before(&|s, _| s < min);
        let end = z.count_before(&|s, _| s < max);
        z.for_range(start, end, false, |member, score| {
            if full(&hits) {
                return;
            }
            let (lon, lat) = geohash::decode_score(score);
            if let Some(dist) = shape.contains(lon, lat) {
                hits.push(Hit { member: Bytes::copy_from_slice(member), score, lon, lat, dist });
            }
        });
        last = Some((i, cell));
    }
    hits
}

/// The shared body of every search command.
fn search_generic(ctx: &mut Ctx<'_>, args: &mut Args, search: Cmd) -> Result<Frame, CmdError> {
    let argv = args.argv().to_vec();
    let mut q = Query {
        centre: None,
        area: None,
        with_dist: false,
        with_hash: false,
        with_coord: false,
        order: Order::None,
        count: 0,
        any: false,
        store: None,
        store_dist: false,
    };
    let src_at = if search == Cmd::Store { 2 } else { 1 };
    if search == Cmd::Store {
        q.store = Some(argv[1].clone());
    }
    let src = argv[src_at].clone();
    // The type is checked before any argument.
    let z: Option<&ZSetValue> = ctx.zset_read(&src)?.map(|z| &*z);
    let first_opt = match search {
        Cmd::Radius { .. } => {
            q.centre = Some(parse_lonlat(&argv[2], &argv[3])?);
            q.area = Some(parse_radius(&argv[4], &argv[5])?);
            6
        }
        Cmd::ByMember { .. } => {
            // Without a set there is nothing to search, but the options are still parsed
            // (STORE decides the reply); the radius is then never read.
            if let Some(z) = z {
                q.centre = Some(member_position(z, &argv[2])?);
                q.area = Some(parse_radius(&argv[3], &argv[4])?);
            }
            5
        }
        Cmd::Geosearch => 2,
        Cmd::Store => 3,
    };
    parse_options(&argv[0], &argv[first_opt..], search, z, &mut q)?;
    if q.any && q.count == 0 {
        return Err(CmdError::Static("ERR the ANY argument requires COUNT argument"));
    }
    let (Some(z), Some((lon, lat)), Some((extent, unit))) = (z, q.centre, q.area) else {
        // No source set: an empty result (stored as "nothing", which deletes the target).
        return match q.store {
            Some(dst) => super::zset::store_result(ctx, &dst, Vec::new(), ""),
            None => Ok(Frame::Array(Vec::new())),
        };
    };
    if q.count > 0 && q.order == Order::None && !q.any {
        // The nearest N only make sense sorted.
        q.order = Order::Asc;
    }
    let shape = Shape { lon, lat, unit, extent };
    let mut hits = collect_hits(z, &shape, if q.any { q.count } else { 0 });
    match q.order {
        Order::Asc => hits.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Order::Desc => hits.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        Order::None => {}
    }
    if q.count > 0 {
        hits.truncate(q.count);
    }
    if let Some(dst) = q.store {
        let pairs = hits
            .into_iter()
            .map(|h| (h.member, if q.store_dist { h.dist / unit } else { h.score }))
            .collect();
        let event = if matches!(search, Cmd::Geosearch | Cmd::Store) {
            "geosearchstore"
        } else {
            "georadiusstore"
        };
        return super::zset::store_result(ctx, &dst, pairs, event);
    }
    let nested = q.with_dist || q.with_hash || q.with_coord;
    let reply = hits
        .into_iter()
        .map(|h| {
            if !nested {
                return Frame::Bulk(h.member);
            }
            let mut item = vec![Frame::Bulk(h.member)];
            if q.with_dist {
                item.push(distance_text(h.dist / unit));
            }
            if q.with_hash {
                item.push(Frame::Integer(geohash::score_integer(h.score)));
            }
            if q.with_coord {
                item.push(coords(h.lon, h.lat));
            }
            Frame::Array(item)
        })
        .collect();
    Ok(Frame::Array(reply))
}

/// `GEORADIUS key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
/// [COUNT count [ANY]] [ASC|DESC] [STORE key|STOREDIST key]`: members within a radius of a
/// position.
fn georadius(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    search_generic(ctx, args, Cmd::Radius { store_ok: true })
}

/// `GEORADIUS_RO key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
/// [COUNT count [ANY]] [ASC|DESC]`: GEORADIUS without STORE.
fn georadius_ro(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    search_generic(ctx, args, Cmd::Radius { store_ok: false })
}

/// `GEORADIUSBYMEMBER key member radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
/// [COUNT count [ANY]] [ASC|DESC] [STORE key|STOREDIST key]`: members within a radius of a
/// member.
fn georadiusbymember(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    search_generic(ctx, args, Cmd::ByMember { store_ok: true })
}

/// `GEORADIUSBYMEMBER_RO key member radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
/// [COUNT count [ANY]] [ASC|DESC]`: GEORADIUSBYMEMBER without STORE.
fn georadiusbymember_ro(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    search_generic(ctx, args, Cmd::ByMember { store_ok: false })
}

/// `GEOSEARCH key FROMMEMBER member|FROMLONLAT longitude latitude BYRADIUS radius unit|BYBOX
/// width height unit [ASC|DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]`:
/// members inside a circle or box.
fn geosearch(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    search_generic(ctx, args, Cmd::Geosearch)
}

/// `GEOSEARCHSTORE destination source FROMMEMBER member|FROMLONLAT longitude latitude
/// BYRADIUS radius unit|BYBOX width height unit [ASC|DESC] [COUNT count [ANY]] [STOREDIST]`:
/// GEOSEARCH storing the result (scores are geohashes, or distances with STOREDIST).
fn geosearchstore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    search_generic(ctx, args, Cmd::Store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_have_four_decimals() {
        assert_eq!(distance_text(0.0), Frame::bulk(b"0.0000"));
        assert_eq!(distance_text(166274.15156960033), Frame::bulk(b"166274.1516"));
        assert_eq!(distance_text(0.00004), Frame::bulk(b"0.0000"));
        assert_eq!(distance_text(0.0005), Frame::bulk(b"0.0005"));
        assert_eq!(distance_text(12.5), Frame::bulk(b"12.5000"));
    }

    #[test]
    fn keywords_stop_at_nul_like_strcasecmp() {
        assert!(is_kw(b"KM", "km"));
        assert!(is_kw(b"m\0junk", "m"));
        assert!(!is_kw(b"kms", "km"));
        assert_eq!(parse_unit(b"Mi"), Ok(1609.34));
        assert!(parse_unit(b"yd").is_err());
    }

    #[test]
    fn coordinates_print_like_redis() {
        assert_eq!(
            coord(13.361389338970184),
            Frame::DoubleText(Bytes::from_static(b"13.36138933897018433"))
        );
        assert_eq!(coord(180.0), Frame::DoubleText(Bytes::from_static(b"180")));
    }
}
