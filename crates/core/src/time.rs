//! Times as the services write them: RFC 3339 in UTC (GitHub's `delivered_at`, Lambda's and
//! EventBridge's `time`), and a short form for one-line reports. The calendar is the
//! proleptic Gregorian one, counted in days from 1970-01-01 by eras of 400 years.

/// An RFC 3339 time (`2019-06-03T00:57:16Z`, with optional fractional seconds and a `Z` or
/// `±hh:mm` offset) in Unix seconds.
pub fn unix_seconds(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        (!part.is_empty() && part.bytes().all(|c| c.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction.find(|c: char| !c.is_ascii_digit()).unwrap_or(fraction.len());
        if end == 0 {
            return None;
        }
        rest = &fraction[end..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day counted from 1970-01-01: (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Unix seconds as RFC 3339 in UTC, whole seconds: `2019-06-03T00:57:16Z`.
pub fn rfc3339(unix: i64) -> String {
    rfc3339_parts(unix, None)
}

/// Unix seconds and milliseconds as RFC 3339 in UTC, as Lambda stamps an invocation
/// record: `2026-12-01T19:40:05.568Z`.
pub fn rfc3339_millis(unix: i64, millis: u32) -> String {
    rfc3339_parts(unix, Some(millis.min(999)))
}

fn rfc3339_parts(unix: i64, millis: Option<u32>) -> String {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    let fraction = millis.map(|ms| format!(".{ms:03}")).unwrap_or_default();
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{fraction}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The UTC day of Unix seconds as `YYYYMMDD`: a refresh's dated tag.
pub fn utc_date(unix: u64) -> String {
    let (year, month, day) = civil_from_days((unix / 86_400) as i64);
    format!("{year:04}{month:02}{day:02}")
}

/// Unix seconds to the minute, for one-line reports: `2026-12-01 19:40Z`.
pub fn utc_minute(unix: i64) -> String {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3339_both_ways() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2019-06-03T00:57:16Z"), Some(1_559_523_436));
        assert_eq!(unix_seconds("2019-06-03T00:57:16.123Z"), Some(1_559_523_436));
        assert_eq!(unix_seconds("2019-06-03T02:57:16+02:00"), Some(1_559_523_436));
        assert_eq!(unix_seconds("2019-06-02T23:57:16-01:00"), Some(1_559_523_436));
        assert_eq!(unix_seconds("2000-02-29T00:00:07Z"), Some(951_782_407));
        for bad in [
            "",
            "2019-06-03",
            "2019-06-03T00:57:16",
            "2019-13-03T00:57:16Z",
            "2019-06-03T24:57:16Z",
            "2019-06-03T00:57:16.Z",
            "2019-06-03T00:57:16+0200",
            "2019-06-03T00:57:16Q",
            "20x9-06-03T00:57:16Z",
            "2019-06-03T00:57:16Zjunk",
        ] {
            assert_eq!(unix_seconds(bad), None, "{bad:?}");
        }
        for t in [0, 951_782_407, 1_559_523_436, 1_796_000_000, -86_400] {
            assert_eq!(unix_seconds(&rfc3339(t)), Some(t), "{t}");
        }
        assert_eq!(rfc3339(1_559_523_436), "2019-06-03T00:57:16Z");
    }

    #[test]
    fn short_and_millisecond_forms() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00Z");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00Z");
        assert_eq!(rfc3339_millis(951_782_405, 42), "2000-02-29T00:00:05.042Z");
        assert_eq!(unix_seconds(&rfc3339_millis(1_795_000_000, 999)), Some(1_795_000_000));
    }

    proptest! {
        #[test]
        fn every_second_round_trips(t in -10_000_000_000i64..100_000_000_000) {
            prop_assert_eq!(unix_seconds(&rfc3339(t)), Some(t));
            let (y, m, d) = civil_from_days(t.div_euclid(86_400));
            prop_assert_eq!(days_from_civil(y, m, d), t.div_euclid(86_400));
        }
    }
}
