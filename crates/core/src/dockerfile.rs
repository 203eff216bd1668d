//! Which images a Dockerfile starts from or copies from, read as BuildKit reads it.
//!
//! Followed sources (moby/buildkit): `frontend/dockerfile/parser/` for lines, directives,
//! continuations and heredocs; `instructions/parse.go` for FROM, ARG and COPY;
//! `instructions/commands_runmount.go` for `RUN --mount`; `dockerfile2llb/convert.go`
//! (`buildDispatchStates`, `toCommand`, `buildMetaArgs`), `convert_runmount.go`
//! (`detectRunMount`) and `platform.go` (`defaultArgs`) for what a name resolves to.
//!
//! What BuildKit does with the names, and so what this reader does:
//! - A FROM is expanded with the ARGs declared before the first FROM (build arguments
//!   override their defaults) and the platform arguments, which BuildKit sets at build
//!   time: a FROM that depends on one is a problem unless a build argument gives it. It
//!   names an earlier stage only when it equals that stage's lowercased name.
//! - `COPY --from` and `RUN --mount=…,from=` are never expanded: BuildKit refuses
//!   variables in them. They name a stage of the file (any, case-insensitively) or, for
//!   `COPY`, a stage index; anything else is an image. ADD has no `--from`.
//! - ONBUILD triggers run in a later build, so their images are not this file's.
//!
//! The input is untrusted: nothing is executed, `${…}` nests a bounded depth, variable
//! values are copied within a budget, and every step is linear in the text.

mod parser;
mod shell;
#[cfg(test)]
mod tests;

use crate::image_ref;
use parser::{Node, blank_separated, quoted_words};
use serde::{Deserialize, Serialize};
use shell::{Env, Lexer, Lookup, ShellError};
use std::collections::{HashMap, HashSet};

/// The most of a Dockerfile that is read; a larger one is refused by the caller (it does not reach `read`).
pub const MAX_DOCKERFILE_BYTES: usize = 1024 * 1024;

/// The variable values one read may copy: ARGs that repeat each other grow exponentially.
const EXPANSION_BUDGET: usize = 4 * MAX_DOCKERFILE_BYTES;

/// The arguments BuildKit defines from the build's platforms and target (`defaultArgs`).
const PLATFORM_ARGS: [&str; 11] = [
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDOSVERSION",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETOSVERSION",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETSTAGE",
];

/// The instructions BuildKit knows; any other fails the build.
const INSTRUCTIONS: [&str; 18] = [
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// BuildKit's name for the empty image.
const SCRATCH: &str = "scratch";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UseKind {
    From,
    CopyFrom,
    MountFrom,
}

impl UseKind {
    fn instruction(self) -> &'static str {
        match self {
            UseKind::From => "FROM",
            UseKind::CopyFrom => "COPY --from",
            UseKind::MountFrom => "RUN --mount from",
        }
    }
}

/// One image a Dockerfile starts from or copies from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ImageUse {
    /// The reference after ARG expansion, exactly as BuildKit resolves it (trimmed), e.g. "r.j3ss.co/wine" or "alpine:3.20".
    /// Always a reference [`image_ref::parse`] accepts; one it refuses is a problem instead.
    pub reference: String,
    /// 1-based line of the instruction's first line.
    pub line: usize,
    pub kind: UseKind,
}

/// A Dockerfile as read; it serializes, for the spawner's cache of readings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Parsed {
    /// Every image named, in file order: `FROM` images of every stage, `COPY --from=` and
    /// `RUN --mount=...,from=` values that name an image. Not stage names, stage indexes or
    /// `scratch`.
    pub uses: Vec<ImageUse>,
    /// What could not be read, one sentence each with the line ("line 3: FROM names no image after ARG expansion"), for people.
    pub problems: Vec<String>,
}

