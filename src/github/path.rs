//! Building request paths from user-controlled pieces (branch names, file paths, logins).

/// Percent-encode one path segment: everything but RFC 3986 unreserved characters.
pub(crate) fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Percent-encode a multi-segment value (file path, ref) keeping its `/` separators.
pub(crate) fn segments(raw: &str) -> String {
    raw.split('/').map(segment).collect::<Vec<_>>().join("/")
}

/// `?a=1&b=2` from the pairs whose value is present (empty string when none are).
pub(crate) fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (key, value) in pairs {
        if let Some(value) = value {
            serializer.append_pair(key, value);
            any = true;
        }
    }
    if any {
        format!("?{}", serializer.finish())
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_keep_slashes_and_escape_the_rest() {
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(
            segments("envs/dev/tfpilot_x#1.tf"),
            "envs/dev/tfpilot_x%231.tf"
        );
        assert_eq!(
            segments("heads/request/req_dev_x"),
            "heads/request/req_dev_x"
        );
    }

    #[test]
    fn query_skips_absent_values() {
        assert_eq!(query([("a", None), ("b", None)]), "");
        assert_eq!(
            query([("created", Some(">=2026-01-01")), ("x", None)]),
            "?created=%3E%3D2026-01-01"
        );
    }
}
