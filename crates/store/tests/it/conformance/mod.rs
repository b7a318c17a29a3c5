//! The storage conformance suite: each test is a function generic over [`agora_store::Store`]
//! that takes a fresh store, so every engine runs the same checks through [`suite!`].

pub mod challenges;
pub mod concurrency;
pub mod counters;
pub mod curation;
pub mod deletes;
pub mod devices;
pub mod discovery;
pub mod durability;
pub mod edits;
pub mod feeds;
pub mod identity;
pub mod ingest;
pub mod moderation;
pub mod references;
pub mod stream;
pub mod support;

use agora_store::Store;

/// An engine under test: where its stores live, and how to open one there.
pub trait Engine {
    type Store: Store;

    /// A new, empty place for a store (a temporary directory, a fresh database).
    fn create() -> Self;

    /// Opens the store at this place. Opening again after dropping the store is a restart.
    fn open(&self) -> Self::Store;

    /// The nodes of one store at this place, for tests of several writers: for an engine that
    /// runs as several nodes over one database, a handle per node; otherwise (the default) one
    /// store that every writer shares.
    fn nodes(&self) -> Vec<std::sync::Arc<Self::Store>> {
        vec![std::sync::Arc::new(self.open())]
    }

    /// Opens the store at this place with a local labeler (`None`: moderation off).
    fn open_labeled(
        &self,
        labeler: Option<std::sync::Arc<agora_store::moderation::Labeler>>,
    ) -> Self::Store;
}

/// Instantiates every conformance test as a `#[tokio::test]` for one [`Engine`].
macro_rules! suite {
    ($engine:ty) => {
        $crate::conformance::suite!(@fresh $engine;
            ingest::duplicate_in_one_batch_is_stored_once,
            ingest::duplicate_across_batches_is_stored_once,
            ingest::a_batch_sent_again_answers_as_each_event_in_turn,
            ingest::ranges_collapse_runs_and_keep_gaps,
            ingest::clocks_and_times_order_up_to_the_bound_and_larger_ones_are_refused,
            ingest::last_writer_wins_at_the_bound_and_larger_writes_are_refused,
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
            counters::opinion_ties_go_to_the_process_the_lww_order_names,
            counters::reference_counts_by_from_type,
            references::replies_are_ordered_by_score_then_newest,
            references::paging_replies_returns_each_once,
            references::bytes_subjects_count_and_list_across_the_union,
            references::reply_order_follows_opinions_as_they_change,
            references::any_type_pages_list_each_referencing_event_once,
            feeds::index_is_newest_first_and_strictly_decreasing,
            feeds::index_pages_by_millisecond_lose_nothing,
            feeds::index_pages_by_millisecond_survive_a_crowded_millisecond,
            feeds::index_pages_by_cursor_are_exact,
            feeds::index_proof_names_other_processes,
            feeds::head_is_highest_clock_per_process_with_its_system_processes,
            feeds::latest_is_highest_clock_per_type_and_falls_back_after_delete,
            discovery::search_finds_posts_by_word_and_by_one_typo,
            discovery::search_ranks_more_exact_terms_first,
            discovery::search_ranks_exact_over_word_forms_over_typos,
            discovery::search_finds_word_forms,
            discovery::search_counts_swapped_letters_as_one_typo,
            discovery::profile_search_returns_the_matching_fields_event,
            discovery::search_pages_neither_skip_nor_repeat_while_posts_arrive,
            discovery::one_word_search_pages_newest_first_past_many_matches,
            discovery::removed_posts_leave_search_explore_and_trending_at_once,
            discovery::profile_search_finds_only_current_values,
            discovery::explore_is_newest_first_with_an_exact_cursor,
            discovery::explore_orders_far_future_posts_by_arrival,
            discovery::trending_counts_topics_over_windows_with_a_prefix,
            discovery::recommended_profiles_are_distinct_live_and_not_curated,
            discovery::curated_events_and_systems_are_left_out,
            discovery::typo_search_ignores_accents,
            discovery::search_pages_with_accents_neither_skip_nor_repeat,
            discovery::profile_pages_survive_a_rename,
            discovery::recommended_profiles_need_a_post_not_curated_out,
            curation::removing_a_system_keeps_other_counters_exact,
            curation::removing_an_event_falls_back_and_frees_tombstones,
            curation::refuse_storage_of_a_system_removes_and_refuses_it,
            curation::refuse_storage_of_an_event_refuses_only_its_slot,
            curation::do_not_recommend_keeps_storage,
            curation::censoring_is_idempotent_and_only_strengthens,
            identity::handles_bind_move_and_refuse_taken_ones,
            identity::handles_compare_without_regard_to_case,
            identity::proven_bindings_change_only_with_proof,
            identity::removed_and_refused_systems_hold_no_handle,
            identity::claims_resolve_through_vouches_of_the_trust_root,
            identity::claims_go_with_their_events,
            devices::revoked_device_events_are_refused_and_late_ones_dropped,
            devices::a_revocation_in_the_same_batch_applies_to_the_events_after_it,
            devices::an_authorization_older_than_the_revocation_is_stored_whatever_the_order,
            stream::stream_reads_in_commit_order_with_filters,
            edits::edits_follow_their_rules_and_search_shows_the_latest,
            edits::an_edit_arriving_before_its_post_applies_when_it_comes,
            challenges::a_challenge_is_spent_once_by_concurrent_spenders,
            challenges::expired_spends_are_forgotten,
        );

        $crate::conformance::suite!(@nodes $engine;
            concurrency::the_same_events_from_many_writers_are_stored_once,
            concurrency::opinions_racing_on_many_writers_count_exactly,
            concurrency::a_handle_raced_by_many_claimants_has_one_holder,
            concurrency::a_stream_reader_misses_nothing_from_concurrent_writers,
        );

        $crate::conformance::suite!(@reopen $engine;
            durability::stored_events_survive_reopen,
            challenges::challenge_spends_and_the_key_outlive_a_reopen,
        );

        $crate::conformance::suite!(@labeled $engine;
            labeled_events_carry_a_tag_per_category_and_still_verify,
            filters_hide_above_max_level_and_strict_hides_unknown_names,
            filtered_pages_lose_nothing_and_repeat_nothing,
            without_a_labeler_there_are_no_tags_and_filters_hide_nothing,
            stored_events_follow_the_rules_after_a_restart,
            topic_feeds_are_filtered_but_replies_and_plain_reads_are_not,
            a_deleted_post_is_gone_from_filtered_reads,
            posts_stored_while_rules_were_off_are_labeled_at_the_next_start,
            recommended_profiles_need_a_post_the_filters_show,
        );
    };
    (@labeled $engine:ty; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $test() {
                let engine = <$engine as $crate::conformance::Engine>::create();
                $crate::conformance::moderation::$test(|labeler| {
                    <$engine as $crate::conformance::Engine>::open_labeled(&engine, labeler)
                })
                .await;
            }
        )*
    };
    (@nodes $engine:ty; $($module:ident :: $test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $test() {
                let engine = <$engine as $crate::conformance::Engine>::create();
                let nodes = <$engine as $crate::conformance::Engine>::nodes(&engine);
                $crate::conformance::$module::$test(nodes).await;
            }
        )*
    };
    (@reopen $engine:ty; $($module:ident :: $test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $test() {
                let engine = <$engine as $crate::conformance::Engine>::create();
                $crate::conformance::$module::$test(|| {
                    <$engine as $crate::conformance::Engine>::open(&engine)
                })
                .await;
            }
        )*
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
