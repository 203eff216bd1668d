//! Buildspec rendering. The templates in `buildspecs/` are compiled in; the text depends
//! on deployment configuration alone, so identical for every push of a deployment.

use crate::config::{Config, Registry};

const TEMPLATE: &str = include_str!("../../../buildspecs/build.yml");
const LOGIN_TOKEN: &str = include_str!("../../../buildspecs/login-token.sh");
const LOGIN_ECR: &str = include_str!("../../../buildspecs/login-ecr.sh");
const CLONE_AUTH: &str = include_str!("../../../buildspecs/clone-auth.sh");
const LOGIN_PULL: &str = include_str!("../../../buildspecs/login-pull.sh");
const LOGIN_PULL_ECR: &str = include_str!("../../../buildspecs/login-pull-ecr.sh");
const PUSH_TAGS: &str = include_str!("../../../buildspecs/push-tags.sh");
const RETAG: &str = include_str!("../../../buildspecs/retag.yml");
const REF_HEAD: &str = include_str!("../../../buildspecs/ref-head.sh");
const HUB_HOOKS: &str = include_str!("../../../buildspecs/hub-hooks.sh");
const HUB_BUILD: &str = include_str!("../../../buildspecs/hub-build.sh");
const HUB_DESCRIPTION: &str = include_str!("../../../buildspecs/hub-description.sh");

/// The revision of the image buildspec compiled in: SHA-256 of `buildspecs/build.yml`'s
/// text and of the Hub mode snippets it holds. Part of every image's key, so a change to
/// how images are built builds them again.
pub fn revision() -> &'static str {
    static REVISION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    REVISION.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(TEMPLATE.as_bytes());
        for snippet in [HUB_HOOKS, HUB_BUILD] {
            h.update((snippet.len() as u64).to_be_bytes());
            h.update(snippet.as_bytes());
        }
        hex::encode(h.finalize())
    })
}

/// The buildspec every build of this deployment runs. Which snippets it holds depends on
/// the configuration (the registry's login, a GitHub token, a pull credential); the values
/// themselves travel as environment variables ([`crate::start_build`]).
pub fn render_for(config: &Config) -> String {
    let pull = config.pull_credential.as_ref().map(|p| {
        if p.token_parameter.is_some() {
            LOGIN_PULL.trim()
        } else {
            LOGIN_PULL_ECR.trim()
        }
    });
    let description = matches!(config.registry, Registry::DockerHub { .. }) && config.hub_description;
    let text = fill(
        TEMPLATE,
        &[
            ("{{push_tags}}", Some(PUSH_TAGS.trim())),
            ("{{hub_hooks}}", Some(HUB_HOOKS.trim())),
            ("{{hub_build}}", Some(HUB_BUILD.trim())),
            ("{{ref_head}}", Some(REF_HEAD.trim())),
            ("{{login}}", Some(login_for(&config.registry))),
            ("{{clone_auth}}", clone_auth(config)),
            ("{{pull_login}}", pull),
            ("{{hub_description}}", description.then(|| HUB_DESCRIPTION.trim())),
        ],
    );
    debug_assert_eq!(placeholder_left(&text), None);
    text
}

fn clone_auth(config: &Config) -> Option<&'static str> {
    config.github_token_parameter.as_ref().map(|_| CLONE_AUTH.trim())
}

/// The re-tag job's buildspec ([`crate::retag`]): the same registry login and GitHub token
/// snippets as [`render_for`]'s, nothing pulled, nothing built.
pub fn render_retag_for(config: &Config) -> String {
    let text = fill(
        RETAG,
        &[
            ("{{login}}", Some(login_for(&config.registry))),
            ("{{ref_head}}", Some(REF_HEAD.trim())),
            ("{{clone_auth}}", clone_auth(config)),
        ],
    );
    debug_assert_eq!(placeholder_left(&text), None);
    text
}

/// A `{{name}}` placeholder the rendering left, if any. Go templates of the commands
/// (`docker image inspect --format '{{.Id}}'`) are not placeholders.
fn placeholder_left(text: &str) -> Option<&str> {
    text.match_indices("{{").find_map(|(at, _)| {
        let rest = &text[at + 2..];
        let end = rest.find("}}")?;
        let name = &rest[..end];
        (!name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            .then_some(&text[at..at + end + 4])
    })
}

fn login_for(registry: &Registry) -> &'static str {
    match registry {
        Registry::DockerHub { .. } | Registry::Generic { .. } => LOGIN_TOKEN.trim(),
        Registry::Ecr { .. } => LOGIN_ECR.trim(),
    }
}

