//! Kubernetes label selectors in their string form, as the HPA sends them in
//! `?labelSelector=`: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`,
//! `k>N`, `k<N`, joined by commas. kube-core has the requirement types and matching but no
//! string parser, so this parses into [`kube_core::Expression`]s (plus the numeric
//! comparisons kube-core lacks).

use crate::limits::{MAX_SELECTOR_BYTES, MAX_SELECTOR_REQUIREMENTS, MAX_SELECTOR_VALUES};
use kube_core::{Expression, SelectorExt};
use std::collections::{BTreeMap, BTreeSet};

/// One requirement of a selector as a label matcher (see [`LabelSelector::matchers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher<'a> {
    /// `k=v`, `k==v`.
    Equal(&'a str, &'a str),
    /// `k!=v` (also true where `k` is absent).
    NotEqual(&'a str, &'a str),
    /// `k in (a,b)`.
    In(&'a str, Vec<&'a str>),
    /// `k notin (a,b)` (also true where `k` is absent).
    NotIn(&'a str, Vec<&'a str>),
    /// `k`.
    Exists(&'a str),
    /// `!k`.
    NotExists(&'a str),
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Kube(Expression),
    Gt(String, i64),
    Lt(String, i64),
}

/// A selector that does not parse (what was expected, and where) or is over a limit of
/// [`crate::limits`] (which one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    /// Byte offset in the input where parsing stopped.
    pub position: usize,
    /// The selector as given.
    pub input: String,
    problem: Problem,
}

impl std::fmt::Display for SelectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            // Not echoed: the input may be many kilobytes.
            Problem::Limit(limit) => write!(f, "invalid label selector: {limit}"),
            p => write!(
                f,
                "unable to parse requirement: {p} at position {} in {:?}",
                self.position, self.input
            ),
        }
    }
}

impl std::error::Error for SelectorError {}

impl SelectorError {
    /// True when the selector is over a limit of [`crate::limits`] rather than malformed.
    pub fn is_limit(&self) -> bool {
        matches!(self.problem, Problem::Limit(_))
    }
}

/// Which limit a selector is over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Limit {
    #[error("{0} bytes long, over the limit of {MAX_SELECTOR_BYTES} bytes")]
    Bytes(usize),
    #[error("more than {MAX_SELECTOR_REQUIREMENTS} requirements")]
    Requirements,
    #[error("more than {MAX_SELECTOR_VALUES} values in one set")]
    Values,
}

/// What was wrong at the error's position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Problem {
    #[error("expected '{0}'")]
    Expected(char),
    #[error("expected ',' or ')' in a value set")]
    ValueSetEnd,
    #[error("expected an operator (=, ==, !=, in, notin, >, <)")]
    Operator,
    #[error("{0:?} is not an integer")]
    NotAnInteger(String),
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("{0}")]
    Value(#[from] ValueError),
    #[error("{0}")]
    Limit(#[from] Limit),
}

/// A label key that Kubernetes would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum KeyError {
    #[error("invalid label key prefix in {0:?}")]
    Prefix(String),
    #[error("invalid label key {0:?}: a name of 1-63 characters is required")]
    Length(String),
    #[error("invalid label key {0:?}: must start and end with an alphanumeric character")]
    Edge(String),
}

