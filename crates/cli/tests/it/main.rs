//! The `agora` binary run as a person runs it: a subprocess against real servers.

mod export;
mod interop;
mod misbehave;
mod read;
mod serve;
mod support;
mod user;
