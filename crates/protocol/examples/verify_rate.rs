//! Measures single-core signing and verification rates of whole events on this machine:
//! `cargo run --release -p agora-protocol --example verify_rate`.

use std::time::Instant;

use agora_protocol::author::Author;
use agora_protocol::{Process, SecretKey, VerifiedEvent};

fn main() {
    let count = 20_000;
    let mut author = Author::new(
        SecretKey::from_seed(&[1; 32]),
        Process::from_bytes(&[2; 16]).expect("16"),
    );
    let started = Instant::now();
    let events: Vec<_> = (0..count)
        .map(|i| {
            author
                .post("a typical short post", i)
                .expect("sign")
                .to_signed()
        })
        .collect();
    let signing = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for event in &events {
        VerifiedEvent::verify(event).expect("valid");
    }
    let verifying = started.elapsed().as_secs_f64();
    println!(
        "one core: sign {:.0} events/s, verify {:.0} events/s",
        count as f64 / signing,
        count as f64 / verifying
    );
}
