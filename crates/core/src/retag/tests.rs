use super::*;
use crate::index::TreeIndex;
use crate::repo_config::RepoConfig;
use crate::testing::{build_request, deployment};
use proptest::prelude::*;

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const BLOB: &str = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";

fn line(repository: &str, tags: &[&str], moving: &[&str]) -> RetagLine {
    RetagLine {
        repository: repository.into(),
        key_tag: crate::image_key::key_tag(KEY),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        moving_tags: moving.iter().map(|s| s.to_string()).collect(),
    }
}

/// A plan of `web` and `api`, both with known trees.
fn planned() -> (BuildRequest, Vec<PlanEntry>) {
    let mut r = build_request(&"a".repeat(40));
    r.changes.paths = vec!["web/x".into(), "api/x".into()];
    let tree = TreeIndex::from_ls_tree(&format!(
        "040000 tree {}\tapi\n100644 blob {BLOB}\tapi/Dockerfile\n040000 tree {}\tweb\n100644 blob {BLOB}\tweb/Dockerfile\n",
        "1".repeat(40),
        "2".repeat(40)
    ));
    let entries = crate::plan(&r, &tree, &deployment(), Ok(&RepoConfig::default()));
    (r, entries)
}

fn job<'a>(entries: &'a [PlanEntry], context: &str) -> &'a BuildJob {
    entries
        .iter()
        .find_map(|e| match e {
            PlanEntry::Build(j) if j.context == context => Some(&**j),
            _ => None,
        })
        .unwrap()
}

#[test]
fn a_line_reads_back_as_written() {
    let l = line("docker.io/acme/web", &["v1.2", "latest"], &["latest"]);
    let text = l.line().unwrap();
    assert_eq!(
        text,
        format!("docker.io/acme/web\tdockhand-{}\tv1.2,latest\tlatest", &KEY[..32])
    );
    assert_eq!(RetagLine::parse(&text).unwrap(), l);
    let ecr = line("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web", &["v1"], &[]);
    assert_eq!(RetagLine::parse(&ecr.line().unwrap()).unwrap(), ecr);
    let local = line("127.0.0.1:5000/acme/web", &["main"], &["main"]);
    assert!(local.line().is_ok());
    for bad in [
        line("web", &["v1"], &[]),
        line("docker.io/Acme/web", &["v1"], &[]),
        line("docker.io/acme/web\tx", &["v1"], &[]),
        line("docker.io/acme/web", &[], &[]),
        line("docker.io/acme/web", &["v1,v2"], &[]),
        line("docker.io/acme/web", &["v1"], &["latest"]),
        RetagLine {
            key_tag: "latest".into(),
            ..line("docker.io/acme/web", &["v1"], &[])
        },
    ] {
        assert!(bad.line().is_err(), "{bad:?}");
    }
    assert!(RetagLine::parse("a\tb\tc").is_err());
}

#[test]
fn recorded_images_become_one_retag_job_and_the_rest_are_built() {
    let (r, mut entries) = planned();
    let keys = lookup_keys(&entries);
    // Each image's record and its own build's key.
    assert_eq!(keys.len(), 4);
    let web = job(&entries, "web").clone();
    let api = job(&entries, "api").clone();
    assert!(keys.contains(&web.record_key()) && keys.contains(&web.key));
    let recorded = HashSet::from([web.record_key(), api.record_key(), api.key.clone()]);
    // api's build was already claimed by this push (a redelivery): it stays a build.
    assert_eq!(mark_retags(&mut entries, &recorded), 1);
    assert_eq!(
        job(&entries, "web").action,
        Action::Retag {
            from: format!("docker.io/acme/web:{}", web.key_tag())
        }
    );
    assert_eq!(job(&entries, "api").action, Action::Build);
    let jobs = retag_jobs(&r, &deployment(), &entries);
    assert_eq!(jobs.len(), 1);
    let (start, images) = &jobs[0];
    assert_eq!(images, &[RetagLine::of(&web)]);
    assert_eq!(
        start.env(RETAG_VARIABLE),
        Some(RetagLine::of(&web).line().unwrap().as_str())
    );
    assert_eq!(
        start.buildspec_override,
        crate::buildspec::render_retag_for(&deployment().config)
    );
    assert_eq!(start.env(BUILD_KEY_VARIABLE), Some(start.idempotency_token.as_str()));
    assert_eq!(
        start.idempotency_token,
        retag_key(&r, start.env(RETAG_VARIABLE).unwrap(), &deployment())
    );
    assert_eq!(start.timeout_in_minutes_override, RETAG_TIMEOUT_MINUTES);
    // The queue's check accepts it as this deployment's, and refuses it altered.
    let queued = crate::queue::QueuedBuild::retag(&r, start.clone(), images);
    assert!(queued.is_retag());
    assert_eq!(queued.check(&deployment()), Ok(()));
    let mut altered = queued.clone();
    for v in &mut altered.request.environment_variables_override {
        if v.name == RETAG_VARIABLE {
            v.value.push_str("\nx");
        }
    }
    assert!(altered.check(&deployment()).is_err());
    // Nothing recorded: nothing re-tagged.
    let (_, mut fresh) = planned();
    assert_eq!(mark_retags(&mut fresh, &HashSet::new()), 0);
    assert!(retag_jobs(&r, &deployment(), &fresh).is_empty());
}

