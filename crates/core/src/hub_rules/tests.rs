use super::*;
use crate::index::TreeIndex;
use crate::intake::{Intake, intake};
use crate::plan::{PlanEntry, plan};
use crate::repo_config::RepoConfig;
use crate::webhook::Commit;
use proptest::prelude::*;
use std::collections::BTreeSet;

/// Tags per image: what a push gives.
type Pushed = BTreeMap<String, BTreeSet<String>>;

fn rule(source_type: SourceType, source: &str, docker_tag: &str) -> HubRule {
    HubRule {
        source_type,
        source: source.into(),
        docker_tag: docker_tag.into(),
        dockerfile_location: "Dockerfile".into(),
        build_context: "/".into(),
        autobuild: true,
        build_caching: None,
    }
}

fn in_dir(mut r: HubRule, context: &str, location: &str) -> HubRule {
    r.build_context = context.into();
    r.dockerfile_location = location.into();
    r
}

fn repo(name: &str, rules: Vec<HubRule>) -> HubRepository {
    HubRepository {
        repository: name.into(),
        source_repository: "acme/images".into(),
        build_rules: rules,
    }
}

fn file(repositories: Vec<HubRepository>) -> HubFile {
    HubFile { repositories }
}

/// Docker Hub's documented semantics, written from the pages this module cites: each
/// enabled rule of the ref's kind whose source is the name, or whose `/regex/` is found in
/// it, pushes its comma-separated tags, `{sourceref}` being the whole name and `{\N}` the
/// regex's captures; the image is the Hub repository.
fn hub_model(hub: &HubFile, git_ref: &str) -> Pushed {
    let (kind, name) = match (git_ref.strip_prefix("refs/heads/"), git_ref.strip_prefix("refs/tags/")) {
        (Some(name), _) => (SourceType::Branch, name),
        (_, Some(name)) => (SourceType::Tag, name),
        _ => return Pushed::new(),
    };
    let mut out = Pushed::new();
    for repo in &hub.repositories {
        for r in repo.build_rules.iter().filter(|r| r.autobuild && r.source_type == kind) {
            let captures: Vec<String> = match r.source.strip_prefix('/').and_then(|s| s.strip_suffix('/')) {
                Some(re) => match regex_lite::Regex::new(re).unwrap().captures(name) {
                    Some(c) => c.iter().map(|m| m.map_or("", |m| m.as_str()).to_owned()).collect(),
                    None => continue,
                },
                None if r.source == name => vec![name.to_owned()],
                None => continue,
            };
            for tag in r.docker_tag.split(',') {
                let mut tag = tag.trim().replace("{sourceref}", name);
                for n in 1..=9 {
                    tag = tag.replace(&format!("{{\\{n}}}"), captures.get(n).map_or("", |s| s));
                }
                out.entry(format!("docker.io/{}", repo.repository))
                    .or_default()
                    .insert(tag);
            }
        }
    }
    out
}

