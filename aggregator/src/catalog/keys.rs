//! Key-name signals: keys split into word tokens, matched as whole words or known compounds.
//!
//! Substring matching is the classic source of false positives (`pass` in `passenger`,
//! `token` in `token_count`, `name` in `event_name`), so only whole tokens count, and most
//! categories must be the key's head noun (its last word or compound).

/// Splits a key into lowercase word tokens on separators and camelCase boundaries.
pub fn tokenize(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut tokens = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            flush(&mut tokens, &mut cur);
            continue;
        }
        let prev = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let next = chars.get(i + 1).copied();
        let lower_to_upper =
            c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit());
        let acronym_end = c.is_uppercase()
            && prev.is_some_and(char::is_uppercase)
            && next.is_some_and(char::is_lowercase);
        if lower_to_upper || acronym_end {
            flush(&mut tokens, &mut cur);
        }
        cur.extend(c.to_lowercase());
    }
    flush(&mut tokens, &mut cur);
    tokens
}

/// Ends the current token, dropping trailing digits (`address1` → `address`, `ipv4` → `ipv`).
fn flush(tokens: &mut Vec<String>, cur: &mut String) {
    let word = cur.trim_end_matches(|c: char| c.is_ascii_digit());
    if !word.is_empty() {
        tokens.push(word.to_string());
    }
    cur.clear();
}

/// A crude singular (`emails` → `email`, `addresses` → `address`) so list keys match too.
fn singular(t: &str) -> String {
    if let Some(stem) = t.strip_suffix("sses") {
        format!("{stem}ss")
    } else if t.len() > 3 && t.ends_with('s') && !t.ends_with("ss") {
        t[..t.len() - 1].to_string()
    } else {
        t.to_string()
    }
}

/// Whether the last 1–3 tokens, joined, form a word of `set`.
fn ends_with_word(tokens: &[String], set: &[&str]) -> bool {
    (1..=3.min(tokens.len())).any(|n| set.contains(&tokens[tokens.len() - n..].concat().as_str()))
}

/// Whether any run of 1–3 adjacent tokens, joined, forms a word of `set`.
fn has_word(tokens: &[String], set: &[&str]) -> bool {
    (1..=3).any(|n| {
        tokens
            .windows(n)
            .any(|w| set.contains(&w.concat().as_str()))
    })
}

const EMAIL: &[&str] = &["email", "emailaddress", "emailaddr", "mailaddress"];
const PHONE: &[&str] = &[
    "phone",
    "mobile",
    "tel",
    "telephone",
    "cell",
    "cellphone",
    "phonenumber",
    "mobilenumber",
    "telnumber",
    "cellnumber",
    "phoneno",
    "mobileno",
    "msisdn",
];
const CARD: &[&str] = &[
    "cardnumber",
    "cardno",
    "cardnum",
    "ccnumber",
    "ccnum",
    "ccno",
    "creditcard",
    "debitcard",
    "creditcardnumber",
    "creditcardno",
    "pan",
];
const BANK: &[&str] = &["iban", "bankaccount", "bankaccountnumber", "bankaccountno"];
const NATIONAL_ID: &[&str] = &[
    "ssn",
    "socialsecurity",
    "socialsecuritynumber",
    "socialsecurityno",
    "socsec",
    "nationalid",
    "nationalidnumber",
    "taxid",
    "passport",
    "passportnumber",
    "passportno",
];
const IP: &[&str] = &[
    "ip",
    "ipv",
    "ipaddress",
    "ipaddr",
    "remoteaddr",
    "remoteaddress",
    "xforwardedfor",
    "forwardedfor",
    "xrealip",
];
const VERSION_LIKE: &[&str] = &[
    "version",
    "ver",
    "vsn",
    "semver",
    "useragent",
    "ua",
    "build",
    "release",
    "firmware",
];
const NAME: &[&str] = &[
    "firstname",
    "fname",
    "lastname",
    "lname",
    "fullname",
    "maidenname",
    "nickname",
    "username",
    "givenname",
    "familyname",
    "middlename",
    "surname",
    "displayname",
    "contactname",
    "customername",
];
const ADDRESS: &[&str] = &[
    "address",
    "addr",
    "street",
    "streetaddress",
    "streetname",
    "city",
    "zip",
    "zipcode",
    "postal",
    "postcode",
    "postalcode",
    "addressline",
];
/// Words before `address` that make it a non-postal address (`ip_address`, `email_address`).
const NOT_POSTAL: &[&str] = &[
    "ip", "ipv", "email", "mail", "mac", "wallet", "remote", "server", "web", "url", "contract",
    "bitcoin", "crypto", "public", "hardware", "memory", "base",
];
const DOB: &[&str] = &["dob", "birthday", "birthdate", "dateofbirth", "birthdt"];
const SECRET: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "credentials",
    "authorization",
    "otp",
    "apikey",
    "privatekey",
    "secretkey",
    "accesskey",
    "signingkey",
    "clientsecret",
];

