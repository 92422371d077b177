//! Users from the configuration: who signs requests, and the canonical ids that own things.

use crate::config::AuthConfig;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct User {
    pub access_key: String,
    pub secret_key: String,
    /// Canonical user id (owner of buckets and objects).
    pub id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Default)]
pub struct Users {
    /// Shared with each request's context (`s3::ctx::Ctx::caller`) without a copy.
    by_key: HashMap<String, Arc<User>>,
    /// The region signatures must name (server.region).
    region: String,
}

impl Users {
    pub fn from_config(auth: &AuthConfig, region: &str) -> Users {
        let mut by_key = HashMap::new();
        let main = std::iter::once((auth.access_key.as_str(), auth.secret_key.as_str(), "", ""));
        let others = auth.users.iter().map(|u| {
            (
                u.access_key.as_str(),
                u.secret_key.as_str(),
                u.id.as_str(),
                u.display_name.as_str(),
            )
        });
        for (ak, sk, id, name) in main.chain(others) {
            let id = if id.is_empty() {
                hex::encode(Sha256::digest(ak.as_bytes()))
            } else {
                id.to_string()
            };
            let display_name = if name.is_empty() {
                ak.to_string()
            } else {
                name.to_string()
            };
            by_key.insert(
                ak.to_string(),
                Arc::new(User {
                    access_key: ak.to_string(),
                    secret_key: sk.to_string(),
                    id,
                    display_name,
                }),
            );
        }
        Users {
            by_key,
            region: region.to_string(),
        }
    }

    pub fn get(&self, access_key: &str) -> Option<&User> {
        self.by_key.get(access_key).map(|u| &**u)
    }

    /// The user, shared (a request's caller holds it for the request's life).
    pub fn shared(&self, access_key: &str) -> Option<Arc<User>> {
        self.by_key.get(access_key).cloned()
    }

    pub fn by_id(&self, id: &str) -> Option<&User> {
        self.by_key.values().find(|u| u.id == id).map(|u| &**u)
    }

    pub fn display_name(&self, id: &str) -> String {
        self.by_id(id)
            .map(|u| u.display_name.clone())
            .unwrap_or_else(|| id.to_string())
    }
}

impl crate::auth::sigv4::SecretLookup for Users {
    fn secret_for(&self, access_key: &str) -> Option<&str> {
        self.by_key.get(access_key).map(|u| u.secret_key.as_str())
    }
    fn region(&self) -> Option<&str> {
        Some(&self.region)
    }
}
