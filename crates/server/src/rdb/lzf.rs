//! LZF compression producing the same bytes as the compressor Redis links (liblzf in its
//! "very fast" configuration), so DUMP payloads and RDB files match Redis's byte for byte.
//! Decompression is the `lzf` crate's: any valid stream decodes the same way.
//!
//! The format: a control byte below 32 starts a literal run of that many plus one bytes; a
//! larger one is a back reference, its top three bits the length minus two (7 = a length
//! byte follows) and its low five bits plus the next byte the distance minus one.

const HASH_BITS: u32 = 16;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
const MAX_LIT: usize = 1 << 5;

/// The hash-table slot of the three bytes whose rolling value is `h`.
fn slot(h: u32) -> usize {
    ((h >> (24 - HASH_BITS)).wrapping_sub(h.wrapping_mul(5)) & ((1 << HASH_BITS) - 1)) as usize
}

/// Appends one literal byte to the open run, closing the run (its control byte) and
/// opening the next when it reaches the format's maximum length.
fn push_literal(out: &mut [u8], op: &mut usize, lit: &mut usize, byte: u8) {
    *lit += 1;
    out[*op] = byte;
    *op += 1;
    if *lit == MAX_LIT {
        out[*op - *lit - 1] = (*lit - 1) as u8;
        *lit = 0;
        *op += 1;
    }
}

/// The match table: the last position each 3-byte hash was seen at. It is kept between
/// calls on a thread, because a fresh 512 KB table per string made a snapshot fault in new
/// pages for every value it compressed. Each slot carries the stamp of the call that wrote
/// it, so a slot from an earlier call reads as empty, exactly as in a zeroed table.
struct Table {
    stamp: u64,
    slots: Vec<u64>,
}

impl Table {
    fn new() -> Table {
        Table { stamp: 0, slots: vec![0; 1 << HASH_BITS] }
    }

    /// Starts a call: every slot reads as empty.
    fn begin(&mut self) {
        self.stamp += 1;
        if self.stamp > u64::from(u32::MAX) {
            self.slots.fill(0);
            self.stamp = 1;
        }
    }

    fn get(&self, s: usize) -> usize {
        let v = self.slots[s];
        if v >> 32 == self.stamp {
            (v & u64::from(u32::MAX)) as usize
        } else {
            0
        }
    }

    fn set(&mut self, s: usize, pos: usize) {
        self.slots[s] = (self.stamp << 32) | pos as u64;
    }
}

thread_local! {
    static TABLE: std::cell::RefCell<Table> = std::cell::RefCell::new(Table::new());
}

/// Compresses `input` into at most `cap` bytes; None when it does not fit (Redis then
/// stores the string uncompressed), or for inputs of 4 GB or more, which Redis's
/// compressor (32-bit lengths) does not take either.
pub fn compress(input: &[u8], cap: usize) -> Option<Vec<u8>> {
    if u32::try_from(input.len()).is_err() {
        return None;
    }
    TABLE.with(|t| match t.try_borrow_mut() {
        Ok(mut table) => compress_with(input, cap, &mut table),
        Err(_) => compress_with(input, cap, &mut Table::new()),
    })
}

/// [`compress`] with `table`. Matches are found through the table and extended as far as
/// they go.
fn compress_with(input: &[u8], cap: usize, table: &mut Table) -> Option<Vec<u8>> {
    let n = input.len();
    if n < 3 {
        return None;
    }
    table.begin();
    // Room for the few bytes the tail may add past the checks below.
    let mut out = vec![0u8; cap + 4];
    let mut op = 1usize; // out[0] is the first literal run's control byte
    let mut lit = 0usize;
    let mut ip = 0usize;
    let first = |p: usize| (u32::from(input[p]) << 8) | u32::from(input[p + 1]);
    let mut h = first(0);
    while ip < n - 2 {
        h = (h << 8) | u32::from(input[ip + 2]);
        let s = slot(h);
        let r = table.get(s);
        table.set(s, ip);
        let off = ip.wrapping_sub(r).wrapping_sub(1);
        if off < MAX_OFF
            && r > 0
            && input[r + 2] == input[ip + 2]
            && input[r] == input[ip]
            && input[r + 1] == input[ip + 1]
        {
            let maxlen = (n - ip - 2).min(MAX_REF);
            if op + 4 >= cap && op - usize::from(lit == 0) + 4 >= cap {
                return None;
            }
            out[op - lit - 1] = lit.wrapping_sub(1) as u8; // close the literal run
            if lit == 0 {
                op -= 1; // an empty run leaves no control byte
            }
            // `len` ends as the number of matching bytes. Long enough candidates are first
            // compared 16 bytes without the length bound, as the reference compressor does.
            let mut len = 2usize;
            let mut done = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[r + len] != input[ip + len] {
                        done = true;
                        break;
                    }
                }
            }
            if !done {
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            let code = len - 2; // stored as length minus two
            ip += 1;
            if code < 7 {
                out[op] = (off >> 8) as u8 + ((code as u8) << 5);
                op += 1;
            } else {
                out[op] = (off >> 8) as u8 + (7 << 5);
                out[op + 1] = (code - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 2; // the byte after is the next run's control byte
            lit = 0;
            ip += code + 1;
            if ip >= n - 2 {
                break;
            }
            // Hash the two positions before the new one, so later data can refer to them.
            ip -= 2;
            h = first(ip);
            for _ in 0..2 {
                h = (h << 8) | u32::from(input[ip + 2]);
                table.set(slot(h), ip);
                ip += 1;
            }
        } else {
            if op >= cap {
                return None;
            }
            push_literal(&mut out, &mut op, &mut lit, input[ip]);
            ip += 1;
        }
    }
    if op + 3 > cap {
        return None;
    }
    while ip < n {
        push_literal(&mut out, &mut op, &mut lit, input[ip]);
        ip += 1;
    }
    out[op - lit - 1] = lit.wrapping_sub(1) as u8;
    if lit == 0 {
        op -= 1;
    }
    out.truncate(op);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_decompressor() {
        let mut inputs: Vec<Vec<u8>> = vec![
            b"abc".repeat(40),
            vec![0u8; 5000],
            (0..3000u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect(),
            (0..2000u32).map(|i| (i % 7) as u8 + b'a').collect(),
        ];
        inputs.push(b"elementnumber1elementnumber2elementnumber300".to_vec());
        for input in inputs {
            if let Some(c) = compress(&input, input.len() - 4) {
                assert!(c.len() <= input.len() - 4);
                assert_eq!(lzf::decompress(&c, input.len()).unwrap(), input);
            }
        }
    }

    #[test]
    fn output_matches_redis() {
        // `SET k <"abc" x 40>` then DUMP in redis-server: the LZF part of the payload.
        let c = compress(&b"abc".repeat(40), 116).unwrap();
        assert_eq!(c, b"\x03abca\xe0i\x02\x01bc");
    }
}
