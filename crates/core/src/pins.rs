//! What a build is told of the images it is built from, and of the builds waiting for it
//! ([`crate::waves`]): the variables' names and how their values read back. Every value
//! is checked where it is read, at both ends of the builds queue.

/// A base's pinned images: `NAME<TAB>PINNED` lines, NAME as the dependent's Dockerfile
/// writes it, PINNED `repository@sha256:…` or `repository:<key tag>`.
pub const BASES_VARIABLE: &str = "DOCKHAND_BASES";
/// The build keys of the builds waiting for this one, comma-separated.
pub const DEPENDENTS_VARIABLE: &str = "DOCKHAND_DEPENDENTS";
/// What an image build exports: the digest it pushed under its key tag.
pub const DIGEST_VARIABLE: &str = "DOCKHAND_IMAGE_DIGEST";

/// True for a name as a Dockerfile may give an image and the buildspec accepts: the
/// characters of a reference, nothing a shell or `--build-context` could read otherwise.
pub fn is_base_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b':' | b'@' | b'-'))
}

/// True for a pinned reference: `repository@sha256:<64 hex>` or `repository:<key tag>`.
pub fn is_pinned(pinned: &str) -> bool {
    let repository_ok = |r: &str| crate::retag::check_repository(r).is_ok();
    if let Some((repository, digest)) = pinned.split_once('@') {
        return repository_ok(repository) && is_digest(digest);
    }
    match pinned.rsplit_once(':') {
        Some((repository, tag)) => repository_ok(repository) && crate::image_key::is_key_tag(tag),
        None => false,
    }
}

/// True for `sha256:` and 64 lowercase hexadecimal digits.
pub fn is_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Reads `DOCKHAND_BASES` back; an error names the line that does not read.
pub fn parse_pins(text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .enumerate()
        .map(|(n, line)| match line.split_once('\t') {
            Some((name, pinned)) if is_base_name(name) && is_pinned(pinned) => Ok((name.to_owned(), pinned.to_owned())),
            _ => Err(format!(
                "{BASES_VARIABLE} line {} does not read as NAME<TAB>PINNED",
                n + 1
            )),
        })
        .collect()
}

/// Reads `DOCKHAND_DEPENDENTS` back: build keys only; anything else is left out.
pub fn parse_dependents(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|k| k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
        .collect()
}
