//! Property tests (stable) for the parsers at the edge, the same three the fuzz targets in
//! `fuzz/` cover: the label selector, the metric path and the identity headers. No panics
//! on arbitrary input; round trips where the form allows one.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use tidecast_server::limits::{MAX_SELECTOR_BYTES, MAX_SELECTOR_REQUIREMENTS};
use tidecast_server::{
    HeaderNames, LabelSelector, MetricEndpoint, clear_identity_headers, parse_identity_headers,
    parse_metric_path,
};

/// A qualified key: optional DNS-ish prefix, then a name with alphanumeric edges.
fn key() -> impl Strategy<Value = String> {
    (
        "([a-z][a-z0-9]{0,4}\\.){0,2}[a-z]{1,4}/",
        "[a-zA-Z0-9]([a-zA-Z0-9._-]{0,10}[a-zA-Z0-9])?",
    )
        .prop_flat_map(|(prefix, name)| {
            prop_oneof![Just(name.clone()), Just(format!("{prefix}{name}"))]
        })
}

/// A label value, possibly empty.
fn value() -> impl Strategy<Value = String> {
    "([a-zA-Z0-9]([a-zA-Z0-9._-]{0,10}[a-zA-Z0-9])?)?"
}

/// Optional spaces and tabs.
fn ws() -> impl Strategy<Value = String> {
    "[ \t]{0,2}"
}

/// One requirement in any of the forms the grammar has, with whitespace where it may be.
fn requirement() -> impl Strategy<Value = String> {
    let values = prop::collection::vec(value(), 1..5);
    (key(), value(), values, ws(), ws(), 0u8..8, -1000i64..1000).prop_map(
        |(k, v, vs, a, b, op, n)| match op {
            0 => format!("{k}{a}={b}{v}"),
            1 => format!("{k}{a}=={b}{v}"),
            2 => format!("{k}{a}!={b}{v}"),
            3 => format!("{k} in{a}({b}{}{a})", vs.join(&format!("{a},{b}"))),
            4 => format!("{k} notin{a}({})", vs.join(",")),
            5 => format!("{a}{k}{b}"),
            6 => format!("!{a}{k}"),
            _ => format!("{k}{a}{}{b}{}", if n % 2 == 0 { '>' } else { '<' }, n.abs()),
        },
    )
}

fn selector() -> impl Strategy<Value = String> {
    prop::collection::vec(requirement(), 0..6).prop_map(|r| r.join(","))
}

/// Strings near the grammar (its operators and punctuation), to reach the error paths.
fn near_selector() -> impl Strategy<Value = String> {
    "[a-c0-9=!,()<> \t._/%-]{0,40}|(in|notin|[a-z]| |\\(|\\)|,|=|!|<|>){0,20}"
}

fn kube_names() -> HeaderNames {
    HeaderNames::new(
        &["X-Remote-User", "X-Other-User"],
        &["X-Remote-Uid"],
        &["X-Remote-Group"],
        &["X-Remote-Extra-"],
    )
    .unwrap()
}

