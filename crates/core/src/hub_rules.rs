//! Docker Hub's build rules, as copied from a repository's build settings, converted into
//! dockhand's ref rules ([`crate::rules`]) and image names (`images`), with what cannot be
//! converted and why.
//!
//! What Docker Hub documents, and this module follows:
//!
//! - A rule has a source type (Branch or Tag), a source (a name, or a regular expression
//!   written `/regex/`), a Docker tag, a Dockerfile location and a build context; a rule
//!   whose Autobuild toggle is off is not pushed, and the migration guide says to ignore it
//!   (<https://docs.docker.com/docker-hub/repos/manage/builds/setup/#set-up-build-rules>,
//!   <https://docs.docker.com/docker-hub/repos/manage/builds/migrate/>). The default rule
//!   builds the branch `master` (or `main`) as `latest`.
//! - "The only way to extract the configuration is via the Docker Hub web interface"
//!   (the migration guide): there is no documented API for build settings, so the input is
//!   a file mirroring the settings table ([`HubFile`]).
//! - A regex selects the branches or tags it matches (the documented example `/[0-9.]+$/`
//!   "builds any branches that end with a number": the regex is searched for, not matched
//!   against the whole name). `{sourceref}` in the Docker tag is "the whole source name, not
//!   just the portion that matched the regex"; `{\1}`…`{\9}` are the regex's capture groups;
//!   a comma-separated Docker tag gives several tags
//!   (<https://docs.docker.com/docker-cloud/builds/automated-build/#regexes-and-automated-builds>,
//!   the Docker Cloud page the Hub feature came from, and the current page's "Regexes and
//!   automated builds").
//! - The build context is relative to the repository root (`/` is the root); the Dockerfile
//!   location is relative to the build context; an empty build context means the
//!   Dockerfile's own directory, the Dockerfile location then being from the root
//!   (<https://docs.docker.com/docker-hub/repos/manage/builds/setup/#set-the-build-context-and-dockerfile-location>).
//!
//! Docker Hub does not document what an empty Docker tag pushes, nor which rule wins when
//! several match one ref: an empty tag is refused, and every matching rule is taken to push
//! its tags (each rule is a build of its own in Hub's settings).
//!
//! dockhand differs in three ways the conversion must respect, each reported when it
//! matters: its rules are global (every image of the deployment gets the same tags for a
//! ref), the first matching rule alone decides, and a directory is built with the
//! `Dockerfile` at its top as the context.

use crate::config::{Config, Deployment};
use crate::docker_ref::{validate_repository_path, validate_tag};
use crate::rules::{RefRule, RefRules};
use crate::tree::DOCKERFILE;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The input: the build settings of one or more Docker Hub repositories.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubFile {
    pub repositories: Vec<HubRepository>,
}

/// One Docker Hub repository with automated builds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubRepository {
    /// The Docker Hub repository, `namespace/name`.
    pub repository: String,
    /// The settings' "Source Repository": the GitHub repository, `owner/name`.
    pub source_repository: String,
    /// The "Build Rules" table, in its order.
    pub build_rules: Vec<HubRule>,
}

/// One row of the "Build Rules" table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubRule {
    pub source_type: SourceType,
    /// A branch or tag name, or `/regex/`.
    pub source: String,
    /// One tag, or several separated by commas; `{sourceref}` and `{\1}`…`{\9}` allowed.
    #[serde(default)]
    pub docker_tag: String,
    /// Relative to the build context (from the root when the context is empty).
    #[serde(default = "default_dockerfile")]
    pub dockerfile_location: String,
    /// Relative to the repository root, `/` for the root; empty for the Dockerfile's directory.
    #[serde(default = "default_context")]
    pub build_context: String,
    #[serde(default = "yes")]
    pub autobuild: bool,
    /// Accepted as copied; dockhand's cache is the deployment's `cache` setting.
    #[serde(default)]
    pub build_caching: Option<bool>,
}

fn default_dockerfile() -> String {
    DOCKERFILE.into()
}

