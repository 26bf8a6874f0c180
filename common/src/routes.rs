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

/// The routes of `table` (path and method) an OpenAPI document does not describe, read
/// from its `paths` as written in this repository's YAML (a path key at two spaces, its
/// methods at four; `{name}` segments match `*`). Keeps docs/openapi*.yaml complete.
pub fn undocumented(table: &[Route], openapi_yaml: &str) -> Vec<String> {
    let mut documented: Vec<(String, String)> = Vec::new();
    let mut current: Option<String> = None;
    let mut in_paths = false;
    for line in openapi_yaml.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_paths = line == "paths:";
            current = None;
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(path) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            current = Some(format!("/{path}"));
        } else if let (Some(path), Some(rest)) = (&current, line.strip_prefix("    ")) {
            let method = rest.split(':').next().unwrap_or_default();
            if ["get", "post", "put", "patch", "delete"].contains(&method) {
                let pattern = path
                    .split('/')
                    .map(|seg| if seg.starts_with('{') { "*" } else { seg })
                    .collect::<Vec<_>>()
                    .join("/");
                documented.push((pattern, method.to_uppercase()));
            }
        }
    }
    table
        .iter()
        .flat_map(|(path, methods)| methods.split(", ").map(move |m| (*path, m)))
        .filter(|(path, method)| !documented.iter().any(|(p, m)| p == path && m == method))
        .map(|(path, method)| format!("{method} {path}"))
        .collect()
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

    #[test]
    fn names_routes_the_document_leaves_out() {
        let yaml = "paths:\n  /events:\n    post:\n      summary: x\n  /v1/catalog/{event}:\n    \
                    parameters: []\n    get:\n      summary: y\ncomponents:\n  /v1/catalog/{e}/pii/{d}:\n    post: {}\n";
        assert_eq!(undocumented(TABLE, yaml), vec!["POST /v1/catalog/*/pii/*"]);
    }
}