/// A label value that Kubernetes would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ValueError {
    #[error("invalid label value {0:?}: at most 63 characters of [A-Za-z0-9._-]")]
    Chars(String),
    #[error("invalid label value {0:?}: must start and end with an alphanumeric character")]
    Edge(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parse the string form. Errors say what was expected where, or which limit of
    /// [`crate::limits`] the selector is over (bytes, requirements, values in a set).
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut p = Parser {
            s: input.as_bytes(),
            i: 0,
            input,
        };
        if input.len() > MAX_SELECTOR_BYTES {
            return Err(p.err(Limit::Bytes(input.len())));
        }
        let mut reqs = Vec::new();
        p.ws();
        if p.eof() {
            return Ok(Self(reqs));
        }
        loop {
            if reqs.len() == MAX_SELECTOR_REQUIREMENTS {
                return Err(p.err(Limit::Requirements));
            }
            reqs.push(p.requirement()?);
            p.ws();
            if p.eof() {
                break;
            }
            p.expect(b',')?;
        }
        Ok(Self(reqs))
    }

    /// Whether a label set satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Kube(e) => e.matches(labels),
            Requirement::Gt(k, n) => labels
                .get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            Requirement::Lt(k, n) => labels
                .get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
        })
    }

    /// Requirements that pin a key to a set of values (`k=v`, `k==v`, `k in (...)`): an
    /// index can narrow the candidates with them before [`LabelSelector::matches`].
    pub fn pinned(&self) -> impl Iterator<Item = (&str, Vec<&str>)> {
        self.0.iter().filter_map(|r| match r {
            Requirement::Kube(Expression::Equal(k, v)) => Some((k.as_str(), vec![v.as_str()])),
            Requirement::Kube(Expression::In(k, vs)) => {
                Some((k.as_str(), vs.iter().map(String::as_str).collect()))
            }
            _ => None,
        })
    }

    /// The requirements as label matchers, for a query language that has the set and
    /// existence forms but not numeric comparison: `Err` names the first `k>N` or `k<N`.
    pub fn matchers(&self) -> Result<Vec<Matcher<'_>>, String> {
        self.0
            .iter()
            .map(|r| match r {
                Requirement::Kube(Expression::Equal(k, v)) => Ok(Matcher::Equal(k, v)),
                Requirement::Kube(Expression::NotEqual(k, v)) => Ok(Matcher::NotEqual(k, v)),
                Requirement::Kube(Expression::In(k, vs)) => {
                    Ok(Matcher::In(k, vs.iter().map(String::as_str).collect()))
                }
                Requirement::Kube(Expression::NotIn(k, vs)) => {
                    Ok(Matcher::NotIn(k, vs.iter().map(String::as_str).collect()))
                }
                Requirement::Kube(Expression::Exists(k)) => Ok(Matcher::Exists(k)),
                Requirement::Kube(Expression::DoesNotExist(k)) => Ok(Matcher::NotExists(k)),
                Requirement::Gt(k, n) => Err(format!("{k}>{n}")),
                Requirement::Lt(k, n) => Err(format!("{k}<{n}")),
            })
            .collect()
    }

    /// True for the selector that matches everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The string form [`LabelSelector::parse`] reads back to an equal selector: requirements in
/// their order, no spaces, set values sorted (as `labels.Selector.String()` renders them).
impl std::fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match r {
                Requirement::Kube(Expression::Equal(k, v)) => write!(f, "{k}={v}")?,
                Requirement::Kube(Expression::NotEqual(k, v)) => write!(f, "{k}!={v}")?,
                Requirement::Kube(Expression::In(k, vs)) => write!(f, "{k} in ({})", join(vs))?,
                Requirement::Kube(Expression::NotIn(k, vs)) => {
                    write!(f, "{k} notin ({})", join(vs))?
                }
                Requirement::Kube(Expression::Exists(k)) => f.write_str(k)?,
                Requirement::Kube(Expression::DoesNotExist(k)) => write!(f, "!{k}")?,
                Requirement::Gt(k, n) => write!(f, "{k}>{n}")?,
                Requirement::Lt(k, n) => write!(f, "{k}<{n}")?,
            }
        }
        Ok(())
    }
}

fn join(values: &BTreeSet<String>) -> String {
    values
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    input: &'a str,
}

