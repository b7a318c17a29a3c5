//! The largest clock or time the store keeps, and the ingest rule that enforces it.
//!
//! Clocks and times are u64 on the wire, but SQL integers (SQLite's INTEGER, PostgreSQL's
//! BIGINT) are signed 64-bit: a value of 2^63 or more would be kept as a negative number and
//! sort below every other, breaking `/ranges`, `/head`, `GET /events`, feeds and last-writer-wins
//! order. So ingest refuses an event carrying such a value in a field the store keeps as an
//! integer, naming the field. No real client comes near: 2^63 milliseconds is 292 million
//! years, and a process publishing a million events a second would take 292 000 years.
//!
//! Fields the store does not keep as integers are not checked: `lww_element_set` times are
//! compared as u64 by readers, and `indices` and `vector_clock` entries are only looked up by
//! equality (an entry of 2^63 or more names a clock no store holds, so it finds nothing).

use agora_protocol::VerifiedEvent;

/// The largest logical clock or time in milliseconds the store keeps: 2^63 - 1.
pub const STORED_MAX: u64 = i64::MAX as u64;

/// The field of `event` (and its value) carrying a clock or time the store cannot keep in
/// order; `None` when it carries none. A DELETE's body counts: its target's clock and time
/// place the tombstone in `/ranges` and feeds. Ingest refuses such an event
/// ([`crate::ingest::Rejection::OverBound`]).
pub fn over_bound(event: &VerifiedEvent) -> Option<(&'static str, u64)> {
    let wire = event.event();
    // A malformed DELETE body is refused by the content rules, with its own reason.
    let delete = event.delete_body().ok().flatten();
    let fields = [
        ("logical_clock", Some(wire.logical_clock)),
        ("unix_milliseconds", wire.unix_milliseconds),
        (
            "lww_element.unix_milliseconds",
            wire.lww_element
                .as_ref()
                .map(|element| element.unix_milliseconds),
        ),
        (
            "delete body logical_clock",
            delete.map(|delete| delete.logical_clock),
        ),
        (
            "delete body unix_milliseconds",
            delete.and_then(|delete| delete.unix_milliseconds),
        ),
    ];
    fields.into_iter().find_map(|(field, value)| {
        value
            .filter(|value| *value > STORED_MAX)
            .map(|v| (field, v))
    })
}

#[cfg(test)]
mod tests {
    use agora_protocol::author::{Author, Draft};
    use agora_protocol::{Process, SecretKey, content, wire};

    use super::*;

    /// A process that has published up to `clock`, so its next event is `clock + 1`.
    fn author_at(clock: u64) -> Author {
        Author::resume(
            SecretKey::from_seed(&[1; 32]),
            Process::from_bytes(&[1; 16]).expect("16"),
            clock,
            Vec::new(),
        )
    }

    fn delete_body(logical_clock: u64, unix_milliseconds: Option<u64>) -> Draft {
        let body = wire::Delete {
            process: Some(Process::from_bytes(&[1; 16]).expect("16").to_wire()),
            logical_clock,
            indices: Some(wire::Indices::default()),
            content_type: content::POST,
            unix_milliseconds,
        };
        Draft {
            content_type: content::DELETE,
            content: prost::Message::encode_to_vec(&body),
            ..Draft::default()
        }
    }

    /// Checks one event: `None` for accepted, or the field its refusal must name.
    fn check(what: &str, event: VerifiedEvent, field: Option<&str>) {
        let reason = crate::ingest::check(&event).err().map(|r| r.to_string());
        match (field, reason) {
            (None, None) => {}
            (Some(field), Some(reason)) => assert!(
                reason.starts_with(&format!("{field} is ")),
                "{what}: {reason:?} should name {field}"
            ),
            (None, Some(reason)) => panic!("{what}: refused with {reason:?}"),
            (Some(field), None) => panic!("{what}: accepted, expected a refusal naming {field}"),
        }
    }

    #[test]
    fn values_up_to_two_to_the_63_minus_one_pass_and_larger_ones_are_named() {
        let top = STORED_MAX;
        let post = |clock: u64, ms: u64| author_at(clock - 1).post("edge", ms).expect("sign");
        check("clock 2^63 - 1", post(top, 1), None);
        check("time 2^63 - 1", post(1, top), None);
        check("clock 2^63", post(top + 1, 1), Some("logical_clock"));
        check("clock u64::MAX", post(u64::MAX, 1), Some("logical_clock"));
        check("time 2^63", post(1, top + 1), Some("unix_milliseconds"));
        check(
            "time u64::MAX",
            post(1, u64::MAX),
            Some("unix_milliseconds"),
        );

        let element = |ms: u64| {
            let draft = Draft {
                content_type: content::USERNAME,
                lww_element: Some(wire::LwwElement {
                    value: b"name".to_vec().into(),
                    unix_milliseconds: ms,
                }),
                ..Draft::default()
            };
            author_at(0).publish(draft, 1).expect("sign")
        };
        check("lww time 2^63 - 1", element(top), None);
        let field = Some("lww_element.unix_milliseconds");
        check("lww time 2^63", element(top + 1), field);
        check("lww time u64::MAX", element(u64::MAX), field);

        let delete = |clock: u64, ms: Option<u64>| {
            author_at(0)
                .publish(delete_body(clock, ms), 1)
                .expect("sign")
        };
        check("delete of 2^63 - 1", delete(top, Some(top)), None);
        check("delete without a time", delete(top, None), None);
        let field = Some("delete body logical_clock");
        check("delete of clock 2^63", delete(top + 1, Some(1)), field);
        let field = Some("delete body unix_milliseconds");
        check("delete of time u64::MAX", delete(1, Some(u64::MAX)), field);
    }

    #[test]
    fn fields_the_store_keeps_no_integer_of_are_not_checked() {
        let draft = Draft {
            content_type: content::FOLLOW,
            lww_element_set: Some(wire::LwwElementSet {
                operation: wire::lww_element_set::Operation::Add.into(),
                value: b"key".to_vec().into(),
                unix_milliseconds: u64::MAX,
            }),
            ..Draft::default()
        };
        check(
            "set time u64::MAX",
            author_at(0).publish(draft, 1).expect("sign"),
            None,
        );
        let indexed = Author::resume(
            SecretKey::from_seed(&[1; 32]),
            Process::from_bytes(&[1; 16]).expect("16"),
            1,
            vec![wire::Index {
                index_type: content::SYSTEM_PROCESSES,
                logical_clock: u64::MAX,
            }],
        )
        .post("indexed", 1)
        .expect("sign");
        check("index u64::MAX", indexed, None);
    }
}
