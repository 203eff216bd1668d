//! What may go into a URL: every repository name, commit and path is checked before a
//! request is built, so nothing from a webhook can reach another endpoint or host.

use dockhand_core::tree::{HostError, ObjectId};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters a path segment keeps as they are: RFC 3986's unreserved set.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `owner/name`, each part `[A-Za-z0-9._-]+` and neither `.` nor `..`: answered as is, ready
/// for a URL.
pub fn repository(repository: &str) -> Result<&str, HostError> {
    let part_ok = |p: &str| {
        !p.is_empty() && p != "." && p != ".." && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    match repository.split_once('/') {
        Some((owner, name)) if part_ok(owner) && part_ok(name) => Ok(repository),
        _ => Err(HostError::NotFound(format!(
            "{repository:?} is not a GitHub repository name: expected owner/name, each made of letters, digits, '.', '-' and '_'"
        ))),
    }
}

/// A full commit (or tree) id: 40 hexadecimal digits, as pushes name commits.
pub fn object_id<'a>(what: &str, id: &'a str) -> Result<&'a str, HostError> {
    if is_object_id(id) {
        Ok(id)
    } else {
        Err(HostError::NotFound(format!(
            "{what} {id:?} is not a full git object id (40 hexadecimal digits)"
        )))
    }
}

/// A full commit (or tree) id, as the 20 bytes it names.
pub fn commit(what: &str, id: &str) -> Result<ObjectId, HostError> {
    object_id(what, id).and_then(|id| {
        ObjectId::from_hex(id).ok_or_else(|| HostError::NotFound(format!("{what} {id:?} is not a git object id")))
    })
}

pub fn is_object_id(id: &str) -> bool {
    id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A repository-relative file path, percent-encoded segment by segment for a URL.
pub fn path(path: &str) -> Result<String, HostError> {
    let bad = path.is_empty()
        || path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.bytes().any(|b| b.is_ascii_control()));
    if bad {
        return Err(HostError::NotFound(format!(
            "{path:?} is not a repository path: expected '/'-separated names, without a leading '/', empty, '.' or '..' parts"
        )));
    }
    Ok(path
        .split('/')
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories() {
        for good in ["octocat/Hello-World", "a/b", "my.org/repo_1", "x/.github", "a-b/c..d"] {
            assert_eq!(repository(good), Ok(good), "{good}");
        }
        for bad in [
            "", "octocat", "/a", "a/", "a/b/c", "../b", "a/..", "./b", "a/.", "a/b?x=1", "a/b#", "a b/c", "a/%2e%2e",
            "ä/b", "a/b\n",
        ] {
            assert!(matches!(repository(bad), Err(HostError::NotFound(_))), "{bad:?}");
        }
    }

    #[test]
    fn object_ids() {
        let id = "0123456789abcdefABCDEF0123456789abcdef01";
        assert_eq!(object_id("commit", id), Ok(id));
        for bad in [
            "",
            "0123456",
            "main",
            &"g".repeat(40),
            &"0".repeat(41),
            &"a".repeat(64),
            "../../../../etc/passwd",
        ] {
            let err = object_id("commit", bad).unwrap_err();
            assert!(
                matches!(&err, HostError::NotFound(m) if m.contains("40 hexadecimal")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn paths_are_checked_and_encoded() {
        assert_eq!(path(".dockhand.yml").unwrap(), ".dockhand.yml");
        assert_eq!(path("web/Dockerfile").unwrap(), "web/Dockerfile");
        assert_eq!(path("a b/ü?#%.txt").unwrap(), "a%20b/%C3%BC%3F%23%25.txt");
        assert_eq!(path("x/~y_z-1").unwrap(), "x/~y_z-1");
        for bad in ["", "/etc/passwd", "a//b", "a/", "../x", "a/./b", "a/..", "a\nb", "a\0b"] {
            assert!(matches!(path(bad), Err(HostError::NotFound(_))), "{bad:?}");
        }
    }
}
