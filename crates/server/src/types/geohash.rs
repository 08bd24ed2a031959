//! Geohash arithmetic behind the geo commands, reproducing Redis's numbers bit for bit.
//!
//! A position is stored as a sorted set score: a 52-bit integer made of 26 bits of latitude
//! (even bit positions) and 26 bits of longitude (odd positions), each the coordinate's offset
//! inside its range scaled to 2^26. The latitude range is Web Mercator's ±85.05112878 degrees,
//! which is why GEOHASH re-encodes positions against the standard ±90 range before printing.
//!
//! A search never scans the whole set: it picks a cell size (a "step", the number of bits
//! kept per coordinate) large enough for the searched area, then reads the score ranges of the
//! cell holding the centre and of its eight neighbours, and keeps the points that fall inside
//! the shape. Redis's choices (the step estimate, the neighbours it drops, the order it visits
//! them in) decide the order of unsorted replies, so they are followed exactly here. All
//! distances use the haversine formula on a sphere of radius 6372797.560856 m.

use std::f64::consts::PI;

/// Bits per coordinate in a stored score.
pub const STEP_MAX: u8 = 26;
/// Smallest accepted longitude.
pub const LON_MIN: f64 = -180.0;
/// Largest accepted longitude.
pub const LON_MAX: f64 = 180.0;
/// Smallest accepted latitude (the Web Mercator limit).
pub const LAT_MIN: f64 = -85.05112878;
/// Largest accepted latitude.
pub const LAT_MAX: f64 = 85.05112878;

const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the Mercator projection's width in metres: the step estimate starts from it.
const MERCATOR_MAX: f64 = 20037726.37;
/// Degrees to radians, computed once as Redis does (multiplying by it, not dividing by 180,
/// gives the same last bits as Redis).
const DEG_TO_RAD: f64 = PI / 180.0;

/// The 32 symbols of a textual geohash.
const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// A cell of the grid at some step: `bits` holds `2 * step` interleaved bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    /// Interleaved latitude (even positions) and longitude (odd positions) bits.
    pub bits: u64,
    /// Bits per coordinate, 1..=26.
    pub step: u8,
}

/// A closed interval of degrees.
#[derive(Clone, Copy, Debug)]
struct Range {
    min: f64,
    max: f64,
}

const LON_RANGE: Range = Range { min: LON_MIN, max: LON_MAX };
const LAT_RANGE: Range = Range { min: LAT_MIN, max: LAT_MAX };
/// The latitude range of standard (textual) geohashes.
const LAT_RANGE_STANDARD: Range = Range { min: -90.0, max: 90.0 };

/// The rectangle a cell covers.
#[derive(Clone, Copy, Debug)]
struct Area {
    lon: Range,
    lat: Range,
}

/// What a search covers, around a centre.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Extent {
    /// A circle of this radius (in the query's unit).
    Radius(f64),
    /// An axis-aligned box of this width and height (in the query's unit).
    Box {
        /// East-west size.
        width: f64,
        /// North-south size.
        height: f64,
    },
}

/// A search area: centre, extent, and the unit's size in metres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    /// Centre longitude.
    pub lon: f64,
    /// Centre latitude.
    pub lat: f64,
    /// Metres per unit of the extent (1 for m, 1000 for km, ...).
    pub unit: f64,
    /// Circle or box.
    pub extent: Extent,
}

/// Spreads the 32 bits of `v` to the even bit positions of a u64.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    x = (x | (x << 1)) & 0x5555_5555_5555_5555;
    x
}

