//! Integration tests of the client against real servers.

mod devices;
mod discover;
mod home;
mod images;
mod publish;
mod sync;
