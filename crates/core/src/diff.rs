//! `git diff --name-status -M <base> <head>` output as changed files: how `dockhand plan
//! --changes` plans a push whose commit list is incomplete, offline, exactly as the
//! spawner does with the host's comparison.

use crate::index::unquote;
use crate::tree::ChangedFile;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} of the `git diff --name-status` output: {message}")]
pub struct NameStatusError {
    pub line: usize,
    pub message: String,
}

/// Parses `git diff --name-status` output, with or without `-M`/`-C`. Lines are
/// `STATUS<TAB>path`, or `R<score><TAB>old<TAB>new` and `C<score><TAB>old<TAB>new`; unusual
/// paths are C-quoted as git prints them without `-z`.
///
/// A rename gives the new path with the old one as `previous_path`; a copy gives only the
/// new path, because its source is unchanged. `T` (a type change), `M` and `U` are
/// modifications, `D` a removal.
pub fn parse_name_status(text: &str) -> Result<Vec<ChangedFile>, NameStatusError> {
    let mut files = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fail = |message: String| NameStatusError { line: line_no, message };
        let mut fields = line.split('\t');
        let status = fields.next().unwrap_or_default();
        let paths: Vec<String> = fields.map(unquote).collect();
        let kind = status.chars().next().unwrap_or(' ');
        let score_ok = status
            .get(kind.len_utf8()..)
            .is_some_and(|score| score.bytes().all(|b| b.is_ascii_digit()));
        let want = if matches!(kind, 'R' | 'C') { 2 } else { 1 };
        if !score_ok || !matches!(kind, 'A' | 'M' | 'D' | 'T' | 'U' | 'R' | 'C') {
            return Err(fail(format!(
                "unknown status {status:?}; expected A, M, D, T, U, R<score> or C<score> (the output of `git diff --name-status -M BASE HEAD`)"
            )));
        }
        if paths.len() != want || paths.iter().any(String::is_empty) {
            return Err(fail(format!(
                "status {status} takes {want} tab-separated path(s), found {} (or an empty one)",
                paths.len()
            )));
        }
        let mut paths = paths.into_iter();
        let first = paths.next().unwrap_or_default();
        files.push(match kind {
            'R' => ChangedFile {
                path: paths.next().unwrap_or_default(),
                previous_path: Some(first),
                removed: false,
            },
            'C' => ChangedFile {
                path: paths.next().unwrap_or_default(),
                previous_path: None,
                removed: false,
            },
            'D' => ChangedFile {
                path: first,
                previous_path: None,
                removed: true,
            },
            _ => ChangedFile {
                path: first,
                previous_path: None,
                removed: false,
            },
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Changes;
    use proptest::prelude::*;

    fn file(path: &str, previous: Option<&str>, removed: bool) -> ChangedFile {
        ChangedFile {
            path: path.into(),
            previous_path: previous.map(Into::into),
            removed,
        }
    }

    #[test]
    fn every_status() {
        let text = "A\tnew/Dockerfile\nM\tweb/app.py\nD\told/Dockerfile\nR100\tweb/index.html\tsite/index.html\nR087\ta\tb\nC075\tsrc/x\tdst/x\nT\tlink\nU\tconflict\n\"sp\\303\\251cial/\\tx\"\n";
        // The last line is a quoted path without a status: refused.
        assert_eq!(parse_name_status(text).unwrap_err().line, 9);
        let files =
            parse_name_status(&text.replace("\"sp\\303\\251cial/\\tx\"\n", "M\t\"sp\\303\\251cial/\\tx\"\n")).unwrap();
        assert_eq!(
            files,
            [
                file("new/Dockerfile", None, false),
                file("web/app.py", None, false),
                file("old/Dockerfile", None, true),
                file("site/index.html", Some("web/index.html"), false),
                file("b", Some("a"), false),
                file("dst/x", None, false),
                file("link", None, false),
                file("conflict", None, false),
                file("spécial/\tx", None, false),
            ]
        );
        let c = Changes::from_changed_files(&files);
        assert_eq!(c.removed, ["a", "old/Dockerfile", "web/index.html"]);
        assert!(c.paths.contains(&"web/index.html".to_string()) && c.paths.contains(&"site/index.html".to_string()));
        assert!(!c.paths.contains(&"src/x".to_string()));
    }

    #[test]
    fn mistakes_name_the_line() {
        for (text, line, needle) in [
            ("M\ta\nX\tb\n", 2, "unknown status \"X\""),
            ("Rxx\ta\tb\n", 1, "unknown status"),
            ("R100\tonly-one\n", 1, "takes 2"),
            ("M\ta\tb\n", 1, "takes 1"),
            ("M\t\n", 1, "takes 1"),
            ("web/app.py\n", 1, "unknown status"),
        ] {
            let e = parse_name_status(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}");
            assert!(e.to_string().contains(needle), "{text:?}: {e}");
        }
        assert_eq!(parse_name_status("\n\n").unwrap(), []);
    }

    proptest! {
        /// Arbitrary text is parsed or refused with its line, never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,120}") {
            match parse_name_status(&text) {
                Ok(files) => prop_assert!(files.iter().all(|f| !f.path.is_empty())),
                Err(e) => prop_assert!(e.line >= 1),
            }
        }
    }
}
