//! Docker image references as the Docker CLI and BuildKit read them: the normalization of
//! `reference.ParseNormalizedNamed` (github.com/distribution/reference, `normalize.go`:
//! `splitDockerDomain`) over the grammar of `reference.go` and `regexp.go`, with the digest
//! check of github.com/opencontainers/go-digest (`algorithm.go`).

use crate::docker_ref::{MAX_NAME_LEN, validate_repository_path, validate_tag};

/// Docker Hub's canonical registry name.
const HUB: &str = "docker.io";
/// Docker Hub's legacy name, normalized to [`HUB`].
const LEGACY_HUB: &str = "index.docker.io";
/// The namespace of Docker Hub's official images ("alpine" is "library/alpine").
const OFFICIAL: &str = "library/";

/// A Docker image reference, normalized as the Docker CLI/distribution `reference.ParseNormalizedNamed` does:
/// no domain → "docker.io"; docker.io with one path component → "library/<name>"; "index.docker.io" → "docker.io".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// domain/path, e.g. "docker.io/library/alpine", "r.j3ss.co/wine", "127.0.0.1:5000/acme/web".
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
}

/// Parses and normalizes `reference`; the error says what is wrong with it, for people.
///
/// The first `/`-separated component names a registry when it contains `.` or `:`, is
/// `localhost`, or has an uppercase letter (paths are lowercase, so it cannot be one).
/// The 255-character limit applies to the path, as `Parse` checks it (`reference.go`).
/// One deviation: where a first component that looks like a registry is not a valid host
/// (`a_b.c/x`), distribution's regular expression reads the whole name as a path with no
/// registry; that name can be pulled from nowhere, so it is refused here.
pub fn parse(reference: &str) -> Result<ImageRef, String> {
    if reference.is_empty() {
        return Err("is empty".into());
    }
    if reference.len() == 64 && reference.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("is a 64-character hexadecimal image ID, not a name".into());
    }
    let (domain, remainder) = split_domain(reference);
    let (named, digest) = match remainder.split_once('@') {
        Some((named, digest)) => (named, Some(digest)),
        None => (remainder, None),
    };
    let (path, tag) = match named.split_once(':') {
        Some((path, tag)) => (path, Some(tag)),
        None => (named, None),
    };
    validate_domain(domain).map_err(|e| format!("has the registry {domain:?}, which {e}"))?;
    validate_repository_path(path).map_err(|e| format!("has the repository path {path:?}, which {e}"))?;
    if path.len() > MAX_NAME_LEN {
        return Err(format!(
            "has a repository path of {} characters; Docker's limit is {MAX_NAME_LEN}",
            path.len()
        ));
    }
    if let Some(tag) = tag {
        validate_tag(tag).map_err(|e| format!("has the tag {tag:?}, which {e}"))?;
    }
    if let Some(digest) = digest {
        validate_digest(digest).map_err(|e| format!("has the digest {digest:?}, which {e}"))?;
    }
    Ok(ImageRef {
        domain: domain.to_owned(),
        path: match (domain, path.contains('/')) {
            (HUB, false) => format!("{OFFICIAL}{path}"),
            _ => path.to_owned(),
        },
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    })
}

/// The registry and the rest, as `splitDockerDomain` divides them.
fn split_domain(reference: &str) -> (&str, &str) {
    match reference.split_once('/') {
        None => (HUB, reference),
        Some((LEGACY_HUB, rest)) => (HUB, rest),
        Some((first, rest))
            if first == "localhost" || first.contains(['.', ':']) || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        Some(_) => (HUB, reference),
    }
}

/// `host[:port]`, the host a DNS name of `[a-zA-Z0-9]` labels (inner dashes allowed) or a
/// bracketed IPv6 address.
fn validate_domain(domain: &str) -> Result<(), String> {
    let (host, port) = if let Some(inner) = domain.strip_prefix('[') {
        let (address, after) = inner
            .split_once(']')
            .ok_or("opens an IPv6 address with [ and never closes it")?;
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err("has an IPv6 address with characters other than hex digits and ':'".into());
        }
        match after {
            "" => (None, None),
            _ => (
                None,
                Some(after.strip_prefix(':').ok_or("has text after its IPv6 address")?),
            ),
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(domain), None),
        }
    };
    if let Some(host) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Err("is not a host name: labels of letters, digits and inner dashes, joined by dots".into());
        }
    }
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("has a port that is not a number".into());
    }
    Ok(())
}

