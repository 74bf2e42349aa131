//! TEMPORARY STUB (replaced by the real module).
