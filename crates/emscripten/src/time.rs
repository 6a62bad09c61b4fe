//! Calendar and clock imports. Workers run in UTC (as Cloudflare's do): local time is UTC, with no daylight
//! saving, so results never depend on the host's time zone.

use crate::layout::Tm;
use crate::memory::EOVERFLOW;
use crate::{Context, GuestMemory};
use pyworkers_vfs::Result;
use zerocopy::little_endian::I32;

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1–12); Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The date of a day count: (year, month 1–12, day 1–31).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `secs` since the epoch as a UTC `struct tm`; `EOVERFLOW` if its year does not fit `tm_year`.
pub fn tm_of(secs: i64) -> Result<Tm> {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, mon, d) = civil_from_days(days);
    let year = y
        .checked_sub(1900)
        .and_then(|y| i32::try_from(y).ok())
        .ok_or(EOVERFLOW)?;
    // Every other field is small by construction (seconds of a day, day of a year, ...).
    let small = |v: i64| I32::new(v as i32);
    Ok(Tm {
        tm_sec: small(rem % 60),
        tm_min: small(rem / 60 % 60),
        tm_hour: small(rem / 3600),
        tm_mday: small(d),
        tm_mon: small(mon - 1),
        tm_year: year.into(),
        tm_wday: small((days + 4).rem_euclid(7)), // 1970-01-01 was a Thursday
        tm_yday: small(days - days_from_civil(y, 1, 1)),
        tm_isdst: 0.into(),
        tm_gmtoff: 0.into(),
    })
}

/// Seconds since the epoch of a (possibly denormalised) UTC `struct tm`, as `timegm` computes them. Fields are
/// `i32`, so every intermediate fits an `i64`.
pub fn secs_of(tm: &Tm) -> i64 {
    let f = |v: I32| i64::from(v.get());
    let (mon, year) = (f(tm.tm_mon), f(tm.tm_year));
    let y = year + 1900 + mon.div_euclid(12);
    let days = days_from_civil(y, mon.rem_euclid(12) + 1, 1) + f(tm.tm_mday) - 1;
    days * 86400 + f(tm.tm_hour) * 3600 + f(tm.tm_min) * 60 + f(tm.tm_sec)
}

/// `_tzset_js(*timezone, *daylight, std_name, dst_name)`: UTC, no daylight saving.
pub fn tzset(
    m: &mut impl GuestMemory,
    _: &mut Context,
    timezone: u32,
    daylight: u32,
    std_name: u32,
    dst_name: u32,
) {
    // A bad pointer leaves the rest unset; tzset has no way to report it.
    let _ = (|| -> Result<()> {
        m.write_i32(timezone, 0)?;
        m.write_i32(daylight, 0)?;
        m.write_cstr(std_name, "UTC", 17)?;
        m.write_cstr(dst_name, "UTC", 17)?;
        Ok(())
    })();
}

/// `_localtime_js(secs, *tm)` and `_gmtime_js`: the same here, local time being UTC. A time whose year does not
/// fit, or a bad pointer, leaves `*tm` unchanged (the import returns nothing).
pub fn localtime(m: &mut impl GuestMemory, _: &mut Context, secs: i64, tm: u32) {
    if let Ok(fields) = tm_of(secs) {
        let _ = m.write(tm, &fields);
    }
}

/// `_mktime_js(*tm)` and `_timegm_js`: the seconds of `*tm`, which is rewritten normalised; -1 if it is
/// unreadable or its normalised year does not fit.
pub fn mktime(m: &mut impl GuestMemory, _: &mut Context, tm: u32) -> i64 {
    let mut normalise = || -> Result<i64> {
        let secs = secs_of(&m.read::<Tm>(tm)?);
        m.write(tm, &tm_of(secs)?)?;
        Ok(secs)
    };
    normalise().unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
        for d in [-800_000, -1, 0, 59, 365, 11016, 19_000, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}

/// `emscripten_date_now()`: wall-clock time in milliseconds since the epoch.
pub fn date_now(_: &mut impl GuestMemory, cx: &mut Context) -> f64 {
    cx.clock.realtime_ms()
}

/// `emscripten_get_now()`: monotonic time in milliseconds (fractional), the clock `time.monotonic` reads.
pub fn get_now(_: &mut impl GuestMemory, cx: &mut Context) -> f64 {
    cx.clock.monotonic_ns() as f64 / 1e6
}
