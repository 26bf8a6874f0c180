//! Identity values: email normalisation and the placeholders that would merge strangers.
//!
//! Resolution order everywhere is `contact_id` → `external_id` → normalised `email`
//! (the order of [`IdentityKind`]'s variants).

use serde::{Deserialize, Serialize};

/// Longest accepted `contact_id` or `external_id`, in bytes.
pub const MAX_ID_LEN: usize = 255;
/// Longest accepted email address (RFC 5321 path limit), in bytes.
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest local part of an email address (RFC 5321), in bytes.
const MAX_LOCAL_LEN: usize = 64;

/// Values that SDKs and forms send when they have no real identifier. Accepting them would
/// attach every anonymous visitor to one contact.
const PLACEHOLDERS: [&str; 9] = [
    "null",
    "undefined",
    "anonymous",
    "none",
    "nil",
    "unknown",
    "n/a",
    "-1",
    "nan",
];

/// The kinds of identifier, in resolution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// The platform's own contact id.
    ContactId,
    /// The customer's id for the contact.
    ExternalId,
    /// A normalised email address.
    Email,
}

impl IdentityKind {
    /// The field name in the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            IdentityKind::ContactId => "contact_id",
            IdentityKind::ExternalId => "external_id",
            IdentityKind::Email => "email",
        }
    }
}

/// Why an identity value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityProblem {
    /// Blank after trimming.
    #[error("must not be blank")]
    Blank,
    /// A placeholder such as `null`, `undefined`, `anonymous`, `0` or `-1`.
    #[error("looks like a placeholder ({0:?}), not a real identifier")]
    Placeholder(String),
    /// Longer than allowed.
    #[error("must be at most {0} bytes")]
    TooLong(usize),
    /// Contains control characters.
    #[error("must not contain control characters")]
    ControlCharacters,
    /// Not a syntactically valid email address.
    #[error("is not a valid email address")]
    InvalidEmail,
}

/// Returns true for values that are blank, all zeros, or a known placeholder.
pub fn is_placeholder(value: &str) -> bool {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return true;
    }
    // "0", "000", "00000000-0000-0000-0000-000000000000": nil ids from buggy clients.
    if trimmed.chars().all(|c| c == '0' || c == '-') && trimmed.contains('0') {
        return true;
    }
    PLACEHOLDERS.iter().any(|p| trimmed.eq_ignore_ascii_case(p))
}

/// Checks a `contact_id` or `external_id`; returns the trimmed value.
pub fn check_id(value: &str) -> Result<&str, IdentityProblem> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(IdentityProblem::Blank);
    }
    if is_placeholder(trimmed) {
        return Err(IdentityProblem::Placeholder(trimmed.to_owned()));
    }
    if trimmed.len() > MAX_ID_LEN {
        return Err(IdentityProblem::TooLong(MAX_ID_LEN));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(IdentityProblem::ControlCharacters);
    }
    Ok(trimmed)
}

/// Normalises an email: trimmed, lowercased, and syntactically valid.
///
/// The check is deliberately conservative (one `@`, a dotted domain of letters, digits and
/// hyphens, no spaces): it rejects typos without trying to implement all of RFC 5322.
pub fn normalize_email(value: &str) -> Result<String, IdentityProblem> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(IdentityProblem::Blank);
    }
    if trimmed.len() > MAX_EMAIL_LEN {
        return Err(IdentityProblem::TooLong(MAX_EMAIL_LEN));
    }
    let email = trimmed.to_lowercase();
    let (local, domain) = email.split_once('@').ok_or(IdentityProblem::InvalidEmail)?;
    if !valid_local_part(local) || !valid_domain(domain) {
        return Err(IdentityProblem::InvalidEmail);
    }
    Ok(email)
}

fn valid_local_part(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= MAX_LOCAL_LEN
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(
            normalize_email("  Olivia@Example.COM ").unwrap(),
            "olivia@example.com"
        );
        assert_eq!(
            normalize_email("olivia@example.com").unwrap(),
            "olivia@example.com"
        );
    }

    #[test]
    fn invalid_emails_are_refused() {
        for bad in [
            "olivia",
            "olivia@",
            "@example.com",
            "olivia@example",
            "oli via@example.com",
            "olivia@@example.com",
            "olivia@exa_mple.com",
            ".olivia@example.com",
            "olivia..x@example.com",
            "olivia@-example.com",
            "olivia@1.2",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(normalize_email("   "), Err(IdentityProblem::Blank));
    }

    #[test]
    fn placeholders_are_refused() {
        for bad in [
            "null",
            "NULL",
            "undefined",
            "anonymous",
            "-1",
            "0",
            "000",
            " ",
            "",
        ] {
            assert!(check_id(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(check_id("00000000-0000-0000-0000-000000000000").is_err());
        assert_eq!(check_id(" user_42 ").unwrap(), "user_42");
        assert_eq!(check_id("10").unwrap(), "10");
    }

    #[test]
    fn overlong_ids_are_refused() {
        let long = "a".repeat(MAX_ID_LEN + 1);
        assert_eq!(check_id(&long), Err(IdentityProblem::TooLong(MAX_ID_LEN)));
    }
}
