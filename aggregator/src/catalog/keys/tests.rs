use super::*;

#[test]
fn tokenizes_case_styles() {
    assert_eq!(tokenize("firstName"), ["first", "name"]);
    assert_eq!(tokenize("first_name"), ["first", "name"]);
    assert_eq!(tokenize("first-name"), ["first", "name"]);
    assert_eq!(tokenize("APIKey"), ["api", "key"]);
    assert_eq!(tokenize("user.IPAddress"), ["user", "ip", "address"]);
    assert_eq!(tokenize("address1"), ["address"]);
}

#[test]
fn names_only_as_whole_key_or_known_compound() {
    for k in [
        "name",
        "first_name",
        "firstName",
        "lname",
        "full_name",
        "customer_name",
        "nickname",
    ] {
        assert!(hints(k).name, "{k}");
    }
    for k in [
        "event_name",
        "product_name",
        "file_name",
        "name_count",
        "username_length",
    ] {
        assert!(!hints(k).name, "{k}");
    }
}

#[test]
fn secrets_are_head_nouns_not_substrings() {
    for k in [
        "password",
        "api_key",
        "apiKey",
        "x-api-key",
        "access_token",
        "authToken",
        "otp",
        "client_secret",
        "Authorization",
    ] {
        assert!(hints(k).secret, "{k}");
    }
    for k in [
        "token_count",
        "tokens_used",
        "tokens",
        "passenger",
        "compass",
        "author",
        "auth_method",
        "password_reset_requested",
    ] {
        assert!(!hints(k).secret, "{k}");
    }
}

#[test]
fn address_excludes_ip_and_email_addresses_and_state() {
    for k in [
        "address",
        "street",
        "city",
        "zip",
        "zip_code",
        "postalCode",
        "billing_address",
        "address_line1",
    ] {
        assert!(hints(k).address, "{k}");
    }
    for k in [
        "ip_address",
        "email_address",
        "state",
        "city_id",
        "wallet_address",
    ] {
        assert!(!hints(k).address, "{k}");
    }
}

#[test]
fn value_category_hints() {
    assert!(hints("email").email && hints("contact_emails").email && hints("emailAddress").email);
    assert!(!hints("email_verified").email);
    assert!(hints("phone").phone && hints("mobile_number").phone && hints("tel").phone);
    assert!(!hints("hotel").phone && !hints("phone_verified").phone);
    assert!(hints("ip").ip && hints("client_ip").ip && hints("ip_address").ip && hints("ipv4").ip);
    assert!(!hints("ip_country").ip && !hints("zip").ip);
    assert!(hints("ssn").national_id && hints("social_security_number").national_id);
    assert!(hints("card_number").card && hints("ccNumber").card && !hints("card_type").card);
    assert!(hints("iban").bank_account);
    assert!(hints("app_version").version_like && hints("user_agent").version_like);
    assert!(
        hints("birth_date").date_of_birth
            && hints("dateOfBirth").date_of_birth
            && hints("dob").date_of_birth
    );
    assert!(!hints("shipped_on").date_of_birth);
}