#[test]
fn lines_past_the_limit_make_more_jobs() {
    let lines: Vec<String> = (0..2000)
        .map(|i| {
            line(
                &format!("docker.io/acme/image-{i:04}"),
                &["v1.2.3", "latest"],
                &["latest"],
            )
            .line()
            .unwrap()
        })
        .collect();
    let groups = groups(&lines);
    assert!(groups.len() > 1);
    assert_eq!(groups.concat(), lines);
    for g in &groups {
        assert!(g.join("\n").len() <= MAX_RETAG_BYTES);
    }
    assert_eq!(super::groups(&lines[..10]).len(), 1);
}

fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("$(touch /tmp/pwned)".to_string()),
        Just("`id`".to_string()),
        Just("a\tb".to_string()),
        Just("a\nb".to_string()),
        Just("v1,v2".to_string()),
        Just("\"q\" 'q'".to_string()),
        Just("-rf".to_string()),
        "\\PC{0,30}",
        "[a-zA-Z0-9_.,\\t\\n$-]{0,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A line is refused, or reads back field for field and holds nothing bash's `read`
    /// would split or a shell would interpret.
    #[test]
    fn hostile_names_and_tags_are_refused_or_stay_four_clean_fields(
        repo in hostile(), tag in hostile(), moving in proptest::bool::ANY,
    ) {
        let l = RetagLine {
            repository: format!("docker.io/{repo}"),
            key_tag: crate::image_key::key_tag(KEY),
            tags: vec![tag.clone()],
            moving_tags: if moving { vec![tag.clone()] } else { vec![] },
        };
        if let Ok(text) = l.line() {
            prop_assert_eq!(text.split('\t').count(), 4);
            prop_assert!(!text.contains(['\n', '\r', '$', '`', '"', '\'', ' ', '\\', ';']));
            prop_assert_eq!(RetagLine::parse(&text).unwrap(), l);
        }
    }

    /// The re-tag request's buildspec is the deployment's constant text whatever the push
    /// held; the push's values and the lines travel byte for byte as variables.
    #[test]
    fn hostile_push_fields_travel_only_as_environment_variables(
        message in hostile(), branch in hostile(), full_name in hostile(),
    ) {
        let mut r = build_request(&"a".repeat(40));
        r.head_commit = Some(crate::request::HeadCommit { message: message.clone(), author: None, url: None, timestamp: None });
        r.git_ref = format!("refs/heads/{branch}");
        r.repository.full_name = full_name.clone();
        let lines = line("docker.io/acme/web", &["edge"], &["edge"]).line().unwrap();
        let start = retag_request(&r, &deployment(), &lines);
        let constant = crate::buildspec::render_retag_for(&deployment().config);
        prop_assert_eq!(&start.buildspec_override, &constant);
        prop_assert_eq!(start.env(RETAG_VARIABLE), Some(lines.as_str()));
        prop_assert_eq!(start.env("COMMIT_MSG"), Some(message.as_str()).filter(|m| !m.is_empty()));
        prop_assert_eq!(start.env("DOCKHAND_REF"), Some(r.git_ref.as_str()));
        prop_assert_eq!(start.env("DOCKHAND_REPOSITORY"), Some(full_name.as_str()).filter(|m| !m.is_empty()));
        let back: StartBuildRequest = serde_json::from_str(&serde_json::to_string(&start).unwrap()).unwrap();
        prop_assert_eq!(back, start);
    }
}

/// The rendered re-tag buildspec is YAML whose one command logs in, asks where the ref
/// points only inside its subshell with the token, and never pastes a value.
#[test]
fn the_retag_buildspec_renders_for_each_login() {
    for config in [deployment().config, {
        let mut c = deployment().config;
        c.github_token_parameter = Some("/dockhand/github/token".into());
        c
    }] {
        let text = crate::buildspec::render_retag_for(&config);
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("valid YAML");
        let command = docs[0]["phases"]["build"]["commands"][0].as_str().unwrap();
        assert!(
            command.contains("docker login --username \"$DOCKHAND_REGISTRY_USER\" --password-stdin"),
            "{command}"
        );
        assert!(
            command.contains(r#"docker buildx imagetools create "${copy[@]}" --tag "$repo:$tag" "$repo:$key_tag""#)
        );
        assert!(command.contains(r#"git ls-remote -- "$SOURCE_REPO_URL" "$DOCKHAND_REF" "$DOCKHAND_REF^{}""#));
        assert_eq!(
            command.contains("GITHUB_TOKEN_PARAMETER"),
            config.github_token_parameter.is_some()
        );
        assert!(!text.contains("{{"));
    }
}
