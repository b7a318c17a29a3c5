//! Integration tests of the client against real servers.

mod home;
mod publish;
mod sync;
