//! Which methods a route table allows at a path: the `Allow` header of a `405` answer.

/// A route: a path pattern (`*` stands for one segment) and the methods it answers, as
/// the `Allow` header lists them (`"GET"`, `"GET, POST"`).
pub type Route = (&'static str, &'static str);

/// The methods allowed at `path`, if a route of `table` matches it.
pub fn allowed(table: &[Route], path: &str) -> Option<&'static str> {
    table
        .iter()
        .find(|(pattern, _)| matches(pattern, path))
        .map(|(_, methods)| *methods)
}

/// Whether `method` is among `allow` (`"GET, POST"`).
pub fn allows(allow: &str, method: &str) -> bool {
    allow.split(", ").any(|m| m == method)
}

fn matches(pattern: &str, path: &str) -> bool {
    let mut pattern = pattern.trim_matches('/').split('/');
    let mut path = path.trim_matches('/').split('/');
    loop {
        match (pattern.next(), path.next()) {
            (None, None) => return true,
            (Some("*"), Some(segment)) if !segment.is_empty() => {}
            (Some(expected), Some(segment)) if expected == segment => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[Route] = &[
        ("/events", "POST"),
        ("/v1/catalog/*", "GET"),
        ("/v1/catalog/*/pii/*", "POST"),
    ];

    #[test]
    fn finds_the_methods_of_a_path() {
        assert_eq!(allowed(TABLE, "/events"), Some("POST"));
        assert_eq!(allowed(TABLE, "/events/"), Some("POST"));
        assert_eq!(allowed(TABLE, "/v1/catalog/order.completed"), Some("GET"));
        assert_eq!(allowed(TABLE, "/v1/catalog/a.b/pii/confirm"), Some("POST"));
        assert_eq!(allowed(TABLE, "/v1/catalog"), None);
        assert_eq!(allowed(TABLE, "/v1/catalog/a.b/pii"), None);
        assert_eq!(allowed(TABLE, "/nope"), None);
        assert!(allows("GET, POST", "POST"));
        assert!(!allows("GET", "DELETE"));
    }
}