/// Reads a Dockerfile. Never panics, whatever the bytes (invalid UTF-8 is read lossily). `build_args` are the build arguments passed with --build-arg; they override ARG defaults (only for ARGs declared before the first FROM, as Docker does for FROM lines).
pub fn read(text: &[u8], build_args: &[(String, String)]) -> Parsed {
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let text = String::from_utf8_lossy(text);
    let mut problems = Vec::new();
    let (nodes, escape) = parser::parse(&text, &mut problems);
    let mut reader = Reader {
        escape,
        build_args: build_args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
        globals: Globals(HashMap::new()),
        budget: EXPANSION_BUDGET,
        stage_count: nodes.iter().filter(|n| n.is("from")).count(),
        stages: nodes
            .iter()
            .filter(|n| n.is("from"))
            .filter_map(|n| stage_name(n).ok().flatten())
            .collect(),
        earlier: HashSet::new(),
        parsed: Parsed {
            uses: Vec::new(),
            problems,
        },
    };
    reader.run(&nodes);
    reader.parsed
}

/// A variable of the global scope.
enum Var {
    Known(String),
    /// Known only when the build runs; why, for people.
    Unknown(String),
}

struct Globals(HashMap<String, Var>);

impl Env for Globals {
    fn lookup(&self, name: &str) -> Lookup<'_> {
        match self.0.get(name) {
            Some(Var::Known(value)) => Lookup::Set(value),
            Some(Var::Unknown(_)) => Lookup::Unknown,
            None => Lookup::Unset,
        }
    }
}

struct Reader<'a> {
    escape: char,
    build_args: HashMap<&'a str, &'a str>,
    globals: Globals,
    budget: usize,
    /// How many stages the file has.
    stage_count: usize,
    /// The names of all stages, lowercased.
    stages: HashSet<String>,
    /// The names of the stages before the current one.
    earlier: HashSet<String>,
    parsed: Parsed,
}

/// `FROM image [AS name]`: the stage's name, lowercased (`parseBuildStageName`).
fn stage_name(node: &Node) -> Result<Option<String>, String> {
    match blank_separated(&node.args)[..] {
        [_] => Ok(None),
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => Ok(Some(name.to_lowercase())),
        _ => Err("FROM requires either one or three arguments (an image, or an image AS a stage name)".into()),
    }
}

/// BuildKit's `validStageName`: `^[a-z][a-z0-9-_.]*$`.
fn valid_stage_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// `--name=value` split; `None` for the value of a flag without `=`.
fn flag(word: &str) -> (&str, Option<&str>) {
    let (name, value) = match word.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (word, None),
    };
    (name.strip_prefix("--").unwrap_or(name), value)
}

