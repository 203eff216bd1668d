//! When a queued message is tried again, and when dockhand stops trying.
//!
//! Work that cannot proceed now (GitHub rate limited, CodeBuild at its concurrency limit)
//! waits in its SQS queue: the spawner hides the message for a while
//! (ChangeMessageVisibility) and reports it as a batch item failure. SQS deletes a message
//! silently when its retention ends, so the spawner gives up first, while it can still
//! send the message to the dead-letter queue and tell someone.

use sha2::{Digest, Sha256};

/// SQS's longest visibility timeout: 12 hours ("The maximum is 12 hours",
/// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html).
pub const MAX_DELAY_SECONDS: u64 = 12 * 60 * 60;
/// How long before the queue's retention ends dockhand gives up: time to dead-letter the
/// message and notify while the message still exists.
pub const GIVE_UP_MARGIN_SECONDS: u64 = 10 * 60;

/// The queues' redrive policy moves a message to the dead-letter queue when it is received
/// more often than this: the last resort for a message that crashes the function (and so
/// never reaches this module). A message that waits is given up on, and notified, at its
/// last receive before that. With the default delays a day of waiting is ~65 receives.
pub const MAX_RECEIVES: u32 = 100;

/// How one queue's messages are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first delay; each later one doubles, up to `cap`.
    pub base: u64,
    pub cap: u64,
    /// The queue's message retention: a message older than this is gone.
    pub retention: u64,
}

impl RetryPolicy {
    /// The builds queue's default: 30 s, doubling to 30 minutes, for a day. While many
    /// builds wait, their jittered attempts still come every few seconds in all, so a
    /// build that ends makes room that is taken within moments.
    pub const BUILDS: RetryPolicy = RetryPolicy {
        base: 30,
        cap: 30 * 60,
        retention: 24 * 60 * 60,
    };
    /// The requests queue's default: GitHub's rate limit resets within the hour.
    pub const REQUESTS: RetryPolicy = RetryPolicy {
        base: 60,
        cap: 60 * 60,
        retention: 24 * 60 * 60,
    };
}

/// What to do with a message that could not be handled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Hide it for this many seconds, then try again.
    RetryIn(u64),
    /// It would outlive the queue's retention: dead-letter it and tell someone.
    GiveUp,
}

/// The delay before attempt `receive_count + 1`: `base · 2^(receive_count - 1)` up to
/// `cap`, with "equal jitter" (between half and all of it) so that a batch of messages
/// hidden together does not come back together. The jitter is a hash of `message_id` and
/// the count: the same message at the same count always waits the same time.
pub fn backoff(policy: &RetryPolicy, message_id: &str, receive_count: u32) -> u64 {
    let exponent = receive_count.saturating_sub(1).min(32);
    let full = policy
        .base
        .saturating_mul(1u64 << exponent)
        .min(policy.cap)
        .clamp(1, MAX_DELAY_SECONDS);
    let mut h = Sha256::new();
    h.update(message_id.as_bytes());
    h.update(receive_count.to_be_bytes());
    let digest = h.finalize();
    let spread = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    // Rounded up: a full delay of one second is never halved to none.
    let half = full.div_ceil(2);
    half + spread % (full - half + 1)
}

