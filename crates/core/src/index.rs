//! Which directories hold a Dockerfile at the pushed commit.

use crate::request::Changes;
use crate::tree::{FileKind, Listing, ObjectId, TreeFile, dockerfile_dir};
use std::collections::{BTreeMap, BTreeSet};

/// What an index knows about one directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Present,
    /// The push removed this directory's Dockerfile.
    Removed,
    Absent,
    Unknown,
}

/// A source of truth about Dockerfiles. Directories are repository-relative, "." for the root.
pub trait DockerfileIndex {
    fn presence(&self, dir: &str) -> Presence;
    /// The directory a change in `dir` is assumed to affect when no ancestor is known to hold
    /// a Dockerfile; `None` when the index knows better than to guess.
    fn assumed_context(&self, _dir: &str) -> Option<String> {
        None
    }
    /// Every directory holding a Dockerfile, when the index can list them.
    fn all(&self) -> Option<Vec<String>>;
    /// How this index came to know what it knows, for skip reasons.
    fn describe(&self) -> &'static str;
    /// The git tree id of the directory `dir` at the commit, when the index knows it: what
    /// an image's key is made of ([`crate::image_key`]).
    fn tree_id(&self, _dir: &str) -> Option<ObjectId> {
        None
    }
}

/// The payload-only index: knows the Dockerfiles the push itself names, and otherwise
/// assumes the established convention of one image per top-level directory (the build
/// skips cleanly if that Dockerfile is not there).
#[derive(Debug, Clone, Default)]
pub struct PushIndex {
    present: BTreeSet<String>,
    removed: BTreeSet<String>,
}

impl PushIndex {
    pub fn new(changes: &Changes) -> Self {
        let removed: BTreeSet<String> = changes
            .removed
            .iter()
            .filter_map(|p| dockerfile_dir(p).map(str::to_owned))
            .collect();
        let present = changes
            .paths
            .iter()
            .filter_map(|p| dockerfile_dir(p).map(str::to_owned))
            .filter(|d| !removed.contains(d))
            .collect();
        Self { present, removed }
    }
}

impl DockerfileIndex for PushIndex {
    fn presence(&self, dir: &str) -> Presence {
        if self.present.contains(dir) {
            Presence::Present
        } else if self.removed.contains(dir) {
            Presence::Removed
        } else {
            Presence::Unknown
        }
    }

    fn assumed_context(&self, dir: &str) -> Option<String> {
        (dir != ".").then(|| dir.split('/').next().unwrap_or(dir).to_owned())
    }

    fn all(&self) -> Option<Vec<String>> {
        None
    }

    fn describe(&self) -> &'static str {
        "the push payload"
    }
}

/// The exact index: every file at the commit, from the source host or `git ls-tree -r
/// <commit>`. A symlink named `Dockerfile` is not a Dockerfile: its directory has none.
#[derive(Debug, Clone, Default)]
pub struct TreeIndex {
    /// Every directory holding a Dockerfile, with its tree id when the listing had it.
    dirs: BTreeMap<String, Option<ObjectId>>,
}

impl TreeIndex {
    /// From `git ls-tree -r [-t] <commit>` output: see [`listing_from_ls_tree`].
    pub fn from_ls_tree(listing: &str) -> Self {
        Self::from_listing(&listing_from_ls_tree(listing))
    }

    /// From the source host's listing: the Dockerfile directories and their tree ids (the
    /// others' ids are not kept: a large tree has hundreds of thousands).
    pub fn from_listing(listing: &Listing) -> Self {
        let mut index = Self::from_files(&listing.files);
        let trees: BTreeMap<&str, ObjectId> = listing.trees.iter().map(|(d, id)| (&**d, *id)).collect();
        for (dir, id) in &mut index.dirs {
            *id = trees.get(dir.as_str()).copied();
        }
        index
    }

    /// From the source host's listing of the commit.
    pub fn from_files(files: &[TreeFile]) -> Self {
        Self::from_paths(files.iter().filter(|f| !f.is_symlink()).map(|f| &*f.path))
    }

    /// From every file path at the commit, repository-relative (symlinks left out).
    pub fn from_paths<S: AsRef<str>>(paths: impl IntoIterator<Item = S>) -> Self {
        let dirs = paths
            .into_iter()
            .filter_map(|p| dockerfile_dir(p.as_ref()).map(|d| (d.to_owned(), None)))
            .collect();
        Self { dirs }
    }
}

impl DockerfileIndex for TreeIndex {
    fn presence(&self, dir: &str) -> Presence {
        if self.dirs.contains_key(dir) {
            Presence::Present
        } else {
            Presence::Absent
        }
    }

