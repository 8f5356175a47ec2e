//! Basic authentication against `basic_auth_users` (bcrypt hashes). A bcrypt check costs 50-100 ms
//! of CPU by design, so a pair that passed is remembered for the life of the configuration, as
//! exporter-toolkit does: a scrape every 15 s then costs one HMAC, not a bcrypt run. What is
//! remembered is an HMAC-SHA256 of the pair under a key drawn at load, never the password.
//!
//! Checks that need bcrypt run off the network thread, one at a time (a flood of wrong passwords
//! takes one blocking thread, never the one a scrape needs); an unknown user costs one bcrypt run
//! too, so timing does not tell which users exist.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use ring::hmac;
use ring::rand::SystemRandom;

use super::WebConfigError;

/// Pairs remembered at most; past this the memory starts over (only passing pairs are kept, so it
/// fills only with as many users and passwords as really exist).
const MAX_REMEMBERED: usize = 256;

pub(crate) struct Users {
    hashes: BTreeMap<String, String>,
    key: hmac::Key,
    passed: Mutex<HashSet<Vec<u8>>>,
    /// bcrypt checks run (the tests' window into the cache).
    bcrypt_runs: AtomicU64,
    /// One bcrypt check at a time.
    gate: tokio::sync::Semaphore,
}

impl Users {
    /// The users of `basic_auth_users`, every hash checked to be bcrypt's.
    pub(crate) fn new(
        hashes: BTreeMap<String, String>,
        config: &Path,
    ) -> Result<Users, WebConfigError> {
        for (user, hash) in &hashes {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(WebConfigError::Hash {
                    path: config.to_path_buf(),
                    user: user.clone(),
                });
            }
        }
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new()).map_err(|_| {
            WebConfigError::Tls {
                path: config.to_path_buf(),
                error: "no randomness from the system".into(),
            }
        })?;
        Ok(Users {
            hashes,
            key,
            passed: Mutex::new(HashSet::new()),
            bcrypt_runs: AtomicU64::new(0),
            gate: tokio::sync::Semaphore::new(1),
        })
    }

    fn tag(&self, user: &str, password: &str) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&(user.len() as u64).to_le_bytes());
        ctx.update(user.as_bytes());
        ctx.update(password.as_bytes());
        ctx.sign().as_ref().to_vec()
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashSet<Vec<u8>>> {
        self.passed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when `user` and `password` passed before (no bcrypt).
    fn passed_before(&self, user: &str, password: &str) -> bool {
        self.remembered().contains(&self.tag(user, password))
    }

    /// The bcrypt check (slow); a pass is remembered.
    pub(crate) fn verify(&self, user: &str, password: &str) -> bool {
        self.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
        let (known, hash) = match self.hashes.get(user) {
            Some(h) => (true, h),
            // The same work for a user that does not exist.
            None => match self.hashes.values().next() {
                Some(h) => (false, h),
                None => return false,
            },
        };
        let ok = bcrypt::verify(password, hash).unwrap_or(false) && known;
        if ok {
            let mut passed = self.remembered();
            if passed.len() >= MAX_REMEMBERED {
                passed.clear();
            }
            passed.insert(self.tag(user, password));
        }
        ok
    }

    /// bcrypt checks run so far.
    #[cfg(test)]
    pub(crate) fn bcrypt_runs(&self) -> u64 {
        self.bcrypt_runs.load(Ordering::Relaxed)
    }

    /// True when the request's `Authorization` header names a user with its password.
    pub(crate) async fn check(self: &Arc<Self>, header: Option<&[u8]>) -> bool {
        let Some((user, password)) = header.and_then(credentials) else {
            return false;
        };
        if self.passed_before(&user, &password) {
            return true;
        }
        let Ok(_one_at_a_time) = self.gate.acquire().await else {
            return false;
        };
        let users = self.clone();
        tokio::task::spawn_blocking(move || users.verify(&user, &password))
            .await
            .unwrap_or(false)
    }
}

/// `Basic base64(user:password)` → (user, password).
fn credentials(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let pair = String::from_utf8(decoded).ok()?;
    let (user, password) = pair.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> Vec<u8> {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {b}").into_bytes()
    }

    /// Real bcrypt hashes (cost 4, the fastest): a right pair passes and is remembered (the second
    /// request runs no bcrypt), wrong or unknown ones never pass and are never remembered.
    #[test]
    fn a_pair_that_passed_is_remembered_and_a_wrong_one_is_checked_every_time() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let users = Arc::new(
            Users::new(
                BTreeMap::from([("prom".to_string(), hash)]),
                Path::new("web.yml"),
            )
            .expect("users"),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            assert!(users.check(Some(&header("prom", "s3cret"))).await);
            assert_eq!(users.bcrypt_runs(), 1);
            for _ in 0..3 {
                assert!(users.check(Some(&header("prom", "s3cret"))).await);
            }
            assert_eq!(users.bcrypt_runs(), 1, "remembered: no bcrypt again");
            assert!(!users.check(Some(&header("prom", "wrong"))).await);
            assert!(!users.check(Some(&header("prom", "wrong"))).await);
            assert!(!users.check(Some(&header("nobody", "s3cret"))).await);
            assert_eq!(users.bcrypt_runs(), 4, "every wrong pair is checked");
            assert!(!users.check(None).await);
            assert!(!users.check(Some(b"Bearer abc")).await);
            assert!(!users.check(Some(b"Basic !!!")).await);
            assert_eq!(users.bcrypt_runs(), 4, "no bcrypt for a malformed header");
        });
    }

    #[test]
    fn a_value_that_is_not_a_bcrypt_hash_is_refused_naming_the_user() {
        let e = Users::new(
            BTreeMap::from([("prom".to_string(), "plaintext".to_string())]),
            Path::new("/etc/sockdoc/web.yml"),
        )
        .err()
        .expect("refused");
        let line = e.to_string();
        assert!(
            line.contains("/etc/sockdoc/web.yml") && line.contains("prom"),
            "{line}"
        );
    }
}
