//! The `agora` binary run as a person runs it: a subprocess against real servers.

mod admin;
mod discover;
mod export;
mod handles;
mod interop;
mod misbehave;
mod moderation;
mod read;
mod serve;
mod support;
mod user;
