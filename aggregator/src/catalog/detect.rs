//! Validating value detectors for the digit and address-like PII classes.
//!
//! Each detector validates (checksum, parse, invalidation rules) instead of only matching a
//! shape, because shape-only rules flood the catalog with order numbers and timestamps.

use std::net::IpAddr;

/// Whether `s` is an email address: `local@domain`, a dot in the domain, an alphabetic TLD of 2+.
pub fn is_email(s: &str) -> bool {
    if s.len() > 254 {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-!#$&'*/=?^`{|}~".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let labels_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
    local_ok && labels_ok && tld_ok
}

/// Digits of `s` when it holds only digits, spaces and dashes (the separators cards are written with).
pub fn separated_digits(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return None;
    }
    Some(s.chars().filter(char::is_ascii_digit).collect())
}

/// Decimal digits of a JSON integer (sign dropped), `None` for other values.
pub fn integer_digits(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => {
            Some(n.to_string().trim_start_matches('-').to_string())
        }
        _ => None,
    }
}

/// Whether every digit is the same one (`0000…`, `1111…`): test data, never a real number.
fn all_same(d: &str) -> bool {
    d.bytes().all(|b| Some(&b) == d.as_bytes().first())
}

/// The Luhn checksum over a string of ASCII digits.
pub fn luhn(d: &str) -> bool {
    let mut sum = 0;
    for (i, b) in d.bytes().rev().enumerate() {
        let mut x = u32::from(b - b'0');
        if i % 2 == 1 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    sum % 10 == 0
}

/// Whether the issuer prefix (IIN) is known and allows this length.
fn iin_matches(d: &str) -> bool {
    let len = d.len();
    let p = |n: usize| d.get(..n).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    let visa = d.starts_with('4') && matches!(len, 13 | 16 | 19);
    let mastercard = ((51..=55).contains(&p(2)) || (2221..=2720).contains(&p(4))) && len == 16;
    let amex = matches!(p(2), 34 | 37) && len == 15;
    let discover =
        (p(4) == 6011 || (644..=649).contains(&p(3)) || p(2) == 65) && (16..=19).contains(&len);
    let jcb = (3528..=3589).contains(&p(4)) && (16..=19).contains(&len);
    let diners =
        ((300..=305).contains(&p(3)) || matches!(p(2), 36 | 38 | 39)) && (14..=19).contains(&len);
    let unionpay = p(2) == 62 && (16..=19).contains(&len);
    let maestro = matches!(p(4), 5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761..=6763)
        && (12..=19).contains(&len);
    visa || mastercard || amex || discover || jcb || diners || unionpay || maestro
}

/// Whether a digit string is a payment card number: 13–19 digits, known IIN and length, Luhn.
pub fn is_card_digits(d: &str) -> bool {
    // A 13-digit number starting with 1 is a millisecond timestamp, the classic Luhn false positive.
    let timestamp_shape = d.len() == 13 && d.starts_with('1');
    (13..=19).contains(&d.len())
        && d.bytes().all(|b| b.is_ascii_digit())
        && !all_same(d)
        && !timestamp_shape
        && iin_matches(d)
        && luhn(d)
}

/// Whether a JSON string or integer holds a payment card number.
pub fn is_card(v: &serde_json::Value) -> bool {
    let digits = match v {
        serde_json::Value::String(s) => separated_digits(s),
        other => integer_digits(other),
    };
    digits.is_some_and(|d| is_card_digits(&d))
}

/// IBAN lengths of the countries we accept; an unknown country code is not an IBAN.
#[rustfmt::skip]
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24), ("AE", 23), ("AT", 20), ("BE", 16), ("BG", 22), ("BR", 29), ("CH", 21),
    ("CY", 28), ("CZ", 24), ("DE", 22), ("DK", 18), ("EE", 20), ("ES", 24), ("FI", 18),
    ("FR", 27), ("GB", 22), ("GR", 27), ("HR", 21), ("HU", 28), ("IE", 22), ("IL", 23),
    ("IS", 26), ("IT", 27), ("LI", 21), ("LT", 20), ("LU", 20), ("LV", 21), ("MC", 27),
    ("MT", 31), ("NL", 18), ("NO", 15), ("PL", 28), ("PT", 25), ("RO", 24), ("SA", 24),
    ("SE", 24), ("SI", 19), ("SK", 24), ("SM", 27), ("TR", 26), ("UA", 29),
];

