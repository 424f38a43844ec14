//! Functional execution: every instruction computes real values.
