//! Ferry core.
