//! Moved to [`crate::auth::users`]; kept here for existing callers.

pub use crate::auth::users::*;