    fn all(&self) -> Option<Vec<String>> {
        Some(self.dirs.keys().cloned().collect())
    }

    fn describe(&self) -> &'static str {
        "the repository tree"
    }

    fn tree_id(&self, dir: &str) -> Option<ObjectId> {
        self.dirs.get(dir).copied().flatten()
    }
}

/// The files of `git ls-tree -r <commit>` output: see [`listing_from_ls_tree`].
pub fn files_from_ls_tree(listing: &str) -> Vec<TreeFile> {
    listing_from_ls_tree(listing).files
}

/// The files and directories of `git ls-tree -r <commit>` output (`<mode> SP <type> SP
/// <object> TAB <path>`, with `-l` a size before the tab, with `-z` NUL-terminated and
/// unquoted), which tells symlinks apart, or of `--name-only` output, which cannot (every
/// path is then a regular file, so a symlinked Dockerfile counts as one). Submodules are
/// left out. With `-t` the directories' tree ids are read too; git never lists the root
/// itself, so a record `040000 tree <id> TAB .` (from `git rev-parse <commit>^{tree}`) gives
/// the root's. An object id that is not SHA-1 (or a name-only listing's missing one) reads
/// as zeros for a file and is left out for a directory: planning reads paths and kinds,
/// and a key is never made of an id that is not known.
pub fn listing_from_ls_tree(listing: &str) -> Listing {
    let nul = listing.contains('\0');
    let mut files = Vec::new();
    let mut trees = Vec::new();
    let records = listing
        .split(if nul { '\0' } else { '\n' })
        .map(|r| r.strip_suffix('\r').unwrap_or(r))
        .filter(|r| !r.is_empty());
    for record in records {
        match ls_tree_entry(record) {
            Some((Entry::File(kind), id, path)) => files.push(TreeFile::new(
                quoted(path, nul),
                ObjectId::from_hex(id).unwrap_or([0; 20].into()),
                kind,
            )),
            Some((Entry::Tree, id, path)) => {
                if let Some(id) = ObjectId::from_hex(id) {
                    trees.push((quoted(path, nul).into_boxed_str(), id));
                }
            }
            // A submodule: not a file that can be a Dockerfile.
            Some((Entry::Other, _, _)) => {}
            None => files.push(TreeFile::new(quoted(record, nul), [0; 20].into(), FileKind::Regular)),
        }
    }
    trees.sort_unstable();
    Listing { files, trees }
}

/// What one record of `git ls-tree` is.
enum Entry {
    File(FileKind),
    Tree,
    /// A submodule, or a blob with a mode that is not a file's.
    Other,
}

/// A record of `git ls-tree` without `--name-only`: what it is, its object id and its
/// path, still quoted. `None` when the record is not in that format, so a plain path.
fn ls_tree_entry(record: &str) -> Option<(Entry, &str, &str)> {
    let (meta, path) = record.split_once('\t')?;
    let mut fields = meta.split_whitespace();
    let (mode, kind, id) = (fields.next()?, fields.next()?, fields.next()?);
    let size_ok = fields
        .next()
        .is_none_or(|size| size == "-" || size.bytes().all(|b| b.is_ascii_digit()));
    let well_formed = mode.len() == 6
        && mode.bytes().all(|b| b.is_ascii_digit())
        && ["blob", "tree", "commit"].contains(&kind)
        && matches!(id.len(), 40 | 64)
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && size_ok
        && fields.next().is_none();
    // git quotes a path holding a tab, so a raw tab is the format's separator.
    let entry = match (kind, FileKind::from_mode(mode)) {
        ("blob", Some(file)) => Entry::File(file),
        ("tree", _) => Entry::Tree,
        _ => Entry::Other,
    };
    well_formed.then_some((entry, id, path))
}

/// A listing's path: `-z` output is never quoted.
fn quoted(path: &str, nul: bool) -> String {
    if nul { path.to_owned() } else { unquote(path) }
}

