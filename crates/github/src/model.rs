//! GitHub's JSON answers, the parts dockhand reads, and what they mean as [`TreeFile`]s and
//! [`ChangedFile`]s. Pure: no I/O, so every mapping is tested here.

use base64::Engine as _;
use dockhand_core::tree::{ChangedFile, FileKind, ObjectId, TreeFile};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// GitHub lists at most this many files in a comparison; a list this long may be cut.
pub const COMPARE_FILE_LIMIT: usize = 300;

/// `GET /repos/{owner}/{repo}/git/trees/{tree_sha}`, read in place: paths borrow from the
/// answer's bytes and ids are 20 bytes, because a listing can hold 100,000 entries.
#[derive(Debug, Deserialize)]
pub struct Tree<'a> {
    /// The listed tree's own id: for a listing asked by commit id, the commit's root tree.
    /// `None` when absent or not an id: the images there are then keyed on the commit.
    #[serde(default, deserialize_with = "optional_object_id")]
    pub sha: Option<ObjectId>,
    #[serde(borrow)]
    pub tree: Vec<TreeEntry<'a>>,
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Debug, Deserialize)]
pub struct TreeEntry<'a> {
    /// Relative to the listed tree. Borrowed unless the JSON escapes a character in it.
    #[serde(borrow)]
    pub path: Cow<'a, str>,
    /// The kind of file its mode says (`100644`, `100755`, `120000`); `None` for trees
    /// (`040000`) and submodules (`160000`).
    #[serde(deserialize_with = "file_kind")]
    pub mode: Option<FileKind>,
    #[serde(rename = "type")]
    pub kind: EntryType,
    #[serde(deserialize_with = "object_id")]
    pub sha: ObjectId,
}

/// An entry's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    /// Files and symlinks (mode 120000).
    Blob,
    /// Directories.
    Tree,
    /// Submodules.
    Commit,
    #[serde(other)]
    Other,
}

impl TreeEntry<'_> {
    /// The file this entry is, under `dir`; `None` for anything but a blob.
    pub fn file(&self, dir: &str) -> Option<TreeFile> {
        (self.kind == EntryType::Blob).then(|| TreeFile {
            path: join(dir, &self.path),
            sha: self.sha,
            kind: self.mode.unwrap_or(FileKind::Regular),
        })
    }
}

impl Tree<'_> {
    /// The files of this listing (blobs: regular files, executables and symlinks), their
    /// paths under `dir` (`""` for the repository's root).
    pub fn files(&self, dir: &str) -> impl Iterator<Item = TreeFile> {
        self.tree.iter().filter_map(move |e| e.file(dir))
    }

    /// The directories of this listing, `(path under dir, tree id)`.
    pub fn subtrees(&self, dir: &str) -> Vec<(String, ObjectId)> {
        self.tree
            .iter()
            .filter(|e| e.kind == EntryType::Tree)
            .map(|e| (join(dir, &e.path).into_string(), e.sha))
            .collect()
    }
}

/// `dir/path`, allocated once at its exact length.
pub fn join(dir: &str, path: &str) -> Box<str> {
    if dir.is_empty() {
        return path.into();
    }
    let mut joined = String::with_capacity(dir.len() + 1 + path.len());
    joined.push_str(dir);
    joined.push('/');
    joined.push_str(path);
    joined.into_boxed_str()
}

fn object_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ObjectId, D::Error> {
    struct Id;
    impl Visitor<'_> for Id {
        type Value = ObjectId;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a git object id (40 hexadecimal digits)")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<ObjectId, E> {
            ObjectId::from_hex(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
    deserializer.deserialize_str(Id)
}

fn optional_object_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<ObjectId>, D::Error> {
    let text: Option<Cow<'de, str>> = Option::deserialize(deserializer)?;
    Ok(text.and_then(|t| ObjectId::from_hex(&t)))
}

fn file_kind<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<FileKind>, D::Error> {
    struct Mode;
    impl Visitor<'_> for Mode {
        type Value = Option<FileKind>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a git mode such as \"100644\"")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<FileKind>, E> {
            Ok(FileKind::from_mode(v))
        }
    }
    deserializer.deserialize_str(Mode)
}

/// `GET /repos/{owner}/{repo}/compare/{base}...{head}`.
/// `GET /repos/{owner}/{repo}`, what dockhand reads of it.
#[derive(Debug, Deserialize)]
pub struct Repository {
    pub full_name: String,
    pub name: String,
    pub private: bool,
    pub default_branch: String,
}

/// `GET /repos/{owner}/{repo}/commits/{ref}`, what dockhand reads of it.
#[derive(Debug, Deserialize)]
pub struct CommitAnswer {
    pub sha: String,
    pub commit: GitCommit,
}

#[derive(Debug, Deserialize)]
pub struct GitCommit {
    pub message: String,
    #[serde(default)]
    pub author: Option<GitAuthor>,
}