/// Header maps over the configured names (and others), with any bytes `http` allows.
fn header_map() -> impl Strategy<Value = HeaderMap> {
    let name = prop_oneof![
        Just("x-remote-user".to_string()),
        Just("x-other-user".to_string()),
        Just("x-remote-uid".to_string()),
        Just("x-remote-group".to_string()),
        "x-remote-extra-[a-zA-Z0-9%._-]{0,8}",
        "[a-z-]{1,8}",
    ];
    let value = prop::collection::vec(
        prop_oneof![Just(b' '), Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff],
        0..12,
    );
    prop::collection::vec((name, value), 0..12).prop_map(|pairs| {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(n.as_bytes()),
                HeaderValue::from_bytes(&v),
            ) {
                h.append(n, v);
            }
        }
        h
    })
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn a_generated_selector_parses_prints_and_parses_back_equal(s in selector()) {
        let sel = LabelSelector::parse(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let printed = sel.to_string();
        let again = LabelSelector::parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed:?}: {e}")))?;
        prop_assert_eq!(&again, &sel, "{:?} printed as {:?}", s, printed);
        prop_assert_eq!(again.to_string(), printed);
    }

    #[test]
    fn any_string_parses_or_errors_without_panicking(s in prop_oneof![any::<String>(), near_selector()]) {
        match LabelSelector::parse(&s) {
            Ok(sel) => {
                let printed = sel.to_string();
                prop_assert_eq!(LabelSelector::parse(&printed).ok(), Some(sel));
            }
            Err(e) => {
                prop_assert!(e.position <= s.len());
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn any_path_parses_or_errors_and_a_parsed_one_round_trips(
        path in prop_oneof![
            any::<String>(),
            "/(apis/external\\.metrics\\.k8s\\.io/v1beta1|values)/namespaces/[a-zA-Z0-9%./_-]{0,8}/[a-zA-Z0-9%./_-]{0,8}",
        ],
        ns in "[^/]{1,8}",
        metric in "[^/]{1,8}",
    ) {
        if let Ok(p) = parse_metric_path(&path) {
            prop_assert!(!p.namespace.contains('/') && !p.metric.contains('/'));
            prop_assert_eq!(&p.metric, &p.metric.to_ascii_lowercase());
        }
        // Any names, encoded: parse back decoded, or are refused as segment names.
        let encoded = format!("/values/namespaces/{}/{}", encode(&ns), encode(&metric));
        match parse_metric_path(&encoded) {
            Ok(p) => {
                prop_assert_eq!(p.endpoint, MetricEndpoint::Values);
                prop_assert_eq!(p.namespace, ns);
                prop_assert_eq!(p.metric, metric.to_ascii_lowercase());
            }
            Err(_) => prop_assert!(
                [&ns, &metric].iter().any(|s| s.contains('%') || s.as_str() == "." || s.as_str() == "..")
            ),
        }
    }

    #[test]
    fn any_header_map_gives_a_sane_identity_or_none(h in header_map()) {
        let names = kube_names();
        if let Some(id) = parse_identity_headers(&h, &names) {
            prop_assert!(!id.name.is_empty());
            prop_assert!(id.groups.iter().all(|g| !g.is_empty()));
            prop_assert_eq!(id.groups.len(), h.get_all("x-remote-group").iter()
                .filter(|v| !String::from_utf8_lossy(v.as_bytes()).trim_matches([' ', '\t']).is_empty())
                .count());
            let extra: usize = id.extra.values().map(Vec::len).sum();
            prop_assert_eq!(extra, h.iter().filter(|(k, _)| k.as_str().starts_with("x-remote-extra-")).count());
        } else {
            prop_assert!(h.get("x-remote-user").is_none_or(|v| v.as_bytes().iter().all(|b| *b == b' ' || *b == b'\t')));
        }
        let mut cleared = h.clone();
        clear_identity_headers(&mut cleared, &names);
        prop_assert_eq!(parse_identity_headers(&cleared, &names), None);
    }
}

#[test]
fn selectors_at_the_limits_parse_and_over_them_do_not() {
    let reqs = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert!(LabelSelector::parse(&reqs(MAX_SELECTOR_REQUIREMENTS)).is_ok());
    let e = LabelSelector::parse(&reqs(MAX_SELECTOR_REQUIREMENTS + 1)).unwrap_err();
    assert!(e.is_limit(), "{e}");
    assert_eq!(
        e.to_string(),
        format!("invalid label selector: more than {MAX_SELECTOR_REQUIREMENTS} requirements")
    );
    let long = format!("k={}", "v".repeat(MAX_SELECTOR_BYTES));
    let e = LabelSelector::parse(&long).unwrap_err();
    assert!(
        e.is_limit() && e.to_string().contains(&MAX_SELECTOR_BYTES.to_string()),
        "{e}"
    );
    assert!(
        !e.to_string().contains("vvvv"),
        "a long input is not echoed: {e}"
    );
    let set = |n: usize| {
        format!(
            "k in ({})",
            (0..n)
                .map(|i| format!("v{i}"))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    assert!(LabelSelector::parse(&set(tidecast_server::limits::MAX_SELECTOR_VALUES)).is_ok());
    assert!(
        LabelSelector::parse(&set(tidecast_server::limits::MAX_SELECTOR_VALUES + 1))
            .unwrap_err()
            .is_limit()
    );
}