impl Parser<'_> {
    fn eof(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c == b' ' || c == b'\t') {
            self.i += 1;
        }
    }
    fn err(&self, problem: impl Into<Problem>) -> SelectorError {
        SelectorError {
            position: self.i,
            input: self.input.to_string(),
            problem: problem.into(),
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), SelectorError> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(Problem::Expected(c as char)))
        }
    }
    fn word(&mut self) -> &str {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'/'))
        {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or_default()
    }
    fn key(&mut self) -> Result<String, SelectorError> {
        self.ws();
        let k = self.word().to_string();
        validate_key(&k).map_err(|e| self.err(e))?;
        Ok(k)
    }
    fn value(&mut self) -> Result<String, SelectorError> {
        self.ws();
        let v = self.word().to_string();
        validate_value(&v).map_err(|e| self.err(e))?;
        Ok(v)
    }
    fn values(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        self.expect(b'(')?;
        let mut out = BTreeSet::new();
        loop {
            if out.len() == MAX_SELECTOR_VALUES {
                return Err(self.err(Limit::Values));
            }
            out.insert(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b')') => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => return Err(self.err(Problem::ValueSetEnd)),
            }
        }
    }
    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        self.ws();
        if self.peek() == Some(b'!') {
            self.i += 1;
            return Ok(Requirement::Kube(Expression::DoesNotExist(self.key()?)));
        }
        let key = self.key()?;
        self.ws();
        let rest = &self.s[self.i..];
        let op_word = |w: &[u8]| {
            rest.starts_with(w)
                && rest
                    .get(w.len())
                    .is_none_or(|c| *c == b' ' || *c == b'(' || *c == b'\t')
        };
        if rest.starts_with(b"==") {
            self.i += 2;
            Ok(Requirement::Kube(Expression::Equal(key, self.value()?)))
        } else if rest.starts_with(b"!=") {
            self.i += 2;
            Ok(Requirement::Kube(Expression::NotEqual(key, self.value()?)))
        } else if rest.starts_with(b"=") {
            self.i += 1;
            Ok(Requirement::Kube(Expression::Equal(key, self.value()?)))
        } else if op_word(b"notin") {
            self.i += 5;
            Ok(Requirement::Kube(Expression::NotIn(key, self.values()?)))
        } else if op_word(b"in") {
            self.i += 2;
            Ok(Requirement::Kube(Expression::In(key, self.values()?)))
        } else if rest.starts_with(b">") || rest.starts_with(b"<") {
            let gt = rest[0] == b'>';
            self.i += 1;
            let v = self.value()?;
            let n: i64 = v.parse().map_err(|_| self.err(Problem::NotAnInteger(v)))?;
            Ok(if gt {
                Requirement::Gt(key, n)
            } else {
                Requirement::Lt(key, n)
            })
        } else if rest.is_empty() || rest[0] == b',' {
            Ok(Requirement::Kube(Expression::Exists(key)))
        } else {
            Err(self.err(Problem::Operator))
        }
    }
}

fn validate_key(k: &str) -> Result<(), KeyError> {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || p.contains('/'))
    {
        return Err(KeyError::Prefix(k.into()));
    }
    if name.is_empty() || name.len() > 63 {
        return Err(KeyError::Length(k.into()));
    }
    let b = name.as_bytes();
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Err(KeyError::Edge(k.into()));
    }
    Ok(())
}

fn validate_value(v: &str) -> Result<(), ValueError> {
    if v.len() > 63 || v.contains('/') {
        return Err(ValueError::Chars(v.into()));
    }
    let b = v.as_bytes();
    if !b.is_empty() && (!b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric()) {
        return Err(ValueError::Edge(v.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_operator_parses_and_matches() {
        let l = labels(&[("service", "tv-api"), ("env", "prod"), ("replicas", "3")]);
        for (sel, want) in [
            ("", true),
            ("service=tv-api", true),
            ("service==tv-api", true),
            ("service!=tv-api", false),
            ("service in (tv-api,epg)", true),
            ("service notin (tv-api)", false),
            ("env", true),
            ("!env", false),
            ("!zone", true),
            ("replicas>2", true),
            ("replicas<3", false),
            ("env in (prod),service=tv-api", true),
            ("env=prod,service=epg", false),
            ("  service = tv-api ,  env  in  ( prod , dev ) ", true),
            ("zone notin (a)", true),
            ("example.com/tier=gold", false),
            ("service=", false),
        ] {
            let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches(&l), want, "{sel}");
        }
    }

    #[test]
    fn what_the_hpa_sends_round_trips() {
        // metav1.LabelSelectorAsSelector(...).String(): sorted requirements.
        let s = LabelSelector::parse("env in (prod),queue=worker_tasks").unwrap();
        assert!(s.matches(&labels(&[("env", "prod"), ("queue", "worker_tasks")])));
    }

    #[test]
    fn malformed_selectors_are_errors_that_say_where() {
        for bad in [
            "service=tv api",
            "in (a)",
            "service in (a",
            "service ~ a",
            "a,",
            ",a",
            "k>x",
            "-bad=1",
            "a=b/c",
        ] {
            let e = LabelSelector::parse(bad).unwrap_err();
            assert_eq!(e.input, bad);
            assert!(e.position <= bad.len(), "{bad}: {e}");
            assert!(
                e.to_string().starts_with("unable to parse requirement: "),
                "{bad}: {e}"
            );
        }
    }
}
