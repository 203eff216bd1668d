//! Docker's reference grammar, as far as dockhand names images: repository paths and tags
//! (https://github.com/distribution/reference/blob/main/reference.go). A bad name is
//! reported with what to change, never mangled.

/// Docker's limit on the length of a repository name, registry host included.
pub const MAX_NAME_LEN: usize = 255;
/// Docker's limit on the length of a tag.
pub const MAX_TAG_LEN: usize = 128;

/// Checks `a/b/c` against the reference grammar's path components:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`.
pub fn validate_repository_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("is empty".into());
    }
    for component in path.split('/') {
        validate_component(component)?;
    }
    Ok(())
}

fn validate_component(component: &str) -> Result<(), String> {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() {
        return Err("has an empty path component".into());
    }
    if let Some(c) = component
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
    {
        return Err(if c.is_ascii_uppercase() {
            "has uppercase letters, and Docker image names must be lowercase".to_owned()
        } else {
            format!("contains {c:?}; Docker image names allow only a-z, 0-9 and the separators . _ __ -")
        });
    }
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err("must start and end each component with a letter or digit".into());
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err(format!(
                "has the separator {sep:?}; Docker allows `.`, `_`, `__` or dashes between letters and digits"
            ));
        }
    }
    Ok(())
}

/// Checks a tag against Docker's grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match tag.chars().next() {
        None => return Err("is empty".into()),
        Some(c) if !word(c) => return Err("must start with a letter, digit or underscore".into()),
        _ => {}
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(format!("is longer than Docker's limit of {MAX_TAG_LEN} characters"));
    }
    if let Some(c) = tag.chars().find(|&c| !(word(c) || c == '.' || c == '-')) {
        return Err(format!(
            "contains {c:?}; Docker tags allow only letters, digits, _ . and -"
        ));
    }
    Ok(())
}
