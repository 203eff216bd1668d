//! Exactly once: the durable record that starts each build once, whatever SQS, Lambda,
//! GitHub or a person replays.
//!
//! Every planned build has a key derived from signed content only ([`crate::start_build::build_key`]:
//! repository, ref, commit, directory, deployment configuration). Before StartBuild the
//! spawner claims the key in the ledger (a DynamoDB table written with conditions); after
//! it, it records the build id. A second message with the same key (a redelivered webhook,
//! a replayed body under a new delivery id, an SQS redelivery, a dead-letter redrive days
//! later) finds the record and starts nothing.
//!
//! One window is left between StartBuild and the write that records its answer: a crash
//! there leaves a claim with an attempt in flight and no build id. CodeBuild closes it for
//! five minutes: "If you repeat the StartBuild request with the same token, but change a
//! parameter, AWS CodeBuild returns a parameter mismatch error" and the token "is valid for
//! 5 minutes" (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StartBuild.html),
//! so a retry within [`TOKEN_WINDOW`] of the attempt sends the same request again and gets
//! the same build back. A retry later than that cannot trust the token: it first looks for
//! the build among the project's builds started since the attempt (each carries its key
//! as `DOCKHAND_BUILD_KEY`), and records it if found.

use serde::{Deserialize, Serialize};

/// How long after an attempt CodeBuild still answers a repeated idempotency token with
/// the build it started (5 minutes), less a minute for clocks and a slow answer.
pub const TOKEN_WINDOW: u64 = 4 * 60;
/// A claim whose owner has not touched it for this long is abandoned (its message was
/// dead-lettered, or lost): another message with the same key may take it over. Owners
/// touch their claim at every attempt, and wait at most [`crate::retry::RetryPolicy::cap`]
/// between attempts.
pub const ABANDONED_AFTER: u64 = 60 * 60;
/// How long a record is kept: longer than any replay dockhand can see (GitHub redelivers
/// for 3 days, a dead-letter queue keeps messages for 14). DynamoDB's TTL removes it later.
pub const RECORD_DAYS: u64 = 30;

/// One build's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The message (its SQS message id) that claimed the key and may start the build.
    pub owner: String,
    /// The build CodeBuild started, once known: the key is done.
    pub build_id: Option<String>,
    /// When the owner last called StartBuild without learning whether a build started (a
    /// crash, a timeout, a 5xx), Unix seconds; `None` when no attempt is in doubt.
    pub attempt_at: Option<u64>,
    /// The owner's last write, Unix seconds.
    pub updated_at: u64,
    /// When DynamoDB may delete the record (its TTL attribute), Unix seconds.
    pub expires_at: u64,
}

/// A record as read, with the version a conditional write must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub record: Record,
    pub version: u64,
}

/// What the message `me` must do with its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The build was started before (by this message or another): nothing to do.
    Done { build_id: String },
    /// Write `record` (a new claim, or the owner's attempt), conditioned on `expected`
    /// (`None`: the key must be absent), then call StartBuild.
    Start { record: Record, expected: Option<u64> },
    /// An attempt older than the token window is in doubt: look for a build with this key
    /// started since `since`; if there is one, record it; if not, `Start` as given.
    Search {
        since: u64,
        record: Record,
        expected: Option<u64>,
    },
    /// Another message owns the key and is alive: wait; it starts the build or abandons.
    Wait { owner: String },
}

fn expires(now: u64) -> u64 {
    now + RECORD_DAYS * 24 * 60 * 60
}

/// Decides what message `me` does with its key, given the record read (if any), at `now`.
pub fn step(current: Option<&Versioned>, me: &str, now: u64) -> Step {
    // A claim by `me`, with an attempt starting now.
    let claim = || Record {
        owner: me.to_owned(),
        build_id: None,
        attempt_at: Some(now),
        updated_at: now,
        expires_at: expires(now),
    };
    let Some(Versioned { record, version }) = current else {
        return Step::Start {
            record: claim(),
            expected: None,
        };
    };
    if let Some(build_id) = &record.build_id {
        return Step::Done {
            build_id: build_id.clone(),
        };
    }
    let mine = record.owner == me;
    // A claim given up on ([`abandoned`]) is free at once; any other lapses when its owner
    // has been silent for ABANDONED_AFTER.
    let lapsed = record.updated_at == 0 || now.saturating_sub(record.updated_at) >= ABANDONED_AFTER;
    if !mine && !lapsed {
        return Step::Wait {
            owner: record.owner.clone(),
        };
    }
    match record.attempt_at {
        // An attempt within the token window is repeated with the same token: CodeBuild
        // answers with the build it started, if it started one.
        Some(at) if now.saturating_sub(at) < TOKEN_WINDOW && mine => Step::Start {
            record: Record {
                updated_at: now,
                ..record.clone()
            },
            expected: Some(*version),
        },
        Some(at) => Step::Search {
            since: at.saturating_sub(60),
            record: claim(),
            expected: Some(*version),
        },
        None => Step::Start {
            record: claim(),
            expected: Some(*version),
        },
    }
}

/// The record once StartBuild answered with `build_id`.
pub fn started(record: &Record, build_id: &str, now: u64) -> Record {
    Record {
        build_id: Some(build_id.to_owned()),
        attempt_at: None,
        updated_at: now,
        ..record.clone()
    }
}

