//! `.dockhand.yml`: a repository's own refinements of its builds, read at the pushed commit.
//!
//! The file comes from the repository, so it is untrusted input, parsed strictly: an unknown
//! key, a value of the wrong type or an invalid value is an error naming its line and what
//! to write instead, because a file silently half-applied builds the wrong images. Anchors,
//! aliases and tags are refused (nothing here needs them, and aliases are how a small file
//! becomes a huge document). Nothing from the file ever becomes shell or YAML text: tags
//! are checked against Docker's grammar, ignored directories against the path rules, and
//! build arguments travel to the build in one environment variable
//! ([`RepoConfig::build_args_env`]) that the buildspec only expands inside double quotes.
//!
//! ```yaml
//! naming: suite          # or path: overrides the deployment's preset
//! tags: [nightly]        # added to every image this push builds
//! build_args:            # docker build --build-arg KEY=value, for every image
//!   BASE_VERSION: "3.20"
//! ignore: [docs, .github] # changes under these directories build nothing
//! platforms: [linux/amd64, linux/arm64] # overrides the deployment's platforms
//! rebuild: always        # or auto (default): always build, never re-tag an unchanged image
//! description:           # with the deployment's hub_description: each directory's file
//!   web: docs/web.md     # for its Docker Hub description (default: its own README.md)
//! ```

use crate::config::Naming;
use crate::docker_ref::validate_tag;
use std::fmt;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where the file lives, relative to the repository root.
pub const REPO_CONFIG_PATH: &str = ".dockhand.yml";
/// Larger files are refused before parsing.
pub const MAX_FILE_BYTES: usize = 64 * 1024;
pub const MAX_TAGS: usize = 10;
pub const MAX_BUILD_ARGS: usize = 50;
pub const MAX_BUILD_ARG_NAME_BYTES: usize = 128;
pub const MAX_BUILD_ARG_VALUE_BYTES: usize = 4096;
/// The whole `DOCKHAND_BUILD_ARGS` value.
pub const MAX_BUILD_ARGS_BYTES: usize = 16 * 1024;
pub const MAX_IGNORE: usize = 100;
pub const MAX_DESCRIPTIONS: usize = 100;
/// A description file's path, repository-relative.
pub const MAX_DESCRIPTION_PATH_BYTES: usize = 1024;
/// The file an image's Docker Hub description comes from, in its Dockerfile's directory,
/// unless `description:` names another.
pub const DEFAULT_DESCRIPTION_FILE: &str = "README.md";
/// The schema is two levels deep; anything deeper is a mistake (or an attack).
const MAX_DEPTH: usize = 3;
const KEYS: &str = "naming, tags, build_args, ignore, cache, platforms, rebuild, description";

/// The repository's settings; `Default` is what an absent file means.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoConfig {
    /// Overrides the deployment's naming preset.
    pub naming: Option<Naming>,
    /// Extra tags for every image of the push, after the ref rules' tags.
    pub tags: Vec<String>,
    /// `docker build --build-arg` pairs, in the file's order.
    pub build_args: Vec<(String, String)>,
    /// Directories whose changes build nothing, without a trailing `/`.
    pub ignore: Vec<String>,
    /// Turns the deployment's registry cache off (`false`) or on (`true`) for this
    /// repository's images; absent, the deployment decides.
    pub cache: Option<bool>,
    /// Overrides the deployment's platforms when given (`[]` for the build host's own).
    pub platforms: Option<Vec<String>>,
    /// Whether an image whose key was pushed before is re-tagged instead of built.
    pub rebuild: Rebuild,
    /// Directory (`.` for the root) → the repository-relative file whose text becomes its
    /// image's Docker Hub description, when the deployment syncs descriptions.
    pub description: Vec<(String, String)>,
}

/// `rebuild:` of `.dockhand.yml`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Rebuild {
    /// An image whose key was pushed before gets its new tags without a build.
    #[default]
    Auto,
    /// Every image is built: the record of pushed images is not consulted.
    Always,
}

/// Why the file cannot be used; `line` is 1-based when the problem has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RepoConfigError {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for RepoConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{REPO_CONFIG_PATH} line {line}: {}", self.message),
            None => write!(f, "{REPO_CONFIG_PATH}: {}", self.message),
        }
    }
}

