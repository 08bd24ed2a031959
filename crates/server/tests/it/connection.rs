//! TCP tests: connection (filled in by the connection work).