#[derive(Debug, Deserialize)]
pub struct GitAuthor {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
}

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
    /// A file over 1 MB: GitHub sends no content (`"encoding": "none"`); ask for the raw
    /// media type. Its size in bytes, when the answer says it.
    TooLargeForJson { size: Option<u64> },
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
        Some("none") => Ok(Contents::TooLargeForJson {
            size: body["size"].as_u64(),
        }),
        // A file with no content field at all is one to ask for raw, too.
        None if body.get("content").is_none() => Ok(Contents::TooLargeForJson {
            size: body["size"].as_u64(),
        }),
        other => Err(format!("unknown content encoding {other:?}")),
    }
}

/// The exact difference of two complete trees, by path, blob id and kind of file: a path
/// only at `head` was added, one only at `base` removed, one at both with a different id or
/// kind (`chmod +x`, a file become a symlink) modified, as `git diff --no-renames` says.
/// Renames show as a removal and an addition. Sorted by path.
pub fn tree_diff(base: &[TreeFile], head: &[TreeFile]) -> Vec<ChangedFile> {
    // A merge of the two sorted lists: no map of either tree.
    fn sorted(files: &[TreeFile]) -> Vec<&TreeFile> {
        let mut refs: Vec<&TreeFile> = files.iter().collect();
        refs.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        refs.dedup_by(|a, b| a.path == b.path);
        refs
    }
    let (base, head) = (sorted(base), sorted(head));
    let change = |f: &TreeFile, removed: bool| ChangedFile {
        path: f.path.to_string(),
        previous_path: None,
        removed,
    };
    let mut changes = Vec::new();
    let (mut b, mut h) = (base.iter().peekable(), head.iter().peekable());
    loop {
        match (b.peek(), h.peek()) {
            (None, None) => break,
            (Some(old), Some(new)) if old.path == new.path => {
                if (old.sha, old.kind) != (new.sha, new.kind) {
                    changes.push(change(new, false));
                }
                b.next();
                h.next();
            }
            (Some(old), Some(new)) if old.path < new.path => {
                changes.push(change(old, true));
                b.next();
            }
            (Some(old), None) => {
                changes.push(change(old, true));
                b.next();
            }
            (_, Some(new)) => {
                changes.push(change(new, false));
                h.next();
            }
        }
    }
    changes
}

/// What one level of two trees (the entries of one directory at each commit, listed without
/// `recursive`) says about their difference.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LevelDiff {
    /// Files of this directory added, removed or modified.
    pub changed: Vec<ChangedFile>,
    /// Directories at both commits whose trees differ: `(path, base tree, head tree)`.
    /// Directories with the same tree id are the same, every file below them too.
    pub differing: Vec<(String, ObjectId, ObjectId)>,
    /// Directories only at the head commit: every file below them was added.
    pub added: Vec<(String, ObjectId)>,
    /// Directories only at the base commit: every file below them was removed.
    pub removed: Vec<(String, ObjectId)>,
}