/// Gathers the even bit positions of `v` into a u32 (the inverse of [`spread`]).
fn gather(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// The cell of `step` bits holding a position, against the given ranges; `None` when the
/// position is outside the Mercator limits or outside the ranges.
fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Cell> {
    let outside = |v: f64, r: Range| v < r.min || v > r.max;
    if outside(lon, LON_RANGE) || outside(lat, LAT_RANGE) {
        return None;
    }
    if outside(lon, lon_r) || outside(lat, lat_r) {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * cells;
    let lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min) * cells;
    // The offsets are within 0..=2^26, so the truncating casts are exact integer parts.
    let bits = spread(lat_off as u32) | (spread(lon_off as u32) << 1);
    Some(Cell { bits, step })
}

/// The rectangle covered by `cell`. Coordinates past the top of the grid (possible only for
/// scores that were not written by GEOADD) wrap like Redis's 32-bit arithmetic does.
fn decode(lon_r: Range, lat_r: Range, cell: Cell) -> Area {
    let lat_i = gather(cell.bits);
    let lon_i = gather(cell.bits >> 1);
    let cells = (1u64 << cell.step) as f64;
    let edge = |r: Range, i: u32| r.min + (f64::from(i) / cells) * (r.max - r.min);
    Area {
        lat: Range { min: edge(lat_r, lat_i), max: edge(lat_r, lat_i.wrapping_add(1)) },
        lon: Range { min: edge(lon_r, lon_i), max: edge(lon_r, lon_i.wrapping_add(1)) },
    }
}

/// Converts a score to the integer Redis reads from it. Redis casts the double to uint64_t,
/// which on x86-64 gives the two's complement of negative values and fixed patterns for
/// values out of range; reproducing that keeps odd scores (set by ZADD) decoding the same.
fn score_bits(score: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    const INDEFINITE: u64 = 1 << 63;
    if score < TWO_63 {
        if score >= -TWO_63 {
            score as i64 as u64
        } else {
            INDEFINITE
        }
    } else if score - TWO_63 < TWO_63 {
        ((score - TWO_63) as i64 as u64) ^ INDEFINITE
    } else {
        0
    }
}

/// The score GEOADD stores for a position, or `None` outside the accepted ranges.
pub fn encode_score(lon: f64, lat: f64) -> Option<f64> {
    encode(LON_RANGE, LAT_RANGE, lon, lat, STEP_MAX).map(|c| c.bits as f64)
}

/// The position (longitude, latitude) a score stands for: the centre of its cell, clamped
/// to the accepted ranges.
pub fn decode_score(score: f64) -> (f64, f64) {
    let area = decode(LON_RANGE, LAT_RANGE, Cell { bits: score_bits(score), step: STEP_MAX });
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The integer WITHHASH prints for a score (a C cast from double to long long).
pub fn score_integer(score: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if (-TWO_63..TWO_63).contains(&score) {
        score as i64
    } else {
        i64::MIN
    }
}

/// The 11-character standard geohash of a stored score: its position re-encoded against the
/// ±90 latitude range. 52 bits give ten characters; the eleventh is always '0'.
pub fn standard_hash(score: f64) -> [u8; 11] {
    let (lon, lat) = decode_score(score);
    let bits = encode(LON_RANGE, LAT_RANGE_STANDARD, lon, lat, STEP_MAX).map_or(0, |c| c.bits);
    let mut out = [BASE32[0]; 11];
    for (i, ch) in out.iter_mut().take(10).enumerate() {
        let shift = 52 - (i + 1) * 5;
        *ch = BASE32[((bits >> shift) & 0x1f) as usize];
    }
    out
}

fn rad(deg: f64) -> f64 {
    deg * DEG_TO_RAD
}

fn deg(rad: f64) -> f64 {
    rad / DEG_TO_RAD
}

/// Distance in metres between two points on the same meridian.
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (rad(lat2) - rad(lat1)).abs()
}

/// Great-circle distance in metres (haversine). Points on the same meridian take the exact
/// shortcut Redis takes, so the results match to the last bit.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((rad(lon2) - rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (rad(lat1), rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

impl Shape {
    /// The distance from the centre to `(lon, lat)` in metres, if the point is inside.
    pub fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.extent {
            Extent::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= r * self.unit).then_some(d)
            }
            Extent::Box { width, height } => {
                // Cheap latitude test first, then the east-west distance along the point's
                // own parallel, as Redis does.
                if lat_distance(lat, self.lat) > height * self.unit / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > width * self.unit / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }

    /// `[min_lon, min_lat, max_lon, max_lat]` around the shape.
    fn bounds(&self) -> [f64; 4] {
        let (half_h, half_w) = match self.extent {
            Extent::Radius(r) => (self.unit * r, self.unit * r),
            Extent::Box { width, height } => {
                (self.unit * (height / 2.0), self.unit * (width / 2.0))
            }
        };
        let lat_delta = deg(half_h / EARTH_RADIUS_M);
        let lon_delta_top = deg(half_w / EARTH_RADIUS_M / rad(self.lat + lat_delta).cos());
        let lon_delta_bottom = deg(half_w / EARTH_RADIUS_M / rad(self.lat - lat_delta).cos());
        // Parallels shrink towards the pole, so the wider edge is the one nearer the equator.
        let lon_delta = if self.lat < 0.0 { lon_delta_bottom } else { lon_delta_top };
        [self.lon - lon_delta, self.lat - lat_delta, self.lon + lon_delta, self.lat + lat_delta]
    }

    /// The radius of the circle around the shape, in metres.
    fn reach(&self) -> f64 {
        let r = match self.extent {
            Extent::Radius(r) => r,
            Extent::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        };
        r * self.unit
    }
}

