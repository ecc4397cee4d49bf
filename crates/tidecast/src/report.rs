//! Errors as people read them: the error and its causes on one line.

use std::fmt;

/// An error and its causes, `: `-separated, each cause left out when the text before it
/// already ends with it (errors that show their source, like "FILE: No such file or
/// directory", would otherwise repeat it).
pub(crate) struct Causes<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(c) = cause {
            let text = c.to_string();
            if !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            cause = c.source();
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::Causes;

    #[test]
    fn causes_follow_the_error_once_each() {
        let io = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(io).context("reading f.csv");
        assert_eq!(
            Causes(e.as_ref()).to_string(),
            "reading f.csv: disk on fire"
        );
        // An error that shows its source already: the source is not repeated.
        #[derive(Debug)]
        struct Shows(std::io::Error);
        impl std::fmt::Display for Shows {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "f.csv: {}", self.0)
            }
        }
        impl std::error::Error for Shows {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Shows(std::io::Error::other("disk on fire"));
        assert_eq!(Causes(&e).to_string(), "f.csv: disk on fire");
    }
}