fn default_context() -> String {
    "/".into()
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SourceType {
    #[serde(alias = "branch")]
    Branch,
    #[serde(alias = "tag")]
    Tag,
}

impl SourceType {
    fn prefix(self) -> &'static str {
        match self {
            SourceType::Branch => "refs/heads/",
            SourceType::Tag => "refs/tags/",
        }
    }

    fn word(self) -> &'static str {
        match self {
            SourceType::Branch => "branch",
            SourceType::Tag => "tag",
        }
    }
}

/// Something of the input that was not converted as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The Docker Hub repository, as written.
    pub repository: String,
    /// The rule, counted from 1, when it is about one rule.
    pub rule: Option<usize>,
    /// `true`: left out of the configuration. `false`: converted, but dockhand may differ.
    pub refused: bool,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.refused { "not converted" } else { "differs" };
        match self.rule {
            Some(n) => write!(f, "{} rule {n}: {what}: {}", self.repository, self.reason),
            None => write!(f, "{}: {what}: {}", self.repository, self.reason),
        }
    }
}

/// The converted configuration and what could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conversion {
    /// The Docker Hub namespace the images go under.
    pub namespace: Option<String>,
    /// The GitHub repositories built.
    pub repositories: Vec<String>,
    pub rules: Vec<RefRule>,
    /// Directory → image name.
    pub images: BTreeMap<String, String>,
    pub problems: Vec<Problem>,
}

impl Conversion {
    /// Whether anything was converted: at least one rule and one image.
    pub fn converted_anything(&self) -> bool {
        !self.rules.is_empty() && !self.images.is_empty() && self.namespace.is_some()
    }

    /// The deployment configuration's keys this conversion sets, as JSON to paste under
    /// `config` in dockhand.json. `None` when nothing was converted.
    pub fn config_json(&self) -> Option<serde_json::Value> {
        let namespace = self.namespace.as_ref().filter(|_| self.converted_anything())?;
        Some(serde_json::json!({
            "registry": { "type": "dockerhub", "namespace": namespace },
            "repositories": self.repositories,
            "naming": "path",
            "rules": self.rules,
            "images": self.images,
        }))
    }
}

/// Reads the input file: JSON, as [`HubFile`] describes it.
pub fn parse(text: &str) -> Result<HubFile, String> {
    serde_json::from_str(text).map_err(|e| format!("not a Docker Hub build rules file: {e}"))
}

/// One Hub rule as dockhand sees it.
#[derive(Debug, Clone)]
struct Converted {
    index: usize,
    source_type: SourceType,
    /// `Some(name)` for a literal source.
    literal: Option<String>,
    /// The Hub regex, for a regex source.
    regex: Option<regex_lite::Regex>,
    /// The Docker tag's templates, in Hub's syntax.
    hub_tags: Vec<String>,
    rule: RefRule,
    directory: String,
}

