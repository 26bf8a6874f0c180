//! Query strings. The API is strict: a parameter sent with no value (`?after=`) is a
//! mistake answered 400, as is an unknown parameter or a number that is not one. Pages
//! are lenient: an HTML form sends its empty fields, and they mean "no filter".

use serde::de::DeserializeOwned;
use warp::{Filter, Rejection};

/// Why a query string was refused.
#[derive(Debug)]
pub struct BadQuery(pub String);

impl warp::reject::Reject for BadQuery {}

/// The API's query: every parameter sent has a value.
pub fn query<T: DeserializeOwned + Send + 'static>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    raw().and_then(|raw: String| async move {
        strict::<T>(&raw).map_err(|why| warp::reject::custom(BadQuery(why)))
    })
}

/// A page's query (a form's GET): empty fields count as absent.
pub fn form_query<T: DeserializeOwned + Send + 'static>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    raw().and_then(|raw: String| async move {
        lenient::<T>(&raw).map_err(|why| warp::reject::custom(BadQuery(why)))
    })
}

/// The raw query string, empty when there is none.
fn raw() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

fn strict<T: DeserializeOwned>(raw: &str) -> Result<T, String> {
    if let Some(empty) = raw
        .split('&')
        .filter(|pair| !pair.is_empty())
        .find(|pair| pair.split_once('=').is_none_or(|(_, v)| v.is_empty()))
    {
        let name = empty.split('=').next().unwrap_or_default();
        return Err(format!("`{name}` has no value (leave it out instead)"));
    }
    serde_urlencoded::from_str(raw).map_err(|e| e.to_string())
}

fn lenient<T: DeserializeOwned>(raw: &str) -> Result<T, String> {
    let kept: Vec<&str> = raw
        .split('&')
        .filter(|pair| pair.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
        .collect();
    serde_urlencoded::from_str(&kept.join("&")).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Q {
        after: Option<String>,
        limit: Option<u32>,
    }

    const NONE: Q = Q {
        after: None,
        limit: None,
    };

    #[test]
    fn the_api_refuses_empty_values_and_names_unknown_parameters() {
        assert_eq!(
            strict::<Q>("after=x&limit=5").unwrap(),
            Q {
                after: Some("x".into()),
                limit: Some(5)
            }
        );
        assert_eq!(strict::<Q>("").unwrap(), NONE);
        assert!(
            strict::<Q>("after=&limit=5")
                .unwrap_err()
                .contains("`after`")
        );
        assert!(strict::<Q>("after").unwrap_err().contains("`after`"));
        let why = strict::<Q>("x=1").unwrap_err();
        assert!(why.contains("unknown field `x`"), "{why}");
        assert!(strict::<Q>("limit=ten").is_err());
    }

    #[test]
    fn pages_take_empty_fields_as_absent() {
        assert_eq!(
            lenient::<Q>("after=&limit=5").unwrap(),
            Q {
                after: None,
                limit: Some(5)
            }
        );
        assert_eq!(lenient::<Q>("after").unwrap(), NONE);
        assert!(lenient::<Q>("x=1").is_err());
    }
}