/// Untrusted text quoted for a sentence: escaped, and cut short.
fn shown(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

impl Reader<'_> {
    fn problem(&mut self, line: usize, sentence: String) {
        self.parsed.problems.push(format!("line {line}: {sentence}"));
    }

    fn run(&mut self, nodes: &[Node]) {
        if nodes.is_empty() {
            self.parsed.problems.push("the file has no instructions".into());
            return;
        }
        for name in PLATFORM_ARGS {
            let var = match self.build_args.get(name) {
                Some(value) => Var::Known((*value).to_owned()),
                None => Var::Unknown(format!(
                    "BuildKit sets {name} from the platform and target of the build"
                )),
            };
            self.globals.0.insert(name.to_owned(), var);
        }
        let mut in_stage = false;
        for node in nodes {
            let keyword = node.keyword.to_ascii_lowercase();
            match keyword.as_str() {
                "from" => {
                    self.from(node);
                    in_stage = true;
                }
                "arg" if !in_stage => self.global_arg(node),
                k if !INSTRUCTIONS.contains(&k) => {
                    self.problem(node.line, format!("unknown instruction {}", shown(&node.keyword)))
                }
                _ if !in_stage => self.problem(
                    node.line,
                    format!(
                        "{} comes before the first FROM, where only ARG may",
                        keyword.to_uppercase()
                    ),
                ),
                "copy" => self.copy(node),
                "run" => self.mounts(node),
                _ => {}
            }
        }
        if !in_stage {
            self.parsed
                .problems
                .push("the file has no FROM, so it builds no image".into());
        }
    }

    /// An ARG before the first FROM: its default, expanded, unless a build argument gives it.
    fn global_arg(&mut self, node: &Node) {
        let words = quoted_words(&node.args, self.escape);
        if words.is_empty() {
            self.problem(node.line, "ARG requires at least one argument".into());
        }
        for word in words {
            let (key, default) = match word.split_once('=') {
                Some((key, default)) => (key, Some(default)),
                None => (word.as_str(), None),
            };
            if key.is_empty() {
                self.problem(node.line, "ARG names can not be blank".into());
                continue;
            }
            let var = if let Some(value) = self.build_args.get(key) {
                Var::Known((*value).to_owned())
            } else if let Some(default) = default {
                match Lexer::new(self.escape).word(default, &self.globals, &mut self.budget) {
                    Ok(value) => Var::Known(value),
                    Err(ShellError::Unknown(from)) => Var::Unknown(self.why(&from)),
                    Err(e) => {
                        self.problem(node.line, format!("ARG {}: {e}", shown(key)));
                        Var::Unknown(format!("ARG {} on line {} could not be read", shown(key), node.line))
                    }
                }
            } else {
                continue;
            };
            self.globals.0.insert(key.to_owned(), var);
        }
    }

    fn why(&self, name: &str) -> String {
        match self.globals.0.get(name) {
            Some(Var::Unknown(why)) => why.clone(),
            _ => format!("{name} has no value before the build"),
        }
    }

    fn from(&mut self, node: &Node) {
        let name = match stage_name(node) {
            Ok(name) => name,
            Err(e) => return self.problem(node.line, e),
        };
        if let Some(name) = &name
            && !valid_stage_name(name)
        {
            self.problem(
                node.line,
                format!(
                    "invalid name for build stage: {}, name can't start with a number or contain symbols",
                    shown(name)
                ),
            );
        }
        let word = blank_separated(&node.args)[0];
        match Lexer::new(self.escape).word(word, &self.globals, &mut self.budget) {
            Err(ShellError::Unknown(var)) => {
                let why = self.why(&var);
                self.problem(
                    node.line,
                    format!("FROM depends on {var}, which has no value until the build runs ({why}); pass it as a build argument"),
                );
            }
            Err(e) => self.problem(node.line, format!("FROM {}: {e}", shown(word))),
            Ok(base) if base.is_empty() => self.problem(
                node.line,
                format!("FROM names no image after ARG expansion of {}", shown(word)),
            ),
            Ok(base) if base == SCRATCH || self.earlier.contains(&base) => {}
            Ok(base) => self.image(node.line, UseKind::From, base),
        }
        self.earlier.extend(name);
    }

    /// `COPY --from=`: a stage, a stage index, or an image.
    fn copy(&mut self, node: &Node) {
        let froms: Vec<_> = node
            .flags
            .iter()
            .map(|f| flag(f))
            .filter(|(name, _)| *name == "from")
            .collect();
        let value = match froms[..] {
            [] => return,
            [(_, Some(value))] => value,
            [(_, None)] => return self.problem(node.line, "COPY --from needs a value: --from=<stage or image>".into()),
            _ => return self.problem(node.line, "COPY has --from more than once".into()),
        };
        if value.is_empty() {
            return;
        }
        // BuildKit expands --from with no variables at all and refuses it if that changes it.
        if Lexer::new(self.escape).word_without_variables(value).as_deref() != Ok(value) {
            return self.problem(
                node.line,
                format!(
                    "COPY --from={}: BuildKit does not expand variables in --from; name a stage FROM the image instead",
                    shown(value)
                ),
            );
        }
        if let Ok(index) = value.parse::<i64>() {
            if usize::try_from(index).map_or(true, |i| i >= self.stage_count) {
                self.problem(node.line, format!("COPY --from={index}: there is no stage {index}"));
            }
            return;
        }
        if !self.is_stage(value) {
            self.image(node.line, UseKind::CopyFrom, value.to_owned());
        }
    }

    /// `RUN --mount=type=…,from=…`: each mount's `from`, a stage or an image.
    fn mounts(&mut self, node: &Node) {
        for (name, value) in node.flags.iter().map(|f| flag(f)) {
            if name != "mount" {
                continue;
            }
            let Some(value) = value else {
                self.problem(node.line, "RUN --mount needs a value: --mount=type=…".into());
                continue;
            };
            match mount_from(value) {
                Ok(Some(from)) if !self.is_stage(&from) => self.image(node.line, UseKind::MountFrom, from),
                Ok(_) => {}
                Err(e) => self.problem(node.line, format!("RUN --mount={}: {e}", shown(value))),
            }
        }
    }

    /// A stage of the file, by its name in any case, or the empty image.
    fn is_stage(&self, name: &str) -> bool {
        let lower = name.to_lowercase();
        name == SCRATCH || self.stages.contains(&lower)
    }

    fn image(&mut self, line: usize, kind: UseKind, reference: String) {
        match image_ref::parse(&reference) {
            Ok(_) => self.parsed.uses.push(ImageUse { reference, line, kind }),
            Err(e) => self.problem(
                line,
                format!("{} names {}, which {e}", kind.instruction(), shown(&reference)),
            ),
        }
    }
}