/// Compares the entries of the directory `dir` at two commits.
pub fn level_diff(dir: &str, base: &Tree, head: &Tree) -> LevelDiff {
    type Entries<'t> = HashMap<(&'t str, EntryType), (ObjectId, Option<FileKind>)>;
    fn index<'t>(tree: &'t Tree<'_>) -> Entries<'t> {
        tree.tree
            .iter()
            .map(|e| ((&*e.path, e.kind), (e.sha, e.mode)))
            .collect()
    }
    let (base_entries, head_entries) = (index(base), index(head));
    let mut diff = LevelDiff::default();
    for (side, other, at_head) in [(base, &head_entries, false), (head, &base_entries, true)] {
        for entry in &side.tree {
            let path = || join(dir, &entry.path).into_string();
            let there = other.get(&(&*entry.path, entry.kind));
            match (entry.kind, there) {
                (EntryType::Blob, None) => diff.changed.push(ChangedFile {
                    path: path(),
                    previous_path: None,
                    removed: !at_head,
                }),
                (EntryType::Blob, Some(&(sha, mode))) if at_head && (sha, mode) != (entry.sha, entry.mode) => {
                    diff.changed.push(ChangedFile {
                        path: path(),
                        previous_path: None,
                        removed: false,
                    })
                }
                (EntryType::Tree, None) if at_head => diff.added.push((path(), entry.sha)),
                (EntryType::Tree, None) => diff.removed.push((path(), entry.sha)),
                (EntryType::Tree, Some(&(sha, _))) if at_head && sha != entry.sha => {
                    diff.differing.push((path(), sha, entry.sha))
                }
                // The same; or a submodule, which is not a file; or what GitHub may add.
                _ => {}
            }
        }
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A 40-digit id from a short hexadecimal tag.
    fn oid(tag: &str) -> ObjectId {
        ObjectId::from_hex(&format!("{tag:0>40}")).unwrap()
    }

    fn file(path: &str, sha: &str) -> TreeFile {
        TreeFile::new(path, oid(sha), FileKind::Regular)
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
        let answer = json!({
            "sha": "9fb037999f264ba9a7fc6274d15fa3ae2ab98312",
            "url": "https://api.github.com/repos/octocat/Hello-World/trees/9fb037999f264ba9a7fc6274d15fa3ae2ab98312",
            "tree": [
                { "path": "Dockerfile", "mode": "100644", "type": "blob", "size": 30, "sha": oid("aa").to_string(), "url": "u" },
                { "path": "web", "mode": "040000", "type": "tree", "sha": oid("bb").to_string(), "url": "u" },
                { "path": "web/Dockerfile", "mode": "100755", "type": "blob", "size": 3, "sha": oid("cc").to_string(), "url": "u" },
                { "path": "web/current", "mode": "120000", "type": "blob", "size": 9, "sha": oid("dd").to_string(), "url": "u" },
                { "path": "vendor/lib", "mode": "160000", "type": "commit", "sha": oid("ee").to_string() },
                { "path": "wéb/\"q\"", "mode": "100644", "type": "blob", "sha": oid("ff").to_string() }
            ],
            "truncated": false
        })
        .to_string();
        let tree: Tree = serde_json::from_str(&answer).unwrap();
        assert!(!tree.truncated);
        // Paths borrow from the answer unless escaped.
        assert!(matches!(tree.tree[0].path, Cow::Borrowed(_)));
        assert_eq!(
            tree.files("").collect::<Vec<_>>(),
            [
                file("Dockerfile", "aa"),
                TreeFile::new("web/Dockerfile", oid("cc"), FileKind::Executable),
                TreeFile::new("web/current", oid("dd"), FileKind::Symlink),
                file("wéb/\"q\"", "ff"),
            ]
        );
        assert!(tree.files("").nth(2).unwrap().is_symlink());
        assert_eq!(tree.files("chrome").next().unwrap(), file("chrome/Dockerfile", "aa"));
        assert_eq!(tree.subtrees("a/b"), [("a/b/web".to_owned(), oid("bb"))]);
        let truncated: Tree = serde_json::from_str(r#"{ "sha": "x", "tree": [], "truncated": true }"#).unwrap();
        assert!(truncated.truncated);
        // An id that is not one is an answer that cannot be read.
        let bad = r#"{ "tree": [{ "path": "a", "mode": "100644", "type": "blob", "sha": "aa" }] }"#;
        assert!(serde_json::from_str::<Tree>(bad).is_err());
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
        assert_eq!(
            contents(&large),
            Ok(Contents::TooLargeForJson { size: Some(2_000_000) })
        );
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
        // The order given does not matter.
        let mut reversed = head.clone();
        reversed.reverse();
        assert_eq!(tree_diff(&base, &reversed), tree_diff(&base, &head));
    }

    #[test]
    fn a_changed_kind_of_file_is_a_modification() {
        // `chmod +x`, or a file replaced by a symlink with the same content: git diff shows both.
        let base = [file("run.sh", "1"), file("Dockerfile", "2")];
        let head = [
            TreeFile::new("run.sh", oid("1"), FileKind::Executable),
            TreeFile::new("Dockerfile", oid("2"), FileKind::Symlink),
        ];
        assert_eq!(
            tree_diff(&base, &head),
            [changed("Dockerfile", None, false), changed("run.sh", None, false)]
        );
    }

    #[test]
    fn one_level_of_two_trees() {
        let listing = |entries: serde_json::Value| json!({ "tree": entries, "truncated": false }).to_string();
        let entry = |path: &str, mode: &str, kind: &str, sha: &str| json!({ "path": path, "mode": mode, "type": kind, "sha": oid(sha).to_string() });
        let base = listing(json!([
            entry("Dockerfile", "100644", "blob", "1"),
            entry("run.sh", "100644", "blob", "2"),
            entry("same", "040000", "tree", "3"),
            entry("changed", "040000", "tree", "4"),
            entry("gone", "040000", "tree", "5"),
            entry("old.txt", "100644", "blob", "6"),
            entry("was-a-file", "100644", "blob", "7"),
            entry("vendor", "160000", "commit", "8"),
        ]));
        let head = listing(json!([
            entry("Dockerfile", "100644", "blob", "1"),
            entry("run.sh", "100755", "blob", "2"),
            entry("same", "040000", "tree", "3"),
            entry("changed", "040000", "tree", "4b"),
            entry("new", "040000", "tree", "9"),
            entry("was-a-file", "040000", "tree", "a"),
            entry("vendor", "160000", "commit", "8b"),
        ]));
        let (base, head): (Tree, Tree) = (
            serde_json::from_str(&base).unwrap(),
            serde_json::from_str(&head).unwrap(),
        );
        let mut diff = level_diff("x", &base, &head);
        diff.changed.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(
            diff,
            LevelDiff {
                changed: vec![
                    changed("x/old.txt", None, true),
                    changed("x/run.sh", None, false),
                    changed("x/was-a-file", None, true),
                ],
                differing: vec![("x/changed".into(), oid("4"), oid("4b"))],
                added: vec![("x/new".into(), oid("9")), ("x/was-a-file".into(), oid("a"))],
                removed: vec![("x/gone".into(), oid("5"))],
            }
        );
        assert_eq!(level_diff("", &head, &head), LevelDiff::default());
    }
}
