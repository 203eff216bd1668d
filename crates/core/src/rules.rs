//! Ref rules: which pushed refs build, and which image tags each one produces.
//!
//! In the spirit of Docker Hub's build rules: an ordered list, the first rule whose
//! pattern matches the whole ref decides. A pattern is a regular expression over the full
//! ref (`refs/heads/main`, `refs/tags/v1.2.3`) or `@default`, the repository's default branch.
//! A tag template may use `{1}`…`{9}` (the pattern's captures), `{name}` (the branch or tag
//! name), `{sha}` and `{sha7}` (the pushed commit).
//!
//! Tags by trust: `latest` and tags shaped like a commit id ([`is_reserved_tag`]) say "what
//! the default branch built". Pushing a tag or another branch is usually far less guarded
//! than merging to the default branch, so only a push to the default branch may produce
//! them; a rule that would produce one for another ref refuses that ref, with the reason.

use crate::docker_ref::validate_tag;
use crate::webhook::ref_name;
use serde::{Deserialize, Serialize};

/// One rule as written in configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefRule {
    #[serde(rename = "ref")]
    pub pattern: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("ref rule {index}: `{pattern}` is not a valid regular expression: {detail}")]
    Pattern {
        index: usize,
        pattern: String,
        detail: String,
    },
    #[error("ref rule {index}: tag template `{template}`: {detail}")]
    Template {
        index: usize,
        template: String,
        detail: String,
    },
    #[error("ref rule {index} lists no tags")]
    NoTags { index: usize },
    #[error(
        "ref rule {index}: `{pattern}` matches tags, and the tag template `{template}` gives {tag}, which only the default branch may push; use a template such as `{{1}}` or `v{{1}}`"
    )]
    Reserved {
        index: usize,
        pattern: String,
        template: String,
        tag: String,
    },
}

/// What the rules say about one ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefDecision {
    /// `fixed` is the subset of `tags` that names the commit (a template with `{sha}` or
    /// `{sha7}`): pushed whatever the ref does later. The others move with the ref.
    Build {
        tags: Vec<String>,
        fixed: Vec<String>,
    },
    NotBuilt {
        reason: String,
    },
}

#[derive(Debug, Clone)]
enum Matcher {
    DefaultBranch,
    Pattern(regex_lite::Regex),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Capture(usize),
    Name,
    Sha,
    Sha7,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    matcher: Matcher,
    templates: Vec<Vec<Piece>>,
}

/// A validated, compiled rule list.
#[derive(Debug, Clone)]
pub struct RefRules {
    rules: Vec<CompiledRule>,
}

impl RefRules {
    /// The rules used when configuration gives none: the default branch → `latest` and the
    /// short SHA; any tag → its name; other branches are not built.
    pub fn default_rules() -> Vec<RefRule> {
        vec![
            RefRule {
                pattern: "@default".into(),
                tags: vec!["latest".into(), "{sha7}".into()],
            },
            RefRule {
                pattern: "refs/tags/(.+)".into(),
                tags: vec!["{1}".into()],
            },
        ]
    }

    pub fn new(rules: &[RefRule]) -> Result<Self, RuleError> {
        let rules = rules
            .iter()
            .enumerate()
            .map(|(index, rule)| compile(index + 1, rule))
            .collect::<Result<_, _>>()?;
        Ok(Self { rules })
    }