/// The step whose cells are about as large as `range_m`, a little coarser near the poles.
fn steps_for(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return STEP_MAX;
    }
    let mut step: i32 = 1;
    let mut range = range_m;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    // Two steps coarser, so the area fits in the centre cell and its neighbours.
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// Moves a cell by one along one coordinate: `mask` selects that coordinate's bits (odd =
/// longitude, even = latitude). The other coordinate's bit positions are filled with ones
/// so the carry or borrow crosses them; the result wraps around the grid.
fn shift(cell: Cell, mask: u64, up: bool) -> Cell {
    let width = 64 - 2 * u32::from(cell.step);
    let own = cell.bits & mask;
    let other = cell.bits & !mask;
    let filler = !mask >> width;
    let moved =
        if up { own.wrapping_add(filler + 1) } else { (own | filler).wrapping_sub(filler + 1) };
    Cell { bits: (moved & (mask >> width)) | other, step: cell.step }
}

const LON_BITS: u64 = 0xAAAA_AAAA_AAAA_AAAA;
const LAT_BITS: u64 = 0x5555_5555_5555_5555;

/// The neighbours of a cell, as `[north, south, east, west, ne, nw, se, sw]`.
fn neighbours(c: Cell) -> [Cell; 8] {
    let north = shift(c, LAT_BITS, true);
    let south = shift(c, LAT_BITS, false);
    let east = shift(c, LON_BITS, true);
    let west = shift(c, LON_BITS, false);
    [
        north,
        south,
        east,
        west,
        shift(east, LAT_BITS, true),
        shift(west, LAT_BITS, true),
        shift(east, LAT_BITS, false),
        shift(west, LAT_BITS, false),
    ]
}

/// The cells to read for a search, in Redis's visiting order: the centre cell, then north,
/// south, east, west, north-east, north-west, south-east, south-west. `None` marks a
/// neighbour that cannot hold a point of the shape.
pub fn search_cells(shape: &Shape) -> [Option<Cell>; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = shape.bounds();
    let mut step = steps_for(shape.reach(), shape.lat);
    // The centre was validated, so encoding cannot fail; an empty search is the safe answer.
    let Some(mut centre) = encode(LON_RANGE, LAT_RANGE, shape.lon, shape.lat, step) else {
        return [None; 9];
    };
    let mut around = neighbours(centre);
    // When the shape reaches past a neighbour, the estimated cells are too small: go one
    // step coarser.
    let [n, s, e, w, ..] = around.map(|c| decode(LON_RANGE, LAT_RANGE, c));
    let too_small =
        n.lat.max < max_lat || s.lat.min > min_lat || e.lon.max < max_lon || w.lon.min > min_lon;
    if step > 1 && too_small {
        step -= 1;
        if let Some(c) = encode(LON_RANGE, LAT_RANGE, shape.lon, shape.lat, step) {
            centre = c;
            around = neighbours(centre);
        }
    }
    let mut cells = [Some(centre), None, None, None, None, None, None, None, None];
    for (slot, c) in cells[1..].iter_mut().zip(around) {
        *slot = Some(c);
    }
    if step >= 2 {
        // Drop the neighbours on a side the shape does not reach.
        let area = decode(LON_RANGE, LAT_RANGE, centre);
        let mut drop = |idx: [usize; 3]| idx.iter().for_each(|&i| cells[i] = None);
        if area.lat.min < min_lat {
            drop([2, 8, 7]);
        }
        if area.lat.max > max_lat {
            drop([1, 5, 6]);
        }
        if area.lon.min < min_lon {
            drop([4, 8, 6]);
        }
        if area.lon.max > max_lon {
            drop([3, 7, 5]);
        }
    }
    cells
}

