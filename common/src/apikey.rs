//! API keys: only their SHA-256 hashes are stored or published.

use sha2::{Digest, Sha256};

/// Prefix of every project API key, so a leaked key is recognisable in scans.
pub const API_KEY_PREFIX: &str = "sk_";
/// Prefix of keys issued by earlier releases; they keep working (only hashes are compared).
pub const LEGACY_API_KEY_PREFIX: &str = "srk_";

/// Whether a string has the shape of a project API key (current or legacy prefix), as
/// opposed to a key id (`key_…`).
pub fn looks_like_api_key(text: &str) -> bool {
    text.starts_with(API_KEY_PREFIX) || text.starts_with(LEGACY_API_KEY_PREFIX)
}

/// The SHA-256 of a key: the only form a key is stored in, compared or published.
pub fn hash_api_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The hash of a key as lowercase hex, the form used in the database and the policy bucket.
pub fn hash_api_key_hex(key: &str) -> String {
    hex::encode(hash_api_key(key))
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive, per
/// RFC 9110); `None` for other schemes or an empty token.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Parses a hex hash back into bytes; `None` when it is not 64 hex digits.
pub fn parse_key_hash(hex_hash: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_hash, &mut out).ok()?;
    Some(out)
}

/// Whether `token` hashes to `expected`, compared without an early exit so that timing
/// says nothing about how much of it matched.
pub fn matches_hash(token: &str, expected: &[u8; 32]) -> bool {
    let hash = hash_api_key(token);
    hash.iter()
        .zip(expected)
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_tokens() {
        assert_eq!(bearer_token("Bearer sk_1"), Some("sk_1"));
        assert_eq!(bearer_token("bearer   sk_1 "), Some("sk_1"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("sk_1"), None);
    }

    #[test]
    fn hash_round_trips_through_hex() {
        let hex_hash = hash_api_key_hex("sk_test");
        assert_eq!(hex_hash.len(), 64);
        assert_eq!(parse_key_hash(&hex_hash), Some(hash_api_key("sk_test")));
        assert_eq!(parse_key_hash("zz"), None);
    }
}
