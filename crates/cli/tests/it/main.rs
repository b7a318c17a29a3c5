//! The `agora` binary run as a person runs it: a subprocess against real servers.

mod admin;
mod block;
mod contract;
mod delivery;
mod devices;
mod discover;
mod edits;
mod export;
mod handles;
mod interop;
mod interop_devices;
mod interop_edits;
mod interop_read;
mod media;
mod misbehave;
mod moderation;
mod offline;
mod read;
mod scenario;
mod serve;
mod support;
mod syncing;
mod tls;
mod user;
mod watch;
mod web;