/// The record after StartBuild answered that it started nothing (no capacity, throttled):
/// nothing is in doubt, and the next attempt may come at any time.
pub fn not_started(record: &Record, now: u64) -> Record {
    Record {
        attempt_at: None,
        updated_at: now,
        ..record.clone()
    }
}

/// The record of a claim its owner gave up on (its message was dead-lettered): any other
/// message with the key may take it over at once (its `updated_at` is 0, which no owner
/// writes). An attempt in doubt stays recorded, so the next owner searches
/// for the build before starting one. Without this a replay from the dead-letter queue
/// would wait an hour for the claim to lapse.
pub fn abandoned(record: &Record) -> Record {
    Record {
        updated_at: 0,
        ..record.clone()
    }
}

/// The answer to a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Written; the record's new version.
    Done(u64),
    /// The record was not at the version expected (another message wrote first).
    Conflict,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_given_up_on_is_taken_over_at_once_and_searched_if_in_doubt() {
        let free = abandoned(&not_started(&claimed("m1", Some(1000), 1000), 1010));
        let Step::Start { record, expected } = step(Some(&v(free, 4)), "m2", 1020) else {
            panic!()
        };
        assert_eq!((record.owner.as_str(), expected), ("m2", Some(4)));
        let in_doubt = abandoned(&claimed("m1", Some(1000), 1000));
        assert!(matches!(
            step(Some(&v(in_doubt, 4)), "m2", 1020),
            Step::Search { since: 940, .. }
        ));
        // A build that started stays started.
        let done = abandoned(&started(&claimed("m1", Some(1000), 1000), "p:1", 1010));
        assert_eq!(
            step(Some(&v(done, 5)), "m2", 1020),
            Step::Done { build_id: "p:1".into() }
        );
    }

    fn v(record: Record, version: u64) -> Versioned {
        Versioned { record, version }
    }

    fn claimed(owner: &str, attempt_at: Option<u64>, updated_at: u64) -> Record {
        Record {
            owner: owner.into(),
            build_id: None,
            attempt_at,
            updated_at,
            expires_at: updated_at + 1000,
        }
    }

    #[test]
    fn a_new_key_is_claimed_with_an_attempt() {
        let Step::Start { record, expected } = step(None, "m1", 100) else {
            panic!()
        };
        assert_eq!(expected, None);
        assert_eq!(record.owner, "m1");
        assert_eq!(record.attempt_at, Some(100));
        assert_eq!(record.expires_at, 100 + RECORD_DAYS * 86400);
    }

    #[test]
    fn a_started_build_is_never_started_again() {
        let done = started(&claimed("m1", Some(100), 100), "p:1", 110);
        for (me, now) in [("m1", 120), ("m2", 120), ("m2", 100 + 20 * 86400)] {
            assert_eq!(
                step(Some(&v(done.clone(), 2)), me, now),
                Step::Done { build_id: "p:1".into() }
            );
        }
    }

    #[test]
    fn another_message_waits_for_a_live_owner_and_takes_over_an_abandoned_one() {
        let r = claimed("m1", None, 1000);
        assert_eq!(
            step(Some(&v(r.clone(), 3)), "m2", 1000 + ABANDONED_AFTER - 1),
            Step::Wait { owner: "m1".into() }
        );
        let Step::Start { record, expected } = step(Some(&v(r, 3)), "m2", 1000 + ABANDONED_AFTER) else {
            panic!()
        };
        assert_eq!((record.owner.as_str(), expected), ("m2", Some(3)));
    }

    #[test]
    fn an_attempt_in_doubt_is_repeated_within_the_window_and_searched_after_it() {
        let r = claimed("m1", Some(1000), 1000);
        let Step::Start { record, expected } = step(Some(&v(r.clone(), 1)), "m1", 1000 + TOKEN_WINDOW - 1) else {
            panic!()
        };
        assert_eq!(record.attempt_at, Some(1000), "the same attempt, the same token");
        assert_eq!(expected, Some(1));
        assert_eq!(
            step(Some(&v(r.clone(), 1)), "m1", 1000 + TOKEN_WINDOW),
            Step::Search {
                since: 940,
                record: Record {
                    attempt_at: Some(1000 + TOKEN_WINDOW),
                    updated_at: 1000 + TOKEN_WINDOW,
                    expires_at: 1000 + TOKEN_WINDOW + RECORD_DAYS * 86400,
                    ..r.clone()
                },
                expected: Some(1),
            }
        );
        // Taken over while in doubt: searched too, never started blind.
        assert!(matches!(
            step(Some(&v(r, 1)), "m2", 1000 + ABANDONED_AFTER),
            Step::Search { .. }
        ));
    }

    #[test]
    fn after_no_capacity_the_next_attempt_starts_fresh() {
        let r = not_started(&claimed("m1", Some(1000), 1000), 1010);
        assert_eq!(r.attempt_at, None);
        let Step::Start { record, .. } = step(Some(&v(r, 2)), "m1", 5000) else {
            panic!()
        };
        assert_eq!(record.attempt_at, Some(5000));
    }
}
