//! The storage conformance suite: each test is a function generic over [`agora_store::Store`]
//! that takes a fresh store, so every engine runs the same checks through [`suite!`].

pub mod counters;
pub mod deletes;
pub mod durability;
pub mod feeds;
pub mod ingest;
pub mod references;
pub mod support;

use agora_store::Store;

/// An engine under test: where its stores live, and how to open one there.
pub trait Engine {
    type Store: Store;

    /// A new, empty place for a store (a temporary directory, a fresh database).
    fn create() -> Self;

    /// Opens the store at this place. Opening again after dropping the store is a restart.
    fn open(&self) -> Self::Store;
}

/// Instantiates every conformance test as a `#[tokio::test]` for one [`Engine`].
macro_rules! suite {
    ($engine:ty) => {
        $crate::conformance::suite!(@fresh $engine;
            ingest::duplicate_in_one_batch_is_stored_once,
            ingest::duplicate_across_batches_is_stored_once,
            ingest::ranges_collapse_runs_and_keep_gaps,
            deletes::delete_removes_target_and_leaves_tombstone,
            deletes::delete_arriving_before_target_wins,
            deletes::delete_and_target_in_one_batch,
            deletes::repeated_deletes_keep_one_tombstone,
            deletes::delete_of_a_delete_is_rejected,
            deletes::delete_of_a_delete_arriving_first_is_rejected,
            counters::revote_keeps_only_the_latest_opinion,
            counters::opinions_count_the_same_in_any_arrival_order,
            counters::neutral_clears_a_like,
            counters::deleting_the_winning_opinion_falls_back,
            counters::deleting_a_reply_decrements_replies,
            counters::likes_count_once_per_system,
            counters::reference_counts_by_from_type,
            references::replies_are_ordered_by_score_then_newest,
            references::paging_replies_returns_each_once,
            references::bytes_subjects_count_and_list_across_the_union,
            feeds::index_is_newest_first_and_strictly_decreasing,
            feeds::index_pages_by_millisecond_lose_nothing,
            feeds::index_pages_by_millisecond_survive_a_crowded_millisecond,
            feeds::index_pages_by_cursor_are_exact,
            feeds::index_proof_names_other_processes,
            feeds::head_is_highest_clock_per_process_with_its_system_processes,
            feeds::latest_is_highest_clock_per_type_and_falls_back_after_delete,
        );

        #[tokio::test(flavor = "multi_thread")]
        async fn stored_events_survive_reopen() {
            let engine = <$engine as $crate::conformance::Engine>::create();
            $crate::conformance::durability::stored_events_survive_reopen(|| {
                <$engine as $crate::conformance::Engine>::open(&engine)
            })
            .await;
        }
    };
    (@fresh $engine:ty; $($module:ident :: $test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $test() {
                let engine = <$engine as $crate::conformance::Engine>::create();
                let store = <$engine as $crate::conformance::Engine>::open(&engine);
                $crate::conformance::$module::$test(store).await;
            }
        )*
    };
}

pub(crate) use suite;