/// The buildspec of a deployment with this registry and nothing else configured: no GitHub
/// token (public repositories only), no pull credential.
pub fn render(registry: &Registry) -> String {
    let mut config: Config =
        serde_json::from_str(r#"{"registry":{"type":"ecr","registry":"x"}}"#).expect("a minimal configuration");
    config.registry = registry.clone();
    render_for(&config)
}

/// A snippet for each placeholder: `None` removes the placeholder's line.
type Snippets<'a> = [(&'a str, Option<&'a str>)];

/// Fills `template` in one pass: a line holding only a placeholder becomes its snippet's
/// lines at that line's indentation, the snippet's own placeholder lines filled the same
/// way at theirs, or goes when the snippet is `None`. One pass because every build's
/// request is rendered when it is planned and again when it is checked before starting.
fn fill(template: &str, snippets: &Snippets) -> String {
    let mut out = String::with_capacity(2 * template.len());
    for line in template.split_inclusive('\n') {
        match placeholder(line, snippets) {
            Some((indent, snippet)) => fill_snippet(&mut out, indent, snippet, snippets),
            None => out.push_str(line),
        }
    }
    out
}

fn fill_snippet(out: &mut String, indent: &str, snippet: Option<&str>, snippets: &Snippets) {
    for line in snippet.into_iter().flat_map(str::lines) {
        match placeholder(line, snippets) {
            Some((own, inner)) => fill_snippet(out, &format!("{indent}{own}"), inner, snippets),
            None => {
                if !line.is_empty() {
                    out.push_str(indent);
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
    }
}

/// The indentation and snippet of a line holding only one of `snippets`' placeholders.
fn placeholder<'a>(line: &'a str, snippets: &Snippets<'a>) -> Option<(&'a str, Option<&'a str>)> {
    if !line.contains("{{") {
        return None;
    }
    let name = line.trim();
    let (_, snippet) = snippets.iter().find(|(p, _)| *p == name)?;
    Some((&line[..line.len() - line.trim_start().len()], *snippet))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Registry {
        Registry::DockerHub {
            namespace: "acme".into(),
            username: None,
            token_parameter: None,
        }
    }

    fn with_token(registry: Registry) -> Config {
        let mut config: Config = serde_json::from_str(r#"{"registry":{"type":"ecr","registry":"x"}}"#).unwrap();
        config.registry = registry;
        config.github_token_parameter = Some("/dockhand/github/token".into());
        config
    }

    #[test]
    fn without_a_token_nothing_of_it_is_rendered() {
        let mut config = with_token(hub());
        config.github_token_parameter = None;
        let text = render_for(&config);
        assert_eq!(text, render(&hub()));
        assert!(!text.contains("GITHUB_TOKEN") && !text.contains("extraHeader") && !text.contains("PULL"));
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
        assert!(docs[0]["env"]["parameter-store"].is_badvalue());
    }

    #[test]
    fn a_token_is_read_inside_the_fetch_alone_and_sent_to_the_git_host_alone() {
        let text = render_for(&with_token(hub()));
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("valid YAML");
        let env = &docs[0]["env"];
        assert_eq!(env["shell"].as_str(), Some("bash"));
        // Not exported to every phase by CodeBuild's parameter-store.
        assert!(env["parameter-store"].is_badvalue(), "{text}");
        let pre = docs[0]["phases"]["pre_build"]["commands"][0].as_str().unwrap();
        assert!(pre.contains(r#"n="${GIT_CONFIG_COUNT:-0}""#), "{pre}");
        assert!(
            pre.contains(r#""GIT_CONFIG_KEY_$n=http.https://$DOCKHAND_GIT_HOST/.extraHeader""#),
            "{pre}"
        );
        assert!(
            pre.contains(r#"--name "$DOCKHAND_GITHUB_TOKEN_PARAMETER" --with-decryption"#),
            "{pre}"
        );
        // Read, used and dropped in the fetch's subshell; the URL stays the push's.
        let read = pre.find("aws ssm get-parameter").unwrap();
        let open = pre[..read].rfind("(\n").unwrap();
        let fetch = pre.find("fetch --quiet").unwrap();
        let close = pre[fetch..].find("\n)\n").unwrap() + fetch;
        assert!(open < read && read < fetch && fetch < close);
        assert!(pre[read..fetch].contains("unset token"));
        assert!(pre.contains(r#"-- "$SOURCE_REPO_URL" "$SOURCE_COMMIT""#));
        assert!(!text.contains("x-access-token@"));
    }

    /// The header snippet, run by bash with a stand-in `aws`: appends one pair scoped to
    /// the host, keeps the existing ones, and leaves no token variable behind.
    #[test]
    fn the_clone_auth_snippet_appends_a_header_for_the_host() {
        let dir = std::env::temp_dir().join(format!("dockhand-clone-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let aws = dir.join("aws");
        std::fs::write(
            &aws,
            "#!/bin/sh\n[ \"$4\" = /dockhand/github/token ] && echo ghp_secret\n",
        )
        .unwrap();
        std::fs::set_permissions(&aws, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -euo pipefail\n{CLONE_AUTH}\nprintf '%s|%s|%s|%s|%s|%s' \"$GIT_CONFIG_COUNT\" \"$GIT_CONFIG_KEY_0\" \"$GIT_CONFIG_VALUE_0\" \"$GIT_CONFIG_KEY_1\" \"$GIT_CONFIG_VALUE_1\" \"${{token:-}}${{basic:-}}\""
            ))
            .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "url.git://127.0.0.1:9418/.insteadOf")
            .env("GIT_CONFIG_VALUE_0", "https://github.com/")
            .env("DOCKHAND_GITHUB_TOKEN_PARAMETER", "/dockhand/github/token")
            .env("DOCKHAND_GIT_HOST", "github.com")
            .output();
        let _ = std::fs::remove_dir_all(&dir);
        let Ok(out) = out else {
            return; // no bash here
        };
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            // base64("x-access-token:ghp_secret")
            "2|url.git://127.0.0.1:9418/.insteadOf|https://github.com/|http.https://github.com/.extraHeader|AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hwX3NlY3JldA==|"
        );
    }

    #[test]
    fn the_logins_come_before_the_build_the_pull_one_first() {
        let mut config = with_token(hub());
        let text = render_for(&config);
        let build = text.find("docker buildx build").unwrap();
        let login = text.find(r#"--password-stdin "$DOCKHAND_REGISTRY""#).unwrap();
        assert!(login < build, "{text}");
        assert!(!text.contains("DOCKHAND_PULL"));
        config.pull_credential = Some(crate::config::PullCredential {
            host: "docker.io".into(),
            username: Some("reader".into()),
            token_parameter: Some("/dockhand/pull".into()),
        });
        let text = render_for(&config);
        let pull = text.find(r#"--password-stdin "$DOCKHAND_PULL_REGISTRY""#).unwrap();
        assert!(pull < text.find(r#"--password-stdin "$DOCKHAND_REGISTRY""#).unwrap());
        config.pull_credential = Some(crate::config::PullCredential {
            host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
            username: None,
            token_parameter: None,
        });
        assert!(render_for(&config).contains("aws ecr get-login-password --region \"$AWS_REGION\" | docker login --username AWS --password-stdin \"$DOCKHAND_PULL_REGISTRY\""));
    }

    fn syncing(registry: Registry) -> Config {
        let mut config = with_token(registry);
        config.hub_description = true;
        config
    }

    /// The snippet is rendered only for a deployment that opted in, with Docker Hub, as the
    /// last step of a successful build's post_build: after every tag is pushed.
    #[test]
    fn the_description_is_synced_last_and_only_when_opted_in() {
        let marker = "##dockhand description synced";
        assert!(!render(&hub()).contains(marker));
        assert!(!render_for(&with_token(hub())).contains(marker));
        let ecr = Registry::Ecr {
            registry: "x".into(),
            prefix: None,
        };
        assert!(!render_for(&syncing(ecr)).contains(marker), "Docker Hub only");
        let text = render_for(&syncing(hub()));
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("valid YAML");
        let post = docs[0]["phases"]["post_build"]["commands"][0].as_str().unwrap();
        let (succeeding, failing) = post.split_once("\nelse\n").unwrap();
        let sync = succeeding.find(marker).unwrap();
        assert!(succeeding.find("docker buildx imagetools create").unwrap() < sync);
        assert!(!failing.contains("description"), "{failing}");
        // Never fails the build, whatever happens inside.
        assert!(succeeding.trim_end().ends_with(") || true"), "{succeeding}");
        // The text is the deployment's: no value of a push in it.
        assert!(text.contains(r#"path="${DOCKHAND_DESCRIPTION_PATH:-}""#));
    }

    #[test]
    fn templates_are_single_line_commands() {
        for fragment in [LOGIN_TOKEN, LOGIN_ECR, LOGIN_PULL, LOGIN_PULL_ECR] {
            assert_eq!(fragment.trim().lines().count(), 1);
            assert!(fragment.contains("--password-stdin"));
        }
    }

    #[test]
    fn rendered_buildspec_is_valid_yaml_with_the_expected_phases() {
        for registry in [
            hub(),
            Registry::Ecr {
                registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
                prefix: None,
            },
        ] {
            let text = render(&registry);
            let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("valid YAML");
            let doc = &docs[0];
            assert_eq!(doc["version"].as_f64(), Some(0.2));
            assert_eq!(doc["env"]["shell"].as_str(), Some("bash"));
            for phase in ["install", "pre_build", "build", "post_build"] {
                assert!(!doc["phases"][phase]["commands"].is_badvalue(), "{phase}");
            }
            let build = doc["phases"]["build"]["commands"][0].as_str().unwrap();
            assert!(build.contains("--password-stdin"), "{build}");
            let post = doc["phases"]["post_build"]["commands"][0].as_str().unwrap();
            assert!(post.contains("docker buildx imagetools create"), "{post}");
            assert_eq!(placeholder_left(&text), None);
        }
    }

    #[test]
    fn clone_is_exact_and_push_is_conditional() {
        let text = render(&hub());
        assert!(text.contains(r#"git init --quiet "$src""#));
        assert!(text.contains(r#"fetch --quiet --depth 1 -- "$SOURCE_REPO_URL" "$SOURCE_COMMIT""#));
        assert!(text.contains("checkout --quiet FETCH_HEAD"));
        assert!(text.contains(r#"--file "./$DOCKERFILE_PATH""#));
        assert!(text.contains(r#""./$BUILD_CONTEXT""#));
        assert!(text.contains(r#"[ "${CODEBUILD_BUILD_SUCCEEDING:-0}" = 1 ]"#));
        assert!(
            text.contains(r#"--output "type=image,name=$DOCKER_REPO:$DOCKHAND_KEY_TAG,push=true,oci-mediatypes=true""#)
        );
        assert!(text.contains(r#"--tag "$DOCKER_REPO:$tag" "$source_image""#));
        // Only Hub mode pushes from the engine, and only the key tag.
        assert!(text.contains(r#"docker push "$DOCKER_REPO:$DOCKHAND_KEY_TAG" | tee "$pushed""#));
        assert!(text.contains("aws ssm get-parameter"));
        assert!(
            render(&Registry::Ecr {
                registry: "x".into(),
                prefix: None
            })
            .contains("aws ecr get-login-password")
        );
    }

    #[test]
    fn build_args_are_passed_one_quoted_argument_per_line() {
        let text = render(&hub());
        assert!(text.contains(r#"mapfile -t lines <<< "$DOCKHAND_BUILD_ARGS""#));
        assert!(text.contains(r#"*=*) args+=(--build-arg "$line") ;;"#));
        assert!(text.contains(r#"--file "./$DOCKERFILE_PATH" "${args[@]}")"#));
    }

    #[test]
    fn every_expansion_is_double_quoted() {
        // Outside comments, `$` only appears inside a "…" string (no word splitting or
        // globbing of anything a push controls) or a '…' one, which the shell never expands
        // (awk's own `$1`).
        for text in [
            render(&hub()),
            render(&Registry::Ecr {
                registry: "x".into(),
                prefix: None,
            }),
            render_for(&with_token(hub())),
            render_for(&syncing(hub())),
        ] {
            for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
                let mut in_quotes = false;
                let mut in_single = false;
                for c in line.chars() {
                    match c {
                        '"' if !in_single => in_quotes = !in_quotes,
                        '\'' if !in_quotes => in_single = !in_single,
                        '$' => assert!(in_quotes || in_single, "unquoted expansion in: {line}"),
                        _ => {}
                    }
                }
            }
        }
    }
}
