use super::*;

/// Builds a JWT-shaped string from a header JSON (base64url encoded by hand).
fn jwt_with_header(header: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in header.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    format!("{out}.eyJzdWIiOiIxIn0.c2lnbmF0dXJl")
}

#[test]
fn base64url_round_trips() {
    assert_eq!(
        base64url_decode("eyJhbGciOiJIUzI1NiJ9").as_deref(),
        Some(&br#"{"alg":"HS256"}"#[..])
    );
    assert_eq!(base64url_decode("YQ").as_deref(), Some(&b"a"[..]));
    assert!(base64url_decode("a+b/").is_none());
    assert!(base64url_decode("abcde").is_none());
}

#[test]
fn jwt_needs_alg_header() {
    assert!(is_jwt(&jwt_with_header(r#"{"alg":"HS256","typ":"JWT"}"#)));
    assert!(!is_jwt(&jwt_with_header(r#"{"typ":"JWT"}"#)));
    assert!(!is_jwt("1.2.3"), "a version string is not a JWT");
    assert!(!is_jwt("www.example.com"));
}

#[test]
fn bearer_pem_and_userinfo() {
    assert!(is_bearer("Bearer abcdefgh12345678"));
    assert!(is_bearer("bearer abcdefgh12345678"));
    assert!(!is_bearer("Bearer of bad news"));
    assert!(is_pem_private_key(
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----"
    ));
    assert!(!is_pem_private_key("-----BEGIN CERTIFICATE-----"));
    assert!(has_url_password(
        "postgres://app:s3cret@db.internal:5432/app"
    ));
    assert!(!has_url_password("https://user@example.com/path"));
    assert!(!has_url_password("https://example.com/a:b@c"));
    assert_eq!(
        secret_detector("Bearer abcdefgh12345678"),
        Some("bearer_token")
    );
    assert_eq!(secret_detector("hello world"), None);
}

#[test]
fn entropy_separates_tokens_from_words() {
    assert!(is_high_entropy("sk_live_4eC39HqLyjWDarjtT1zdp7dc"));
    assert!(is_high_entropy("9f86d081884c7d659a2feaa0c55ad015"));
    assert!(!is_high_entropy("aaaaaaaaaaaaaaaaaaaaaaaa"));
    assert!(!is_high_entropy("short"));
    assert!(!is_high_entropy("the quick brown fox jumps over"));
}
