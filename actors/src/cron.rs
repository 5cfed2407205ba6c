//! Cron schedules for cron-triggered functions, as Inngest accepts them.
//!
//! A schedule is a standard 5-field cron expression (minute hour day-of-month month day-of-week), optionally with a
//! leading seconds field (6 fields), optionally prefixed by a time zone: `TZ=America/Los_Angeles 0 6 * * *`. Without a
//! prefix the schedule runs in UTC. Fire times are computed in the schedule's zone and returned as UTC milliseconds, so a
//! daily 06:00 Pacific schedule fires at 13:00 or 14:00 UTC depending on daylight saving time.
//!
//! Parsing and the DST rules come from the `croner` crate (Vixie-cron semantics: when both day-of-month and
//! day-of-week are restricted, either matching fires; a wall-clock time skipped by a spring-forward gap fires at the
//! first instant after the gap; a time repeated by a fall-back fires once). Zones come from `chrono-tz`. Year fields and
//! Quartz extensions beyond what `croner` parses by default are not offered.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed cron schedule with its time zone.
#[derive(Clone)]
pub struct CronSchedule {
    source: String,
    zone: Tz,
    cron: Cron,
}

/// Why a cron schedule was refused; the message names the schedule as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron schedule {source_text:?}: {message}")]
pub struct CronError {
    pub source_text: String,
    pub message: String,
}

impl std::fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CronSchedule({:?})", self.source)
    }
}

