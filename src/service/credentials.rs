//! Secrets: API keys (random, SHA-256 hashed, compared in constant time) and user passwords (Argon2).

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::ids::KeyId;

/// A freshly made API key: the full token is shown once, only the hash is stored.
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    /// Public id.
    pub id: KeyId,
    /// `KEY_ID:KEY_SECRET`, for the `Authorization: Bearer` header.
    pub token: String,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
}

/// 43 alphanumerics carry about 256 bits: far beyond guessing, so a fast hash suffices.
const SECRET_LEN: usize = 43;

/// Makes a new random API key.
pub fn generate_key() -> GeneratedKey {
    let id = KeyId::generate();
    let secret = Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN);
    GeneratedKey {
        token: format!("{id}:{secret}"),
        secret_hash: hash_secret(&secret),
        id,
    }
}

/// SHA-256 of a key secret.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Compares a presented secret with a stored hash in constant time.
pub fn secret_matches(secret: &str, stored_hash: &[u8]) -> bool {
    hash_secret(secret).ct_eq(stored_hash).into()
}

/// Splits `KEY_ID:KEY_SECRET`; `None` when the shape is wrong.
pub fn split_token(token: &str) -> Option<(KeyId, &str)> {
    let (id, secret) = token.split_once(':')?;
    if secret.is_empty() || secret.len() > 256 {
        return None;
    }
    Some((KeyId::parse(id)?, secret))
}

/// A random password for a new dashboard user.
pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 20)
}

/// Argon2id PHC string for a password.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password failed: {e}"))
}

/// Checks a password against its Argon2 PHC string.
pub fn password_matches(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_wrong_secrets_fail() {
        let key = generate_key();
        let (id, secret) = split_token(&key.token).unwrap();
        assert_eq!(id, key.id);
        assert!(secret_matches(secret, &key.secret_hash));
        assert!(!secret_matches("nope", &key.secret_hash));
        assert!(split_token("no-colon").is_none());
        assert!(split_token("key_abc:").is_none());
        assert!(split_token("other_abc:secret").is_none());
    }

    #[test]
    fn passwords_hash_and_verify() {
        let pw = generate_password();
        let phc = hash_password(&pw).unwrap();
        assert!(phc.starts_with("$argon2"));
        assert!(password_matches(&pw, &phc));
        assert!(!password_matches("wrong", &phc));
    }
}
