//! GitHub's JSON answers, the parts dockhand reads, and what they mean as [`TreeFile`]s and
//! [`ChangedFile`]s. Pure: no I/O, so every mapping is tested here.

use base64::Engine as _;
use dockhand_core::ports::{ChangedFile, TreeFile};
use serde::Deserialize;
use std::collections::BTreeMap;

/// GitHub lists at most this many files in a comparison; a list this long may be cut.
pub const COMPARE_FILE_LIMIT: usize = 300;

/// `GET /repos/{owner}/{repo}/git/trees/{tree_sha}`.
#[derive(Debug, Deserialize)]
pub struct Tree {
    pub tree: Vec<TreeEntry>,
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Debug, Deserialize)]
pub struct TreeEntry {
    pub path: String,
    /// `blob` (files and symlinks, mode 120000), `tree` (directories) or `commit` (submodules).
    #[serde(rename = "type")]
    pub kind: String,
    pub sha: String,
}

impl Tree {
    /// The files of this listing (blobs: regular files, executables and symlinks), their
    /// paths under `dir` (`""` for the repository's root).
    pub fn files(&self, dir: &str) -> Vec<TreeFile> {
        self.tree
            .iter()
            .filter(|e| e.kind == "blob")
            .map(|e| TreeFile {
                path: join(dir, &e.path),
                sha: e.sha.clone(),
            })
            .collect()
    }

    /// The directories of this listing, `(path under dir, tree sha)`.
    pub fn subtrees(&self, dir: &str) -> Vec<(String, String)> {
        self.tree
            .iter()
            .filter(|e| e.kind == "tree")
            .map(|e| (join(dir, &e.path), e.sha.clone()))
            .collect()
    }
}

fn join(dir: &str, path: &str) -> String {
    if dir.is_empty() {
        path.to_owned()
    } else {
        format!("{dir}/{path}")
    }
}

/// `GET /repos/{owner}/{repo}/compare/{base}...{head}`.
#[derive(Debug, Deserialize)]
pub struct Comparison {
    /// `ahead`, `behind`, `diverged` or `identical`.
    pub status: String,
    #[serde(default)]
    pub files: Option<Vec<DiffEntry>>,
}

#[derive(Debug, Deserialize)]
pub struct DiffEntry {
    pub filename: String,
    /// `added`, `removed`, `modified`, `renamed`, `copied`, `changed` or `unchanged`.
    pub status: String,
    #[serde(default)]
    pub previous_filename: Option<String>,
}

impl Comparison {
    /// The changed files, when GitHub's list is exactly `git diff base head`: `base` is an
    /// ancestor of `head` (`ahead`) or the same commit, and the list is not cut at
    /// [`COMPARE_FILE_LIMIT`]. `None` otherwise: after a forced push GitHub compares from the
    /// merge base, which is not what changed between the two commits.
    pub fn changed_files(&self) -> Option<Vec<ChangedFile>> {
        match self.status.as_str() {
            "identical" => return Some(Vec::new()),
            "ahead" => {}
            _ => return None,
        }
        let files = self.files.as_ref()?;
        if files.len() >= COMPARE_FILE_LIMIT {
            return None;
        }
        Some(
            files
                .iter()
                .map(|f| ChangedFile {
                    path: f.filename.clone(),
                    previous_path: if f.status == "renamed" {
                        f.previous_filename.clone()
                    } else {
                        None
                    },
                    removed: f.status == "removed",
                })
                .collect(),
        )
    }
}

/// What `GET /repos/{owner}/{repo}/contents/{path}` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Contents {
    /// A file and its content.
    File(Vec<u8>),
    /// A file over 1 MB: GitHub sends no content (`"encoding": "none"`); ask for the raw media type.
    TooLargeForJson,
    /// A directory (a JSON array), a submodule or a symlink to something not a file.
    NotAFile,
}

/// Reads a contents answer; `Err` says what is wrong with it.
pub fn contents(body: &serde_json::Value) -> Result<Contents, String> {
    if body.is_array() {
        return Ok(Contents::NotAFile);
    }
    if body["type"] != "file" {
        return Ok(Contents::NotAFile);
    }
    match body["encoding"].as_str() {
        Some("base64") => {
            let text: String = body["content"]
                .as_str()
                .ok_or("a file without \"content\"")?
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map(Contents::File)
                .map_err(|e| format!("the file's base64 content does not decode: {e}"))
        }
        Some("none") => Ok(Contents::TooLargeForJson),
        // A file with no content field at all is one to ask for raw, too.
        None if body.get("content").is_none() => Ok(Contents::TooLargeForJson),
        other => Err(format!("unknown content encoding {other:?}")),
    }
}