fn error<T>(line: usize, message: impl Into<String>) -> Result<T, RepoConfigError> {
    Err(RepoConfigError {
        line: Some(line),
        message: message.into(),
    })
}

impl RepoConfig {
    /// The file's content at the commit, `None` when the repository has no such file.
    pub fn from_file(content: Option<&[u8]>) -> Result<Self, RepoConfigError> {
        let Some(bytes) = content else {
            return Ok(Self::default());
        };
        if bytes.len() > MAX_FILE_BYTES {
            return Err(RepoConfigError {
                line: None,
                message: format!(
                    "the file is {} bytes, more than the {MAX_FILE_BYTES} allowed; it holds a few short settings",
                    bytes.len()
                ),
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| RepoConfigError {
            line: Some(1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count()),
            message: "is not UTF-8 text; save the file as UTF-8".into(),
        })?;
        Self::parse(text)
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Self, RepoConfigError> {
        if text.len() > MAX_FILE_BYTES {
            return Self::from_file(Some(text.as_bytes()));
        }
        // A byte order mark may open a YAML stream; the parser does not expect one.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        check_characters(text)?;
        let Some(root) = load(text)? else {
            return Ok(Self::default());
        };
        let entries = match root.value {
            Value::Map(entries) => entries,
            Value::Scalar { ref text, plain: true } if is_null(text) => return Ok(Self::default()),
            _ => {
                return error(
                    root.line,
                    format!("the file must be a mapping of settings ({KEYS}), such as `naming: suite`"),
                );
            }
        };
        let mut config = Self::default();
        let mut seen: Vec<String> = Vec::new();
        for (key, value) in entries {
            let name = scalar(&key, "a setting name")?;
            if seen.contains(&name) {
                return error(key.line, format!("`{name}` appears twice; keep one"));
            }
            seen.push(name.clone());
            match name.as_str() {
                "naming" => config.naming = Some(naming(&value)?),
                "tags" => config.tags = tags(&value)?,
                "build_args" => config.build_args = build_args(&value)?,
                "ignore" => config.ignore = ignore(&value)?,
                "cache" => config.cache = Some(boolean(&value, "cache")?),
                "platforms" => config.platforms = Some(platforms(&value)?),
                "rebuild" => config.rebuild = rebuild(&value)?,
                "description" => config.description = description(&value)?,
                _ => {
                    return error(key.line, format!("unknown setting {name:?}; the settings are {KEYS}"));
                }
            }
        }
        Ok(config)
    }

    /// The ignored directory `path` (a file or directory, repository-relative) lies in.
    pub fn ignored(&self, path: &str) -> Option<&str> {
        self.ignore
            .iter()
            .map(String::as_str)
            .find(|dir| path == *dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/')))
    }

    /// The repository-relative file whose text becomes the Docker Hub description of the
    /// image built from `dir`: `description:`'s entry for it, or the `README.md` beside its
    /// Dockerfile. Checked when parsed: relative, without `.` or `..`, one line.
    pub fn description_path(&self, dir: &str) -> String {
        match self.description.iter().find(|(d, _)| d == dir) {
            Some((_, path)) => path.clone(),
            None if dir == "." => DEFAULT_DESCRIPTION_FILE.to_owned(),
            None => format!("{dir}/{DEFAULT_DESCRIPTION_FILE}"),
        }
    }

    /// `DOCKHAND_BUILD_ARGS`: one `KEY=value` line per build argument. No key or value holds
    /// a newline, so the buildspec's `mapfile` gives back exactly these pairs.
    pub fn build_args_env(&self) -> String {
        self.build_args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Every character must be one YAML allows in a stream (YAML 1.2.2, 5.1 "Character Set",
/// https://yaml.org/spec/1.2.2/#51-character-set): tab, line breaks, printable ASCII, NEL
/// and the printable non-ASCII ranges; a byte order mark only first (removed before). A NUL byte would end
/// the parse early, silently dropping what follows it, and makes git show the file as
/// binary, so a reviewer never sees the change: the file is refused instead.
fn check_characters(text: &str) -> Result<(), RepoConfigError> {
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..);
    for (at, c) in text.char_indices() {
        if allowed(c) && c != '\u{feff}' {
            continue;
        }
        let line = 1 + text[..at].bytes().filter(|&b| b == b'\n').count();
        return error(
            line,
            format!(
                "holds the character U+{:04X}, which YAML does not allow in a file (a NUL byte or another control character); remove it",
                u32::from(c)
            ),
        );
    }
    Ok(())
}

fn naming(value: &Node) -> Result<Naming, RepoConfigError> {
    let text = scalar(value, "`path` or `suite`")?;
    match text.as_str() {
        "path" => Ok(Naming::Path),
        "suite" => Ok(Naming::Suite),
        _ => error(
            value.line,
            format!(
                "naming is {text:?}; write `naming: path` (dir/sub → dir-sub:latest) or `naming: suite` (name/suite → name:suite)"
            ),
        ),
    }
}

/// A YAML 1.2 core-schema boolean, plain: `true` or `false` (also capitalised).
fn boolean(value: &Node, key: &str) -> Result<bool, RepoConfigError> {
    let text = scalar(value, "true or false")?;
    match (&value.value, text.as_str()) {
        (Value::Scalar { plain: true, .. }, "true" | "True" | "TRUE") => Ok(true),
        (Value::Scalar { plain: true, .. }, "false" | "False" | "FALSE") => Ok(false),
        _ => error(
            value.line,
            format!(
                "{key} is {:?}; write `{key}: true` or `{key}: false`",
                truncate_for_message(&text)
            ),
        ),
    }
}

fn tags(value: &Node) -> Result<Vec<String>, RepoConfigError> {
    let items = sequence(value, "tags", "tags: [nightly, stable]")?;
    if items.len() > MAX_TAGS {
        return error(
            value.line,
            format!("{} tags, more than the {MAX_TAGS} allowed; remove some", items.len()),
        );
    }
    let mut tags: Vec<String> = Vec::new();
    for item in items {
        let tag = scalar(item, "a tag")?;
        if let Err(why) = validate_tag(&tag) {
            return error(item.line, format!("the tag {tag:?} {why}"));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

fn build_args(value: &Node) -> Result<Vec<(String, String)>, RepoConfigError> {
    let Value::Map(entries) = &value.value else {
        return error(
            value.line,
            "build_args must be a mapping of names to values, such as `build_args: {BASE_VERSION: \"3.20\"}`",
        );
    };
    if entries.len() > MAX_BUILD_ARGS {
        return error(
            value.line,
            format!(
                "{} build arguments, more than the {MAX_BUILD_ARGS} allowed; remove some",
                entries.len()
            ),
        );
    }
    let mut args: Vec<(String, String)> = Vec::new();
    let mut total = 0usize;
    for (key, arg) in entries {
        let name = scalar(key, "a build argument name")?;
        if !is_arg_name(&name) {
            return error(
                key.line,
                format!(
                    "the build argument name {:?} is not a name: use letters, digits and _, not starting with a digit, at most {MAX_BUILD_ARG_NAME_BYTES} characters",
                    truncate_for_message(&name)
                ),
            );
        }
        if args.iter().any(|(k, _)| *k == name) {
            return error(key.line, format!("the build argument {name} appears twice; keep one"));
        }
        let text = match &arg.value {
            Value::Scalar { text, plain } if *plain && is_null(text) => {
                return error(
                    key.line,
                    format!("the build argument {name} has no value; write `{name}: \"\"` for an empty one"),
                );
            }
            Value::Scalar { text, .. } => text.clone(),
            _ => {
                return error(
                    key.line,
                    format!(
                        "the build argument {name} must be a string, a number or true/false, not a list or mapping"
                    ),
                );
            }
        };
        if let Some(c) = text.chars().find(|c| matches!(c, '\n' | '\r' | '\0')) {
            return error(
                key.line,
                format!("the build argument {name} contains {c:?}; values must be one line without NUL characters"),
            );
        }
        if text.len() > MAX_BUILD_ARG_VALUE_BYTES {
            return error(
                key.line,
                format!(
                    "the build argument {name} is {} bytes, more than the {MAX_BUILD_ARG_VALUE_BYTES} allowed",
                    text.len()
                ),
            );
        }
        total += name.len() + 1 + text.len() + 1;
        if total > MAX_BUILD_ARGS_BYTES {
            return error(
                key.line,
                format!("the build arguments together exceed {MAX_BUILD_ARGS_BYTES} bytes; shorten them"),
            );
        }
        args.push((name, text));
    }
    Ok(args)
}

fn platforms(value: &Node) -> Result<Vec<String>, RepoConfigError> {
    let items = sequence(value, "platforms", "platforms: [linux/amd64, linux/arm64]")?;
    let mut platforms = Vec::new();
    for item in items {
        platforms.push(scalar(item, "a platform such as linux/arm64")?);
        if let Err(why) = crate::platform::check_platforms(&platforms) {
            return error(item.line, why);
        }
    }
    Ok(platforms)
}

fn rebuild(value: &Node) -> Result<Rebuild, RepoConfigError> {
    let text = scalar(value, "`auto` or `always`")?;
    match text.as_str() {
        "auto" => Ok(Rebuild::Auto),
        "always" => Ok(Rebuild::Always),
        _ => error(
            value.line,
            format!(
                "rebuild is {:?}; write `rebuild: auto` (an unchanged image gets its new tags without a build) or `rebuild: always` (every image is built)",
                truncate_for_message(&text)
            ),
        ),
    }
}

fn ignore(value: &Node) -> Result<Vec<String>, RepoConfigError> {
    let items = sequence(value, "ignore", "ignore: [docs, .github]")?;
    if items.len() > MAX_IGNORE {
        return error(
            value.line,
            format!(
                "{} ignored directories, more than the {MAX_IGNORE} allowed",
                items.len()
            ),
        );
    }
    let mut dirs: Vec<String> = Vec::new();
    for item in items {
        let raw = scalar(item, "a directory")?;
        let dir = raw.strip_suffix('/').unwrap_or(&raw);
        if let Err(why) = check_dir(dir) {
            return error(
                item.line,
                format!(
                    "the ignored directory {:?} {why}; write a directory relative to the repository root, such as `docs` or `tools/scripts`",
                    truncate_for_message(&raw)
                ),
            );
        }
        if !dirs.iter().any(|d| d == dir) {
            dirs.push(dir.to_owned());
        }
    }
    Ok(dirs)
}

fn description(value: &Node) -> Result<Vec<(String, String)>, RepoConfigError> {
    let example = "description: {web: docs/web.md}";
    let Value::Map(entries) = &value.value else {
        return error(
            value.line,
            format!("description must be a mapping of image directories to files, such as `{example}`"),
        );
    };
    if entries.len() > MAX_DESCRIPTIONS {
        return error(
            value.line,
            format!(
                "{} descriptions, more than the {MAX_DESCRIPTIONS} allowed",
                entries.len()
            ),
        );
    }
    let mut descriptions: Vec<(String, String)> = Vec::new();
    for (key, file) in entries {
        let raw = scalar(key, "a directory")?;
        let dir = match raw.strip_suffix('/').unwrap_or(&raw) {
            "" => ".",
            dir => dir,
        };
        if dir != "."
            && let Err(why) = check_dir(dir)
        {
            return error(
                key.line,
                format!(
                    "the directory {:?} {why}; write the directory of a Dockerfile relative to the repository root, or `.` for the root",
                    truncate_for_message(&raw)
                ),
            );
        }
        if descriptions.iter().any(|(d, _)| d == dir) {
            return error(key.line, format!("the directory {dir} appears twice; keep one"));
        }
        let path = scalar(file, "a file such as docs/web.md")?;
        if let Err(why) = check_file(&path) {
            return error(
                file.line,
                format!(
                    "the description file {:?} {why}; write a file of the repository, relative to its root, such as `{dir}/README.md`",
                    truncate_for_message(&path)
                ),
            );
        }
        descriptions.push((dir.to_owned(), path));
    }
    Ok(descriptions)
}

/// A file of the repository, by a path the build joins to its checkout.
fn check_file(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("is empty");
    }
    if path.len() > MAX_DESCRIPTION_PATH_BYTES {
        return Err("is longer than 1024 bytes");
    }
    check_relative(path)
}

fn check_dir(dir: &str) -> Result<(), &'static str> {
    if dir.is_empty() || dir == "." {
        return Err("is the whole repository (to build nothing, remove the webhook)");
    }
    check_relative(dir)
}

/// A path inside the repository: relative, every component a name, nothing that could
/// reach outside it or break a line.
fn check_relative(path: &str) -> Result<(), &'static str> {
    if path.starts_with('/') {
        return Err("is absolute");
    }
    if path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err("has an empty, `.` or `..` component");
    }
    if path.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    Ok(())
}

fn is_arg_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_BUILD_ARG_NAME_BYTES
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_null(plain: &str) -> bool {
    matches!(plain, "" | "~" | "null" | "Null" | "NULL")
}

fn truncate_for_message(s: &str) -> String {
    s.chars().take(80).collect()
}

/// A scalar's text, or an error saying what was expected.
fn scalar(node: &Node, expected: &str) -> Result<String, RepoConfigError> {
    match &node.value {
        Value::Scalar { text, plain } if *plain && is_null(text) => {
            error(node.line, format!("expected {expected}, found nothing"))
        }
        Value::Scalar { text, .. } => Ok(text.clone()),
        Value::Seq(_) => error(node.line, format!("expected {expected}, found a list")),
        Value::Map(_) => error(node.line, format!("expected {expected}, found a mapping")),
    }
}

fn sequence<'a>(node: &'a Node, key: &str, example: &str) -> Result<&'a [Node], RepoConfigError> {
    match &node.value {
        Value::Seq(items) => Ok(items),
        _ => error(node.line, format!("{key} must be a list, such as `{example}`")),
    }
}

/// A YAML node with the line it starts on.
#[derive(Debug)]
struct Node {
    value: Value,
    line: usize,
}

#[derive(Debug)]
enum Value {
    /// `plain` is false for quoted and block scalars, whose text is never null.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// The single document of `text`, `None` when there is none.
fn load(text: &str) -> Result<Option<Node>, RepoConfigError> {
    let mut reader = Reader {
        parser: Parser::new_from_str(text),
    };
    let mut root = None;
    loop {
        let (event, mark) = reader.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => return Ok(root),
            Event::DocumentStart => {
                if root.is_some() {
                    return error(mark.line(), "the file holds more than one YAML document; keep one");
                }
                let (event, mark) = reader.next()?;
                root = Some(reader.node(event, mark, 1)?);
            }
            _ => return error(mark.line(), "unexpected YAML structure"),
        }
    }
}

struct Reader<'a> {
    parser: Parser<std::str::Chars<'a>>,
}

impl Reader<'_> {
    fn next(&mut self) -> Result<(Event, Marker), RepoConfigError> {
        self.parser.next_token().map_err(|e| RepoConfigError {
            line: Some(e.marker().line().max(1)),
            message: format!("is not valid YAML: {}", e.info()),
        })
    }

    fn node(&mut self, event: Event, mark: Marker, depth: usize) -> Result<Node, RepoConfigError> {
        let line = mark.line().max(1);
        let (anchor, tag) = match &event {
            Event::Scalar(_, _, anchor, tag) | Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                (*anchor, tag.is_some())
            }
            Event::Alias(_) => return error(line, "aliases (`*name`) are not allowed; write the value out"),
            _ => return error(line, "unexpected YAML structure"),
        };
        if anchor != 0 {
            return error(line, "anchors (`&name`) are not allowed; write each value out");
        }
        if tag {
            return error(line, "YAML tags (`!name`) are not allowed; write plain values");
        }
        if depth > MAX_DEPTH && !matches!(event, Event::Scalar(..)) {
            return error(
                line,
                "nested too deeply: values are single words, lists or name: value mappings",
            );
        }
        let value = match event {
            Event::Scalar(text, style, _, _) => Value::Scalar {
                text,
                plain: style == TScalarStyle::Plain,
            },
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let (event, mark) = self.next()?;
                    if event == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(event, mark, depth + 1)?);
                }
                Value::Seq(items)
            }
            Event::MappingStart(..) => {
                let mut entries = Vec::new();
                loop {
                    let (event, mark) = self.next()?;
                    if event == Event::MappingEnd {
                        break;
                    }
                    let key = self.node(event, mark, depth + 1)?;
                    if !matches!(key.value, Value::Scalar { .. }) {
                        return error(key.line, "a key must be a plain name, not a list or mapping");
                    }
                    let (event, mark) = self.next()?;
                    let mut value = self.node(event, mark, depth + 1)?;
                    // An empty value is marked where the next token starts: report the key's line.
                    if matches!(&value.value, Value::Scalar { text, plain: true } if text.is_empty()) {
                        value.line = key.line;
                    }
                    entries.push((key, value));
                }
                Value::Map(entries)
            }
            _ => unreachable!("checked above"),
        };
        Ok(Node { value, line })
    }
}

#[cfg(test)]
mod tests;