/// Converts Hub's rules. `namespace` is the deployment's Docker Hub namespace; by default
/// the one the first repository is in.
pub fn convert(file: &HubFile, namespace: Option<&str>) -> Conversion {
    let mut out = Conversion::default();
    let mut problems = Vec::new();
    let mut namespace = namespace.map(str::to_owned);
    // Each repository: its directory, image name, GitHub repository and dockhand rules.
    let mut candidates: Vec<(String, String, String, String, Vec<RefRule>)> = Vec::new();
    for repo in &file.repositories {
        let refuse = |reason: String| Problem {
            repository: repo.repository.clone(),
            rule: None,
            refused: true,
            reason,
        };
        let Some((ns, name)) = repo.repository.split_once('/') else {
            problems.push(refuse("is not `namespace/name`".into()));
            continue;
        };
        if let Err(why) = validate_repository_path(ns).and(validate_repository_path(name)) {
            problems.push(refuse(format!("is not a Docker Hub repository name: it {why}")));
            continue;
        }
        if name.contains('/') {
            problems.push(refuse(
                "is not `namespace/name`: Docker Hub repositories are not nested".into(),
            ));
            continue;
        }
        match &namespace {
            Some(expected) if expected != ns => {
                problems.push(refuse(format!(
                    "is not in the namespace {expected}: one deployment pushes to one Docker Hub namespace"
                )));
                continue;
            }
            Some(_) => {}
            None => namespace = Some(ns.to_owned()),
        }
        if !valid_github_repository(&repo.source_repository) {
            problems.push(refuse(format!(
                "its source repository {:?} is not a GitHub `owner/name`",
                repo.source_repository
            )));
            continue;
        }
        let (rules, directory) = convert_repository(repo, &mut problems);
        if rules.is_empty() {
            problems.push(refuse("none of its rules could be converted".into()));
            continue;
        }
        let directory = directory.expect("a converted rule has a directory");
        candidates.push((
            repo.repository.clone(),
            directory,
            name.to_owned(),
            repo.source_repository.clone(),
            rules,
        ));
    }
    // dockhand's rules are global: the rule list most repositories share is kept.
    let mut counts: Vec<(&Vec<RefRule>, usize)> = Vec::new();
    for (.., rules) in &candidates {
        match counts.iter_mut().find(|(r, _)| *r == rules) {
            Some((_, n)) => *n += 1,
            None => counts.push((rules, 1)),
        }
    }
    let best = counts
        .iter()
        .fold(None::<(&Vec<RefRule>, usize)>, |best, &(r, n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((r, n)),
        })
        .map(|(r, _)| r.clone());
    let Some(rules) = best else {
        out.problems = problems;
        return out;
    };
    for (repository, directory, name, source, repo_rules) in &candidates {
        let refuse = |reason: String| Problem {
            repository: repository.clone(),
            rule: None,
            refused: true,
            reason,
        };
        if *repo_rules != rules {
            problems.push(refuse(format!(
                "its rules differ from those of the other repositories, and dockhand's rules apply to every image of a deployment: give it the same rules on Docker Hub, or a deployment of its own (dockhand still builds {directory} with the rules above when it changes)"
            )));
            continue;
        }
        if let Some(other) = out.images.get(directory) {
            problems.push(refuse(format!(
                "builds the directory {directory}, which already builds {other}: dockhand builds one image per directory"
            )));
            continue;
        }
        if let Some((dir, _)) = out.images.iter().find(|(_, n)| *n == name) {
            problems.push(refuse(format!(
                "its name is already the image of {dir}: dockhand builds one directory per image"
            )));
            continue;
        }
        out.images.insert(directory.clone(), name.clone());
        if !out.repositories.contains(source) {
            out.repositories.push(source.clone());
        }
    }
    out.rules = rules;
    out.namespace = namespace;
    // Every piece was checked on its own; the whole must load as well, or none of it is given.
    if out.converted_anything()
        && let Err(e) = load(&out)
    {
        problems.push(Problem {
            repository: "*".into(),
            rule: None,
            refused: true,
            reason: format!("the converted configuration does not load: {e}"),
        });
        out.rules.clear();
        out.images.clear();
    }
    out.problems = problems;
    out
}

fn load(conversion: &Conversion) -> Result<Deployment, String> {
    let json = conversion.config_json().ok_or("nothing was converted")?;
    let config: Config = serde_json::from_value(json).map_err(|e| e.to_string())?;
    Deployment::new(config).map_err(|e| e.to_string())
}

fn valid_github_repository(s: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part.len() <= 100
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    matches!(s.split_once('/'), Some((owner, name)) if ok(owner) && ok(name))
}

