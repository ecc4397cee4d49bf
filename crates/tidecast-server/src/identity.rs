//! The request-header authenticator's parsing: the user the front proxy (kube-aggregator)
//! names in its `X-Remote-*` headers, as k8s.io/apiserver
//! `pkg/authentication/request/headerrequest/requestheader.go` reads them.
//!
//! Only the parsing: call [`parse_identity_headers`] after the front-proxy client
//! certificate has been verified against the request-header CA and allowed names, never
//! before (headers from anyone else are ignored), and then [`clear_identity_headers`].

use crate::path::path_unescape;
use axum::http::{HeaderMap, HeaderName};
use std::collections::BTreeMap;

/// The configured header names: `requestheader-username-headers`,
/// `requestheader-uid-headers`, `requestheader-group-headers` and
/// `requestheader-extra-headers-prefix` of the `extension-apiserver-authentication`
/// ConfigMap (or the flags of the same names). No defaults: the aggregator strips only its
/// configured names, so honouring any other name would let a client spoof it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderNames {
    username: Vec<HeaderName>,
    uid: Vec<HeaderName>,
    groups: Vec<HeaderName>,
    /// Lowercased.
    extra_prefixes: Vec<String>,
}

/// A configured header name that is empty or not a valid header name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request header name {0:?}")]
pub struct HeaderNamesError(pub String);

