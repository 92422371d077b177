//! The request context every handler gets: who is asking, for what, and the process's
//! shared state.

use crate::auth::sigv4::PayloadMode;
use crate::auth::users::{User, Users};
use crate::runtime::Shared;
use crate::s3::endpoint::Route;
use std::sync::Arc;

/// A request's id: 16 upper-case hex digits, kept on the stack.
pub type RequestId = crate::hash::stack_str::StackStr<16>;

/// Everything a handler needs to know about the request beyond its head and body.
pub struct Ctx {
    pub shared: Arc<Shared>,
    /// The configured users (owners' display names, grantees named in ACLs).
    pub users: Arc<Users>,
    /// The authenticated user; None for anonymous requests.
    pub caller: Option<Arc<User>>,
    pub payload: PayloadMode,
    pub route: Route,
    pub request_id: RequestId,
    /// What bucket policy conditions may read about the request.
    pub inputs: crate::s3::access::Inputs,
}

impl Ctx {
    pub fn bucket(&self) -> &str {
        self.route.bucket.as_deref().unwrap_or("")
    }
    pub fn key(&self) -> &str {
        self.route.key.as_deref().unwrap_or("")
    }
    pub fn caller_id(&self) -> Option<&str> {
        self.caller.as_ref().map(|u| u.id.as_str())
    }
}
