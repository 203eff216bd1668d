//! Buildspec rendering. The templates in `buildspecs/` are compiled in; the text depends
//! on deployment configuration alone, so identical for every push of a deployment.

use crate::config::Registry;

const TEMPLATE: &str = include_str!("../../../buildspecs/build.yml");
const LOGIN_TOKEN: &str = include_str!("../../../buildspecs/login-token.sh");
const LOGIN_ECR: &str = include_str!("../../../buildspecs/login-ecr.sh");

/// The buildspec every build of this deployment runs.
pub fn render(registry: &Registry) -> String {
    let login = match registry {
        Registry::DockerHub { .. } | Registry::Generic { .. } => LOGIN_TOKEN,
        Registry::Ecr { .. } => LOGIN_ECR,
    };
    let text = TEMPLATE.replace("{{login}}", login.trim());
    debug_assert!(!text.contains("{{login}}"));
    text
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
    fn every_expansion_is_double_quoted() {
        // Outside comments, `$` only appears inside a "…" string: no word splitting or globbing
        // of anything a push controls.
        for registry in [
            hub(),
            Registry::Ecr {
                registry: "x".into(),
                prefix: None,
            },
        ] {
            for line in render(&registry).lines().filter(|l| !l.trim_start().starts_with('#')) {
                let mut in_quotes = false;
                let mut in_single = false;
                for c in line.chars() {
                    match c {
                        '"' if !in_single => in_quotes = !in_quotes,
                        '\'' if !in_quotes => in_single = !in_single,
                        '$' => assert!(in_quotes, "unquoted expansion in: {line}"),
                        _ => {}
                    }
                }
            }
        }
    }
}