impl CronSchedule {
    /// Parses `[TZ=Area/City ]<5 or 6 cron fields>`; refuses bad fields and unknown zones.
    pub fn parse(source: &str) -> Result<CronSchedule, CronError> {
        let refuse = |message: String| CronError {
            source_text: source.to_string(),
            message,
        };
        let trimmed = source.trim();
        let (zone, pattern) = match trimmed.strip_prefix("TZ=").or_else(|| trimmed.strip_prefix("CRON_TZ=")) {
            Some(rest) => {
                let (name, pattern) = rest
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| refuse("a time zone prefix must be followed by cron fields".into()))?;
                let zone = name.parse::<Tz>().map_err(|_| {
                    refuse(format!(
                        "unknown time zone {name:?} (expected an IANA name such as America/Los_Angeles)"
                    ))
                })?;
                (zone, pattern.trim())
            }
            None => (Tz::UTC, trimmed),
        };
        let fields = pattern.split_whitespace().count();
        if !pattern.starts_with('@') && !(5..=6).contains(&fields) {
            return Err(refuse(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds, got {fields}"
            )));
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(pattern).map_err(|e| refuse(e.to_string()))?;
        Ok(CronSchedule {
            source: source.to_string(),
            zone,
            cron,
        })
    }

    /// The schedule as written, prefix included.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The schedule's time zone (UTC when there was no `TZ=` prefix).
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The next fire time strictly after `after_ms` (ms since epoch), in ms since epoch; `None` if there is none
    /// (e.g. `0 0 30 2 *`) or `after_ms` is out of range.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after: DateTime<Utc> = Utc.timestamp_millis_opt(after_ms).single()?;
        let start = after.with_timezone(&self.zone);
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        let next_ms = next.timestamp_millis();
        // croner compares at whole seconds; keep the contract "strictly after" for sub-second inputs.
        if next_ms > after_ms {
            Some(next_ms)
        } else {
            self.next_after(next_ms)
        }
    }

    /// The latest fire time at or before `at_ms` (ms since epoch); `None` if there is none or `at_ms` is out of
    /// range. The scheduler's start-up uses it to find a tick missed while no daemon ran.
    pub fn last_at_or_before(&self, at_ms: i64) -> Option<i64> {
        let at: DateTime<Utc> = Utc.timestamp_millis_opt(at_ms).single()?;
        let start = at.with_timezone(&self.zone);
        let prev = self.cron.find_previous_occurrence(&start, true).ok()?;
        Some(prev.timestamp_millis()).filter(|p| *p <= at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
    }

    fn iso(ms: i64) -> String {
        Utc.timestamp_millis_opt(ms).unwrap().to_rfc3339()
    }

    fn next(schedule: &str, after: &str) -> String {
        iso(CronSchedule::parse(schedule).unwrap().next_after(ms(after)).unwrap())
    }

    fn last(schedule: &str, at: &str) -> String {
        iso(CronSchedule::parse(schedule)
            .unwrap()
            .last_at_or_before(ms(at))
            .unwrap())
    }

    #[test]
    fn the_last_tick_at_or_before() {
        assert_eq!(last("30 0 * * *", "2026-05-10T00:30:00Z"), "2026-05-10T00:30:00+00:00");
        assert_eq!(last("30 0 * * *", "2026-05-10T00:29:59Z"), "2026-05-09T00:30:00+00:00");
        assert_eq!(
            last("30 0 * * *", "2026-05-10T13:00:00.500Z"),
            "2026-05-10T00:30:00+00:00"
        );
        // 06:00 in Los Angeles is 14:00 UTC in winter (PST).
        let s = "TZ=America/Los_Angeles 0 6 * * *";
        assert_eq!(last(s, "2026-11-20T13:59:00Z"), "2026-11-19T14:00:00+00:00");
        assert_eq!(last(s, "2026-11-20T14:00:01Z"), "2026-11-20T14:00:00+00:00");
    }

    #[test]
    fn every_minute_is_strictly_after() {
        assert_eq!(next("* * * * *", "2026-03-01T10:00:00Z"), "2026-03-01T10:01:00+00:00");
        assert_eq!(
            next("* * * * *", "2026-03-01T10:00:59.999Z"),
            "2026-03-01T10:01:00+00:00"
        );
        assert_eq!(
            next("* * * * *", "2026-03-01T10:00:00.001Z"),
            "2026-03-01T10:01:00+00:00"
        );
    }

    #[test]
    fn daily_utc_schedule_from_the_course_platform() {
        // send-workshop-access-emails: `30 0 * * *` (00:30 UTC daily).
        assert_eq!(next("30 0 * * *", "2026-05-10T00:29:00Z"), "2026-05-10T00:30:00+00:00");
        assert_eq!(next("30 0 * * *", "2026-05-10T00:30:00Z"), "2026-05-11T00:30:00+00:00");
    }

    #[test]
    fn weekdays_skip_the_weekend() {
        // 2026-03-06 is a Friday.
        assert_eq!(next("0 9 * * 1-5", "2026-03-06T09:00:00Z"), "2026-03-09T09:00:00+00:00");
        assert_eq!(
            next("0 9 * * MON-FRI", "2026-03-06T08:00:00Z"),
            "2026-03-06T09:00:00+00:00"
        );
        // Inngest's own example, every Friday at noon.
        assert_eq!(next("0 12 * * 5", "2026-03-06T12:00:00Z"), "2026-03-13T12:00:00+00:00");
    }

    #[test]
    fn los_angeles_six_am_follows_daylight_saving() {
        let s = "TZ=America/Los_Angeles 0 6 * * *";
        // PST (UTC-8) before 2026-03-08, PDT (UTC-7) after.
        assert_eq!(next(s, "2026-03-07T15:00:00Z"), "2026-03-08T13:00:00+00:00");
        assert_eq!(next(s, "2026-03-06T14:00:00Z"), "2026-03-07T14:00:00+00:00");
        // Back to PST on 2026-11-01.
        assert_eq!(next(s, "2026-10-31T14:00:00Z"), "2026-11-01T14:00:00+00:00");
        assert_eq!(next(s, "2026-10-31T12:00:00Z"), "2026-10-31T13:00:00+00:00");
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_fires_once_after_the_gap() {
        // 02:30 does not exist in Los Angeles on 2026-03-08: the clock jumps from 02:00 PST to 03:00 PDT (10:00 UTC).
        let s = "TZ=America/Los_Angeles 30 2 * * *";
        assert_eq!(next(s, "2026-03-08T09:00:00Z"), "2026-03-08T10:00:00+00:00");
        assert_eq!(next(s, "2026-03-08T10:00:00Z"), "2026-03-09T09:30:00+00:00");
    }

    #[test]
    fn a_time_repeated_by_fall_back_fires_once() {
        // 01:30 happens twice in Los Angeles on 2026-11-01 (08:30 UTC in PDT, 09:30 UTC in PST).
        let s = "TZ=America/Los_Angeles 30 1 * * *";
        assert_eq!(next(s, "2026-11-01T08:00:00Z"), "2026-11-01T08:30:00+00:00");
        assert_eq!(next(s, "2026-11-01T08:30:00Z"), "2026-11-02T09:30:00+00:00");
    }

    #[test]
    fn six_fields_have_seconds() {
        assert_eq!(
            next("*/15 * * * * *", "2026-03-01T10:00:01Z"),
            "2026-03-01T10:00:15+00:00"
        );
        assert_eq!(
            next("* * * * * *", "2026-03-01T10:00:00.500Z"),
            "2026-03-01T10:00:01+00:00"
        );
        assert_eq!(next("* * * * * *", "2026-03-01T10:00:00Z"), "2026-03-01T10:00:01+00:00");
    }

    #[test]
    fn nicknames_and_extra_spaces() {
        assert_eq!(next("@hourly", "2026-03-01T10:00:00Z"), "2026-03-01T11:00:00+00:00");
        assert_eq!(
            next("TZ=Europe/Paris   0  12 * * 5", "2026-03-06T10:00:00Z"),
            "2026-03-06T11:00:00+00:00"
        );
    }

    #[test]
    fn impossible_date_has_no_next() {
        let s = CronSchedule::parse("0 0 30 2 *").unwrap();
        assert_eq!(s.next_after(ms("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn source_zone_and_debug() {
        let s = CronSchedule::parse("TZ=Europe/Paris 0 12 * * 5").unwrap();
        assert_eq!(s.source(), "TZ=Europe/Paris 0 12 * * 5");
        assert_eq!(s.zone(), chrono_tz::Europe::Paris);
        assert_eq!(format!("{s:?}"), "CronSchedule(\"TZ=Europe/Paris 0 12 * * 5\")");
        assert_eq!(CronSchedule::parse("0 12 * * 5").unwrap().zone(), Tz::UTC);
    }

    #[test]
    fn bad_schedules_are_refused_with_the_source() {
        for bad in [
            "",
            "* * * *",
            "* * * * * * *",
            "61 * * * *",
            "* 24 * * *",
            "* * 32 * *",
            "* * * 13 *",
            "* * * * 8",
            "every minute",
            "TZ=Mars/Olympus 0 6 * * *",
            "TZ=America/Los_Angeles",
        ] {
            let err = CronSchedule::parse(bad).unwrap_err();
            assert_eq!(err.source_text, bad);
            assert!(err.to_string().contains("invalid cron schedule"), "{bad}: {err}");
        }
        let err = CronSchedule::parse("TZ=Mars/Olympus 0 6 * * *").unwrap_err();
        assert!(err.message.contains("unknown time zone \"Mars/Olympus\""), "{err}");
    }
}
