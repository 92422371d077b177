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

#[cfg(test)]
mod tests {
    use super::StackStr;
    use std::fmt::Write;

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