/// What dockhand pushes for `git_ref` with the converted configuration, when every
/// directory of `dirs` changed: the configuration is loaded back from its JSON, the push
/// goes through the intake and is planned as the spawner plans it.
fn dockhand(conversion: &Conversion, git_ref: &str, dirs: &[&str]) -> Pushed {
    let json = conversion.config_json().expect("something was converted").to_string();
    let deployment = Deployment::from_json(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let dockerfiles: Vec<String> = dirs.iter().map(|d| crate::tree::dockerfile_of(d)).collect();
    let commit = Commit {
        id: "a".repeat(40),
        message: "m".into(),
        timestamp: None,
        url: None,
        author: None,
        added: vec![],
        modified: dockerfiles.clone(),
        removed: vec![],
    };
    let push = crate::testing::push(git_ref, vec![commit]);
    let request = match intake(&push, "d", &deployment).unwrap() {
        Intake::Build(request) => request,
        Intake::Ignored { .. } => return Pushed::new(),
    };
    let index = TreeIndex::from_paths(&dockerfiles);
    let mut out = Pushed::new();
    for entry in plan(&request, &index, &deployment, Ok(&RepoConfig::default())) {
        if let PlanEntry::Build(job) = entry {
            out.entry(job.image.clone())
                .or_default()
                .extend(job.tags.iter().cloned());
        }
    }
    out
}

/// Converts `hub` with nothing refused, and checks dockhand pushes what Hub would for each ref.
fn same_tags(hub: &HubFile, dirs: &[&str], refs: &[&str]) -> Conversion {
    let conversion = convert(hub, None);
    assert!(
        conversion.problems.iter().all(|p| !p.refused),
        "{:?}",
        conversion.problems
    );
    for git_ref in refs {
        assert_eq!(
            dockhand(&conversion, git_ref, dirs),
            hub_model(hub, git_ref),
            "{git_ref}"
        );
    }
    conversion
}

fn refusals(conversion: &Conversion) -> Vec<String> {
    conversion
        .problems
        .iter()
        .filter(|p| p.refused)
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn a_branch_rule() {
    let hub = file(vec![repo(
        "acme/web",
        vec![in_dir(rule(SourceType::Branch, "main", "latest"), "/web", "Dockerfile")],
    )]);
    let c = same_tags(&hub, &["web"], &["refs/heads/main", "refs/heads/dev", "refs/tags/v1"]);
    assert_eq!(
        c.rules,
        vec![RefRule {
            pattern: "refs/heads/main".into(),
            tags: vec!["latest".into()]
        }]
    );
    assert_eq!(c.images, BTreeMap::from([("web".into(), "web".into())]));
    assert_eq!(
        hub_model(&hub, "refs/heads/main")["docker.io/acme/web"],
        BTreeSet::from(["latest".into()])
    );
}

#[test]
fn a_tag_regex_with_captures() {
    let hub = file(vec![repo(
        "acme/web",
        vec![in_dir(
            rule(SourceType::Tag, r"/^v([0-9]+)\.([0-9]+)\.[0-9]+$/", r"{\1}.{\2}, v{\1}"),
            "web",
            "/",
        )],
    )]);
    let c = same_tags(
        &hub,
        &["web"],
        &[
            "refs/tags/v1.2.3",
            "refs/tags/v10.20.30",
            "refs/tags/xv1.2.3",
            "refs/tags/v1.2.3-rc1",
            "refs/heads/v1.2.3",
        ],
    );
    assert_eq!(c.rules[0].tags, vec!["{1}.{2}", "v{1}"]);
    assert_eq!(
        hub_model(&hub, "refs/tags/v1.2.3")["docker.io/acme/web"],
        BTreeSet::from(["1.2".into(), "v1".into()])
    );
}

/// Hub searches for the regex in the name: the documented `/[0-9.]+$/` builds "any branches
/// that end with a number".
#[test]
fn a_regex_is_found_anywhere_in_the_name() {
    let hub = file(vec![repo(
        "acme/web",
        vec![
            in_dir(
                rule(SourceType::Branch, "/[0-9.]+$/", "version-{sourceref}"),
                "web",
                "Dockerfile",
            ),
            in_dir(rule(SourceType::Tag, r"/-(\d+)/", r"b{\1}"), "web", "Dockerfile"),
        ],
    )]);
    same_tags(
        &hub,
        &["web"],
        &[
            "refs/heads/release-1.2",
            "refs/heads/1.2-x",
            "refs/tags/rel-12-x-34",
            "refs/tags/rel",
        ],
    );
}

#[test]
fn sourceref_is_the_whole_name() {
    let hub = file(vec![repo(
        "acme/web",
        vec![in_dir(
            rule(SourceType::Branch, "/^release-/", "{sourceref}"),
            "web",
            "Dockerfile",
        )],
    )]);
    let c = same_tags(&hub, &["web"], &["refs/heads/release-2026", "refs/heads/pre-release-1"]);
    assert_eq!(c.rules[0].tags, vec!["{name}"]);
    assert_eq!(
        dockhand(&c, "refs/heads/release-2026", &["web"])["docker.io/acme/web"],
        BTreeSet::from(["release-2026".into()])
    );
}

#[test]
fn a_dockerfile_location_per_rule() {
    let hub = file(vec![
        // An empty build context: the Dockerfile's directory, the location from the root.
        repo(
            "acme/lint",
            vec![in_dir(
                rule(SourceType::Branch, "main", "latest"),
                "",
                "tools/lint/Dockerfile",
            )],
        ),
        repo(
            "acme/api",
            vec![in_dir(
                rule(SourceType::Branch, "main", "latest"),
                "/api/",
                "./Dockerfile",
            )],
        ),
        repo(
            "acme/root",
            vec![in_dir(rule(SourceType::Branch, "main", "latest"), "/", "/")],
        ),
    ]);
    let c = same_tags(&hub, &["tools/lint", "api", "."], &["refs/heads/main"]);
    assert_eq!(
        c.images,
        BTreeMap::from([
            (".".into(), "root".into()),
            ("api".into(), "api".into()),
            ("tools/lint".into(), "lint".into())
        ])
    );
}

/// Docker Hub runs every rule that matches; dockhand the first: an exact name gets the tags
/// of the regexes that match it too.
#[test]
fn a_name_also_matched_by_a_regex_gets_both_rules_tags() {
    let hub = file(vec![repo(
        "acme/web",
        vec![
            in_dir(
                rule(SourceType::Branch, "/^(.+)$/", r"{sourceref},branch-{\1}"),
                "web",
                "Dockerfile",
            ),
            in_dir(rule(SourceType::Branch, "main", "latest"), "web", "Dockerfile"),
        ],
    )]);
    let c = same_tags(&hub, &["web"], &["refs/heads/main", "refs/heads/dev"]);
    assert_eq!(c.rules[0].tags, vec!["main", "branch-main", "latest"]);
}

#[test]
fn the_default_rule_of_docker_hub() {
    let hub = file(vec![repo(
        "acme/web",
        vec![in_dir(
            rule(SourceType::Branch, "master", "latest"),
            "web",
            "Dockerfile",
        )],
    )]);
    let c = convert(&hub, None);
    assert!(
        c.problems
            .iter()
            .any(|p| !p.refused && p.reason.contains("default branch")),
        "{:?}",
        c.problems
    );
    // The test repository's default branch is main: dockhand refuses `latest` for master.
    assert_eq!(dockhand(&c, "refs/heads/master", &["web"]), Pushed::new());
}

#[test]
fn what_cannot_be_mapped_is_said() {
    let web = |r: HubRule| in_dir(r, "web", "Dockerfile");
    let hub = file(vec![repo(
        "acme/web",
        vec![
            web(rule(SourceType::Branch, "main", "latest")),
            in_dir(rule(SourceType::Branch, "dev", "dev"), "/", "web/Dockerfile"),
            in_dir(rule(SourceType::Branch, "dev", "dev"), "web", "Dockerfile.dev"),
            in_dir(rule(SourceType::Branch, "dev", "dev"), "other", "Dockerfile"),
            web(rule(SourceType::Tag, "/^(?=v)(.*)$/", r"{\1}")),
            web(rule(SourceType::Tag, "/^a|b$/", "x")),
            web(rule(SourceType::Tag, "/a^b/", "x")),
            web(rule(SourceType::Tag, "/^v(.*)$/", r"{\2}")),
            web(rule(SourceType::Tag, "v1", r"{\1}")),
            web(rule(SourceType::Tag, "v1", "")),
            web(rule(SourceType::Tag, "v1", "a,,b")),
            web(rule(SourceType::Tag, "v1", "{name}")),
            web(rule(SourceType::Tag, "v1", "a b")),
            web(rule(SourceType::Tag, "/^v.*$/", "latest")),
            HubRule {
                autobuild: false,
                ..web(rule(SourceType::Tag, "v2", "v2"))
            },
        ],
    )]);
    let c = convert(&hub, None);
    let refused = refusals(&c);
    let expect = [
        (2, "web/ under the build context \"/\""),
        (3, "named \"Dockerfile.dev\""),
        (4, "builds other while rule 1 builds web"),
        (5, "regex-lite"),
        (6, "top-level `|`"),
        (7, "other than one `^` at the start"),
        (8, "has 1 capture group"),
        (9, "its source is a name"),
        (10, "Docker tag is empty"),
        (11, "empty tag between commas"),
        (12, "not {sourceref}"),
        (13, "' '"),
        (14, "only the default branch may push"),
        (15, "Autobuild toggle is off"),
    ];
    for (n, text) in expect {
        assert!(
            refused
                .iter()
                .any(|r| r.starts_with(&format!("acme/web rule {n}: not converted")) && r.contains(text)),
            "rule {n} ({text}): {refused:#?}"
        );
    }
    assert_eq!(refused.len(), expect.len(), "{refused:#?}");
    assert_eq!(
        c.rules,
        vec![RefRule {
            pattern: "refs/heads/main".into(),
            tags: vec!["latest".into()]
        }]
    );
}

#[test]
fn repositories_with_other_rules_are_refused_whole() {
    let main = |name: &str, tag: &str, dir: &str| {
        repo(
            name,
            vec![in_dir(rule(SourceType::Branch, "main", tag), dir, "Dockerfile")],
        )
    };
    let hub = file(vec![
        main("acme/a", "latest", "a"),
        main("acme/b", "edge", "b"),
        main("acme/c", "latest", "c"),
        main("other/d", "latest", "d"),
        main("acme/e", "latest", "a"),
    ]);
    let c = convert(&hub, None);
    let refused = refusals(&c);
    assert!(
        refused[0].starts_with("other/d: not converted: is not in the namespace acme"),
        "{refused:#?}"
    );
    assert!(
        refused[1].starts_with("acme/b: not converted: its rules differ"),
        "{refused:#?}"
    );
    assert!(
        refused[2].starts_with("acme/e: not converted: builds the directory a"),
        "{refused:#?}"
    );
    assert_eq!(refused.len(), 3);
    assert_eq!(c.images.keys().collect::<Vec<_>>(), ["a", "c"]);
    assert!(convert(&hub, Some("other")).images.contains_key("d"));
}

#[test]
fn two_regexes_of_one_kind_are_a_caution() {
    let hub = file(vec![repo(
        "acme/web",
        vec![
            in_dir(rule(SourceType::Tag, "/^v/", "{sourceref}"), "web", "Dockerfile"),
            in_dir(rule(SourceType::Tag, "/1$/", "one"), "web", "Dockerfile"),
        ],
    )]);
    let c = convert(&hub, None);
    assert_eq!(c.rules.len(), 2);
    assert!(
        c.problems
            .iter()
            .any(|p| !p.refused && p.reason.contains("only rule 1's in dockhand"))
    );
}

#[test]
fn nothing_converted_gives_no_configuration() {
    let hub = file(vec![repo("acme/web", vec![rule(SourceType::Tag, "v1", "")])]);
    let c = convert(&hub, None);
    assert_eq!(c.config_json(), None);
    assert!(!c.converted_anything());
    assert!(parse("{}").is_err());
    assert!(
        parse(r#"{"repositories":[{"repository":"a/b","source_repository":"a/b","build_rules":[],"x":1}]}"#).is_err()
    );
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[/^$(){}\\\\|.*+?a-z0-9,\\[\\]-]{0,30}",
        Just("{sourceref}".to_owned()),
        Just("/^v([0-9.]+)$/".to_owned()),
        Just("latest".to_owned()),
        Just(String::new()),
        Just("/".to_owned()),
        Just("../..".to_owned()),
    ]
}

proptest! {
    /// Whatever is written in a rule's fields, the conversion does not panic, and the
    /// configuration it gives loads.
    #[test]
    fn hostile_fields_never_panic_nor_give_a_configuration_that_fails(
        rules in proptest::collection::vec((any::<bool>(), field(), field(), field(), field()), 1..5),
        name in prop_oneof![Just("web".to_owned()), field()],
        source in prop_oneof![Just("acme/images".to_owned()), field()],
    ) {
        let build_rules = rules
            .into_iter()
            .map(|(branch, source, tag, location, context)| HubRule {
                source_type: if branch { SourceType::Branch } else { SourceType::Tag },
                source,
                docker_tag: tag,
                dockerfile_location: location,
                build_context: context,
                autobuild: true,
                build_caching: None,
            })
            .collect();
        let hub = file(vec![
            HubRepository { repository: format!("acme/{name}"), source_repository: source, build_rules },
        ]);
        let c = convert(&hub, None);
        if let Some(json) = c.config_json() {
            prop_assert!(Deployment::from_json(&json.to_string()).is_ok(), "{}", json);
        }
    }
}