impl HeaderNames {
    /// From the four lists as configured. Each name is trimmed of whitespace and must then
    /// be non-empty (Go's `trimHeaders` errors on an empty one) and a valid header name.
    pub fn new<S: AsRef<str>>(
        username: &[S],
        uid: &[S],
        groups: &[S],
        extra_prefixes: &[S],
    ) -> Result<Self, HeaderNamesError> {
        let names = |list: &[S]| -> Result<Vec<HeaderName>, HeaderNamesError> {
            list.iter()
                .map(|n| {
                    let t = n.as_ref().trim();
                    HeaderName::from_bytes(t.as_bytes())
                        .map_err(|_| HeaderNamesError(n.as_ref().to_string()))
                })
                .collect()
        };
        let prefixes = extra_prefixes
            .iter()
            .map(|p| {
                let t = p.as_ref().trim();
                if t.is_empty() {
                    Err(HeaderNamesError(p.as_ref().to_string()))
                } else {
                    Ok(t.to_ascii_lowercase())
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            username: names(username)?,
            uid: names(uid)?,
            groups: names(groups)?,
            extra_prefixes: prefixes,
        })
    }

    /// The username header names, in order.
    pub fn username(&self) -> &[HeaderName] {
        &self.username
    }
    /// The UID header names, in order.
    pub fn uid(&self) -> &[HeaderName] {
        &self.uid
    }
    /// The group header names, in order.
    pub fn groups(&self) -> &[HeaderName] {
        &self.groups
    }
    /// The extra header prefixes, lowercased, in order.
    pub fn extra_prefixes(&self) -> &[String] {
        &self.extra_prefixes
    }
}

/// The user named by the headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// Non-empty.
    pub name: String,
    /// Empty when no UID header is configured or set.
    pub uid: String,
    /// In header order; never empty strings.
    pub groups: Vec<String>,
    /// Extra keys (lowercased, then percent-decoded) to their values in header order.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The identity in `headers` under the configured `names`, as Go's requestheader
/// authenticator computes it; `None` when no username header has a non-empty value ("not
/// handled": the next authenticator is tried, no error).
///
/// - name: for each username header name in order, that header's *first* value; the first
///   that is non-empty wins (Go's `headerValue`: `h.Get(name)`). The same for the UID.
/// - groups: every non-empty value of every group header, names in order, values in header
///   order (Go's `allHeaderValues`); values are not split on commas.
/// - extra: for each prefix in order, every header whose name starts with it
///   (case-insensitively): key = the rest of the name, lowercased, then percent-decoded as
///   `url.PathUnescape` does, or kept encoded if that fails; all its values appended,
///   empty ones included (Go's `newExtra`).
///
/// Values are trimmed of spaces and tabs (Go's HTTP/1.1 reader trims them), and bytes that
/// are not UTF-8 become U+FFFD (Go keeps the bytes, and its JSON encoder replaces them the
/// same way when the identity goes into a SubjectAccessReview).
pub fn parse_identity_headers(headers: &HeaderMap, names: &HeaderNames) -> Option<Identity> {
    let name = first_value(headers, &names.username)?;
    let uid = first_value(headers, &names.uid).unwrap_or_default();
    let groups = names
        .groups
        .iter()
        .flat_map(|n| headers.get_all(n))
        .map(|v| text(v.as_bytes()))
        .filter(|v| !v.is_empty())
        .collect();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for prefix in &names.extra_prefixes {
        // HeaderMap names are lowercase already.
        for (header, value) in headers {
            let Some(suffix) = header.as_str().strip_prefix(prefix.as_str()) else {
                continue;
            };
            let key = path_unescape(suffix)
                .map(|k| String::from_utf8_lossy(&k).into_owned())
                .unwrap_or_else(|| suffix.to_string());
            extra.entry(key).or_default().push(text(value.as_bytes()));
        }
    }
    Some(Identity {
        name,
        uid,
        groups,
        extra,
    })
}

/// Remove every header [`parse_identity_headers`] reads (Go's `ClearAuthenticationHeaders`),
/// so no handler or proxied request sees them.
pub fn clear_identity_headers(headers: &mut HeaderMap, names: &HeaderNames) {
    for n in names.username.iter().chain(&names.uid).chain(&names.groups) {
        headers.remove(n);
    }
    let extra: Vec<HeaderName> = headers
        .keys()
        .filter(|h| {
            names
                .extra_prefixes
                .iter()
                .any(|p| h.as_str().starts_with(p.as_str()))
        })
        .cloned()
        .collect();
    for h in extra {
        headers.remove(h);
    }
}

fn first_value(headers: &HeaderMap, names: &[HeaderName]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| headers.get(n))
        .map(|v| text(v.as_bytes()))
        .find(|v| !v.is_empty())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_matches([' ', '\t'])
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn kube() -> HeaderNames {
        HeaderNames::new(
            &["X-Remote-User"],
            &["X-Remote-Uid"],
            &["X-Remote-Group"],
            &["X-Remote-Extra-"],
        )
        .unwrap()
    }

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        h
    }

    /// The aggregator's request of the protocol notes (§1.3.6), as Go reads it.
    #[test]
    fn the_aggregators_headers_give_user_groups_and_extra() {
        let h = headers(&[
            (
                "X-Remote-User",
                b"system:serviceaccount:kube-system:horizontal-pod-autoscaler",
            ),
            ("X-Remote-Uid", b"1234"),
            ("X-Remote-Group", b"system:serviceaccounts"),
            ("X-Remote-Group", b"system:serviceaccounts:kube-system"),
            ("X-Remote-Group", b"system:authenticated"),
            (
                "X-Remote-Extra-Authentication.kubernetes.io%2fcredential-Id",
                b"JTI=abc",
            ),
            ("Accept", b"*/*"),
        ]);
        let id = parse_identity_headers(&h, &kube()).unwrap();
        assert_eq!(
            id.name,
            "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
        );
        assert_eq!(id.uid, "1234");
        assert_eq!(
            id.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:kube-system",
                "system:authenticated"
            ]
        );
        assert_eq!(
            id.extra,
            BTreeMap::from([(
                "authentication.kubernetes.io/credential-id".to_string(),
                vec!["JTI=abc".to_string()]
            )])
        );
    }

    /// Go's `headerValue`: per name, `h.Get` (the first value); the first non-empty wins.
    /// No non-empty username: not handled.
    #[test]
    fn the_first_non_empty_username_header_wins_and_none_means_not_handled() {
        let names =
            HeaderNames::new(&["X-First", " X-Second "], &[], &["X-Remote-Group"], &[]).unwrap();
        let h = headers(&[
            ("X-First", b""),
            ("X-First", b"ignored"),
            ("X-Second", b"bob"),
        ]);
        assert_eq!(parse_identity_headers(&h, &names).unwrap().name, "bob");
        let h = headers(&[("X-First", b"alice"), ("X-Second", b"bob")]);
        assert_eq!(parse_identity_headers(&h, &names).unwrap().name, "alice");
        for h in [
            headers(&[]),
            headers(&[("X-First", b"  "), ("X-Remote-Group", b"system:masters")]),
            headers(&[("X-Remote-User", b"alice")]),
        ] {
            assert_eq!(parse_identity_headers(&h, &names), None, "{h:?}");
        }
    }

    /// Go's `allHeaderValues`: all non-empty values of all group names, not split on commas.
    #[test]
    fn groups_are_every_non_empty_value_of_every_group_header() {
        let names = HeaderNames::new(&["X-Remote-User"], &[], &["X-G1", "X-G2"], &[]).unwrap();
        let h = headers(&[
            ("X-G2", b"c"),
            ("X-Remote-User", b"u"),
            ("X-G1", b"a,b"),
            ("X-G1", b""),
            ("X-G1", b"d"),
        ]);
        let id = parse_identity_headers(&h, &names).unwrap();
        assert_eq!(id.groups, ["a,b", "d", "c"]);
        assert_eq!(id.uid, "");
    }

    /// Go's `newExtra`: prefix matched case-insensitively, key lowercased then
    /// `url.PathUnescape`d (kept as is when malformed), values appended, empty ones too;
    /// headers named by no prefix are not extra.
    #[test]
    fn extra_keys_are_lowercased_then_unescaped() {
        let names = HeaderNames::new(
            &["X-Remote-User"],
            &[],
            &[],
            &["x-remote-extra-", "X-Other-"],
        )
        .unwrap();
        let h = headers(&[
            ("X-Remote-User", b"u"),
            ("X-Remote-Extra-Scopes", b"a"),
            ("X-Remote-Extra-Scopes", b""),
            ("X-Remote-Extra-Scopes", b"b"),
            ("X-Remote-Extra-A%2FB", b"slash"),
            ("X-Remote-Extra-bad%zz", b"kept"),
            ("X-Remote-Extra-%41", b"upper after unescaping, as in Go"),
            ("X-Remote-Extra-%FF", b"lossy"),
            ("X-Other-k", b"o"),
            ("X-Remote-Extrak", b"not extra"),
        ]);
        let id = parse_identity_headers(&h, &names).unwrap();
        let want: BTreeMap<String, Vec<String>> = [
            ("scopes", vec!["a", "", "b"]),
            ("a/b", vec!["slash"]),
            ("bad%zz", vec!["kept"]),
            ("A", vec!["upper after unescaping, as in Go"]),
            ("\u{FFFD}", vec!["lossy"]),
            ("k", vec!["o"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
        assert_eq!(id.extra, want);
    }

    #[test]
    fn values_are_trimmed_and_non_utf8_bytes_replaced() {
        let h = headers(&[
            ("X-Remote-User", b" al\xffice\t"),
            ("X-Remote-Group", b" g "),
        ]);
        let id = parse_identity_headers(&h, &kube()).unwrap();
        assert_eq!(id.name, "al\u{FFFD}ice");
        assert_eq!(id.groups, ["g"]);
    }

    /// Go's `trimHeaders`: names trimmed, an empty one is an error.
    #[test]
    fn empty_or_invalid_configured_names_are_errors() {
        let none: [&str; 0] = [];
        assert!(HeaderNames::new(&[" "], &none, &none, &none).is_err());
        assert!(HeaderNames::new(&["X Bad"], &none, &none, &none).is_err());
        assert!(HeaderNames::new(&none, &none, &none, &[""]).is_err());
        let n = HeaderNames::new(&[" X-Remote-User "], &none, &none, &["X-Remote-Extra-"]).unwrap();
        assert_eq!(n.username()[0].as_str(), "x-remote-user");
        assert_eq!(n.extra_prefixes(), ["x-remote-extra-"]);
    }

    #[test]
    fn clearing_removes_every_header_read_and_nothing_else() {
        let mut h = headers(&[
            ("X-Remote-User", b"u"),
            ("X-Remote-Uid", b"1"),
            ("X-Remote-Group", b"g"),
            ("X-Remote-Group", b"h"),
            ("X-Remote-Extra-A", b"x"),
            ("X-Remote-Extra-B", b"y"),
            ("Accept", b"*/*"),
        ]);
        clear_identity_headers(&mut h, &kube());
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("accept"));
    }
}
