//! Loopback upload server.