/// The categories a key name hints at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyHints {
    /// The key names an email address.
    pub email: bool,
    /// The key names a phone number.
    pub phone: bool,
    /// The key names a payment card number.
    pub card: bool,
    /// The key names a bank account (IBAN).
    pub bank_account: bool,
    /// The key names a national identifier (SSN, passport, tax id).
    pub national_id: bool,
    /// The key names an IP address.
    pub ip: bool,
    /// The key names a version or user agent: dotted numbers there are not IPs.
    pub version_like: bool,
    /// The key names a person's name.
    pub name: bool,
    /// The key names a postal address part.
    pub address: bool,
    /// The key names a date of birth.
    pub date_of_birth: bool,
    /// The key names a credential.
    pub secret: bool,
}

/// Whether the tokens name a postal address (head noun, `ip_address` and the like excluded).
fn is_address(sing: &[String]) -> bool {
    if !ends_with_word(sing, ADDRESS) {
        return false;
    }
    let n = sing.len();
    let head_is_address = matches!(sing.last().map(String::as_str), Some("address" | "addr"));
    !(head_is_address && n >= 2 && NOT_POSTAL.contains(&sing[n - 2].as_str()))
}

/// Reads the hints of one key.
pub fn hints(key: &str) -> KeyHints {
    // The same few keys come back in every event: remember their hints (per thread,
    // bounded, so keys that are data rather than names cannot grow it without end).
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<String, KeyHints>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    const MAX_REMEMBERED: usize = 4096;
    SEEN.with(|seen| {
        if let Some(hints) = seen.borrow().get(key) {
            return *hints;
        }
        let hints = compute_hints(key);
        let mut seen = seen.borrow_mut();
        if seen.len() >= MAX_REMEMBERED {
            seen.clear();
        }
        seen.insert(key.to_owned(), hints);
        hints
    })
}

/// The categories a key name hints at, worked out from its words.
fn compute_hints(key: &str) -> KeyHints {
    let raw = tokenize(key);
    let sing: Vec<String> = raw.iter().map(|t| singular(t)).collect();
    let name = ends_with_word(&sing, NAME) || sing == ["name"];
    KeyHints {
        email: ends_with_word(&sing, EMAIL),
        phone: ends_with_word(&sing, PHONE),
        card: ends_with_word(&sing, CARD),
        bank_account: ends_with_word(&sing, BANK),
        national_id: has_word(&sing, NATIONAL_ID),
        ip: ends_with_word(&sing, IP),
        version_like: has_word(&raw, VERSION_LIKE),
        name,
        address: is_address(&sing),
        date_of_birth: ends_with_word(&sing, DOB),
        // Plurals stay apart here: `tokens` counts tokens, it is not one.
        secret: ends_with_word(&raw, SECRET),
    }
}

#[cfg(test)]
mod tests;
