//! GitHub webhook signatures: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

/// Why a delivery's signature was not accepted. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Hub-Signature-256 header: set a secret on the GitHub webhook so deliveries are signed")]
    Missing,
    #[error("only the legacy SHA-1 X-Hub-Signature header was sent; dockhand requires X-Hub-Signature-256")]
    LegacyOnly,
    #[error("malformed X-Hub-Signature-256 header: expected `sha256=` and 64 hex digits")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match: the webhook secret on GitHub differs from the one dockhand holds")]
    Mismatch,
    #[error("no webhook secret is configured in dockhand, so no delivery can be verified")]
    NoSecrets,
}

/// Verifies a delivery against every currently valid secret (two during a rotation).
///
/// `signature_256` is the `X-Hub-Signature-256` header value, `has_legacy` whether a
/// `X-Hub-Signature` (SHA-1) header was present. The comparison is constant-time.
pub fn verify<S: AsRef<[u8]>>(
    signature_256: Option<&str>,
    has_legacy: bool,
    body: &[u8],
    secrets: &[S],
) -> Result<(), SignatureError> {
    let header = match signature_256 {
        Some(h) => h,
        None if has_legacy => return Err(SignatureError::LegacyOnly),
        None => return Err(SignatureError::Missing),
    };
    let digest = parse_header(header)?;
    if secrets.is_empty() {
        return Err(SignatureError::NoSecrets);
    }
    // verify_slice compares in constant time. Stopping at the first match reveals only
    // which of the valid secrets signed, which is no secret; a forgery is always checked
    // against every one.
    let matched = secrets.iter().any(|secret| {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_ref()).expect("HMAC accepts keys of any length");
        mac.update(body);
        mac.verify_slice(&digest).is_ok()
    });
    if matched { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// The header value GitHub would send for `body` signed with `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn parse_header(header: &str) -> Result<[u8; 32], SignatureError> {
    let hex_digest = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut digest).map_err(|_| SignatureError::Malformed)?;
    Ok(digest)
}

/// A secret value whose `Debug` and `Display` never show it, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl AsRef<[u8]> for Secret {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Parses a webhook secret parameter: one secret per line, so two can be valid during a
/// rotation. Blank lines and surrounding whitespace are ignored.
pub fn parse_secrets(value: &str) -> Vec<Secret> {
    value
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Secret::new)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_documented_vector() {
        assert_eq!(sign(GITHUB_SECRET.as_bytes(), b"Hello, World!"), GITHUB_SIGNATURE);
        assert_eq!(
            verify(Some(GITHUB_SIGNATURE), false, b"Hello, World!", &[GITHUB_SECRET]),
            Ok(())
        );
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        let upper = format!("sha256={}", GITHUB_SIGNATURE[7..].to_uppercase());
        assert_eq!(verify(Some(&upper), false, b"Hello, World!", &[GITHUB_SECRET]), Ok(()));
    }

    #[test]
    fn either_secret_verifies_during_rotation() {
        let old = "old-secret";
        let new = "new-secret";
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let by_old = sign(old.as_bytes(), body);
        let by_new = sign(new.as_bytes(), body);
        assert_eq!(verify(Some(&by_old), false, body, &[new, old]), Ok(()));
        assert_eq!(verify(Some(&by_new), false, body, &[new, old]), Ok(()));
        assert_eq!(
            verify(Some(&by_old), false, body, &[new]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejections_say_why() {
        let body = b"Hello, World!";
        let s = [GITHUB_SECRET];
        assert_eq!(verify(None, false, body, &s), Err(SignatureError::Missing));
        assert_eq!(verify(None, true, body, &s), Err(SignatureError::LegacyOnly));
        for bad in [
            "",
            "sha256=",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17aa",
            "sha256=z57107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ] {
            assert_eq!(
                verify(Some(bad), false, body, &s),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            verify(Some(GITHUB_SIGNATURE), false, b"Hello, World?", &s),
            Err(SignatureError::Mismatch)
        );
        let none: [&str; 0] = [];
        assert_eq!(
            verify(Some(GITHUB_SIGNATURE), false, body, &none),
            Err(SignatureError::NoSecrets)
        );
    }

    proptest! {
        #[test]
        fn any_change_to_the_body_is_detected(body in proptest::collection::vec(any::<u8>(), 0..512),
                                              flip in any::<proptest::sample::Index>(),
                                              secret in "\\PC{1,40}") {
            let header = sign(secret.as_bytes(), &body);
            prop_assert_eq!(verify(Some(&header), false, &body, &[&secret]), Ok(()));
            if !body.is_empty() {
                let mut tampered = body.clone();
                let i = flip.index(tampered.len());
                tampered[i] ^= 0x01;
                prop_assert_eq!(verify(Some(&header), false, &tampered, &[&secret]), Err(SignatureError::Mismatch));
            }
        }

        #[test]
        fn arbitrary_headers_never_panic(header in "\\PC{0,100}") {
            let _ = verify(Some(&header), false, b"x", &["s"]);
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(
            parse_secrets("  new \n\nold\r\n")
                .iter()
                .map(Secret::expose)
                .collect::<Vec<_>>(),
            ["new", "old"]
        );
    }
}