/// Undoes git's C-style quoting of unusual paths (`core.quotePath`): `"a\tb/\303\251"`.
pub(crate) fn unquote(line: &str) -> String {
    let Some(inner) = line.strip_prefix('"').and_then(|l| l.strip_suffix('"')) else {
        return line.to_owned();
    };
    let mut bytes = Vec::with_capacity(inner.len());
    let mut it = inner.bytes().peekable();
    while let Some(b) = it.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match it.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(b'r') => bytes.push(b'\r'),
            Some(b'a') => bytes.push(7),
            Some(b'b') => bytes.push(8),
            Some(b'f') => bytes.push(12),
            Some(b'v') => bytes.push(11),
            Some(d @ b'0'..=b'7') => {
                let mut value = u32::from(d - b'0');
                for _ in 0..2 {
                    if let Some(&n @ b'0'..=b'7') = it.peek() {
                        value = value * 8 + u32::from(n - b'0');
                        it.next();
                    }
                }
                bytes.push(value as u8);
            }
            Some(other) => bytes.push(other),
            None => bytes.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_index_knows_named_dockerfiles_and_assumes_top_level() {
        let changes = Changes {
            paths: vec![
                "Dockerfile".into(),
                "a/b/Dockerfile".into(),
                "c/Dockerfile".into(),
                "d/x".into(),
            ],
            removed: vec!["c/Dockerfile".into()],
            directories: vec![],
            source: Default::default(),
        };
        let i = PushIndex::new(&changes);
        assert_eq!(i.presence("."), Presence::Present);
        assert_eq!(i.presence("a/b"), Presence::Present);
        assert_eq!(i.presence("c"), Presence::Removed);
        assert_eq!(i.presence("d"), Presence::Unknown);
        assert_eq!(i.assumed_context("d/e/f").as_deref(), Some("d"));
        assert_eq!(i.assumed_context("."), None);
        assert_eq!(i.all(), None);
    }

    #[test]
    fn tree_index_reads_ls_tree_output() {
        let listing = "Dockerfile\nREADME.md\nweb/Dockerfile\nweb/app.py\ntools/lint/Dockerfile\nnotes/Dockerfile.md\n\"sp\\303\\251cial/Dockerfile\"\n";
        let i = TreeIndex::from_ls_tree(listing);
        assert_eq!(i.all().unwrap(), [".", "spécial", "tools/lint", "web"]);
        assert_eq!(i.presence("notes"), Presence::Absent);
        assert_eq!(i.assumed_context("x"), None);
    }

    #[test]
    fn tree_index_reads_full_ls_tree_output_and_leaves_symlinks_out() {
        let id = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";
        let listing = format!(
            "100644 blob {id}\tDockerfile\n100755 blob {id}\tbin/Dockerfile\n120000 blob {id}\tweb/Dockerfile\n160000 commit {id}\tvendor/Dockerfile\n100644 blob {id}\t\"sp\\303\\251cial/Dockerfile\"\n100644 blob {id}\tweb/app.py\n"
        );
        let i = TreeIndex::from_ls_tree(&listing);
        assert_eq!(i.all().unwrap(), [".", "bin", "spécial"]);
        assert_eq!(i.presence("web"), Presence::Absent);
        // `-l` (sizes), `-t` (trees) and `-z` (NUL-separated, unquoted), and CRLF endings.
        let long = format!(
            "040000 tree {id}       -\tapi\r\n100644 blob {id}     120\tapi/Dockerfile\r\n120000 blob {id}       9\tdb/Dockerfile\r\n"
        );
        assert_eq!(TreeIndex::from_ls_tree(&long).all().unwrap(), ["api"]);
        let z = format!("100644 blob {id}\ta\tb/Dockerfile\x00120000 blob {id}\tc/Dockerfile\x00");
        assert_eq!(TreeIndex::from_ls_tree(&z).all().unwrap(), ["a\tb"]);
        // A name-only path that happens to hold spaces is a path.
        assert_eq!(
            TreeIndex::from_ls_tree("100644 blob x/Dockerfile\n").all().unwrap(),
            ["100644 blob x"]
        );
    }

    #[test]
    fn tree_index_from_host_files_and_paths() {
        let files: Vec<TreeFile> = [
            ("Dockerfile", FileKind::Regular),
            ("a/b/Dockerfile", FileKind::Executable),
            ("a/b/x", FileKind::Regular),
            ("c/Dockerfile.dev", FileKind::Regular),
            ("d/Dockerfile", FileKind::Symlink),
        ]
        .iter()
        .map(|(p, kind)| TreeFile::new(*p, [0; 20].into(), *kind))
        .collect();
        let i = TreeIndex::from_files(&files);
        assert_eq!(i.all().unwrap(), [".", "a/b"]);
        assert_eq!(i.presence("d"), Presence::Absent);
        assert_eq!(TreeIndex::from_paths(["x/Dockerfile"]).all().unwrap(), ["x"]);
    }

    #[test]
    fn unquoting() {
        assert_eq!(unquote(r#""a\tb\"c\\d\101""#), "a\tb\"c\\dA");
        assert_eq!(unquote("plain"), "plain");
    }
}