/// `algorithm:hex` for the algorithms Docker registers (sha256, sha384, sha512), in
/// lowercase hex of the algorithm's length, as go-digest's `Digest.Validate` checks it.
fn validate_digest(digest: &str) -> Result<(), String> {
    let (algorithm, hex) = digest.split_once(':').ok_or("is not of the form algorithm:hex")?;
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err("names an algorithm Docker does not support (sha256, sha384, sha512)".into()),
    };
    if hex.len() != length || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!(
            "is not {length} lowercase hexadecimal digits after {algorithm}:"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEX: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    fn named(reference: &str) -> String {
        parse(reference).unwrap().name()
    }

    #[test]
    fn a_bare_name_is_an_official_image_on_docker_hub() {
        assert_eq!(
            parse("alpine:3.20").unwrap(),
            ImageRef {
                domain: "docker.io".into(),
                path: "library/alpine".into(),
                tag: Some("3.20".into()),
                digest: None
            }
        );
        assert_eq!(named("docker.io/alpine"), "docker.io/library/alpine");
    }

    #[test]
    fn a_namespaced_name_without_registry_is_on_docker_hub() {
        assert_eq!(named("jess/foo"), "docker.io/jess/foo");
        assert_eq!(named("index.docker.io/jess/foo"), "docker.io/jess/foo");
        assert_eq!(named("index.docker.io/alpine"), "docker.io/library/alpine");
    }

    #[test]
    fn a_first_component_with_a_dot_a_colon_or_localhost_is_a_registry() {
        let wine = parse("r.j3ss.co/wine:latest").unwrap();
        assert_eq!(
            (wine.name(), wine.tag.as_deref()),
            ("r.j3ss.co/wine".into(), Some("latest"))
        );
        assert_eq!(named("localhost:5000/x"), "localhost:5000/x");
        assert_eq!(named("localhost/x"), "localhost/x");
        assert_eq!(named("127.0.0.1:5000/acme/web"), "127.0.0.1:5000/acme/web");
        assert_eq!(named("[::1]:5000/acme/web"), "[::1]:5000/acme/web");
        // Without a slash there is no registry: "localhost" is an official image name.
        assert_eq!(named("localhost"), "docker.io/library/localhost");
        // An uppercase first component cannot be a path, so it is a registry.
        assert_eq!(named("Registry/web"), "Registry/web");
    }

    #[test]
    fn digests_and_tags_are_kept_apart() {
        let digested = parse(&format!("x@sha256:{HEX}")).unwrap();
        assert_eq!(
            (digested.name(), digested.tag, digested.digest),
            ("docker.io/library/x".into(), None, Some(format!("sha256:{HEX}")))
        );
        let both = parse(&format!("localhost:5000/x:1.2@sha256:{HEX}")).unwrap();
        assert_eq!((both.tag.as_deref(), both.digest.is_some()), (Some("1.2"), true));
    }

    #[test]
    fn malformed_references_are_refused_with_the_reason() {
        for bad in [
            "",
            "Alpine",
            "jess/Foo",
            "localhost:5000/Web",
            "alpine:",
            "alpine:-x",
            "alpine@sha256:abc",
            &format!("alpine@sha256:{}", HEX.to_uppercase()),
            &format!("alpine@md5:{HEX}"),
            HEX,
            "a_b.c/x",
            "example.com:port/x",
            "-host.com/x",
            "a//b",
            "$(evil)",
            " alpine",
            "alpine AS x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse("Alpine").unwrap_err().contains("lowercase"));
    }

    #[test]
    fn the_length_limit_applies_to_the_path() {
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert!(parse(&long).unwrap_err().contains("255"));
        assert!(parse(&format!("r.example.com/{}", "a".repeat(MAX_NAME_LEN))).is_ok());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = parse(&s);
        }

        /// Whatever it accepts, the parts are what the grammar allows and put back together
        /// they read the same.
        #[test]
        fn accepted_references_are_well_formed(s in "([a-zA-Z0-9.:_-]{1,12}/){0,2}[a-z0-9._-]{1,12}(:[a-zA-Z0-9._-]{1,8})?") {
            if let Ok(r) = parse(&s) {
                let again = parse(&format!("{}{}", r.name(), r.tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default())).unwrap();
                prop_assert_eq!(again, r);
            }
        }
    }
}