/// One repository's rules in dockhand's order (exact names first, then the regexes in Hub's
/// order), and the directory it builds.
fn convert_repository(repo: &HubRepository, problems: &mut Vec<Problem>) -> (Vec<RefRule>, Option<String>) {
    let problem = |rule: usize, refused: bool, reason: String| Problem {
        repository: repo.repository.clone(),
        rule: Some(rule),
        refused,
        reason,
    };
    let mut directory: Option<(usize, String)> = None;
    let mut converted: Vec<Converted> = Vec::new();
    for (i, rule) in repo.build_rules.iter().enumerate() {
        let index = i + 1;
        if !rule.autobuild {
            problems.push(problem(
                index,
                true,
                "its Autobuild toggle is off: Docker Hub does not push what it builds".into(),
            ));
            continue;
        }
        let c = match convert_rule(index, rule) {
            Ok(c) => c,
            Err(why) => {
                problems.push(problem(index, true, why));
                continue;
            }
        };
        match &directory {
            Some((first, dir)) if *dir != c.directory => {
                problems.push(problem(
                    index,
                    true,
                    format!(
                        "it builds {} while rule {first} builds {dir}: dockhand builds one directory per image, whatever the ref",
                        c.directory
                    ),
                ));
                continue;
            }
            Some(_) => {}
            None => directory = Some((index, c.directory.clone())),
        }
        if rule.source_type == SourceType::Branch && c.hub_tags.iter().any(|t| t == "latest") {
            problems.push(problem(
                index,
                false,
                match &c.literal {
                    Some(name) => format!(
                        "dockhand pushes `latest` only from the repository's default branch: {name} must be it"
                    ),
                    None => "dockhand pushes `latest` only from the repository's default branch: a push of another branch this rule matches is refused, with the reason".into(),
                },
            ));
        }
        if rule.build_caching == Some(true) {
            problems.push(problem(
                index,
                false,
                "Build Caching is not set per rule in dockhand: the deployment's `cache` (on by default) or .dockhand.yml's decides".into(),
            ));
        }
        converted.push(c);
    }
    // Cautions dockhand's first-match order cannot resolve: two regexes of one source type.
    let regexes: Vec<&Converted> = converted.iter().filter(|c| c.regex.is_some()).collect();
    for (n, a) in regexes.iter().enumerate() {
        for b in &regexes[n + 1..] {
            if a.source_type == b.source_type {
                problems.push(problem(
                    b.index,
                    false,
                    format!(
                        "rules {} and {} are both regexes of {}s: a {} both match gets the tags of both on Docker Hub, only rule {}'s in dockhand",
                        a.index,
                        b.index,
                        a.source_type.word(),
                        a.source_type.word(),
                        a.index
                    ),
                ));
            }
        }
    }
    let mut rules: Vec<RefRule> = Vec::new();
    // An exact name gets the tags of every rule that matches it, rendered now.
    let mut merged: Vec<(SourceType, String)> = Vec::new();
    for c in converted.iter().filter(|c| c.literal.is_some()) {
        let name = c.literal.as_deref().expect("filtered");
        if merged.iter().any(|(t, n)| *t == c.source_type && n == name) {
            continue;
        }
        merged.push((c.source_type, name.to_owned()));
        let mut tags: Vec<String> = Vec::new();
        let mut invalid = None;
        for other in converted.iter().filter(|o| o.source_type == c.source_type) {
            for tag in hub_tags_for(other, name) {
                if let Err(why) = validate_tag(&tag) {
                    invalid.get_or_insert(format!(
                        "rule {} gives the {} {name:?} the tag {tag:?}, which {why}",
                        other.index,
                        c.source_type.word()
                    ));
                }
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
        }
        if let Some(why) = invalid {
            problems.push(problem(c.index, true, why));
            continue;
        }
        let rule = RefRule {
            pattern: c.rule.pattern.clone(),
            tags,
        };
        if let Err(e) = RefRules::new(std::slice::from_ref(&rule)) {
            problems.push(problem(c.index, true, e.to_string()));
            continue;
        }
        rules.push(rule);
    }
    for c in converted.iter().filter(|c| c.regex.is_some()) {
        rules.push(c.rule.clone());
    }
    let directory = (!rules.is_empty()).then(|| directory.map(|(_, d)| d)).flatten();
    (rules, directory)
}

/// The tags rule `c` gives the source `name` on Docker Hub, or none when it does not match.
fn hub_tags_for(c: &Converted, name: &str) -> Vec<String> {
    let captures: Vec<&str> = match (&c.literal, &c.regex) {
        (Some(literal), _) if literal == name => vec![name],
        (_, Some(re)) => match re.captures(name) {
            Some(caps) => caps.iter().map(|m| m.map_or("", |m| m.as_str())).collect(),
            None => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    c.hub_tags.iter().map(|t| render_hub_tag(t, name, &captures)).collect()
}

/// A Hub tag template rendered for a source name and its captures (captures\[0\] the match).
fn render_hub_tag(template: &str, name: &str, captures: &[&str]) -> String {
    let mut out = template.replace("{sourceref}", name);
    for n in 1..=9 {
        out = out.replace(&format!("{{\\{n}}}"), captures.get(n).copied().unwrap_or(""));
    }
    out
}

fn convert_rule(index: usize, rule: &HubRule) -> Result<Converted, String> {
    let directory = directory_of(rule)?;
    let source = rule.source.trim();
    if source.is_empty() {
        return Err("its source is empty".into());
    }
    let hub_tags: Vec<String> = rule.docker_tag.split(',').map(|t| t.trim().to_owned()).collect();
    if rule.docker_tag.trim().is_empty() {
        return Err(
            "its Docker tag is empty, and Docker Hub's documentation does not say what that pushes: write the tag"
                .into(),
        );
    }
    if hub_tags.iter().any(String::is_empty) {
        return Err(format!(
            "its Docker tag {:?} has an empty tag between commas",
            rule.docker_tag
        ));
    }
    let (pattern, literal, regex, groups) = match source.strip_prefix('/').and_then(|s| s.strip_suffix('/')) {
        Some(hub_regex) => {
            let pattern = regex_pattern(rule.source_type, hub_regex)?;
            let compiled = regex_lite::Regex::new(hub_regex).map_err(|e| {
                format!("its regex is one dockhand's regex engine (regex-lite: no look-around, no backreferences) cannot read: {e}")
            })?;
            let groups = compiled.captures_len() - 1;
            (pattern, None, Some(compiled), groups)
        }
        None => {
            if source.chars().any(char::is_control) {
                return Err("its source has a control character, which no branch or tag name has".into());
            }
            (
                format!("{}{}", rule.source_type.prefix(), regex_lite::escape(source)),
                Some(source.to_owned()),
                None,
                0,
            )
        }
    };
    let mut tags = Vec::new();
    for hub_tag in &hub_tags {
        tags.push(dockhand_template(hub_tag, groups, literal.is_some())?);
    }
    let rule_out = RefRule { pattern, tags };
    RefRules::new(std::slice::from_ref(&rule_out)).map_err(|e| e.to_string())?;
    Ok(Converted {
        index,
        source_type: rule.source_type,
        literal,
        regex,
        hub_tags,
        rule: rule_out,
        directory,
    })
}

/// A dockhand pattern over the full ref that matches what Hub's regex, searched for in the
/// branch or tag name, matches, with the same capture groups. A leading `^` and a trailing
/// `$` anchor the name's ends; any other anchor is refused.
fn regex_pattern(source_type: SourceType, hub_regex: &str) -> Result<String, String> {
    let chars: Vec<char> = hub_regex.chars().collect();
    let mut anchors = Vec::new();
    let mut alternation = false;
    let (mut i, mut depth, mut in_class) = (0, 0i32, false);
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if let Some(c @ ('A' | 'z' | 'Z' | 'G')) = chars.get(i + 1) {
                    return Err(format!(
                        "its regex uses the anchor \\{c}, which dockhand cannot express inside a ref"
                    ));
                }
                i += 1;
            }
            '[' if !in_class => {
                in_class = true;
                // `[]…]` and `[^]…]`: a `]` first in a class is a character.
                if chars.get(i + 1) == Some(&'^') {
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    i += 1;
                }
            }
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => depth -= 1,
            '|' if !in_class && depth == 0 => alternation = true,
            c @ ('^' | '$') if !in_class => anchors.push((i, c)),
            _ => {}
        }
        i += 1;
    }
    let starts = anchors.first() == Some(&(0, '^'));
    // An escaped `$` never reaches `anchors`: the scan skips what a `\\` escapes.
    let ends = chars.len() > usize::from(starts) && anchors.last() == Some(&(chars.len() - 1, '$'));
    let inner_anchors = anchors.len() - usize::from(starts) - usize::from(ends);
    if inner_anchors > 0 || ((starts || ends) && alternation) {
        return Err(
            "its regex has `^` or `$` other than one `^` at the start and one `$` at the end (of a regex without a top-level `|`), which dockhand cannot express inside a ref".into(),
        );
    }
    let body: String = chars[usize::from(starts)..chars.len() - usize::from(ends)]
        .iter()
        .collect();
    Ok(format!(
        "{}{}(?:{}){}",
        source_type.prefix(),
        if starts { "" } else { "(?s:.*?)" },
        body,
        if ends { "" } else { "(?s:.*)" }
    ))
}