/// Whether `s` is an IBAN: known country and length, then the ISO 7064 mod-97 check.
pub fn is_iban(s: &str) -> bool {
    // Asked of every string value: rule out the usual ones (wrong length, no country code)
    // before building the compact form.
    let mut significant = s.bytes().filter(|b| *b != b' ');
    let country = (significant.next(), significant.next());
    let (Some(a), Some(b)) = country else {
        return false;
    };
    if !a.is_ascii_alphabetic()
        || !b.is_ascii_alphabetic()
        || !(13..=32).contains(&significant.count())
    {
        return false;
    }
    let compact: String = s
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let b = compact.as_bytes();
    let Some(country) = compact.get(..2) else {
        return false;
    };
    let len_ok = IBAN_LENGTHS
        .iter()
        .any(|(c, n)| *c == country && *n == b.len());
    if !len_ok || !b[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    if !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let rotated = b[4..].iter().chain(&b[..4]);
    let mut rem: u32 = 0;
    for c in rotated {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// SSN invalidation rules: area 000/666/900–999, group 00, serial 0000, same digits, samples.
fn ssn_parts_valid(area: &str, group: &str, serial: &str) -> bool {
    let all = format!("{area}{group}{serial}");
    let area_n: u32 = area.parse().unwrap_or(0);
    let sample = matches!(all.as_str(), "078051120" | "219099999" | "123456789");
    area_n != 0
        && area_n != 666
        && area_n < 900
        && group != "00"
        && serial != "0000"
        && !all_same(&all)
        && !sample
}

/// Whether `s` is a dash-delimited US SSN `ddd-dd-dddd` passing the invalidation rules.
pub fn is_ssn_delimited(s: &str) -> bool {
    if s.len() != 11 {
        return false;
    }
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [a, g, n] if a.len() == 3 && g.len() == 2 && n.len() == 4 => {
            s.bytes().filter(u8::is_ascii_digit).count() == 9 && ssn_parts_valid(a, g, n)
        }
        _ => false,
    }
}

/// Whether a JSON string or integer is a bare 9-digit SSN (only meaningful with a key hint).
pub fn is_ssn_bare(v: &serde_json::Value) -> bool {
    let d = match v {
        serde_json::Value::String(s) => Some(s.trim().to_string()),
        other => integer_digits(other),
    };
    d.is_some_and(|d| {
        d.len() == 9
            && d.bytes().all(|b| b.is_ascii_digit())
            && ssn_parts_valid(&d[..3], &d[3..5], &d[5..])
    })
}

/// The IP address in `s` when it parses as one (the unspecified `::`/`0.0.0.0` excluded).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    // Only hex digits, dots and colons can make an address: most strings stop here.
    if s.len() > 45
        || !s
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
    {
        return None;
    }
    s.parse::<IpAddr>().ok().filter(|ip| !ip.is_unspecified())
}

/// Digits of a phone-shaped string: an optional `+`, digits and `space - . ( )` separators only.
fn phone_digits(s: &str) -> Option<(bool, String)> {
    let s = s.trim();
    let (plus, rest) = match s.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if rest.is_empty()
        || !rest
            .chars()
            .all(|c| c.is_ascii_digit() || " -.()".contains(c))
    {
        return None;
    }
    Some((plus, rest.chars().filter(char::is_ascii_digit).collect()))
}

/// Whether `s` is an international number: a leading `+` then 8–15 digits, no leading 0.
pub fn is_e164_like(s: &str) -> bool {
    phone_digits(s).is_some_and(|(plus, d)| {
        plus && (8..=15).contains(&d.len()) && !d.starts_with('0') && !all_same(&d)
    })
}

/// Whether a JSON string or integer has a phone number's shape (7–15 digits), for use under a phone key.
pub fn is_phone_shaped(v: &serde_json::Value) -> bool {
    let d = match v {
        serde_json::Value::String(s) => phone_digits(s).map(|(_, d)| d),
        other => integer_digits(other),
    };
    d.is_some_and(|d| (7..=15).contains(&d.len()) && !all_same(&d))
}

#[cfg(test)]
mod tests;
