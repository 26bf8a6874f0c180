//! Talking to the dashboard and backoffice pages as a browser would, without one: signing
//! in through the form and sending the session cookie, for the checks a browser cannot
//! make (status codes, a cookie of another session, a form without its CSRF token).

/// An HTTP client that does not follow redirects, so a test sees each 303.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// The value of the first `name="csrf"` hidden field in a page.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("a CSRF field in {html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("end of the CSRF value")].to_owned()
}

/// The `name=value` of the session cookie a response sets.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("sendrealm_session=") && !v.contains("Max-Age=0"))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// Signs in at `{url}{area}/login` (`area` is `/dashboard` or `/backoffice`) with `token`
/// and returns the session's cookie (`name=value`).
pub async fn sign_in(url: &str, area: &str, token: &str) -> String {
    let http = client();
    let form = http
        .get(format!("{url}{area}/login"))
        .send()
        .await
        .expect("GET the sign-in form");
    let form_cookie = session_cookie(&form).expect("the sign-in form sets a cookie");
    let csrf = csrf_of(&form.text().await.expect("the form"));
    let signed_in = http
        .post(format!("{url}{area}/login"))
        .header("cookie", &form_cookie)
        .form(&[("csrf", csrf.as_str()), ("token", token)])
        .send()
        .await
        .expect("POST the sign-in form");
    assert_eq!(signed_in.status().as_u16(), 303, "signing in redirects");
    session_cookie(&signed_in).expect("signing in sets the session cookie")
}

/// GET `path` with a cookie; status and body.
pub async fn get(url: &str, path: &str, cookie: &str) -> (u16, String) {
    let response = client()
        .get(format!("{url}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

/// POST a form to `path` with a cookie; status and body.
pub async fn post_form(
    url: &str,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let response = client()
        .post(format!("{url}{path}"))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .expect("POST");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

/// Where the docs keep the screenshots the page tests take.
pub fn screenshot_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/screenshots")
        .join(name)
}