/// A Hub Docker tag template in dockhand's syntax: `{sourceref}` is `{name}`, `{\N}` is `{N}`.
fn dockhand_template(hub: &str, groups: usize, literal: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = hub;
    let mut all_text = true;
    while let Some(open) = rest.find(['{', '}']) {
        check_text(hub, &rest[..open])?;
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let (piece, len) = if tail.starts_with("{sourceref}") {
            ("{name}".to_owned(), "{sourceref}".len())
        } else if let Some(n) = tail
            .strip_prefix("{\\")
            .and_then(|t| t.get(..2))
            .and_then(|t| t.strip_suffix('}'))
            .and_then(|d| d.parse::<usize>().ok())
            .filter(|n| (1..=9).contains(n))
        {
            if literal {
                return Err(format!(
                    "its Docker tag {hub:?} uses {{\\{n}}}, but its source is a name, not a regex with captures"
                ));
            }
            if n > groups {
                return Err(format!(
                    "its Docker tag {hub:?} uses {{\\{n}}}, but its regex has {groups} capture group(s)"
                ));
            }
            (format!("{{{n}}}"), 4)
        } else {
            return Err(format!(
                "its Docker tag {hub:?} has a `{{` or `}}` that is not {{sourceref}} or {{\\1}}…{{\\9}}"
            ));
        };
        all_text = false;
        out.push_str(&piece);
        rest = &tail[len..];
    }
    check_text(hub, rest)?;
    out.push_str(rest);
    if all_text && let Err(why) = validate_tag(&out) {
        return Err(format!("its Docker tag {out:?} {why}"));
    }
    Ok(out)
}

