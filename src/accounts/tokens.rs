//! Access tokens (HS256 JWTs) and refresh tokens (random, stored hashed).

use crate::Code;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::model::Role;
use crate::error::{Error, Result};
use crate::ids::UserId;

const ISSUER: &str = "blytz";
const ACCESS: &str = "access";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id.
    pub sub: Uuid,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Always `blytz`.
    pub iss: String,
    /// Always `access`.
    pub typ: String,
}

impl AccessClaims {
    /// The user id as a typed id.
    pub fn user_id(&self) -> UserId {
        UserId::from(self.sub)
    }
}

/// Issues and checks access tokens with one HMAC key.
#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl: Duration,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("access_ttl", &self.access_ttl)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer signing with `secret` (HS256); tokens live `access_ttl`.
    pub fn new(secret: &[u8], access_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl,
        }
    }

    /// Seconds an access token lives.
    pub fn access_ttl_secs(&self) -> u64 {
        self.access_ttl.as_secs()
    }

    /// Sign an access token for `user` with `role`.
    pub fn issue_access(&self, user: UserId, role: Role, now: i64) -> Result<String> {
        let ttl = i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = AccessClaims {
            sub: Uuid::from(user),
            role,
            iat: now,
            exp: now.saturating_add(ttl),
            iss: ISSUER.to_owned(),
            typ: ACCESS.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(anyhow::anyhow!("signing an access token: {e}")))
    }

    /// Check signature, algorithm, issuer and expiry; answer the claims.
    /// Any failure is the same 401 `invalid_token` (the reason is not told).
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| invalid_token())?;
        if data.claims.typ != ACCESS {
            return Err(invalid_token());
        }
        Ok(data.claims)
    }
}

fn invalid_token() -> Error {
    Error::refused(Code::InvalidToken, "the access token is invalid or expired")
}

/// A new refresh token: the text handed to the client and the hash stored.
pub fn new_refresh_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

/// The stored form of a refresh token (hex SHA-256).
pub fn hash_refresh_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(secret: &[u8]) -> TokenIssuer {
        TokenIssuer::new(secret, Duration::from_secs(900))
    }

    #[test]
    fn a_signed_token_verifies() {
        let issuer = issuer(b"0123456789abcdef0123456789abcdef");
        let user = UserId::new();
        let now = chrono::Utc::now().timestamp();
        let token = issuer.issue_access(user, Role::Seller, now).unwrap();
        let claims = issuer.verify_access(&token).unwrap();
        assert_eq!(claims.user_id(), user);
        assert_eq!(claims.role, Role::Seller);
    }

    #[test]
    fn another_key_expiry_and_tampering_are_refused() {
        let issuer_a = issuer(b"0123456789abcdef0123456789abcdef");
        let issuer_b = issuer(b"fedcba9876543210fedcba9876543210");
        let now = chrono::Utc::now().timestamp();
        let token = issuer_a
            .issue_access(UserId::new(), Role::Buyer, now)
            .unwrap();
        assert!(issuer_b.verify_access(&token).is_err());

        let expired = issuer_a
            .issue_access(UserId::new(), Role::Buyer, now - 3600)
            .unwrap();
        assert!(issuer_a.verify_access(&expired).is_err());

        let mut tampered = token.clone();
        tampered.insert(tampered.len() - 3, 'x');
        assert!(issuer_a.verify_access(&tampered).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(hash_a, hash_refresh_token(&a));
        assert_eq!(hash_a.len(), 64);
    }
}
