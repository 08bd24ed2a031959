//! Micro-benchmark support crate; the benchmarks live in `benches/`.
