//! `X-Hub-Signature-256` verification: HMAC-SHA256 of the raw body.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused. The texts name no secret and no expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    /// The header is not `sha256=<64 hex>`.
    #[error("malformed X-Hub-Signature-256 header")]
    Malformed,
    /// Well-formed, but not the HMAC of this body with our secret.
    #[error("signature does not match the body")]
    Mismatch,
}

/// Computes the header value GitHub would send for `body` (`sha256=<hex>`).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verifies `header` (the `X-Hub-Signature-256` value) against `body`, in constant time.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&[u8]>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_part = header
        .strip_prefix(b"sha256=")
        .ok_or(SignatureError::Malformed)?;
    if hex_part.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let mut given = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut given).map_err(|_| SignatureError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const HEADER: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_documented_vector_verifies() {
        assert_eq!(sign(SECRET, BODY), HEADER);
        assert_eq!(verify(SECRET, BODY, Some(HEADER.as_bytes())), Ok(()));
    }

    #[test]
    fn one_byte_changed_in_body_or_signature_is_refused() {
        assert_eq!(
            verify(SECRET, b"Hello, World?", Some(HEADER.as_bytes())),
            Err(SignatureError::Mismatch)
        );
        let mut sig = HEADER.as_bytes().to_vec();
        let last = sig.len() - 1;
        sig[last] = if sig[last] == b'7' { b'8' } else { b'7' };
        assert_eq!(
            verify(SECRET, BODY, Some(&sig)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_or_malformed_headers_are_refused() {
        assert_eq!(verify(SECRET, BODY, None), Err(SignatureError::Missing));
        assert_eq!(
            verify(SECRET, BODY, Some(b"sha1=abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, BODY, Some(b"sha256=zz")),
            Err(SignatureError::Malformed)
        );
        let not_hex = format!("sha256={}", "g".repeat(64));
        assert_eq!(
            verify(SECRET, BODY, Some(not_hex.as_bytes())),
            Err(SignatureError::Malformed)
        );
    }
}
