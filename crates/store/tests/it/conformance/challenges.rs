//! Challenges in the store (what `/purge` and signed handle claims spend): the key and the
//! spent set are the store's, so every node over one store, and every restart, agrees on them.

use std::sync::Arc;

use agora_store::Store;

/// When every challenge in these tests expires, unless a test says otherwise.
const LATER_MS: u64 = 10_000_000;

/// Many spenders of one challenge at once, as several nodes racing on one request: exactly one
/// spends it.
pub async fn a_challenge_is_spent_once_by_concurrent_spenders<S: Store>(store: S) {
    let store = Arc::new(store);
    let spenders: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.spend_challenge([1; 32], LATER_MS, 1_000).await })
        })
        .collect();
    let mut spent = Vec::new();
    for spender in spenders {
        spent.push(spender.await.expect("task").expect("spend"));
    }
    assert_eq!(spent.iter().filter(|spent| **spent).count(), 1, "{spent:?}");
    assert!(
        store
            .spend_challenge([2; 32], LATER_MS, 1_000)
            .await
            .expect("spend"),
        "another challenge is its own"
    );
}

/// The key is made once with the store, and a spend is remembered after a restart.
pub async fn challenge_spends_and_the_key_outlive_a_reopen<S: Store>(open: impl Fn() -> S) {
    let store = open();
    let key = store.challenge_key();
    assert_ne!(key, [0; 32]);
    assert!(
        store
            .spend_challenge([1; 32], LATER_MS, 1_000)
            .await
            .expect("spend")
    );
    drop(store);
    let store = open();
    assert_eq!(store.challenge_key(), key, "the same key after a restart");
    assert!(
        !store
            .spend_challenge([1; 32], LATER_MS, 2_000)
            .await
            .expect("spend"),
        "spent before the restart"
    );
}

/// Spends are forgotten once they expire, so the spent set holds only live challenges (a
/// caller refuses an expired challenge before it reaches the store).
pub async fn expired_spends_are_forgotten<S: Store>(store: S) {
    assert!(
        store
            .spend_challenge([1; 32], 5_000, 1_000)
            .await
            .expect("spend")
    );
    assert!(
        !store
            .spend_challenge([1; 32], 5_000, 4_000)
            .await
            .expect("spend")
    );
    // Past its expiry, later spends prune it; spent again, it counts as new.
    for n in 2..12 {
        store
            .spend_challenge([n; 32], LATER_MS, 6_000)
            .await
            .expect("spend");
    }
    assert!(
        store
            .spend_challenge([1; 32], LATER_MS, 6_000)
            .await
            .expect("spend")
    );
    // Live ones are kept however many spends prune.
    assert!(
        !store
            .spend_challenge([2; 32], LATER_MS, 7_000)
            .await
            .expect("spend")
    );
}
