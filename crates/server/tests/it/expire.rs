//! TCP tests: expire (filled in by the expire work).