/// The literal text of a tag may hold only what a Docker tag holds.
fn check_text(hub: &str, text: &str) -> Result<(), String> {
    match text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        Some(c) => Err(format!(
            "its Docker tag {hub:?} has {c:?}, which no Docker tag holds (letters, digits, `_`, `.`, `-`)"
        )),
        None => Ok(()),
    }
}

/// The directory dockhand builds for a rule: its build context, which must hold the
/// Dockerfile at its top.
fn directory_of(rule: &HubRule) -> Result<String, String> {
    let location = if rule.dockerfile_location.trim() == "/" {
        DOCKERFILE.to_owned()
    } else {
        clean_path(&rule.dockerfile_location, "Dockerfile location")?
    };
    if location.is_empty() {
        return Err("its Dockerfile location is empty".into());
    }
    let (context, dockerfile) = if rule.build_context.trim().is_empty() {
        // Empty: the Dockerfile's directory, the location being from the root.
        match location.rsplit_once('/') {
            Some((dir, file)) => (dir.to_owned(), file.to_owned()),
            None => (String::new(), location),
        }
    } else {
        (clean_path(&rule.build_context, "build context")?, location)
    };
    let (sub, file) = match dockerfile.rsplit_once('/') {
        Some((sub, file)) => (Some(sub), file),
        None => (None, dockerfile.as_str()),
    };
    if file != DOCKERFILE {
        return Err(format!(
            "its Dockerfile is named {file:?}: dockhand builds files named Dockerfile"
        ));
    }
    if let Some(sub) = sub {
        return Err(format!(
            "its Dockerfile is in {sub}/ under the build context {:?}: dockhand builds a directory with the Dockerfile at its top as the context",
            if context.is_empty() { "/" } else { &context }
        ));
    }
    Ok(if context.is_empty() { ".".into() } else { context })
}

/// A path of the settings, relative, `/`-separated, without `.` or `..`: "" for the root.
fn clean_path(raw: &str, what: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    let path = trimmed.trim_start_matches('/');
    let path = path.strip_prefix("./").unwrap_or(path).trim_end_matches('/');
    if path == "." || path.is_empty() {
        return Ok(String::new());
    }
    for segment in path.split('/') {
        if segment.is_empty()
            || segment == "."
            || segment == ".."
            || segment.chars().any(|c| c.is_control() || c == '\\')
        {
            return Err(format!("its {what} {raw:?} is not a plain path inside the repository"));
        }
    }
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests;
