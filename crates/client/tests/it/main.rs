//! Integration tests of the client against real servers, and hostile ones.

mod devices;
mod discover;
mod fuzz;
mod home;
mod images;
mod publish;
mod sync;