/// The exact difference of two complete trees, by path and blob id: a path only at `head`
/// was added, one only at `base` removed, one at both with different ids modified. Renames
/// show as a removal and an addition. Sorted by path.
pub fn tree_diff(base: &[TreeFile], head: &[TreeFile]) -> Vec<ChangedFile> {
    let base: BTreeMap<&str, &str> = base.iter().map(|f| (f.path.as_str(), f.sha.as_str())).collect();
    let head: BTreeMap<&str, &str> = head.iter().map(|f| (f.path.as_str(), f.sha.as_str())).collect();
    let mut changes: Vec<ChangedFile> = head
        .iter()
        .filter(|(path, sha)| base.get(*path) != Some(*sha))
        .map(|(path, _)| ChangedFile {
            path: (*path).to_owned(),
            previous_path: None,
            removed: false,
        })
        .chain(
            base.keys()
                .filter(|path| !head.contains_key(*path))
                .map(|path| ChangedFile {
                    path: (*path).to_owned(),
                    previous_path: None,
                    removed: true,
                }),
        )
        .collect();
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(path: &str, sha: &str) -> TreeFile {
        TreeFile {
            path: path.into(),
            sha: sha.into(),
        }
    }

    fn changed(path: &str, previous: Option<&str>, removed: bool) -> ChangedFile {
        ChangedFile {
            path: path.into(),
            previous_path: previous.map(Into::into),
            removed,
        }
    }

    #[test]
    fn tree_keeps_blobs_and_symlinks_only() {
        // Shaped like GitHub's documented answer.
        let tree: Tree = serde_json::from_value(json!({
            "sha": "9fb037999f264ba9a7fc6274d15fa3ae2ab98312",
            "url": "https://api.github.com/repos/octocat/Hello-World/trees/9fb037999f264ba9a7fc6274d15fa3ae2ab98312",
            "tree": [
                { "path": "Dockerfile", "mode": "100644", "type": "blob", "size": 30, "sha": "aa", "url": "u" },
                { "path": "web", "mode": "040000", "type": "tree", "sha": "bb", "url": "u" },
                { "path": "web/Dockerfile", "mode": "100755", "type": "blob", "size": 3, "sha": "cc", "url": "u" },
                { "path": "web/current", "mode": "120000", "type": "blob", "size": 9, "sha": "dd", "url": "u" },
                { "path": "vendor/lib", "mode": "160000", "type": "commit", "sha": "ee" }
            ],
            "truncated": false
        }))
        .unwrap();
        assert!(!tree.truncated);
        assert_eq!(
            tree.files(""),
            [
                file("Dockerfile", "aa"),
                file("web/Dockerfile", "cc"),
                file("web/current", "dd")
            ]
        );
        assert_eq!(tree.files("chrome")[0], file("chrome/Dockerfile", "aa"));
        assert_eq!(tree.subtrees("a/b"), [("a/b/web".to_owned(), "bb".to_owned())]);
        let truncated: Tree = serde_json::from_value(json!({ "sha": "x", "tree": [], "truncated": true })).unwrap();
        assert!(truncated.truncated);
    }

    #[test]
    fn comparison_maps_every_status() {
        let cmp: Comparison = serde_json::from_value(json!({
            "status": "ahead", "ahead_by": 2, "behind_by": 0, "total_commits": 2,
            "merge_base_commit": { "sha": "b" },
            "files": [
                { "sha": "1", "filename": "a/Dockerfile", "status": "added", "additions": 1, "deletions": 0, "changes": 1 },
                { "sha": "2", "filename": "b/Dockerfile", "status": "removed" },
                { "sha": "3", "filename": "c/Dockerfile", "status": "modified" },
                { "sha": "4", "filename": "new/x", "status": "renamed", "previous_filename": "old/x" },
                { "sha": "5", "filename": "copy/y", "status": "copied", "previous_filename": "orig/y" },
                { "sha": "6", "filename": "mode.sh", "status": "changed" },
                { "sha": "7", "filename": "same", "status": "unchanged" }
            ]
        }))
        .unwrap();
        assert_eq!(
            cmp.changed_files().unwrap(),
            [
                changed("a/Dockerfile", None, false),
                changed("b/Dockerfile", None, true),
                changed("c/Dockerfile", None, false),
                changed("new/x", Some("old/x"), false),
                changed("copy/y", None, false),
                changed("mode.sh", None, false),
                changed("same", None, false),
            ]
        );
        let identical: Comparison = serde_json::from_value(json!({ "status": "identical", "files": [] })).unwrap();
        assert_eq!(identical.changed_files(), Some(vec![]));
        let identical: Comparison = serde_json::from_value(json!({ "status": "identical" })).unwrap();
        assert_eq!(identical.changed_files(), Some(vec![]));
    }

    #[test]
    fn comparison_falls_back_when_incomplete_or_not_linear() {
        for status in ["diverged", "behind"] {
            let cmp: Comparison = serde_json::from_value(json!({
                "status": status, "files": [{ "filename": "a", "status": "added" }]
            }))
            .unwrap();
            assert_eq!(cmp.changed_files(), None, "{status}");
        }
        let files: Vec<_> = (0..COMPARE_FILE_LIMIT)
            .map(|i| json!({ "filename": format!("f{i}"), "status": "added" }))
            .collect();
        let capped: Comparison = serde_json::from_value(json!({ "status": "ahead", "files": files })).unwrap();
        assert_eq!(capped.changed_files(), None);
        let one_less: Comparison = serde_json::from_value(json!({ "status": "ahead", "files": files[1..] })).unwrap();
        assert_eq!(one_less.changed_files().unwrap().len(), COMPARE_FILE_LIMIT - 1);
        let no_files: Comparison = serde_json::from_value(json!({ "status": "ahead" })).unwrap();
        assert_eq!(no_files.changed_files(), None);
    }

    #[test]
    fn contents_decode() {
        // GitHub wraps base64 at 60 columns and ends with a newline.
        let text = "FROM scratch\nCOPY hello.txt /hello.txt\nLABEL a=b c=d e=f g=h\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        let wrapped: Vec<String> = encoded
            .as_bytes()
            .chunks(60)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        assert!(wrapped.len() > 1);
        let body = json!({
            "type": "file", "encoding": "base64", "size": text.len(), "name": "Dockerfile",
            "path": "web/Dockerfile", "content": format!("{}\n", wrapped.join("\n")), "sha": "x"
        });
        assert_eq!(contents(&body), Ok(Contents::File(text.as_bytes().to_vec())));
        let empty = json!({ "type": "file", "encoding": "base64", "content": "" });
        assert_eq!(contents(&empty), Ok(Contents::File(vec![])));
        let large = json!({ "type": "file", "encoding": "none", "content": "", "size": 2_000_000 });
        assert_eq!(contents(&large), Ok(Contents::TooLargeForJson));
        assert_eq!(
            contents(&json!([{ "type": "file", "name": "a" }])),
            Ok(Contents::NotAFile)
        );
        assert_eq!(contents(&json!({ "type": "submodule" })), Ok(Contents::NotAFile));
        assert_eq!(
            contents(&json!({ "type": "symlink", "target": "x" })),
            Ok(Contents::NotAFile)
        );
        assert!(contents(&json!({ "type": "file", "encoding": "base64", "content": "!!" })).is_err());
        assert!(contents(&json!({ "type": "file", "encoding": "rot13", "content": "" })).is_err());
    }

    #[test]
    fn tree_diff_is_exact() {
        let base = [
            file("Dockerfile", "1"),
            file("web/Dockerfile", "2"),
            file("chrome/beta/Dockerfile", "3"),
            file("lib/util.sh", "4"),
        ];
        let head = [
            file("Dockerfile", "1"),
            file("web/Dockerfile", "2b"),
            file("browsers/beta/Dockerfile", "3"),
            file("api/Dockerfile", "5"),
        ];
        assert_eq!(
            tree_diff(&base, &head),
            [
                changed("api/Dockerfile", None, false),
                changed("browsers/beta/Dockerfile", None, false),
                changed("chrome/beta/Dockerfile", None, true),
                changed("lib/util.sh", None, true),
                changed("web/Dockerfile", None, false),
            ]
        );
        assert_eq!(tree_diff(&base, &base), []);
        assert_eq!(tree_diff(&[], &base[..1]), [changed("Dockerfile", None, false)]);
        assert_eq!(tree_diff(&base[..1], &[]), [changed("Dockerfile", None, true)]);
    }
}
