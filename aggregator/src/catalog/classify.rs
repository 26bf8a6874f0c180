//! Combines key hints and value detectors into PII findings for one leaf value.

use serde_json::Value;

use super::detect;
use super::keys::{self, KeyHints};
use super::pii::MatchedOn;
use super::secrets;

/// One category suggested for a leaf value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    /// The PII category.
    pub category: &'static str,
    /// The signal behind it.
    pub matched_on: MatchedOn,
    /// The detector name shown with the flag.
    pub detector: &'static str,
    /// A weak signal: flagged only once it repeats at the path.
    pub weak: bool,
}

/// Builds findings, keeping only the categories that fired.
struct Findings(Vec<Finding>);

impl Findings {
    /// Adds the strongest of key+value, value and key for `category`, if any fired.
    fn add(
        &mut self,
        category: &'static str,
        key: bool,
        value: Option<(&'static str, bool)>,
        key_ok: bool,
    ) {
        let finding = match (key, value) {
            (true, Some((detector, _))) => Some((MatchedOn::KeyValue, detector, false)),
            (false, Some((detector, weak))) => Some((MatchedOn::Value, detector, weak)),
            (true, None) if key_ok => Some((MatchedOn::Key, "key_name", false)),
            _ => None,
        };
        if let Some((matched_on, detector, weak)) = finding {
            self.0.push(Finding {
                category,
                matched_on,
                detector,
                weak,
            });
        }
    }
}

/// Hints from the leaf's own key, plus the address hint of any enclosing key (`address.line1`).
pub fn leaf_hints(keys_down: &[&str]) -> KeyHints {
    let mut h = keys_down.last().map(|k| keys::hints(k)).unwrap_or_default();
    let parents = keys_down.len().saturating_sub(1);
    h.address |= keys_down[..parents].iter().any(|k| keys::hints(k).address);
    h
}

/// The PII findings for one leaf value under the given key hints.
pub fn classify(h: &KeyHints, v: &Value) -> Vec<Finding> {
    let s = v.as_str();
    // A key alone flags only real content: not booleans, nulls or blank strings.
    let text = s.is_some_and(|s| !s.trim().is_empty());
    let scalar = text || v.is_number();
    let str_check = |f: fn(&str) -> bool| s.is_some_and(f);
    let strong = |hit: bool, detector| hit.then_some((detector, false));
    let weak = |hit: bool, detector| hit.then_some((detector, true));
    let mut out = Findings(Vec::new());

    out.add(
        "email",
        h.email,
        strong(str_check(detect::is_email), "email_value"),
        text,
    );
    // A phone key explains a card-valid digit string (4915112345678 passes Visa-13 + Luhn).
    let card = detect::is_card(v) && (h.card || !h.phone);
    out.add("card", h.card, strong(card, "card_luhn"), text);
    out.add(
        "bank_account",
        h.bank_account,
        strong(str_check(detect::is_iban), "iban_mod97"),
        text,
    );

    let ssn = if h.national_id && (detect::is_ssn_bare(v) || str_check(detect::is_ssn_delimited)) {
        Some(("ssn_format", false))
    } else {
        weak(str_check(detect::is_ssn_delimited), "ssn_delimited")
    };
    out.add("national_id", h.national_id, ssn, text);

    if !h.version_like {
        let ip = str_check(|s| detect::parse_ip(s).is_some());
        let signal = if h.ip {
            strong(ip, "ip_parse")
        } else {
            weak(ip, "ip_parse")
        };
        out.add("ip", h.ip, signal, text);
    }

    let phone = if h.phone {
        strong(detect::is_phone_shaped(v), "phone_shape")
    } else {
        weak(str_check(detect::is_e164_like), "phone_e164")
    };
    out.add("phone", h.phone, phone, text);

    let secret = s
        .and_then(secrets::secret_detector)
        .or_else(|| (h.secret && str_check(secrets::is_high_entropy)).then_some("high_entropy"));
    out.add("secret", h.secret, secret.map(|d| (d, false)), scalar);

    out.add("name", h.name, None, scalar);
    out.add("address", h.address, None, scalar);
    let dob = h.date_of_birth && str_check(super::time::is_date);
    out.add(
        "date_of_birth",
        dob,
        dob.then_some(("dob_key_date", false)),
        false,
    );
    out.0
}

/// A finding for a data-like object key masked as `{*}` (e.g. a map keyed by email addresses):
/// such keys are values too, and the flag goes on the masked path.
pub fn classify_masked_key(k: &str) -> Option<Finding> {
    let (category, detector, weak) = if detect::is_email(k) {
        ("email", "email_in_key", false)
    } else if detect::is_card_digits(k) {
        ("card", "card_in_key", false)
    } else if detect::is_e164_like(k) {
        ("phone", "phone_e164", true)
    } else {
        return None;
    };
    Some(Finding {
        category,
        matched_on: MatchedOn::Value,
        detector,
        weak,
    })
}

#[cfg(test)]
mod tests;
