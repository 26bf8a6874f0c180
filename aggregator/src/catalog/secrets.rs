//! Value detectors for credentials: Bearer tokens, JWTs, PEM private keys, URL userinfo, entropy.

/// Whether `s` is an HTTP `Bearer <token>` credential.
pub fn is_bearer(s: &str) -> bool {
    let s = s.trim();
    let Some(prefix) = s.get(..7) else {
        return false;
    };
    let token = &s[7..];
    prefix.eq_ignore_ascii_case("bearer ")
        && token.len() >= 8
        && !token.contains(char::is_whitespace)
}

/// Decodes unpadded (or padded) base64url by hand; `None` on any invalid character.
pub fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover sextet can't come from any byte sequence.
    (s.len() % 4 != 1).then_some(out)
}

/// Whether `s` is a JWT: three base64url parts whose header decodes to a JSON object with `alg`.
pub fn is_jwt(s: &str) -> bool {
    if s.bytes().filter(|b| *b == b'.').count() != 2 {
        return false;
    }
    let parts: Vec<&str> = s.trim().split('.').collect();
    let [header, payload, _signature] = parts.as_slice() else {
        return false;
    };
    if header.is_empty() || payload.is_empty() {
        return false;
    }
    base64url_decode(header)
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|v| v.get("alg").is_some())
}

/// Whether `s` contains a PEM private-key block.
pub fn is_pem_private_key(s: &str) -> bool {
    // A byte search first: building the substring searcher costs more than most strings.
    s.as_bytes().contains(&b'-')
        && s.find("-----BEGIN ")
            .is_some_and(|i| s[i..].contains("PRIVATE KEY-----"))
}

/// Whether `s` is a URL carrying a password in its userinfo (`scheme://user:pass@host`).
pub fn has_url_password(s: &str) -> bool {
    if !s.as_bytes().contains(&b'@') {
        return false;
    }
    let Some((scheme, rest)) = s.trim().split_once("://") else {
        return false;
    };
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return false;
    };
    let password_ok = userinfo
        .split_once(':')
        .is_some_and(|(_, pass)| !pass.is_empty());
    scheme_ok && password_ok && !host.is_empty() && !authority.contains(char::is_whitespace)
}

/// Shannon entropy of `s` in bits per character.
pub fn entropy_bits(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0.0;
    for c in s.chars() {
        *counts.entry(c).or_insert(0.0) += 1.0;
        n += 1.0;
    }
    counts
        .values()
        .map(|&k: &f64| {
            let p = k / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether `s` looks like a generated credential: 20+ characters, no spaces, high entropy.
pub fn is_high_entropy(s: &str) -> bool {
    // 3.0 bits/char separates random tokens (hex ≈ 3.8, base64 ≈ 5) from words and repeats.
    s.chars().count() >= 20 && !s.contains(char::is_whitespace) && entropy_bits(s) >= 3.0
}

/// The name of the value-only secret detector that fires on `s`, if any.
pub fn secret_detector(s: &str) -> Option<&'static str> {
    if is_pem_private_key(s) {
        Some("pem_private_key")
    } else if is_bearer(s) {
        Some("bearer_token")
    } else if is_jwt(s) {
        Some("jwt")
    } else if has_url_password(s) {
        Some("url_userinfo")
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
