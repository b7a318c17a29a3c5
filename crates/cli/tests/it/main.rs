//! The `agora` binary run as a person runs it: a subprocess against real servers.

mod interop;
mod serve;
mod support;
mod user;
