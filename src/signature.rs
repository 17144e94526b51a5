//! Authenticating webhook deliveries for monitors that have a secret.
//!
//! A sender proves it knows the secret with an HMAC-SHA256 of the raw body
//! (`SB-Signature: <hex>`, `X-JVS-Signature: sha256=<hex>`, `X-Signature-256: sha256=<hex>`)
//! or, for tools that can only send a static header (Kopia, Proxmox), with
//! `Authorization: Bearer <secret>`. Every comparison is constant-time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::senders::Inbound;

const SIGNATURE_HEADERS: &[&str] = &["sb-signature", "x-jvs-signature", "x-signature-256"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "this webhook has a secret: sign the body (SB-Signature, X-JVS-Signature or X-Signature-256 with an HMAC-SHA256) or send Authorization: Bearer <secret>"
    )]
    Missing,
    #[error("the {0} header is not a hex HMAC-SHA256")]
    Malformed(&'static str),
    #[error(
        "the signature does not match the body: check that the sender uses this monitor's secret"
    )]
    Mismatch,
    #[error("the bearer token does not match this monitor's secret")]
    WrongToken,
}

/// Checks a delivery against the monitor's secret, on the raw bytes of the body.
pub fn verify(secret: &str, inbound: &Inbound<'_>) -> Result<(), SignatureError> {
    for &name in SIGNATURE_HEADERS {
        if let Some(value) = inbound.header(name) {
            return verify_hmac(secret, name, value, inbound.body());
        }
    }
    if let Some(token) = inbound.header("authorization").and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    }) {
        // Hashing first makes the comparison independent of both lengths.
        let given = Sha256::digest(token.trim().as_bytes());
        let expected = Sha256::digest(secret.as_bytes());
        return if bool::from(given.ct_eq(&expected)) {
            Ok(())
        } else {
            Err(SignatureError::WrongToken)
        };
    }
    Err(SignatureError::Missing)
}

fn verify_hmac(
    secret: &str,
    header: &'static str,
    value: &str,
    body: &[u8],
) -> Result<(), SignatureError> {
    let value = value.trim();
    let hex_digest = value
        .get(..7)
        .filter(|prefix| prefix.eq_ignore_ascii_case("sha256="))
        .map_or(value, |_| &value[7..]);
    let tag = hex::decode(hex_digest.trim()).map_err(|_| SignatureError::Malformed(header))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;

    use super::*;

    fn check(headers: &[(&str, &str)], body: &[u8]) -> Result<(), SignatureError> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let zone = TimeZone::UTC;
        verify(
            "It's a Secret to Everybody",
            &Inbound::new(&headers, body, &zone),
        )
    }

    // From GitHub's webhook documentation's test vector for this secret and body.
    const BODY: &[u8] = b"Hello, World!";
    const DIGEST: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn hmac_headers_in_every_accepted_spelling() {
        assert_eq!(check(&[("SB-Signature", DIGEST)], BODY), Ok(()));
        assert_eq!(
            check(
                &[("sb-signature", &format!("  {} ", DIGEST.to_uppercase()))],
                BODY
            ),
            Ok(())
        );
        assert_eq!(
            check(&[("X-JVS-Signature", &format!("sha256={DIGEST}"))], BODY),
            Ok(())
        );
        assert_eq!(
            check(&[("X-Signature-256", &format!("SHA256={DIGEST}"))], BODY),
            Ok(())
        );
    }

    #[test]
    fn a_changed_body_or_bad_hex_is_refused() {
        assert_eq!(
            check(&[("SB-Signature", DIGEST)], b"Hello, World?"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(&[("SB-Signature", "zz")], BODY),
            Err(SignatureError::Malformed("sb-signature"))
        );
        assert_eq!(
            check(&[("SB-Signature", &DIGEST[..10])], BODY),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(
            check(
                &[("Authorization", "Bearer It's a Secret to Everybody")],
                BODY
            ),
            Ok(())
        );
        assert_eq!(
            check(&[("Authorization", "Bearer nope")], BODY),
            Err(SignatureError::WrongToken)
        );
        assert_eq!(check(&[], BODY), Err(SignatureError::Missing));
    }
}
