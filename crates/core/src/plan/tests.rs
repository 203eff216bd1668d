use super::*;
use crate::buildspec;
use crate::config::Naming;
use crate::index::{PushIndex, TreeIndex};
use crate::repo_config::RepoConfig;
use crate::request::{ChangeSource, Changes, HeadCommit, SourceRepository};
use crate::testing::deployment;
use proptest::prelude::*;

const SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

fn request(paths: &[&str], removed: &[&str]) -> BuildRequest {
    BuildRequest {
        delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
        repository: SourceRepository {
            name: "images".into(),
            full_name: "acme/images".into(),
            clone_url: "https://github.com/acme/images.git".into(),
            html_url: Some("https://github.com/acme/images".into()),
            private: false,
            default_branch: Some("main".into()),
        },
        git_ref: "refs/heads/main".into(),
        commit: SHA.into(),
        tags: vec!["latest".into(), "6113728".into()],
        fixed_tags: vec!["6113728".into()],
        rebuild: false,
        trigger: None,
        head_commit: Some(HeadCommit {
            message: "Update web".into(),
            author: Some("Octo Cat".into()),
            url: None,
            timestamp: None,
        }),
        pusher: Some("octocat".into()),
        changes: Changes {
            paths: paths.iter().map(|s| s.to_string()).collect(),
            removed: removed.iter().map(|s| s.to_string()).collect(),
            directories: vec![],
            source: ChangeSource::Commits,
        },
    }
}

fn payload_plan(r: &BuildRequest) -> Vec<PlanEntry> {
    plan(
        r,
        &PushIndex::new(&r.changes),
        &deployment(),
        Ok(&RepoConfig::default()),
    )
}

/// Plans with the tree and no `.dockhand.yml`.
fn tree_plan(r: &BuildRequest, tree: &TreeIndex) -> Vec<PlanEntry> {
    plan(r, tree, &deployment(), Ok(&RepoConfig::default()))
}

/// (kind, context) pairs, for compact assertions.
fn summary(entries: &[PlanEntry]) -> Vec<(&'static str, String)> {
    entries
        .iter()
        .map(|e| match e {
            PlanEntry::Build(j) => ("build", j.context.clone()),
            PlanEntry::Skip(s) => ("skip", s.context.clone()),
        })
        .collect()
}

fn jobs(entries: &[PlanEntry]) -> Vec<&BuildJob> {
    entries
        .iter()
        .filter_map(|e| {
            if let PlanEntry::Build(j) = e {
                Some(j.as_ref())
            } else {
                None
            }
        })
        .collect()
}

