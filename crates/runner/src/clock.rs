//! The four ways CodeBuild writes a moment: EventBridge's RFC 3339 `time`, the
//! `Nov 21, 2026 9:05:12 PM` of `build-start-time` and phase times (the format
//! `aws_lambda_events` parses, `%b %e, %Y %l:%M:%S %p` without padding), the
//! `2026/11/21 21:05:12.123` of `[Container]` log lines, and the Unix milliseconds of
//! `CODEBUILD_START_TIME`. All in UTC, as CodeBuild writes them. Hand-written so the
//! runner needs no date crate: only the proleptic Gregorian calendar is involved.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
}

fn since_epoch(t: SystemTime) -> Duration {
    // A clock before 1970 is a broken clock; the epoch is as good an answer as any.
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn civil(t: SystemTime) -> Civil {
    let d = since_epoch(t);
    let secs = d.as_secs() as i64;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400) as u32;
    Civil {
        year,
        month,
        day,
        hour: of_day / 3600,
        minute: of_day / 60 % 60,
        second: of_day % 60,
        millis: d.subsec_millis(),
    }
}

/// EventBridge's event `time`: `2026-11-21T21:05:38Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// CodeBuild's event times: `Nov 21, 2026 9:05:38 PM`.
pub(crate) fn codebuild(t: SystemTime) -> String {
    let c = civil(t);
    let (hour12, meridiem) = match c.hour {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    format!(
        "{} {}, {} {}:{:02}:{:02} {}",
        MONTHS[(c.month - 1) as usize],
        c.day,
        c.year,
        hour12,
        c.minute,
        c.second,
        meridiem
    )
}

/// The stamp of a `[Container]` log line: `2026/11/21 21:05:38.123`.
pub(crate) fn log_stamp(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:03}",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
    )
}

/// Whole seconds since the epoch: the resolution every event time has.
pub(crate) fn unix_seconds(t: SystemTime) -> u64 {
    since_epoch(t).as_secs()
}

pub(crate) fn unix_millis(t: SystemTime) -> u128 {
    since_epoch(t).as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn formats_match_the_fixtures() {
        // The time of tests/fixtures/codebuild-failed.json.
        let t = at(1_795_295_138, 42);
        assert_eq!(rfc3339(t), "2026-11-21T21:05:38Z");
        assert_eq!(codebuild(t), "Nov 21, 2026 9:05:38 PM");
        assert_eq!(log_stamp(t), "2026/11/21 21:05:38.042");
        assert_eq!(unix_millis(t), 1_795_295_138_042);
    }

    #[test]
    fn twelve_hour_clock_edges() {
        let midnight = at(1_735_603_200, 0); // 2024-12-31T00:00:00Z
        assert_eq!(codebuild(midnight), "Dec 31, 2024 12:00:00 AM");
        assert_eq!(codebuild(at(1_735_648_200, 0)), "Dec 31, 2024 12:30:00 PM");
        assert_eq!(codebuild(at(1_735_648_200 - 3600, 0)), "Dec 31, 2024 11:30:00 AM");
        assert_eq!(codebuild(at(1_735_648_200 + 3600, 0)), "Dec 31, 2024 1:30:00 PM");
    }

    #[test]
    fn calendar_edges() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_407, 0)), "2000-02-29T00:00:07Z");
        assert_eq!(rfc3339(at(951_782_407 + 86_400, 0)), "2000-03-01T00:00:07Z");
        assert_eq!(codebuild(at(951_782_407, 0)), "Feb 29, 2000 12:00:07 AM");
    }

    #[test]
    fn every_day_follows_the_previous_one() {
        // Walks 1970..2100 one day at a time: a calendar bug shows up as a skipped or
        // repeated date.
        let mut prev = civil_from_days(0);
        assert_eq!(prev, (1970, 1, 1));
        for days in 1..47_482 {
            let next = civil_from_days(days);
            let (y, m, d) = prev;
            let advanced = next == (y, m, d + 1) || next == (y, m + 1, 1) || next == (y + 1, 1, 1);
            assert!(advanced, "{prev:?} -> {next:?}");
            if next.2 == 1 {
                let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
                let length = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m as usize - 1];
                assert_eq!(d, length, "month {y}-{m} ended early or late");
            }
            prev = next;
        }
    }
}
