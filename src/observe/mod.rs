//! What operators see: Prometheus metrics, health probes, the OpenAPI document and its
//! Swagger UI.

pub mod docs;
pub mod endpoints;
pub mod health;
pub mod log;
pub mod metrics;
pub mod openapi;

/// An error and its `source()` chain on one line, outermost first: "a: b: c".
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        // Many errors repeat their source's text in their own; print each cause once.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[derive(Debug)]
    struct Wrap(&'static str, Option<Box<dyn std::error::Error + 'static>>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Wrap {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref()
        }
    }

    #[test]
    fn error_chain_lists_every_cause_once() {
        let io = std::io::Error::other("No space left on device");
        let e = Wrap(
            "commit failed",
            Some(Box::new(Wrap("redb", Some(Box::new(io))))),
        );
        assert_eq!(
            super::error_chain(&e),
            "commit failed: redb: No space left on device"
        );
        let dup = Wrap("io: disk", Some(Box::new(Wrap("disk", None))));
        assert_eq!(super::error_chain(&dup), "io: disk");
    }
}
