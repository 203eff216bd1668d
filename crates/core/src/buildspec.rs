//! Buildspec rendering. The templates in `buildspecs/` are compiled in; the text depends
//! on deployment configuration alone, so identical for every push of a deployment.

use crate::config::{Config, Registry};

const TEMPLATE: &str = include_str!("../../../buildspecs/build.yml");
const LOGIN_TOKEN: &str = include_str!("../../../buildspecs/login-token.sh");
const LOGIN_ECR: &str = include_str!("../../../buildspecs/login-ecr.sh");
const CLONE_AUTH: &str = include_str!("../../../buildspecs/clone-auth.sh");

/// The buildspec every build of this deployment runs.
pub fn render_for(config: &Config) -> String {
    render_parts(&config.registry, config.github_token_parameter.as_deref())
}

/// The buildspec of a deployment without a GitHub token (public repositories only).
pub fn render(registry: &Registry) -> String {
    render_parts(registry, None)
}

fn render_parts(registry: &Registry, github_token_parameter: Option<&str>) -> String {
    let login = match registry {
        Registry::DockerHub { .. } | Registry::Generic { .. } => LOGIN_TOKEN,
        Registry::Ecr { .. } => LOGIN_ECR,
    };
    let text = TEMPLATE.replace("{{login}}", login.trim());
    // CodeBuild reads the SecureString into the build's environment (and masks it in logs);
    // the name is written as a JSON string, which YAML reads as a double-quoted scalar.
    let parameter_store = github_token_parameter.map(|name| {
        format!(
            "parameter-store:\n  DOCKHAND_GITHUB_TOKEN: {}",
            serde_json::to_string(name).expect("a string serializes")
        )
    });
    let text = replace_line(&text, "{{parameter_store}}", parameter_store.as_deref());
    let clone_auth = github_token_parameter.map(|_| CLONE_AUTH.trim());
    let text = replace_line(&text, "{{clone_auth}}", clone_auth);
    debug_assert!(!text.contains("{{"));
    text
}

/// Replaces the line holding only `placeholder` by `replacement`'s lines at the same
/// indentation, or removes it.
fn replace_line(text: &str, placeholder: &str, replacement: Option<&str>) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.trim() != placeholder {
            out.push_str(line);
            continue;
        }
        let indent = &line[..line.len() - line.trim_start().len()];
        for r in replacement.into_iter().flat_map(str::lines) {
            if !r.is_empty() {
                out.push_str(indent);
                out.push_str(r);
            }
            out.push('\n');
        }
    }
    out
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
        assert!(!text.contains("parameter-store") && !text.contains("GITHUB_TOKEN") && !text.contains("extraHeader"));
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
        assert!(docs[0]["env"]["parameter-store"].is_badvalue());
    }

    #[test]
    fn a_token_is_read_from_parameter_store_and_sent_as_a_header() {
        let text = render_for(&with_token(hub()));
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("valid YAML");
        let env = &docs[0]["env"];
        assert_eq!(env["shell"].as_str(), Some("bash"));
        assert_eq!(
            env["parameter-store"]["DOCKHAND_GITHUB_TOKEN"].as_str(),
            Some("/dockhand/github/token")
        );
        let pre = docs[0]["phases"]["pre_build"]["commands"][0].as_str().unwrap();
        // Appended after the environment's own GIT_CONFIG_* pairs (local mode's insteadOf).
        assert!(pre.contains(r#"n="${GIT_CONFIG_COUNT:-0}""#), "{pre}");
        assert!(pre.contains(r#""GIT_CONFIG_KEY_$n=http.extraHeader""#), "{pre}");
        assert!(pre.contains(r#""$DOCKHAND_GITHUB_TOKEN" | base64 -w0"#), "{pre}");
        // Only for the fetch, in a subshell, and the URL stays the push's.
        let auth = pre.find("GIT_CONFIG_COUNT=").unwrap();
        let open = pre[..auth].rfind("(\n").unwrap();
        let fetch = pre.find("fetch --quiet").unwrap();
        let close = pre[fetch..].find("\n)\n").unwrap() + fetch;
        assert!(open < auth && auth < fetch && fetch < close);
        assert!(pre.contains(r#"-- "$SOURCE_REPO_URL" "$SOURCE_COMMIT""#));
        assert!(!text.contains("x-access-token@"));
    }

    /// The header snippet, run by bash: appends one pair, keeps the existing ones, and the
    /// header is the token in HTTP Basic form.
    #[test]
    fn the_clone_auth_snippet_appends_a_header() {
        let Ok(out) = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -euo pipefail\n{CLONE_AUTH}\nprintf '%s|%s|%s|%s|%s' \"$GIT_CONFIG_COUNT\" \"$GIT_CONFIG_KEY_0\" \"$GIT_CONFIG_VALUE_0\" \"$GIT_CONFIG_KEY_1\" \"$GIT_CONFIG_VALUE_1\""
            ))
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "url.git://127.0.0.1:9418/.insteadOf")
            .env("GIT_CONFIG_VALUE_0", "https://github.com/")
            .env("DOCKHAND_GITHUB_TOKEN", "ghp_secret")
            .output()
        else {
            return; // no bash here
        };
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            // base64("x-access-token:ghp_secret")
            "2|url.git://127.0.0.1:9418/.insteadOf|https://github.com/|http.extraHeader|AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hwX3NlY3JldA=="
        );
    }

    #[test]
    fn templates_are_single_line_commands() {
        for fragment in [LOGIN_TOKEN, LOGIN_ECR] {
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
            for phase in ["pre_build", "build", "post_build"] {
                assert!(!doc["phases"][phase]["commands"].is_badvalue(), "{phase}");
            }
            let pre = doc["phases"]["pre_build"]["commands"][1].as_str().unwrap();
            assert!(pre.contains("--password-stdin"), "{pre}");
            assert!(!text.contains("{{"));
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
        assert!(text.contains(r#"docker push "$DOCKER_REPO:$tag""#));
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
        assert!(text.contains(r#"*=*) build_args+=(--build-arg "$line") ;;"#));
        assert!(text.contains(r#""${build_args[@]}" \"#));
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