/// The scores a cell covers: `min` included, `max` excluded.
pub fn score_range(cell: Cell) -> (f64, f64) {
    let shift = 52 - 2 * u32::from(cell.step);
    ((cell.bits << shift) as f64, ((cell.bits + 1) << shift) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_round_trips() {
        for v in [0u32, 1, 0xFFFF_FFFF, 0x1234_5678, 1 << 25] {
            assert_eq!(gather(spread(v)), v);
            assert_eq!(gather(spread(v) << 1 >> 1), v);
        }
        assert_eq!(spread(0b11), 0b101);
    }

    #[test]
    fn palermo_matches_redis() {
        // Values from the Redis documentation's Sicily example.
        let score = encode_score(13.361389, 38.115556).unwrap();
        assert_eq!(score, 3479099956230698.0);
        let (lon, lat) = decode_score(score);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        assert_eq!(&standard_hash(score), b"sqc8b49rny0");
        let catania = encode_score(15.087269, 37.502669).unwrap();
        let (lon2, lat2) = decode_score(catania);
        assert_eq!(format!("{:.4}", distance(lon, lat, lon2, lat2)), "166274.1516");
    }

    #[test]
    fn out_of_range_positions_are_refused() {
        assert!(encode_score(180.1, 0.0).is_none());
        assert!(encode_score(0.0, 85.06).is_none());
        assert!(encode_score(-180.0, -85.05112878).is_some());
    }

    #[test]
    fn neighbours_are_adjacent() {
        let c = encode(LON_RANGE, LAT_RANGE, 10.0, 10.0, 10).unwrap();
        let [n, s, e, w, ne, nw, se, sw] = neighbours(c);
        let a = decode(LON_RANGE, LAT_RANGE, c);
        let an = decode(LON_RANGE, LAT_RANGE, n);
        assert_eq!(an.lat.min, a.lat.max);
        assert_eq!(decode(LON_RANGE, LAT_RANGE, s).lat.max, a.lat.min);
        assert_eq!(decode(LON_RANGE, LAT_RANGE, e).lon.min, a.lon.max);
        assert_eq!(decode(LON_RANGE, LAT_RANGE, w).lon.max, a.lon.min);
        assert_eq!(shift(n, LON_BITS, true), ne);
        assert_eq!(shift(n, LON_BITS, false), nw);
        assert_eq!(shift(s, LON_BITS, true), se);
        assert_eq!(shift(s, LON_BITS, false), sw);
    }

    #[test]
    fn odd_scores_decode_like_redis() {
        // A negative score reads as all ones: the far corner of the grid.
        assert_eq!(score_bits(-1.0), u64::MAX);
        assert_eq!(decode_score(-1.0), (LON_MAX, LAT_MAX));
        assert_eq!(score_bits(f64::INFINITY), 0);
        assert_eq!(score_integer(0.5), 0);
    }

    #[test]
    fn steps_shrink_with_radius() {
        assert_eq!(steps_for(0.0, 0.0), 26);
        assert!(steps_for(1000.0, 0.0) > steps_for(100_000.0, 0.0));
        assert_eq!(steps_for(f64::INFINITY, 0.0), 1);
        assert_eq!(steps_for(1000.0, 70.0) + 1, steps_for(1000.0, 0.0));
    }
}
