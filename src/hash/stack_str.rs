//! Short texts (dates, hex digests, decimal numbers, request ids) formatted on the stack:
//! the request path writes them without asking the allocator.

use std::fmt;

/// Up to `N` bytes of text written with `write!`; what does not fit makes `write!` fail
/// (the caller sizes `N` for its longest value).
#[derive(Clone, Copy)]
pub struct StackStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackStr<N> {
    pub const fn new() -> Self {
        StackStr {
            buf: [0; N],
            len: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in (`write_str`), so this is always UTF-8.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }

    /// `value` in decimal.
    pub fn decimal(value: u64) -> Self {
        let mut s = StackStr::new();
        let _ = fmt::Write::write_fmt(&mut s, format_args!("{value}"));
        s
    }
}

impl<const N: usize> Default for StackStr<N> {
    fn default() -> Self {
        StackStr::new()
    }
}

impl<const N: usize> fmt::Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl<const N: usize> std::ops::Deref for StackStr<N> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> fmt::Display for StackStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for StackStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Bytes a `SmallString` keeps inline: HTTP dates (29), ETags (≤ 42), request ids, bucket
/// names (≤ 63), SHA-256 hex (64), most content types and keys.
pub const SMALL_STRING_INLINE_MAX: usize = 70;

/// Text that lives inline when short and in its own `String` otherwise: the request path
/// keeps its short texts (header values, bucket names, most keys) off the allocator.
#[derive(Clone)]
pub enum SmallString {
    Inline(StackStr<SMALL_STRING_INLINE_MAX>),
    Owned(String),
}

impl SmallString {
    pub fn as_str(&self) -> &str {
        match self {
            SmallString::Inline(s) => s.as_str(),
            SmallString::Owned(s) => s,
        }
    }

    /// `args` formatted, inline when it fits (else in a `String`).
    pub fn fmt(args: std::fmt::Arguments<'_>) -> SmallString {
        let mut s = StackStr::new();
        match std::fmt::Write::write_fmt(&mut s, args) {
            Ok(()) => SmallString::Inline(s),
            Err(_) => SmallString::Owned(args.to_string()),
        }
    }
}

impl std::ops::Deref for SmallString {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for SmallString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for SmallString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for SmallString {
    fn eq(&self, other: &SmallString) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SmallString {}

impl From<std::borrow::Cow<'_, str>> for SmallString {
    fn from(v: std::borrow::Cow<'_, str>) -> SmallString {
        match v {
            std::borrow::Cow::Borrowed(b) => SmallString::from(b),
            std::borrow::Cow::Owned(o) => SmallString::Owned(o),
        }
    }
}

impl PartialEq<str> for SmallString {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SmallString {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<&str> for SmallString {
    fn from(v: &str) -> SmallString {
        let mut s = StackStr::new();
        match std::fmt::Write::write_str(&mut s, v) {
            Ok(()) => SmallString::Inline(s),
            Err(_) => SmallString::Owned(v.to_string()),
        }
    }
}

impl From<&String> for SmallString {
    fn from(v: &String) -> SmallString {
        SmallString::from(v.as_str())
    }
}

impl From<String> for SmallString {
    fn from(v: String) -> SmallString {
        SmallString::Owned(v)
    }
}

impl<const N: usize> From<StackStr<N>> for SmallString {
    fn from(v: StackStr<N>) -> SmallString {
        SmallString::from(v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::{SmallString, StackStr, SMALL_STRING_INLINE_MAX};
    use std::fmt::Write;

    #[test]
    fn short_text_stays_inline_and_long_text_is_kept_whole() {
        let short = "x".repeat(SMALL_STRING_INLINE_MAX);
        let long = "y".repeat(SMALL_STRING_INLINE_MAX + 1);
        assert!(matches!(
            SmallString::from(short.as_str()),
            SmallString::Inline(_)
        ));
        assert!(matches!(
            SmallString::from(long.as_str()),
            SmallString::Owned(_)
        ));
        assert_eq!(SmallString::from(long.as_str()), *long.as_str());
        assert_eq!(SmallString::from(short.as_str()).as_str(), short);
        let etag = SmallString::fmt(format_args!("\"{}\"", "a".repeat(32)));
        assert!(matches!(etag, SmallString::Inline(_)));
        assert_eq!(etag.len(), 34);
        let big = SmallString::fmt(format_args!("{long}{long}"));
        assert_eq!(
            big.len(),
            2 * long.len(),
            "what does not fit is formatted whole"
        );
        assert_eq!(SmallString::from(std::borrow::Cow::Borrowed("k")), "k");
    }

    #[test]
    fn writes_what_fits_and_refuses_the_rest() {
        let mut s = StackStr::<8>::new();
        let suffix = String::from("ab");
        assert!(write!(s, "{:04}-{suffix}", 12).is_ok());
        assert_eq!(s.as_str(), "0012-ab");
        assert!(s.write_str("xy").is_err());
        assert_eq!(&*s, "0012-ab");
        assert_eq!(
            StackStr::<20>::decimal(u64::MAX).as_str(),
            "18446744073709551615"
        );
        assert_eq!(StackStr::<4>::decimal(0).to_string(), "0");
    }
}