    /// Decides a pushed ref. `default_branch` is the repository's, `sha` the pushed commit.
    pub fn decide(&self, git_ref: &str, default_branch: Option<&str>, sha: &str) -> RefDecision {
        let name = ref_name(git_ref);
        let on_default_branch = is_default_branch(git_ref, default_branch);
        for rule in &self.rules {
            let captures: Vec<&str> = match &rule.matcher {
                Matcher::DefaultBranch => match default_branch {
                    Some(branch) if git_ref.strip_prefix("refs/heads/") == Some(branch) => vec![git_ref],
                    _ => continue,
                },
                Matcher::Pattern(re) => match re.captures(git_ref) {
                    Some(c) => c.iter().map(|m| m.map_or("", |m| m.as_str())).collect(),
                    None => continue,
                },
            };
            let mut tags: Vec<String> = Vec::new();
            let mut fixed: Vec<String> = Vec::new();
            for template in &rule.templates {
                let tag = render(template, &captures, name, sha);
                if let Err(why) = validate_tag(&tag) {
                    return RefDecision::NotBuilt {
                        reason: format!("{git_ref} gives the image tag {tag:?}, which {why}"),
                    };
                }
                if is_reserved_tag(&tag) && !on_default_branch {
                    return RefDecision::NotBuilt {
                        reason: reserved_reason(git_ref, &tag, default_branch),
                    };
                }
                if template.iter().any(|p| matches!(p, Piece::Sha | Piece::Sha7)) && !fixed.contains(&tag) {
                    fixed.push(tag.clone());
                }
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
            return RefDecision::Build { tags, fixed };
        }
        RefDecision::NotBuilt {
            reason: format!("no ref rule builds {git_ref}"),
        }
    }
}

/// `latest`, or a tag shaped like a commit id as `{sha7}` and `{sha}` render it (7, 40 or
/// 64 lowercase hexadecimal digits): the tags that say "the default branch built this".
pub fn is_reserved_tag(tag: &str) -> bool {
    tag == "latest" || (matches!(tag.len(), 7 | 40 | 64) && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Whether `git_ref` is the repository's default branch.
pub fn is_default_branch(git_ref: &str, default_branch: Option<&str>) -> bool {
    default_branch.is_some_and(|branch| git_ref.strip_prefix("refs/heads/") == Some(branch))
}

/// Why `git_ref` may not push `tag`.
pub fn reserved_reason(git_ref: &str, tag: &str, default_branch: Option<&str>) -> String {
    let what = if tag == "latest" {
        "`latest`".to_owned()
    } else {
        format!("{tag:?}, a tag shaped like a commit id,")
    };
    format!(
        "{git_ref} would push the image tag {what} which only the default branch ({}) may push: nothing was built; name the tag or branch otherwise (such as v1.2.3), or change the ref rules",
        default_branch.unwrap_or("unknown")
    )
}

fn compile(index: usize, rule: &RefRule) -> Result<CompiledRule, RuleError> {
    let matcher = if rule.pattern == "@default" {
        Matcher::DefaultBranch
    } else {
        let anchored = format!("^(?:{})$", rule.pattern);
        Matcher::Pattern(regex_lite::Regex::new(&anchored).map_err(|e| RuleError::Pattern {
            index,
            pattern: rule.pattern.clone(),
            detail: e.to_string(),
        })?)
    };
    let groups = match &matcher {
        Matcher::DefaultBranch => 0,
        Matcher::Pattern(re) => re.captures_len() - 1,
    };
    if rule.tags.is_empty() {
        return Err(RuleError::NoTags { index });
    }
    let templates = rule
        .tags
        .iter()
        .map(|t| {
            parse_template(t, groups).map_err(|detail| RuleError::Template {
                index,
                template: t.clone(),
                detail,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // A rule for tags can never be the default branch: a template that always renders a
    // reserved tag there is a mistake to report now, not at every push.
    if rule.pattern.starts_with("refs/tags/") {
        for (template, pieces) in rule.tags.iter().zip(&templates) {
            let fixed = match pieces.as_slice() {
                [Piece::Text(text)] if is_reserved_tag(text) => Some(text.clone()),
                [Piece::Sha] => Some("the commit id".to_owned()),
                [Piece::Sha7] => Some("the short commit id".to_owned()),
                _ => None,
            };
            if let Some(tag) = fixed {
                return Err(RuleError::Reserved {
                    index,
                    pattern: rule.pattern.clone(),
                    template: template.clone(),
                    tag,
                });
            }
        }
    }
    Ok(CompiledRule { matcher, templates })
}

fn parse_template(template: &str, groups: usize) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_owned()));
        }
        let close = rest[open..].find('}').ok_or("has a `{` without a closing `}`")? + open;
        let key = &rest[open + 1..close];
        pieces.push(match key {
            "name" => Piece::Name,
            "sha" => Piece::Sha,
            "sha7" => Piece::Sha7,
            _ => match key.parse::<usize>() {
                Ok(n) if (1..=groups).contains(&n) => Piece::Capture(n),
                Ok(n) => return Err(format!("refers to capture {{{n}}}, but the pattern has {groups}")),
                Err(_) => {
                    return Err(format!(
                        "unknown placeholder {{{key}}}: use {{1}}..{{9}}, {{name}}, {{sha}} or {{sha7}}"
                    ));
                }
            },
        });
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err("has a `}` without an opening `{`".into());
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

fn render(template: &[Piece], captures: &[&str], name: &str, sha: &str) -> String {
    let mut out = String::new();
    for piece in template {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Capture(n) => out.push_str(captures.get(*n).copied().unwrap_or("")),
            Piece::Name => out.push_str(name),
            Piece::Sha => out.push_str(sha),
            // Characters, not bytes: a commit that is not hex then gives a tag Docker
            // refuses instead of a panic.
            Piece::Sha7 => out.extend(sha.chars().take(7)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

    fn defaults() -> RefRules {
        RefRules::new(&RefRules::default_rules()).unwrap()
    }

    fn build(tags: &[&str], fixed: &[&str]) -> RefDecision {
        let own = |v: &[&str]| v.iter().map(|t| t.to_string()).collect();
        RefDecision::Build {
            tags: own(tags),
            fixed: own(fixed),
        }
    }

    #[test]
    fn default_rules() {
        let r = defaults();
        assert_eq!(
            r.decide("refs/heads/main", Some("main"), SHA),
            build(&["latest", "6113728"], &["6113728"])
        );
        assert_eq!(
            r.decide("refs/heads/master", Some("master"), SHA),
            build(&["latest", "6113728"], &["6113728"])
        );
        assert_eq!(r.decide("refs/tags/v1.2.3", Some("main"), SHA), build(&["v1.2.3"], &[]));
        assert!(matches!(
            r.decide("refs/heads/feature", Some("main"), SHA),
            RefDecision::NotBuilt { .. }
        ));
        assert!(matches!(
            r.decide("refs/heads/main", None, SHA),
            RefDecision::NotBuilt { .. }
        ));
        assert!(matches!(
            r.decide("refs/pull/1/head", Some("main"), SHA),
            RefDecision::NotBuilt { .. }
        ));
    }

    #[test]
    fn captures_and_order() {
        let r = RefRules::new(&[
            RefRule {
                pattern: r"refs/tags/v(\d+)\.(\d+)\.(\d+)".into(),
                tags: vec!["{1}.{2}.{3}".into(), "{1}.{2}".into(), "{1}".into()],
            },
            RefRule {
                pattern: "refs/tags/(.*)".into(),
                tags: vec!["{1}".into()],
            },
            RefRule {
                pattern: "refs/heads/release-(.*)".into(),
                tags: vec!["release-{1}-{sha7}".into()],
            },
        ])
        .unwrap();
        assert_eq!(
            r.decide("refs/tags/v1.20.3", None, SHA),
            build(&["1.20.3", "1.20", "1"], &[])
        );
        assert_eq!(r.decide("refs/tags/nightly", None, SHA), build(&["nightly"], &[]));
        assert_eq!(
            r.decide("refs/heads/release-2", None, SHA),
            build(&["release-2-6113728"], &["release-2-6113728"])
        );
    }

    #[test]
    fn a_tag_docker_cannot_accept_is_not_built() {
        let RefDecision::NotBuilt { reason } = defaults().decide("refs/tags/a/b", None, SHA) else {
            panic!("a slash is not allowed in a Docker tag")
        };
        assert!(reason.contains("\"a/b\""), "{reason}");
        assert!(matches!(
            defaults().decide("refs/tags/-x", None, SHA),
            RefDecision::NotBuilt { .. }
        ));
        let long = format!("refs/tags/{}", "a".repeat(129));
        assert!(matches!(
            defaults().decide(&long, None, SHA),
            RefDecision::NotBuilt { .. }
        ));
    }

    #[test]
    fn a_commit_that_is_not_ascii_gives_no_tag_and_no_panic() {
        let RefDecision::NotBuilt { reason } = defaults().decide("refs/heads/main", Some("main"), "ééééééééé")
        else {
            panic!("{{sha7}} of a commit that is not hex is not a Docker tag")
        };
        assert!(reason.contains("\"ééééééé\""), "{reason}");
    }

    #[test]
    fn configuration_errors_are_precise() {
        let bad = |pattern: &str, tag: &str| {
            RefRules::new(&[RefRule {
                pattern: pattern.into(),
                tags: vec![tag.into()],
            }])
            .unwrap_err()
            .to_string()
        };
        assert!(bad("refs/tags/(", "x").contains("not a valid regular expression"));
        assert!(bad("refs/tags/(.*)", "{2}").contains("pattern has 1"));
        assert!(bad("refs/tags/(.*)", "{branch}").contains("unknown placeholder {branch}"));
        assert!(bad("refs/tags/(.*)", "{1").contains("without a closing"));
        assert!(bad("refs/tags/(.*)", "1}").contains("without an opening"));
        assert_eq!(
            RefRules::new(&[RefRule {
                pattern: "x".into(),
                tags: vec![]
            }])
            .unwrap_err(),
            RuleError::NoTags { index: 1 }
        );
    }

    #[test]
    fn patterns_match_the_whole_ref() {
        let r = RefRules::new(&[RefRule {
            pattern: "refs/heads/main".into(),
            tags: vec!["edge".into()],
        }])
        .unwrap();
        assert!(matches!(
            r.decide("refs/heads/main-old", None, SHA),
            RefDecision::NotBuilt { .. }
        ));
        assert!(matches!(
            r.decide("xrefs/heads/main", None, SHA),
            RefDecision::NotBuilt { .. }
        ));
    }

    /// A tag named `latest`, or named like the default branch's short SHA tag, on an
    /// unreviewed commit would overwrite what the default branch built.
    #[test]
    fn only_the_default_branch_pushes_latest_and_commit_named_tags() {
        let r = defaults();
        for tag in ["latest", "6113728", "deadbee", &"a".repeat(40), &"0".repeat(64)] {
            let RefDecision::NotBuilt { reason } = r.decide(&format!("refs/tags/{tag}"), Some("main"), SHA) else {
                panic!("the tag {tag} was built")
            };
            assert!(reason.contains("only the default branch (main)"), "{reason}");
        }
        // A branch rule cannot produce them either, however it is written.
        let branches = RefRules::new(&[RefRule {
            pattern: "refs/heads/(.+)".into(),
            tags: vec!["{1}".into(), "{sha7}".into()],
        }])
        .unwrap();
        assert!(matches!(
            branches.decide("refs/heads/latest", Some("main"), SHA),
            RefDecision::NotBuilt { .. }
        ));
        assert!(matches!(
            branches.decide("refs/heads/feature", Some("main"), SHA),
            RefDecision::NotBuilt { .. }
        ));
        assert_eq!(
            branches.decide("refs/heads/main", Some("main"), SHA),
            build(&["main", "6113728"], &["6113728"])
        );
        // Tags that merely look a little like them are fine.
        for tag in ["v1.2.3", "latest-1", "1234abcd", "DEADBEE", "20241201", "abc1234x"] {
            assert!(
                matches!(
                    r.decide(&format!("refs/tags/{tag}"), Some("main"), SHA),
                    RefDecision::Build { .. }
                ),
                "{tag}"
            );
        }
        assert!(is_reserved_tag("latest") && is_reserved_tag("0123abc") && !is_reserved_tag("latest2"));
    }

    #[test]
    fn a_tag_rule_that_always_gives_a_reserved_tag_is_refused_at_once() {
        for template in ["latest", "{sha7}", "{sha}", "abcdef0"] {
            let err = RefRules::new(&[RefRule {
                pattern: "refs/tags/v(.*)".into(),
                tags: vec!["{1}".into(), template.into()],
            }])
            .unwrap_err();
            assert!(matches!(err, RuleError::Reserved { index: 1, .. }), "{template}");
            assert!(err.to_string().contains("only the default branch may push"), "{err}");
        }
        // On a branch rule the ref decides: it may be the default branch.
        assert!(
            RefRules::new(&[RefRule {
                pattern: "refs/heads/main".into(),
                tags: vec!["latest".into()],
            }])
            .is_ok()
        );
    }

    proptest! {
        #[test]
        fn every_tag_produced_is_a_valid_docker_tag(name in "\\PC{0,200}") {
            for git_ref in [format!("refs/tags/{name}"), format!("refs/heads/{name}")] {
                if let RefDecision::Build { tags, .. } = defaults().decide(&git_ref, Some(&name), SHA) {
                    for tag in tags {
                        prop_assert!(validate_tag(&tag).is_ok(), "{:?}", tag);
                        prop_assert!(!is_reserved_tag(&tag) || git_ref == format!("refs/heads/{name}"), "{:?}", tag);
                    }
                }
            }
        }
    }
}
