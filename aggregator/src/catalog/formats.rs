//! String formats: the schema's format counts and the classes redaction masks strings with.

use super::detect;
use super::time;

/// Whether `s` is a UUID in canonical 8-4-4-4-12 hex form.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `s` is an absolute URI (`scheme://…`, `mailto:…`, `urn:…`) without whitespace.
pub fn is_uri(s: &str) -> bool {
    // Every accepted form has a colon: a byte search rules out most strings at once.
    if !s.as_bytes().contains(&b':') || s.contains(char::is_whitespace) {
        return false;
    }
    if let Some((scheme, rest)) = s.split_once("://") {
        let mut chars = scheme.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        return first_ok
            && chars.all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
            && !rest.is_empty();
    }
    ["mailto:", "urn:", "tel:"]
        .iter()
        .any(|p| s.len() > p.len() && s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)))
}

/// Whether `s` is a date-time in the schema's sense: RFC 3339 or a plain `YYYY-MM-DD` date.
pub fn is_date_time(s: &str) -> bool {
    time::is_rfc3339(s) || time::is_iso_date(s)
}

/// The schema format of a string value: `email`, `uri`, `uuid`, `date-time` or `ip`.
pub fn string_format(s: &str) -> Option<&'static str> {
    if detect::is_email(s) {
        Some("email")
    } else if is_uuid(s) {
        Some("uuid")
    } else if is_date_time(s) {
        Some("date-time")
    } else if detect::parse_ip(s).is_some() {
        Some("ip")
    } else if is_uri(s) {
        Some("uri")
    } else {
        None
    }
}

/// The redaction mask of a string: its class, or `<string:N>` with N the char count.
pub fn mask_string(s: &str) -> String {
    let class = match string_format(s) {
        Some(f) => Some(f),
        None if detect::separated_digits(s).is_some_and(|d| detect::is_card_digits(&d)) => {
            Some("card")
        }
        None if detect::is_e164_like(s) => Some("phone"),
        None => None,
    };
    match class {
        Some(c) => format!("<{c}>"),
        None => format!("<string:{}>", s.chars().count()),
    }
}

/// Whether an object key looks like data rather than a field name (ids, emails, numbers, dates).
pub fn is_dynamic_key(k: &str) -> bool {
    // Asked for every key of every event: remember the answers for keys seen (per thread,
    // bounded, as data-like keys are endless).
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<String, bool>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    const MAX_REMEMBERED: usize = 4096;
    SEEN.with(|seen| {
        if let Some(dynamic) = seen.borrow().get(k) {
            return *dynamic;
        }
        let dynamic = looks_dynamic(k);
        let mut seen = seen.borrow_mut();
        if seen.len() >= MAX_REMEMBERED {
            seen.clear();
        }
        seen.insert(k.to_owned(), dynamic);
        dynamic
    })
}

/// Whether a key is data-like, worked out from its text.
fn looks_dynamic(k: &str) -> bool {
    let all_digits = !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit());
    all_digits
        || is_uuid(k)
        || detect::is_email(k)
        || detect::parse_ip(k).is_some()
        || detect::is_e164_like(k)
        || is_date_time(k)
}

/// Keys per object from which an object is treated as a map (quicktype's threshold).
pub const MAP_MIN_KEYS: usize = 20;

/// Whether an object is map-like: all keys data-like, or so many keys they can't be a fixed schema.
pub fn is_map_like(map: &serde_json::Map<String, serde_json::Value>) -> bool {
    !map.is_empty() && (map.len() >= MAP_MIN_KEYS || map.keys().all(|k| is_dynamic_key(k)))
}

#[cfg(test)]
mod tests;
