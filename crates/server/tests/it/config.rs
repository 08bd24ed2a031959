//! TCP tests: config (filled in by the config work).
