//! Tiny calendar helpers: RFC 3339 formatting of unix milliseconds and date parsing.

/// Formats unix milliseconds as an RFC 3339 UTC string with millisecond precision.
pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
    let (min, rem) = (rem / 60_000, rem % 60_000);
    let (s, milli) = (rem / 1000, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Whether (year, month, day) is a real calendar day.
pub fn valid_ymd(y: u32, m: u32, d: u32) -> bool {
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let max = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=max).contains(&d)
}

/// Parses exactly `n` ASCII digits.
fn digits(s: &[u8], n: usize) -> Option<u32> {
    if s.len() != n || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |acc, b| acc * 10 + u32::from(b - b'0')))
}

/// Whether `s` is a plain ISO date `YYYY-MM-DD` naming a real day.
pub fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    match (
        digits(&b[0..4], 4),
        digits(&b[5..7], 2),
        digits(&b[8..10], 2),
    ) {
        (Some(y), Some(m), Some(d)) => valid_ymd(y, m, d),
        _ => false,
    }
}

/// Whether `s` is an RFC 3339 date-time (`T`, `t` or space separator; `Z` or `±HH:MM` offset).
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_char_boundary(10) || !is_iso_date(&s[..10]) {
        return false;
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return false;
    }
    let time_ok = matches!(
        (digits(&b[11..13], 2), digits(&b[14..16], 2), digits(&b[17..19], 2)),
        (Some(h), Some(m), Some(s)) if h < 24 && m < 60 && s <= 60
    );
    if !time_ok {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => matches!(
            (digits(&[*h1, *h2], 2), digits(&[*m1, *m2], 2)),
            (Some(h), Some(m)) if h < 24 && m < 60
        ),
        _ => false,
    }
}

/// Whether `s` is a day written `DD/MM/YYYY`, `MM/DD/YYYY` or `DD.MM.YYYY` (either order valid).
pub fn is_written_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[2] != b[5] || !matches!(b[2], b'/' | b'.' | b'-') {
        return false;
    }
    match (
        digits(&b[0..2], 2),
        digits(&b[3..5], 2),
        digits(&b[6..10], 4),
    ) {
        (Some(a), Some(c), Some(y)) => valid_ymd(y, c, a) || valid_ymd(y, a, c),
        _ => false,
    }
}

/// Whether `s` parses as a calendar date in any accepted form.
pub fn is_date(s: &str) -> bool {
    is_iso_date(s) || is_rfc3339(s) || is_written_date(s)
}

#[cfg(test)]
mod tests;