/// Decides the next attempt of a message first sent at `sent` (Unix seconds) and now
/// received `receive_count` times. `wanted` is a delay the cause asks for (a rate limit's
/// reset); otherwise [`backoff`] decides. Gives up when the next attempt would come after
/// the retention, less [`GIVE_UP_MARGIN_SECONDS`], or would be past the redrive's
/// [`MAX_RECEIVES`].
pub fn next_attempt(
    policy: &RetryPolicy,
    message_id: &str,
    sent: u64,
    now: u64,
    receive_count: u32,
    wanted: Option<u64>,
) -> Next {
    let delay = wanted
        .unwrap_or_else(|| backoff(policy, message_id, receive_count))
        .clamp(1, MAX_DELAY_SECONDS);
    let last_chance = sent
        .saturating_add(policy.retention)
        .saturating_sub(GIVE_UP_MARGIN_SECONDS);
    if now.saturating_add(delay) > last_chance || receive_count >= MAX_RECEIVES {
        Next::GiveUp
    } else {
        Next::RetryIn(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = RetryPolicy::BUILDS;
        let d: Vec<u64> = (1..=8).map(|n| backoff(&p, "m", n)).collect();
        for (n, delay) in d.iter().enumerate() {
            let full = (30u64 << n).min(1800);
            assert!(
                (full / 2..=full).contains(delay),
                "attempt {}: {delay} not in [{}, {full}]",
                n + 1,
                full / 2
            );
        }
        assert_eq!(
            backoff(&p, "m", 3),
            backoff(&p, "m", 3),
            "the same message waits the same"
        );
    }

    #[test]
    fn jitter_spreads_a_batch() {
        let p = RetryPolicy::BUILDS;
        let delays: std::collections::BTreeSet<u64> = (0..10).map(|i| backoff(&p, &format!("m{i}"), 6)).collect();
        assert!(delays.len() >= 5, "{delays:?}");
    }

    #[test]
    fn a_rate_limit_reset_is_waited_for_unless_the_message_would_expire() {
        let p = RetryPolicy::REQUESTS;
        assert_eq!(next_attempt(&p, "m", 1000, 1000, 1, Some(3000)), Next::RetryIn(3000));
        // A day of retention, ten minutes of margin: 23h50m after sending is the last chance.
        let last = 1000 + 24 * 3600 - 600;
        assert_eq!(next_attempt(&p, "m", 1000, last - 60, 1, Some(60)), Next::RetryIn(60));
        assert_eq!(next_attempt(&p, "m", 1000, last - 60, 1, Some(61)), Next::GiveUp);
        assert_eq!(
            next_attempt(&p, "m", 1000, 1000, 1, Some(10 * MAX_DELAY_SECONDS)),
            Next::RetryIn(MAX_DELAY_SECONDS)
        );
        // The last receive before the redrive policy would move it silently.
        assert_eq!(
            next_attempt(&p, "m", 1000, 1000, MAX_RECEIVES - 1, Some(60)),
            Next::RetryIn(60)
        );
        assert_eq!(next_attempt(&p, "m", 1000, 1000, MAX_RECEIVES, Some(60)), Next::GiveUp);
    }

    #[test]
    fn a_day_of_waiting_stays_within_the_redrive_budget() {
        let p = RetryPolicy::BUILDS;
        let (mut now, mut count) = (0u64, 1u32);
        while let Next::RetryIn(d) = next_attempt(&p, "m", 0, now, count, None) {
            now += d;
            count += 1;
        }
        assert!(
            now >= p.retention - GIVE_UP_MARGIN_SECONDS - p.cap,
            "gave up after {now} s"
        );
        assert!(count < MAX_RECEIVES, "{count} receives");
    }

    /// A one-second delay (local mode's base) stays one second whatever the jitter: half
    /// of it rounded down was none, and the message came straight back.
    #[test]
    fn a_one_second_delay_is_never_none() {
        let p = RetryPolicy {
            base: 1,
            cap: 1,
            retention: 3600,
        };
        for i in 0..200 {
            assert_eq!(backoff(&p, &format!("m{i}"), 1), 1);
        }
        let p = RetryPolicy {
            base: 1,
            cap: 4,
            retention: 3600,
        };
        assert!((0..200).all(|i| backoff(&p, &format!("m{i}"), 1) == 1));
    }

    proptest! {
        #[test]
        fn delays_stay_within_sqs_limits(base in 1u64..10_000, cap in 1u64..100_000, count in 0u32..10_000, id in ".{0,40}") {
            let p = RetryPolicy { base, cap, retention: 14 * 24 * 3600 };
            let d = backoff(&p, &id, count);
            prop_assert!((1..=MAX_DELAY_SECONDS).contains(&d) && d <= cap.max(1));
        }

        #[test]
        fn nothing_is_scheduled_after_the_retention(sent in 0u64..1_000_000, age in 0u64..200_000, count in 1u32..50) {
            let p = RetryPolicy::BUILDS;
            let now = sent + age;
            match next_attempt(&p, "m", sent, now, count.min(MAX_RECEIVES - 1), None) {
                Next::RetryIn(d) => prop_assert!(now + d <= sent + p.retention - GIVE_UP_MARGIN_SECONDS),
                Next::GiveUp => prop_assert!(now + backoff(&p, "m", count.min(MAX_RECEIVES - 1)) > sent + p.retention - GIVE_UP_MARGIN_SECONDS),
            }
        }
    }
}