/// A mount's `from`, if it has one (`parseMount`): its value is comma-separated `key=value`
/// fields in CSV quoting; the last `from` counts.
fn mount_from(value: &str) -> Result<Option<String>, String> {
    let mut kind = "bind".to_owned();
    let mut from = None;
    for field in csv_fields(value)? {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        match key.to_lowercase().as_str() {
            "type" => kind = value.to_lowercase(),
            "from" => {
                if value.find('$').is_some_and(|i| i + 1 != value.len()) {
                    return Err("'from' doesn't support variable expansion, define alias stage instead".into());
                }
                from = Some(value.to_owned());
            }
            _ => {}
        }
    }
    if !["bind", "cache", "tmpfs", "secret", "ssh"].contains(&kind.as_str()) {
        return Err(format!("unsupported mount type {}", shown(&kind)));
    }
    let from = from.filter(|f| !f.is_empty());
    if kind == "secret" && from.is_some() {
        return Err("secret mount should not have a from".into());
    }
    Ok(from)
}

/// One line of CSV, as github.com/tonistiigi/go-csvvalue reads it: `"` quotes a whole
/// field, `""` is a quote inside one.
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut line = line
        .strip_suffix("\r\n")
        .or_else(|| line.strip_suffix('\n'))
        .unwrap_or(line);
    if line.is_empty() {
        return Err("failed to parse csv mounts: EOF".into());
    }
    let mut fields = Vec::new();
    loop {
        let Some(quoted) = line.strip_prefix('"') else {
            let (field, rest) = match line.split_once(',') {
                Some((field, rest)) => (field, Some(rest)),
                None => (line, None),
            };
            if field.contains('"') {
                return Err("failed to parse csv mounts: bare \" in non-quoted field".into());
            }
            fields.push(field.to_owned());
            match rest {
                Some(rest) => line = rest,
                None => return Ok(fields),
            }
            continue;
        };
        let mut field = String::new();
        let mut rest = quoted;
        loop {
            let Some((text, after)) = rest.split_once('"') else {
                return Err("failed to parse csv mounts: extraneous or missing \" in quoted-field".into());
            };
            field.push_str(text);
            if let Some(after) = after.strip_prefix('"') {
                field.push('"');
                rest = after;
                continue;
            }
            fields.push(std::mem::take(&mut field));
            if after.is_empty() {
                return Ok(fields);
            }
            match after.strip_prefix(',') {
                Some(after) => {
                    line = after;
                    break;
                }
                None => return Err("failed to parse csv mounts: extraneous or missing \" in quoted-field".into()),
            }
        }
    }
}