fn reason<'a>(entries: &'a [PlanEntry], context: &str) -> &'a str {
    entries
        .iter()
        .find_map(|e| match e {
            PlanEntry::Skip(s) if s.context == context => Some(s.reason.as_str()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no skip for {context}"))
}

#[test]
fn top_level_directories_by_convention() {
    let r = request(&["web/app.py", "web/static/x.css", "api/main.go", "README.md"], &[]);
    let p = payload_plan(&r);
    assert_eq!(
        summary(&p),
        [("skip", ".".into()), ("build", "api".into()), ("build", "web".into())]
    );
    assert!(reason(&p, ".").contains("1 changed file(s) at the repository root"));
    let web = jobs(&p)[1];
    assert_eq!(web.dockerfile, "web/Dockerfile");
    assert_eq!(web.image, "docker.io/acme/web");
    assert_eq!(web.tags, ["latest", "6113728"]);
    assert!(web.assumed);
}

#[test]
fn nested_dockerfiles_named_by_the_push_win() {
    let r = request(&["tools/lint/Dockerfile", "tools/lint/run.sh", "tools/fmt/x"], &[]);
    let p = payload_plan(&r);
    assert_eq!(summary(&p), [("build", "tools".into()), ("build", "tools/lint".into())]);
    let lint = jobs(&p)[1];
    assert_eq!(lint.image, "docker.io/acme/tools-lint");
    assert_eq!(lint.dockerfile, "tools/lint/Dockerfile");
    assert!(!lint.assumed);
}

#[test]
fn root_dockerfile() {
    let r = request(&["Dockerfile", "app.py", "src/main.rs"], &[]);
    let p = payload_plan(&r);
    // The root is known, so root files build it; src/ has no known Dockerfile, so the
    // nearest known ancestor (the root) takes it.
    assert_eq!(summary(&p), [("build", ".".into())]);
    let root = jobs(&p)[0];
    assert_eq!(root.image, "docker.io/acme/images");
    assert_eq!(root.dockerfile, "Dockerfile");
    assert_eq!(root.request.env("BUILD_CONTEXT"), Some("."));
}

#[test]
fn a_removed_dockerfile_is_not_built() {
    let r = request(
        &["old/Dockerfile", "old/app.py", "web/x"],
        &["old/Dockerfile", "old/app.py"],
    );
    let p = payload_plan(&r);
    assert_eq!(summary(&p), [("skip", "old".into()), ("build", "web".into())]);
    assert_eq!(reason(&p, "old"), "its Dockerfile was removed by this push");
    // The tree no longer has it either: same answer.
    let tree = TreeIndex::from_ls_tree("web/Dockerfile\nweb/x\n");
    assert_eq!(summary(&tree_plan(&r, &tree)), summary(&p));
}

#[test]
fn tree_index_is_exact() {
    let r = request(&["a/b/c/file", "a/z", "docs/readme.md", "README.md"], &[]);
    let tree = TreeIndex::from_ls_tree("a/Dockerfile\na/b/Dockerfile\nsvc/Dockerfile\ndocs/readme.md\n");
    let p = tree_plan(&r, &tree);
    assert_eq!(summary(&p), [("build", "a".into()), ("build", "a/b".into())]);
    assert!(jobs(&p).iter().all(|j| !j.assumed));
}

#[test]
fn a_new_tag_builds_everything_when_it_can() {
    let mut r = request(&[], &[]);
    r.git_ref = "refs/tags/v1.0".into();
    r.tags = vec!["v1.0".into()];
    r.changes.source = ChangeSource::NewRef;
    let p = payload_plan(&r);
    assert_eq!(summary(&p), [("skip", ".".into())]);
    assert!(reason(&p, ".").contains("--tree"));
    let tree = TreeIndex::from_ls_tree("a/Dockerfile\nb/Dockerfile\n");
    let p = tree_plan(&r, &tree);
    assert_eq!(summary(&p), [("build", "a".into()), ("build", "b".into())]);
    assert_eq!(jobs(&p)[0].tags, ["v1.0"]);
    let empty = TreeIndex::from_ls_tree("README\n");
    assert!(reason(&tree_plan(&r, &empty), ".").contains("no Dockerfile"));
}

#[test]
fn a_push_that_changes_no_files_builds_nothing_and_says_why() {
    // A comparison that came back empty (an empty commit, a merge that changed nothing).
    let r = request(&[], &[]);
    let tree = TreeIndex::from_ls_tree("a/Dockerfile\nb/Dockerfile\n");
    for p in [payload_plan(&r), tree_plan(&r, &tree)] {
        assert_eq!(summary(&p), [("skip", ".".into())]);
        assert!(reason(&p, ".").contains("this push changes no files"), "{p:?}");
        let PlanEntry::Skip(skip) = &p[0] else { panic!() };
        assert!(!skip.attention, "nothing for a person to do");
    }
}

#[test]
fn private_repositories_are_skipped_with_a_reason() {
    let mut r = request(&["web/x"], &[]);
    r.repository.private = true;
    let p = payload_plan(&r);
    assert_eq!(summary(&p), [("skip", ".".into())]);
    assert!(reason(&p, ".").contains("private"));
}

#[test]
fn unnameable_directories_are_skipped_not_mangled() {
    let r = request(&["Web App/x", "ok/y"], &[]);
    let p = payload_plan(&r);
    assert_eq!(summary(&p), [("skip", "Web App".into()), ("build", "ok".into())]);
    assert!(reason(&p, "Web App").contains("lowercase"));
}

#[test]
fn colliding_image_names_are_both_skipped() {
    let r = request(&["a-b/Dockerfile", "a/b/Dockerfile"], &[]);
    let p = payload_plan(&r);
    assert_eq!(summary(&p), [("skip", "a-b".into()), ("skip", "a/b".into())]);
    assert!(reason(&p, "a-b").contains("docker.io/acme/a-b"));
    assert!(reason(&p, "a/b").contains(r#"["a-b"]"#), "{}", reason(&p, "a/b"));
}

#[test]
fn unclean_paths_are_refused() {
    let r = request(&["../etc/passwd", "a//b", "/abs", "./x", "ok/x"], &[]);
    let p = payload_plan(&r);
    assert_eq!(jobs(&p).iter().map(|j| j.context.as_str()).collect::<Vec<_>>(), ["ok"]);
    assert_eq!(p.len(), 5);
}

#[test]
fn directories_from_an_oversized_push_plan_like_paths() {
    let mut r = request(&["web/Dockerfile"], &[]);
    r.changes.directories = vec![".".into(), "api/src".into(), "web/static".into()];
    let p = payload_plan(&r);
    assert_eq!(
        summary(&p),
        [("skip", ".".into()), ("build", "api".into()), ("build", "web".into())]
    );
}

#[test]
fn the_start_build_request() {
    let r = request(&["web/app.py"], &[]);
    let p = payload_plan(&r);
    let req = &jobs(&p)[0].request;
    assert_eq!(req.project_name, "dockhand");
    assert_eq!(req.source_type_override, "NO_SOURCE");
    assert_eq!(req.buildspec_override, buildspec::render(&deployment().config.registry));
    // The build's key: the same for every delivery of this push.
    assert_eq!(
        req.idempotency_token,
        crate::start_build::build_key(&r, "web", &deployment())
    );
    assert_eq!(req.idempotency_token, jobs(&p)[0].key);
    assert_eq!(req.compute_type_override, "BUILD_GENERAL1_SMALL");
    assert_eq!(req.timeout_in_minutes_override, 60);
    assert!(req.privileged_mode_override);
    let env: Vec<(&str, &str)> = req
        .environment_variables_override
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("SOURCE_REPO_URL", "https://github.com/acme/images.git"),
            ("SOURCE_COMMIT", SHA),
            ("SOURCE_BRANCH", "main"),
            ("COMMIT_MSG", "Update web"),
            ("DOCKER_REPO", "docker.io/acme/web"),
            ("DOCKER_TAG", "latest"),
            ("IMAGE_NAME", "docker.io/acme/web:latest"),
            ("DOCKERFILE_PATH", "web/Dockerfile"),
            ("BUILD_CONTEXT", "web"),
            ("DOCKHAND_DELIVERY", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("DOCKHAND_TAGS", "latest,6113728"),
            ("DOCKHAND_MOVING_TAGS", "latest"),
            ("DOCKHAND_BUILD_KEY", jobs(&p)[0].key.as_str()),
            ("DOCKHAND_REGISTRY", "docker.io"),
            ("DOCKHAND_REPOSITORY", "acme/images"),
            ("DOCKHAND_REF", "refs/heads/main"),
            ("DOCKHAND_COMMIT_AUTHOR", "Octo Cat"),
            ("DOCKHAND_IMAGE_KEY", jobs(&p)[0].image_key.as_str()),
            ("DOCKHAND_KEY_TAG", jobs(&p)[0].key_tag().as_str()),
            ("DOCKHAND_SOURCE_URL", "https://github.com/acme/images"),
            ("DOCKHAND_TITLE", "web"),
            ("DOCKHAND_BUILDKIT_IMAGE", "moby/buildkit:buildx-stable-1"),
            ("DOCKHAND_AUTOTEST", "1"),
            ("DOCKHAND_CACHE_FROM", "type=registry,ref=docker.io/acme/web:buildcache"),
            (
                "DOCKHAND_CACHE_TO",
                "type=registry,ref=docker.io/acme/web:buildcache,mode=max,ignore-error=true"
            ),
            ("DOCKHAND_REGISTRY_USER", "acme"),
            ("DOCKHAND_TOKEN_PARAMETER", "/dockhand/dockerhub/acme"),
        ]
    );
    assert!(req.environment_variables_override.iter().all(|v| v.kind == "PLAINTEXT"));
    let json = serde_json::to_value(req).unwrap();
    for key in [
        "projectName",
        "buildspecOverride",
        "environmentVariablesOverride",
        "idempotencyToken",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
}

#[test]
fn plans_are_deterministic() {
    let r = request(&["b/x", "a/y", "c/Dockerfile", "README"], &[]);
    assert_eq!(payload_plan(&r), payload_plan(&r));
    let mut shuffled = r.clone();
    shuffled.changes.paths.reverse();
    assert_eq!(payload_plan(&shuffled), payload_plan(&r));
}

/// Strings an attacker would put in a webhook: shell, YAML and path tricks.
fn hostile() -> impl Strategy<Value = String> {
    let fixed = prop_oneof![
        Just("$(touch /tmp/pwned)".to_string()),
        Just("`id`".to_string()),
        Just("a; rm -rf / #".to_string()),
        Just("line1\nline2\r\n- evil: yaml".to_string()),
        Just("-rf".to_string()),
        Just("--upload-pack=touch /tmp/x".to_string()),
        Just("../../etc/passwd".to_string()),
        Just("\"quoted\" 'single' \\back".to_string()),
        Just("{{login}} ${IFS} %s %n".to_string()),
        Just("\u{202e}gnp.exe \u{1f600} ünïcödé".to_string()),
        Just("x".repeat(300)),
        Just("key: value\n  - [a, b]\n? complex".to_string()),
    ];
    (fixed, "\\PC{0,40}").prop_map(|(a, b)| format!("{a}{b}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever a push holds, the buildspec is the deployment's constant text and every
    /// untrusted value reaches the build byte for byte as an environment variable.
    #[test]
    fn hostile_fields_travel_only_as_environment_variables(
        message in hostile(), author in hostile(), branch in hostile(), full_name in hostile(),
        url_tail in hostile(), dir in hostile(),
    ) {
        let mut d = deployment();
        // Map the hostile directory to a name so its job exists and its path travels.
        d.config.images.insert(dir.clone(), "mapped".into());
        d.config.rules = vec![crate::rules::RefRule { pattern: "refs/heads/.*".into(), tags: vec!["edge".into()] }];
        d = Deployment::new(d.config).unwrap();
        let mut r = request(&[], &[]);
        let clean_dir = check_path(&dir).is_ok() && !dir.contains('/');
        r.changes.paths = vec![format!("{dir}/file")];
        r.head_commit = Some(HeadCommit { message: message.clone(), author: Some(author.clone()), url: None, timestamp: None });
        r.git_ref = format!("refs/heads/{branch}");
        // What the rule above gives any branch.
        r.tags = vec!["edge".into()];
        r.fixed_tags = vec![];
        r.repository.full_name = full_name.clone();
        r.repository.clone_url = format!("https://github.com/{url_tail}");
        // The web address the OCI labels carry.
        let html = format!("https://github.com/{message}");
        r.repository.html_url = Some(html.clone());
        let entries = plan(&r, &PushIndex::new(&r.changes), &d, Ok(&RepoConfig::default()));
        let constant = buildspec::render(&d.config.registry);
        let js = jobs(&entries);
        prop_assert_eq!(js.len(), usize::from(clean_dir));
        for job in js {
            let req = &job.request;
            prop_assert_eq!(&req.buildspec_override, &constant);
            for value in [&message, &author, &branch, &full_name, &dir] {
                if value.len() >= 12 {
                    prop_assert!(!req.buildspec_override.contains(value.as_str()));
                }
            }
            prop_assert_eq!(req.env("COMMIT_MSG"), Some(message.as_str()).filter(|m| !m.is_empty()));
            prop_assert_eq!(req.env("DOCKHAND_COMMIT_AUTHOR"), Some(author.as_str()).filter(|m| !m.is_empty()));
            prop_assert_eq!(req.env("SOURCE_BRANCH"), Some(branch.as_str()).filter(|m| !m.is_empty()));
            prop_assert_eq!(req.env("DOCKHAND_REF"), Some(r.git_ref.as_str()));
            prop_assert_eq!(req.env("DOCKHAND_REPOSITORY"), Some(full_name.as_str()).filter(|m| !m.is_empty()));
            prop_assert_eq!(req.env("SOURCE_REPO_URL"), Some(r.repository.clone_url.as_str()));
            prop_assert_eq!(req.env("BUILD_CONTEXT"), Some(dir.as_str()));
            let dockerfile = format!("{dir}/Dockerfile");
            prop_assert_eq!(req.env("DOCKERFILE_PATH"), Some(dockerfile.as_str()));
            prop_assert_eq!(req.env("DOCKER_REPO"), Some("docker.io/acme/mapped"));
            // The image's key and key tag: hexadecimal, whatever the push held; over the
            // commit (the payload knows no tree), so never re-tagged.
            let key = req.env("DOCKHAND_IMAGE_KEY").unwrap();
            prop_assert!(crate::image_key::is_image_key(key));
            prop_assert_eq!(&job.image_key, key);
            let tag = crate::image_key::key_tag(key);
            prop_assert_eq!(req.env("DOCKHAND_KEY_TAG"), Some(tag.as_str()));
            prop_assert!(crate::image_key::is_key_tag(&tag));
            prop_assert_eq!(req.env("DOCKHAND_PLATFORMS"), None);
            prop_assert!(!job.reusable);
            prop_assert_eq!(req.env("DOCKHAND_SOURCE_URL"), Some(html.as_str()));
            prop_assert_eq!(req.env("DOCKHAND_TITLE"), Some("mapped"));
            prop_assert_eq!(req.env("DOCKHAND_CACHE_FROM"), Some("type=registry,ref=docker.io/acme/mapped:buildcache"));
            // Round trip through the JSON that crosses SNS and the CLI: still byte for byte.
            let back: crate::start_build::StartBuildRequest = serde_json::from_str(&serde_json::to_string(req).unwrap()).unwrap();
            prop_assert_eq!(&back, req);
        }
    }

    /// Plans never panic and every entry is a build with a valid image or a skip with a reason.
    #[test]
    fn arbitrary_paths_plan_safely(paths in proptest::collection::vec("\\PC{0,30}(/\\PC{0,10}){0,3}", 0..20)) {
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let r = request(&refs, &[]);
        for e in payload_plan(&r) {
            match e {
                PlanEntry::Build(j) => {
                    prop_assert!(crate::docker_ref::validate_repository_path(j.image.strip_prefix("docker.io/").unwrap()).is_ok());
                    prop_assert!(check_path(&j.context).is_ok());
                }
                PlanEntry::Skip(s) => prop_assert!(!s.reason.is_empty()),
            }
        }
    }
}

#[test]
fn skips_that_need_a_person_are_marked() {
    let r = request(&["Web App/x", "old/Dockerfile", "README"], &["old/Dockerfile"]);
    let p = payload_plan(&r);
    let marks: Vec<(String, bool)> = p
        .iter()
        .filter_map(|e| {
            if let PlanEntry::Skip(s) = e {
                Some((s.context.clone(), s.attention))
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        marks,
        [(".".into(), false), ("Web App".into(), true), ("old".into(), false)]
    );
    let mut private = request(&["a/b"], &[]);
    private.repository.private = true;
    assert!(matches!(&payload_plan(&private)[0], PlanEntry::Skip(s) if s.attention));
}

fn contexts_built(entries: &[PlanEntry]) -> Vec<&str> {
    jobs(entries).iter().map(|j| j.context.as_str()).collect()
}

fn repo(text: &str) -> RepoConfig {
    RepoConfig::parse(text).unwrap()
}

fn with_repo(r: &BuildRequest, tree: &TreeIndex, d: &Deployment, text: &str) -> Vec<PlanEntry> {
    plan(r, tree, d, Ok(&repo(text)))
}

fn skip_of<'a>(entries: &'a [PlanEntry], context: &str) -> &'a Skip {
    entries
        .iter()
        .find_map(|e| match e {
            PlanEntry::Skip(s) if s.context == context => Some(s),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no skip for {context}"))
}

#[test]
fn a_removed_dockerfile_hands_its_files_to_the_nearest_ancestor() {
    let r = request(&["a/b/Dockerfile", "a/b/x"], &["a/b/Dockerfile"]);
    let tree = TreeIndex::from_ls_tree("a/Dockerfile\na/b/x\n");
    let p = tree_plan(&r, &tree);
    assert_eq!(summary(&p), [("build", "a".into()), ("skip", "a/b".into())]);
    assert!(!skip_of(&p, "a/b").attention);
    // Removed at the root, with nothing above: nothing builds.
    let r = request(&["Dockerfile", "README"], &["Dockerfile"]);
    let p = tree_plan(&r, &TreeIndex::from_ls_tree("README\nweb/Dockerfile\n"));
    assert_eq!(summary(&p), [("skip", ".".into())]);
}

#[test]
fn a_moved_dockerfile_builds_its_new_directory_and_the_old_ones_ancestor() {
    let files = crate::diff::parse_name_status("R100\tx/Dockerfile\ty/Dockerfile\n").unwrap();
    let mut r = request(&[], &[]);
    r.changes = Changes::from_changed_files(&files);
    let tree = TreeIndex::from_ls_tree("Dockerfile\ny/Dockerfile\nx/notes\n");
    let p = tree_plan(&r, &tree);
    assert_eq!(
        summary(&p),
        [("build", ".".into()), ("skip", "x".into()), ("build", "y".into())]
    );
    // Without a root Dockerfile the old directory's files belong to nothing.
    let tree = TreeIndex::from_ls_tree("y/Dockerfile\nx/notes\n");
    assert_eq!(contexts_built(&tree_plan(&r, &tree)), ["y"]);
}

#[test]
fn a_new_ref_builds_every_image_it_can_list() {
    let mut r = request(&["web/x"], &[]);
    r.changes.source = ChangeSource::NewRef;
    let tree = TreeIndex::from_ls_tree("Dockerfile\nweb/Dockerfile\ntools/lint/Dockerfile\ndocs/Dockerfile\n");
    assert_eq!(
        contexts_built(&tree_plan(&r, &tree)),
        [".", "docs", "tools/lint", "web"]
    );
    // Ignored directories are not built, and say so.
    let p = with_repo(&r, &tree, &deployment(), "ignore: [docs]\n");
    assert_eq!(contexts_built(&p), [".", "tools/lint", "web"]);
    assert!(!skip_of(&p, "docs").attention);
    // The payload index cannot list: the named paths are planned.
    assert_eq!(contexts_built(&payload_plan(&r)), ["web"]);
    r.changes.paths.clear();
    let p = payload_plan(&r);
    assert_eq!(summary(&p), [("skip", ".".into())]);
    assert!(skip_of(&p, ".").attention && reason(&p, ".").contains("--tree"));
}

#[test]
fn an_unresolved_comparison_is_not_guessed() {
    let mut r = request(&[], &[]);
    r.changes.source = ChangeSource::Compare { base: "b".repeat(40) };
    let tree = TreeIndex::from_ls_tree("a/Dockerfile\nb/Dockerfile\n");
    let p = tree_plan(&r, &tree);
    assert_eq!(summary(&p), [("skip", ".".into())]);
    assert!(skip_of(&p, ".").attention);
    assert!(reason(&p, ".").contains(&format!("git diff --name-status -M {} {SHA}", "b".repeat(40))));
    // Resolved by the caller: exact.
    let files = crate::diff::parse_name_status("M\ta/x\n").unwrap();
    r.changes = Changes::from_changed_files(&files);
    assert_eq!(contexts_built(&tree_plan(&r, &tree)), ["a"]);
}

/// A deployment that lets `.dockhand.yml` add tags.
fn tags_allowed(d: Deployment) -> Deployment {
    let mut config = d.config;
    config.repository_tags = true;
    Deployment::new(config).unwrap()
}

fn suite_deployment() -> Deployment {
    let mut d = deployment();
    d.config.naming = Naming::Suite;
    Deployment::new(d.config).unwrap()
}

fn image_tags(entries: &[PlanEntry]) -> Vec<(String, Vec<String>)> {
    jobs(entries)
        .iter()
        .map(|j| (format!("{} {}", j.context, j.image), j.tags.clone()))
        .collect()
}

#[test]
fn the_suite_preset_shares_an_image_across_directories() {
    let r = request(
        &["chrome/Dockerfile", "chrome/stable/x", "chrome/beta/y", "Dockerfile"],
        &[],
    );
    let tree =
        TreeIndex::from_ls_tree("Dockerfile\nchrome/Dockerfile\nchrome/stable/Dockerfile\nchrome/beta/Dockerfile\n");
    let p = plan(&r, &tree, &suite_deployment(), Ok(&RepoConfig::default()));
    let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        image_tags(&p),
        [
            (". docker.io/acme/images".into(), t(&["latest", "6113728"])),
            ("chrome docker.io/acme/chrome".into(), t(&["latest", "6113728"])),
            ("chrome/beta docker.io/acme/chrome".into(), t(&["beta", "beta-6113728"])),
            (
                "chrome/stable docker.io/acme/chrome".into(),
                t(&["stable", "stable-6113728"])
            ),
        ]
    );
    let beta = &jobs(&p)[2].request;
    assert_eq!(beta.env("DOCKER_TAG"), Some("beta"));
    assert_eq!(beta.env("IMAGE_NAME"), Some("docker.io/acme/chrome:beta"));
    assert_eq!(beta.env("DOCKHAND_TAGS"), Some("beta,beta-6113728"));
    // The repository's file may choose the preset and add tags.
    let p = with_repo(
        &r,
        &tree,
        &tags_allowed(deployment()),
        "naming: suite\ntags: [nightly]\n",
    );
    assert_eq!(jobs(&p)[3].tags, ["stable", "stable-6113728", "stable-nightly"]);
    assert_eq!(jobs(&p)[1].tags, ["latest", "6113728", "nightly"]);
    let p = with_repo(&r, &tree, &suite_deployment(), "naming: path\n");
    assert_eq!(jobs(&p)[3].image, "docker.io/acme/chrome-stable");
}

#[test]
fn clashes_are_about_image_and_tag() {
    // `a/6113728` gives chrome... no: `x/latest-6113728`? Two suites that give one tag.
    let r = request(&["x/a/f", "x/a-6113728/f", "x/b/f"], &[]);
    let tree = TreeIndex::from_ls_tree("x/a/Dockerfile\nx/a-6113728/Dockerfile\nx/b/Dockerfile\n");
    let p = plan(&r, &tree, &suite_deployment(), Ok(&RepoConfig::default()));
    assert_eq!(contexts_built(&p), ["x/b"]);
    let why = reason(&p, "x/a");
    assert!(
        why.contains("docker.io/acme/x:a-6113728") && why.contains(r#"["x/a-6113728"]"#),
        "{why}"
    );
    assert!(skip_of(&p, "x/a-6113728").attention);
}

#[test]
fn an_invalid_suite_is_a_skip_that_says_what_to_do() {
    let r = request(&["web/Stable Build/f"], &[]);
    let tree = TreeIndex::from_ls_tree("web/Stable Build/Dockerfile\n");
    let p = plan(&r, &tree, &suite_deployment(), Ok(&RepoConfig::default()));
    let s = skip_of(&p, "web/Stable Build");
    assert!(s.attention && s.reason.contains("naming: path"), "{}", s.reason);
}

#[test]
fn the_repository_file_adds_tags_build_args_and_ignores() {
    let r = request(&["web/app.py", "docs/guide.md", "docs/img/Dockerfile", "README"], &[]);
    let tree = TreeIndex::from_ls_tree("Dockerfile\nweb/Dockerfile\ndocs/img/Dockerfile\n");
    let p = with_repo(
        &r,
        &tree,
        &tags_allowed(deployment()),
        "tags: [nightly]\nbuild_args:\n  BASE: \"3.20\"\n  DEBUG: true\nignore: [docs/]\n",
    );
    assert_eq!(
        summary(&p),
        [("build", ".".into()), ("skip", "docs".into()), ("build", "web".into())]
    );
    assert!(!skip_of(&p, "docs").attention);
    assert_eq!(
        reason(&p, "docs"),
        "changes under docs are ignored (.dockhand.yml `ignore`)"
    );
    let web = jobs(&p)[1];
    assert_eq!(web.tags, ["latest", "6113728", "nightly"]);
    assert_eq!(web.request.env("DOCKHAND_TAGS"), Some("latest,6113728,nightly"));
    assert_eq!(web.request.env("DOCKHAND_BUILD_ARGS"), Some("BASE=3.20\nDEBUG=true"));
    assert_eq!(
        web.request.buildspec_override,
        buildspec::render(&deployment().config.registry)
    );
}

#[test]
fn an_invalid_repository_file_builds_nothing_and_says_why() {
    let r = request(&["web/app.py"], &[]);
    let tree = TreeIndex::from_ls_tree("web/Dockerfile\n");
    let e = RepoConfig::parse("naming: suite\ntags: [\"a b\"]\n").unwrap_err();
    let p = plan(&r, &tree, &deployment(), Err(&e));
    assert_eq!(summary(&p), [("skip", ".".into())]);
    let s = skip_of(&p, ".");
    assert!(s.attention);
    assert!(
        s.reason.starts_with(".dockhand.yml line 2: the tag \"a b\""),
        "{}",
        s.reason
    );
    assert!(s.reason.contains("fix .dockhand.yml and push again"), "{}", s.reason);
}

#[test]
fn private_repositories_build_with_a_token() {
    let mut r = request(&["web/x"], &[]);
    r.repository.private = true;
    let p = payload_plan(&r);
    assert!(
        reason(&p, ".").contains("set `github_token_parameter`"),
        "{}",
        reason(&p, ".")
    );
    let mut d = deployment();
    d.config.github_token_parameter = Some("/dockhand/github/token".into());
    let d = Deployment::new(d.config).unwrap();
    let p = plan(&r, &PushIndex::new(&r.changes), &d, Ok(&RepoConfig::default()));
    assert_eq!(contexts_built(&p), ["web"]);
    let req = &jobs(&p)[0].request;
    assert_eq!(req.buildspec_override, buildspec::render_for(&d.config));
    assert!(req.buildspec_override.contains("$DOCKHAND_GITHUB_TOKEN_PARAMETER"));
    // The token itself is never an override: only its parameter's name and the Git host
    // the build may send it to.
    assert_eq!(
        req.env("DOCKHAND_GITHUB_TOKEN_PARAMETER"),
        Some("/dockhand/github/token")
    );
    assert_eq!(req.env("DOCKHAND_GIT_HOST"), Some("github.com"));
    assert!(
        req.environment_variables_override
            .iter()
            .all(|v| v.name == "DOCKHAND_GITHUB_TOKEN_PARAMETER" || !v.name.contains("GITHUB_TOKEN"))
    );
}

/// A YAML double-quoted scalar holding exactly `s`.
fn yaml_quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever `.dockhand.yml` holds, the buildspec stays the deployment's constant text:
    /// a hostile value is refused (one attention skip naming the file) or travels only in
    /// `DOCKHAND_BUILD_ARGS` / `DOCKHAND_TAGS`, byte for byte.
    #[test]
    fn hostile_repository_files_never_reach_the_buildspec(
        value in hostile(),
        tag in prop_oneof![hostile(), "[a-z0-9]{1,10}"],
        dir in prop_oneof![hostile(), "[a-z]{1,8}(/[a-z]{1,8})?"],
    ) {
        let text = format!(
            "build_args:\n  ARG: {}\ntags: [{}]\nignore: [{}]\n",
            yaml_quoted(&value), yaml_quoted(&tag), yaml_quoted(&dir)
        );
        let parsed = RepoConfig::parse(&text);
        let r = request(&["web/app.py"], &[]);
        let tree = TreeIndex::from_ls_tree("web/Dockerfile\n");
        let d = deployment();
        let entries = plan(&r, &tree, &d, parsed.as_ref());
        let constant = buildspec::render(&d.config.registry);
        match &parsed {
            Err(e) => {
                prop_assert_eq!(entries.len(), 1);
                let s = skip_of(&entries, ".");
                prop_assert!(s.attention);
                prop_assert!(s.reason.contains(&e.to_string()));
            }
            Ok(c) => {
                for job in jobs(&entries) {
                    prop_assert_eq!(&job.request.buildspec_override, &constant);
                    let args = c.build_args_env();
                    prop_assert_eq!(job.request.env("DOCKHAND_BUILD_ARGS"), Some(args.as_str()));
                    let expected = if tag == "latest" || tag == "6113728" {
                        "latest,6113728".to_string()
                    } else {
                        format!("latest,6113728,{tag}")
                    };
                    prop_assert_eq!(job.request.env("DOCKHAND_TAGS"), Some(expected.as_str()));
                    prop_assert_eq!(c.build_args_env(), format!("ARG={value}"));
                }
            }
        }
        for job in jobs(&entries) {
            for v in [&value, &tag, &dir] {
                if v.len() >= 12 {
                    prop_assert!(!job.request.buildspec_override.contains(v.as_str()));
                }
            }
        }
    }
}

/// A version tag's build whose commit carries a `.dockhand.yml` that adds `latest`.
fn version_tag_request() -> BuildRequest {
    let mut r = request(&["web/app.py"], &[]);
    r.git_ref = "refs/tags/v1.2.3".into();
    r.tags = vec!["v1.2.3".into()];
    r.fixed_tags = vec![];
    r
}

#[test]
fn the_repository_file_adds_tags_only_where_the_deployment_allows() {
    let tree = TreeIndex::from_ls_tree("web/Dockerfile\n");
    let r = request(&["web/app.py"], &[]);
    // Off by default: the file's tags are refused, nothing built, and the reason says why.
    let p = with_repo(&r, &tree, &deployment(), "tags: [nightly]\n");
    assert!(jobs(&p).is_empty());
    let s = skip_of(&p, ".");
    assert!(
        s.attention && s.reason.contains("`repository_tags` is off"),
        "{}",
        s.reason
    );
    // Allowed, it still never adds a reserved tag to another ref than the default branch.
    for file in ["tags: [latest]\n", "tags: [nightly, 6113728]\n"] {
        let p = with_repo(&version_tag_request(), &tree, &tags_allowed(deployment()), file);
        assert!(jobs(&p).is_empty(), "{file}");
        let s = skip_of(&p, ".");
        assert!(
            s.attention && s.reason.contains("only the default branch"),
            "{}",
            s.reason
        );
        // Off, the same file is refused too.
        assert!(jobs(&with_repo(&version_tag_request(), &tree, &deployment(), file)).is_empty());
    }
    let p = with_repo(
        &version_tag_request(),
        &tree,
        &tags_allowed(deployment()),
        "tags: [stable]\n",
    );
    assert_eq!(jobs(&p)[0].tags, ["v1.2.3", "stable"]);
    let p = with_repo(&r, &tree, &tags_allowed(deployment()), "tags: [latest]\n");
    assert_eq!(jobs(&p)[0].tags, ["latest", "6113728"]);
}

#[test]
fn a_request_that_carries_a_reserved_tag_off_the_default_branch_builds_nothing() {
    let mut r = version_tag_request();
    r.tags = vec!["latest".into()];
    let tree = TreeIndex::from_ls_tree("web/Dockerfile\n");
    let p = plan(&r, &tree, &deployment(), Ok(&RepoConfig::default()));
    assert!(jobs(&p).is_empty());
    assert!(skip_of(&p, "web").reason.contains("only the default branch"));
}

#[test]
fn a_clash_with_a_directory_this_push_did_not_change_is_refused() {
    // Only tools/lint changed; tools-lint, which names the same image, did not.
    let r = request(&["tools/lint/check.sh"], &[]);
    let tree = TreeIndex::from_ls_tree("tools/lint/Dockerfile\ntools-lint/Dockerfile\nweb/Dockerfile\n");
    let p = plan(&r, &tree, &deployment(), Ok(&RepoConfig::default()));
    assert!(jobs(&p).is_empty(), "{p:?}");
    let s = skip_of(&p, "tools/lint");
    assert!(
        s.attention && s.reason.contains("docker.io/acme/tools-lint:") && s.reason.contains(r#"["tools-lint"]"#),
        "{}",
        s.reason
    );
    // Under `suite`, chrome/latest/ would push chrome:latest over chrome/'s.
    let r = request(&["chrome/latest/x"], &[]);
    let tree = TreeIndex::from_ls_tree("chrome/Dockerfile\nchrome/latest/Dockerfile\n");
    let p = plan(&r, &tree, &suite_deployment(), Ok(&RepoConfig::default()));
    assert!(jobs(&p).is_empty(), "{p:?}");
    assert!(
        skip_of(&p, "chrome/latest")
            .reason
            .contains("docker.io/acme/chrome:latest")
    );
    // A directory mapped in `images` onto another's name is a clash too.
    let mut d = deployment();
    d.config.images.insert("site".into(), "web".into());
    let d = Deployment::new(d.config).unwrap();
    let r = request(&["web/index.html"], &[]);
    let tree = TreeIndex::from_ls_tree("site/Dockerfile\nweb/Dockerfile\n");
    let p = plan(&r, &tree, &d, Ok(&RepoConfig::default()));
    assert!(skip_of(&p, "web").reason.contains(r#"["site"]"#));
    // Without a clash, the unchanged directories stay unbuilt and silent.
    let r = request(&["web/index.html"], &[]);
    let tree = TreeIndex::from_ls_tree("tools/lint/Dockerfile\nweb/Dockerfile\n");
    assert_eq!(
        summary(&plan(&r, &tree, &deployment(), Ok(&RepoConfig::default()))),
        [("build", "web".into())]
    );
}

const WEB_TREE: &str = "1111111111111111111111111111111111111111";
const ROOT_TREE: &str = "2222222222222222222222222222222222222222";
const BLOB: &str = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";

/// `git ls-tree -r -t` of a tree with a root and a `web` image, the root's tree id given
/// as the "." line; `web`'s tree id as given.
fn listed_tree(web: &str) -> TreeIndex {
    TreeIndex::from_ls_tree(&format!(
        "040000 tree {ROOT_TREE}\t.\n100644 blob {BLOB}\tDockerfile\n040000 tree {web}\tweb\n100644 blob {BLOB}\tweb/Dockerfile\n100644 blob {BLOB}\tweb/app.py\n"
    ))
}

fn web_job(entries: &[PlanEntry]) -> BuildJob {
    jobs(entries).into_iter().find(|j| j.context == "web").unwrap().clone()
}

#[test]
fn an_image_key_is_made_of_its_context_tree_and_settings() {
    let r = request(&["web/app.py", "Dockerfile"], &[]);
    let d = deployment();
    let tree = listed_tree(WEB_TREE);
    let entries = tree_plan(&r, &tree);
    let web = web_job(&entries);
    assert!(web.reusable);
    assert_eq!(web.action, Action::Build);
    assert_eq!(web.request.env("DOCKHAND_IMAGE_KEY"), Some(web.image_key.as_str()));
    assert_eq!(web.request.env("DOCKHAND_KEY_TAG"), Some(web.key_tag().as_str()));
    assert_eq!(web.request.env("DOCKHAND_PLATFORMS"), None);
    // The root's key is its own, from the root's tree id.
    let root = jobs(&entries).into_iter().find(|j| j.context == ".").unwrap().clone();
    assert!(root.reusable);
    assert_ne!(root.image_key, web.image_key);
    // The same tree at another commit, on another ref: the same key.
    let mut other = request(&["web/app.py"], &[]);
    other.commit = "b".repeat(40);
    other.git_ref = "refs/tags/v1.0".into();
    other.tags = vec!["v1.0".into()];
    assert_eq!(web_job(&tree_plan(&other, &tree)).image_key, web.image_key);
    // Another tree id: another key.
    let changed = web_job(&tree_plan(&r, &listed_tree(&"3".repeat(40))));
    assert_ne!(changed.image_key, web.image_key);
    // Build arguments and platforms are parts; `.dockhand.yml` platforms win.
    let args = web_job(&with_repo(&r, &tree, &d, "build_args:\n  A: \"1\"\n"));
    assert_ne!(args.image_key, web.image_key);
    let mut multi = d.config.clone();
    multi.platforms = vec!["linux/amd64".into(), "linux/arm64".into()];
    let multi = Deployment::new(multi).unwrap();
    let both = web_job(&plan(&r, &tree, &multi, Ok(&RepoConfig::default())));
    assert_eq!(both.request.env("DOCKHAND_PLATFORMS"), Some("linux/amd64,linux/arm64"));
    assert_ne!(both.image_key, web.image_key);
    let arm = web_job(&with_repo(&r, &tree, &multi, "platforms: [linux/arm64]\n"));
    assert_eq!(arm.request.env("DOCKHAND_PLATFORMS"), Some("linux/arm64"));
    let host = web_job(&with_repo(&r, &tree, &multi, "platforms: []\n"));
    assert_eq!(host.request.env("DOCKHAND_PLATFORMS"), None);
    assert_eq!(host.image_key, web.image_key);
    // `rebuild: always` and a refresh build; a listing without tree ids keys on the commit.
    assert!(!web_job(&with_repo(&r, &tree, &d, "rebuild: always\n")).reusable);
    let mut refresh = r.clone();
    refresh.rebuild = true;
    assert!(!web_job(&tree_plan(&refresh, &tree)).reusable);
    let bare = web_job(&tree_plan(&r, &TreeIndex::from_ls_tree("web/Dockerfile\nweb/app.py\n")));
    assert!(!bare.reusable);
    assert_ne!(bare.image_key, web.image_key);
}

/// Under `autotest: tags`, a branch's build pushes untested: its image must not stand, by
/// a re-tag, for a tag's build of the same tree, whose tests must run. Two tags (both
/// tested) share their key as before.
#[test]
fn an_untested_image_never_stands_for_a_tested_one() {
    let mut config = deployment().config;
    config.autotest = crate::config::Autotest::Tags;
    let d = Deployment::new(config).unwrap();
    let tree = listed_tree(WEB_TREE);
    let on = |git_ref: &str| {
        let mut r = request(&["web/app.py"], &[]);
        r.git_ref = git_ref.into();
        r.tags = vec!["v1.0".into()];
        web_job(&plan(&r, &tree, &d, Ok(&RepoConfig::default())))
    };
    let branch = on("refs/heads/feature");
    let tag = on("refs/tags/v1.0");
    assert_eq!(branch.request.env("DOCKHAND_AUTOTEST"), Some("0"));
    assert_eq!(tag.request.env("DOCKHAND_AUTOTEST"), Some("1"));
    assert_ne!(branch.image_key, tag.image_key);
    assert_eq!(on("refs/tags/v2.0").image_key, tag.image_key);
}

#[test]
fn the_plan_says_build_or_retag_per_image() {
    let r = request(&["web/app.py"], &[]);
    let mut entries = tree_plan(&r, &listed_tree(WEB_TREE));
    let json = serde_json::to_string(&entries[0]).unwrap();
    assert!(json.contains(r#""action":"build""#), "{json}");
    let PlanEntry::Build(job) = &mut entries[0] else {
        panic!()
    };
    job.retag();
    let json = serde_json::to_string(&entries[0]).unwrap();
    let expected = format!(
        r#""action":"re-tag of docker.io/acme/web:{}""#,
        web_job(&entries).key_tag()
    );
    assert!(json.contains(&expected), "{json}");
}
