//! The browser side of sessions: the cookie, the CSRF checks of forms, and the headers every
//! page carries. Deciding who a session is lives in [`crate::sessions`].

use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::Timestamp;
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::State;
use super::reply::ApiError;
use crate::sessions::{self, Opened, Session};

/// The session cookie's name over plain HTTP (local use).
const COOKIE: &str = "sendrealm_session";
/// Its name when cookies are `Secure`: the `__Host-` prefix pins it to this host and `/`.
const SECURE_COOKIE: &str = "__Host-sendrealm_session";

/// A submitted form's fields.
pub type Form = std::collections::HashMap<String, String>;

/// What a request carries that may identify its caller.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The session cookie's value.
    pub cookie: Option<String>,
    /// The `X-CSRF-Token` header (API calls made with a session cookie).
    pub csrf_header: Option<String>,
    /// Whether the browser says the request came from another site (`Sec-Fetch-Site`).
    pub cross_site: bool,
}

/// The session cookie's name under this configuration.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_COOKIE } else { COOKIE }
}

/// Extracts [`Credentials`] from a request.
pub fn credentials(
    secure: bool,
) -> impl Filter<Extract = (Credentials,), Error = std::convert::Infallible> + Clone {
    warp::header::headers_cloned().map(move |headers: HeaderMap| {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Credentials {
            authorization: text("authorization"),
            cookie: headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|cookies| cookie_value(cookies, cookie_name(secure)))
                .map(str::to_owned),
            csrf_header: text("x-csrf-token"),
            cross_site: text("sec-fetch-site").as_deref() == Some("cross-site"),
        }
    })
}

/// The value of cookie `name` in a `Cookie` header.
fn cookie_value<'a>(cookies: &'a str, name: &str) -> Option<&'a str> {
    cookies.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name && !value.is_empty()).then_some(value)
    })
}

impl State {
    /// The live session the request's cookie names, if any.
    pub async fn session(&self, credentials: &Credentials) -> Result<Option<Session>, ApiError> {
        match &credentials.cookie {
            Some(cookie) => {
                Ok(sessions::find(&self.store, cookie, Timestamp::now().unix_millis()).await?)
            }
            None => Ok(None),
        }
    }

    /// `Set-Cookie` for a session just opened.
    pub fn set_cookie(&self, opened: &Opened) -> HeaderValue {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        let value = format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            cookie_name(self.secure_cookies),
            opened.cookie,
            opened.max_age_secs
        );
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn clear_cookie(&self) -> HeaderValue {
        let value = if self.secure_cookies {
            "__Host-sendrealm_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        } else {
            "sendrealm_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        };
        HeaderValue::from_static(value)
    }
}

/// Refuses a state change that a browser marks as coming from another site, or whose form
/// token does not match its session's.
pub fn check_form(
    credentials: &Credentials,
    session: &Session,
    csrf: Option<&str>,
) -> Result<(), ApiError> {
    if credentials.cross_site || !csrf.is_some_and(|token| session.csrf_matches(token)) {
        return Err(ApiError::new(
            ErrorCode::InvalidCsrfToken,
            "this form is missing its CSRF token or comes from another site; reload the page and try again",
        ));
    }
    Ok(())
}

/// A page: HTML with the headers every page carries (no framing, no sniffing, no caching,
/// a same-origin policy without inline script).
pub fn page(status: StatusCode, html: String) -> Response {
    let mut response = Response::new(html.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(headers);
    response
}

/// The security headers of pages and of their redirects.
pub fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// `303 See Other` to `location` (after a form, so reloading does not resend it).
pub fn see_other(location: &str) -> Response {
    let mut response = Response::new(Default::default());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    secure_headers(headers);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let header = "a=1; sendrealm_session=abc; b=2";
        assert_eq!(cookie_value(header, "sendrealm_session"), Some("abc"));
        assert_eq!(
            cookie_value("sendrealm_session=", "sendrealm_session"),
            None
        );
        assert_eq!(
            cookie_value("x_sendrealm_session=abc", "sendrealm_session"),
            None
        );
        assert_eq!(
            cookie_value("__Host-sendrealm_session=z", cookie_name(true)),
            Some("z")
        );
    }
}
