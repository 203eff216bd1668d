//! What a Git host answers about a repository at a commit: its files, the changes between
//! two commits, and why it could not answer. Plain data: the source host port
//! ([`crate::ports::SourceHost`]) and its adapters speak in these.

use std::fmt;

/// The file an image is built from, at the top of its directory (its build context).
pub const DOCKERFILE: &str = "Dockerfile";

/// The Dockerfile of a directory ("." for the repository root), as a path from the root.
pub fn dockerfile_of(dir: &str) -> String {
    if dir == "." {
        DOCKERFILE.to_owned()
    } else {
        format!("{dir}/{DOCKERFILE}")
    }
}

/// The directory whose Dockerfile `path` is, if it names one ("." for the root's).
pub fn dockerfile_dir(path: &str) -> Option<&str> {
    match path.rsplit_once('/') {
        Some((dir, DOCKERFILE)) => Some(dir),
        None if path == DOCKERFILE => Some("."),
        _ => None,
    }
}

/// The directory of a path, "." for the root.
pub fn directory_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(".", |(dir, _)| dir)
}

/// A git object id (SHA-1, the only kind GitHub serves), held as its 20 bytes rather than
/// 40 hexadecimal characters: a large repository's tree holds half a million of them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 20]);

impl ObjectId {
    /// From 40 hexadecimal digits (either case); `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let mut bytes = [0u8; 20];
        (hex.len() == 40 && hex::decode_to_slice(hex, &mut bytes).is_ok()).then_some(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl From<[u8; 20]> for ObjectId {
    fn from(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }
}

impl std::str::FromStr for ObjectId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s).ok_or_else(|| format!("{s:?} is not a git object id (40 hexadecimal digits)"))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

/// What kind of file a tree entry is, from its git mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// Mode 100644 (and the legacy 100664).
    Regular,
    /// Mode 100755.
    Executable,
    /// Mode 120000: the content is the link's target, a path. A symlink named `Dockerfile`
    /// or `.dockhand.yml` is not one: following it could read outside the directory, or
    /// outside the repository.
    Symlink,
}

impl FileKind {
    /// The kind of a file entry's mode (`100644`, `100755`, `120000`); `None` for modes
    /// that are not files (`040000` trees, `160000` submodules).
    pub fn from_mode(mode: &str) -> Option<Self> {
        match mode {
            "100644" | "100664" => Some(FileKind::Regular),
            "100755" => Some(FileKind::Executable),
            "120000" => Some(FileKind::Symlink),
            _ => None,
        }
    }
}

/// One file of a repository at a commit (a blob: a regular file, an executable or a
/// symlink; trees are walked, not listed). Compact, because the spawner holds every file
/// of the pushed commit at once: 40 bytes and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Repository-relative, `/`-separated, never starting with `/`.
    pub path: Box<str>,
    /// The git object id of the content: equal ids mean equal content.
    pub sha: ObjectId,
    pub kind: FileKind,
}

impl TreeFile {
    pub fn new(path: impl Into<Box<str>>, sha: ObjectId, kind: FileKind) -> Self {
        Self {
            path: path.into(),
            sha,
            kind,
        }
    }

    pub fn is_symlink(&self) -> bool {
        self.kind == FileKind::Symlink
    }
}

/// Every file of a repository at a commit, and the ids of its directories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub files: Vec<TreeFile>,
    /// `(directory, tree id)`, "." for the root: a directory's tree id is the same at two
    /// commits exactly when everything below it is. Empty when the host's listing carried
    /// none (`git ls-tree -r` without `-t`, or `--name-only`).
    pub trees: Vec<(Box<str>, ObjectId)>,
}

impl Listing {
    /// The tree id of `dir` ("." for the root), when the listing carried it.
    pub fn tree_id(&self, dir: &str) -> Option<ObjectId> {
        self.trees.iter().find(|(d, _)| &**d == dir).map(|(_, id)| *id)
    }
}

/// One path a comparison of two commits found changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFile {
    /// The path at the head commit (for a removal, the path that was removed).
    pub path: String,
    /// For a rename or a copy, the path at the base commit.
    pub previous_path: Option<String>,
    /// True when `path` no longer exists at the head commit.
    pub removed: bool,
}

/// Why the source host could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// 404: the repository, commit or path is unknown, or the repository is private and
    /// the request carried no token (GitHub answers 404, not 403, then).
    #[error("not found: {0}")]
    NotFound(String),
    /// 401, or 403 not caused by a rate limit: the token is wrong or lacks access.
    #[error("access denied: {0}")]
    Denied(String),
    /// The rate limit is spent until `reset` (Unix seconds), after any wait the adapter
    /// was willing to make.
    #[error("rate limited until {reset} (Unix time): {detail}")]
    RateLimited { reset: u64, detail: String },
    /// 5xx, a timeout or a connection failure that outlasted the bounded retries, or an
    /// answer that could not be read.
    #[error("{0}")]
    Unavailable(String),
    /// The answer needs more than the adapter's bounds allow (the requests or the time of
    /// a tree walk): asking again would meet the same bounds, so a person must act.
    #[error("{0}")]
    OverBudget(String),
    /// The file is larger than the `max_bytes` its reader allows; `size` when the host said
    /// how large (otherwise only that it is larger was read).
    #[error("{path} is larger than the {limit} bytes allowed")]
    FileTooLarge {
        path: String,
        limit: usize,
        size: Option<u64>,
    },
}
