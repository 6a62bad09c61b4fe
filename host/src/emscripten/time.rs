//! Calendar and clock imports. Workers run in UTC (as Cloudflare's do): local time is UTC, with no daylight
//! saving, so results never depend on the host's time zone.

use super::{with_memory, EmscriptenView, GuestMemory, ENV};
use crate::vfs::Result;
use wasmtime::{Caller, Linker};

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

/// Fill a `struct tm` at `tm` for `secs` since the epoch, in UTC.
fn write_tm(m: &mut GuestMemory<'_>, tm: u32, secs: i64) -> Result<()> {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, mon, d) = civil_from_days(days);
    let fields = [
        rem % 60,
        rem / 60 % 60,
        rem / 3600,
        d,
        mon - 1,
        y - 1900,
        (days + 4).rem_euclid(7), // 1970-01-01 was a Thursday
        days - days_from_civil(y, 1, 1),
        0, // tm_isdst
        0, // tm_gmtoff
    ];
    for (i, v) in fields.iter().enumerate() {
        m.write_i32(tm + 4 * i as u32, *v as i32)?;
    }
    Ok(())
}

/// Seconds since the epoch of the (possibly denormalised) `struct tm` at `tm`, which is rewritten normalised.
fn read_tm(m: &mut GuestMemory<'_>, tm: u32) -> Result<i64> {
    let f = |i: u32| -> Result<i64> { Ok(m.read_u32(tm + 4 * i)? as i32 as i64) };
    let (sec, min, hour, mday, mon, year) = (f(0)?, f(1)?, f(2)?, f(3)?, f(4)?, f(5)?);
    let y = year + 1900 + mon.div_euclid(12);
    let days = days_from_civil(y, mon.rem_euclid(12) + 1, 1) + mday - 1;
    let secs = days * 86400 + hour * 3600 + min * 60 + sec;
    write_tm(m, tm, secs)?;
    Ok(secs)
}

pub(super) fn add_to_linker<T: EmscriptenView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap(
        ENV,
        "_tzset_js",
        |mut c: Caller<'_, T>, timezone: i32, daylight: i32, std: i32, dst: i32| {
            with_memory(&mut c, |m, _| -> Result<()> {
                m.write_i32(timezone as u32, 0)?;
                m.write_i32(daylight as u32, 0)?;
                m.write_cstr(std as u32, "UTC", 17)?;
                m.write_cstr(dst as u32, "UTC", 17)?;
                Ok(())
            });
        },
    )?;
    for name in ["_localtime_js", "_gmtime_js"] {
        linker.func_wrap(ENV, name, |mut c: Caller<'_, T>, secs: i64, tm: i32| {
            with_memory(&mut c, |m, _| write_tm(m, tm as u32, secs));
        })?;
    }
    for name in ["_mktime_js", "_timegm_js"] {
        linker.func_wrap(ENV, name, |mut c: Caller<'_, T>, tm: i32| -> i64 {
            with_memory(&mut c, |m, _| read_tm(m, tm as u32))
                .and_then(|r| r.ok())
                .unwrap_or(-1)
        })?;
    }
    linker.func_wrap(ENV, "emscripten_date_now", |mut c: Caller<'_, T>| {
        c.data_mut().em().clock.realtime_ms()
    })?;
    linker.func_wrap(ENV, "emscripten_get_now", |mut c: Caller<'_, T>| {
        c.data_mut().em().clock.monotonic_ns() as f64 / 1e6
    })?;
    // Interval timers would need a signal delivered into running wasm; they are accepted and never fire.
    linker.func_wrap(ENV, "_setitimer_js", |_which: i32, _ms: f64| 0i32)?;
    Ok(())
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
