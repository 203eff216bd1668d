//! Image naming: which repository a directory's image is pushed to, checked against
//! Docker's reference grammar so a bad name is reported instead of mangled.
//!
//! The rule: the repository root builds the GitHub repository's name; a top-level
//! directory `web` builds `web`; a nested directory `tools/lint` builds `tools-lint`,
//! because Docker Hub repositories cannot be nested. The `images` setting maps any
//! directory to a name of your choosing. The name goes under the Docker Hub namespace
//! (`docker.io/<namespace>/<name>`), under another registry's host and namespace (right
//! under the host when the namespace is empty: `r.j3ss.co/<name>`), or under the ECR
//! registry and optional prefix.
//!
//! That is the `path` preset. Under the `suite` preset ([`Naming::Suite`]) the first
//! segment names the image and the rest is a suite that prefixes the tags, so several
//! directories share one image with different tags ([`image_and_tags`]).

use crate::config::{Naming, Registry};
use crate::docker_ref::{MAX_NAME_LEN, validate_repository_path, validate_tag};
use std::collections::BTreeMap;

/// Where one image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// `docker.io` or the ECR registry host.
    pub registry: String,
    /// The path under the registry: `namespace/name`, `prefix/name` or `name`.
    pub path: String,
}

impl ImageName {
    /// The repository as `docker push` takes it, without a tag.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }
}

/// The image and the final tags for `context` under a naming preset, or why there are none.
///
/// `tags` are the ref rules' tags followed by any extra tags. Under `path` they are kept.
/// Under `suite`, `name/suite` pushes `name` and a rule tag `latest` becomes `suite`, any
/// other tag `t` becomes `suite-t` (`a/b/c` has the suite `b-c`); `name` and the root keep
/// the tags. The `images` setting renames the image, never the suite.
pub fn image_and_tags(
    naming: Naming,
    registry: &Registry,
    repository_name: &str,
    context: &str,
    overrides: &BTreeMap<String, String>,
    tags: &[String],
) -> Result<(ImageName, Vec<String>), String> {
    let (image_dir, suite) = match naming {
        Naming::Path => (context, None),
        Naming::Suite => match context.split_once('/') {
            Some((name, rest)) => (name, Some(rest.replace('/', "-"))),
            None => (context, None),
        },
    };
    // An override for the directory itself wins over one for its image directory.
    let image = match overrides.get(context) {
        Some(_) => image_for(registry, repository_name, context, overrides)?,
        None => image_for(registry, repository_name, image_dir, overrides)?,
    };
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = match &suite {
            None => tag.clone(),
            Some(suite) if tag == "latest" => suite.clone(),
            Some(suite) => format!("{suite}-{tag}"),
        };
        if let Err(why) = validate_tag(&tag) {
            return Err(match &suite {
                Some(suite) => format!(
                    "under the `suite` naming preset the directory gives the image tag {tag:?} (suite {suite:?}), which {why}; rename the directory, or choose `naming: path` in .dockhand.yml or the deployment"
                ),
                None => format!("the image tag {tag:?} {why}"),
            });
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok((image, out))
}

/// The image name for `context` ("." for the repository root), or why there is none.
pub fn image_for(
    registry: &Registry,
    repository_name: &str,
    context: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<ImageName, String> {
    let name = match overrides.get(context) {
        Some(name) => name.clone(),
        None if context == "." => repository_name.to_owned(),
        None => context.replace('/', "-"),
    };
    let (host, path) = match registry {
        Registry::DockerHub { namespace, .. } => ("docker.io".to_owned(), format!("{namespace}/{name}")),
        Registry::Generic { host, namespace, .. } if namespace.is_empty() => (host.clone(), name.clone()),
        Registry::Generic { host, namespace, .. } => (host.clone(), format!("{namespace}/{name}")),
        Registry::Ecr { registry, prefix } => match prefix {
            Some(prefix) => (registry.clone(), format!("{prefix}/{name}")),
            None => (registry.clone(), name.clone()),
        },
    };
    validate_repository_path(&path).map_err(|why| {
        let source = if overrides.contains_key(context) {
            "map it to a valid name in `images`".to_owned()
        } else {
            "rename the directory or map it to a valid name in the `images` setting".to_owned()
        };
        format!("the image name {path:?} {why}; {source}")
    })?;
    if host.len() + 1 + path.len() > MAX_NAME_LEN {
        return Err(format!(
            "the image name {host}/{path} is longer than Docker's limit of {MAX_NAME_LEN} characters; map the directory to a shorter name in `images`"
        ));
    }
    Ok(ImageName { registry: host, path })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hub() -> Registry {
        Registry::DockerHub {
            namespace: "acme".into(),
            username: None,
            token_parameter: None,
        }
    }

    fn name(context: &str) -> Result<String, String> {
        image_for(&hub(), "images", context, &BTreeMap::new()).map(|i| i.repository())
    }

    #[test]
    fn the_naming_rule() {
        assert_eq!(name("."), Ok("docker.io/acme/images".into()));
        assert_eq!(name("web"), Ok("docker.io/acme/web".into()));
        assert_eq!(name("tools/lint"), Ok("docker.io/acme/tools-lint".into()));
        assert_eq!(name("a.b_c__d--e"), Ok("docker.io/acme/a.b_c__d--e".into()));
        let ecr = Registry::Ecr {
            registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
            prefix: Some("team".into()),
        };
        assert_eq!(
            image_for(&ecr, "images", "web", &BTreeMap::new()).unwrap().repository(),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web"
        );
    }

    #[test]
    fn other_registries_name_under_their_host() {
        let ghcr = Registry::Generic {
            host: "ghcr.io".into(),
            namespace: "acme".into(),
            username: None,
            token_parameter: None,
        };
        let image = image_for(&ghcr, "images", "tools/lint", &BTreeMap::new()).unwrap();
        assert_eq!(image.repository(), "ghcr.io/acme/tools-lint");
        assert_eq!(image.registry, "ghcr.io");
    }

    fn bare(host: &str) -> Registry {
        Registry::Generic {
            host: host.into(),
            namespace: String::new(),
            username: Some("bot".into()),
            token_parameter: None,
        }
    }

    #[test]
    fn a_registry_without_a_namespace_names_right_under_its_host() {
        let j3ss = bare("r.j3ss.co");
        let image = image_for(&j3ss, "dockerfiles", "wine", &BTreeMap::new()).unwrap();
        assert_eq!((image.registry.as_str(), image.path.as_str()), ("r.j3ss.co", "wine"));
        assert_eq!(image.repository(), "r.j3ss.co/wine");
        assert_eq!(
            image_for(&j3ss, "dockerfiles", ".", &BTreeMap::new())
                .unwrap()
                .repository(),
            "r.j3ss.co/dockerfiles"
        );
        let map = BTreeMap::from([("web".to_string(), "team/site".to_string())]);
        assert_eq!(
            image_for(&j3ss, "r", "web", &map).unwrap().repository(),
            "r.j3ss.co/team/site"
        );
        let tags = vec!["latest".to_string(), "6113728".to_string()];
        let (image, tags) =
            image_and_tags(Naming::Suite, &j3ss, "r", "wireguard/install", &BTreeMap::new(), &tags).unwrap();
        assert_eq!(image.repository(), "r.j3ss.co/wireguard");
        assert_eq!(tags, ["install", "install-6113728"]);
        let port = image_for(&bare("localhost:5000"), "r", "web", &BTreeMap::new()).unwrap();
        assert_eq!(port.repository(), "localhost:5000/web");
    }

    #[test]
    fn overrides_win_and_are_validated() {
        let map = BTreeMap::from([("MyApp".to_string(), "my-app".to_string()), ("x".into(), "Bad".into())]);
        assert_eq!(image_for(&hub(), "r", "MyApp", &map).unwrap().path, "acme/my-app");
        let err = image_for(&hub(), "r", "x", &map).unwrap_err();
        assert!(err.contains("lowercase") && err.contains("`images`"), "{err}");
    }

    #[test]
    fn invalid_names_are_reported_not_mangled() {
        for (context, why) in [
            ("MyApp", "lowercase"),
            ("my app", "' '"),
            ("-web", "start and end"),
            ("web-", "start and end"),
            ("a..b", "\"..\""),
            ("a___b", "\"___\""),
            ("a.-b", "\".-\""),
            ("café", "'é'"),
            ("a$(id)", "'$'"),
        ] {
            let err = name(context).unwrap_err();
            assert!(err.contains(why), "{context}: {err}");
        }
        let long = "a".repeat(250);
        assert!(name(&long).unwrap_err().contains("255"));
    }

    #[test]
    fn tags() {
        for ok in ["latest", "v1.2.3", "_x", "6113728", "A-b_c.d"] {
            assert_eq!(validate_tag(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-x", ".x", "a/b", "a b", "a:b", "ü"] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
        assert!(validate_tag(&"a".repeat(128)).is_ok());
        assert!(validate_tag(&"a".repeat(129)).is_err());
    }

    fn suite(context: &str, tags: &[&str]) -> Result<(String, Vec<String>), String> {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        image_and_tags(Naming::Suite, &hub(), "images", context, &BTreeMap::new(), &tags)
            .map(|(i, t)| (i.repository(), t))
    }

    #[test]
    fn the_suite_preset() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            suite("chrome/stable", &["latest", "6113728"]),
            Ok(("docker.io/acme/chrome".into(), t(&["stable", "stable-6113728"])))
        );
        assert_eq!(
            suite("chrome", &["latest", "6113728"]),
            Ok(("docker.io/acme/chrome".into(), t(&["latest", "6113728"])))
        );
        assert_eq!(
            suite(".", &["latest"]),
            Ok(("docker.io/acme/images".into(), t(&["latest"])))
        );
        assert_eq!(
            suite("a/b/c", &["latest", "v1", "nightly"]),
            Ok(("docker.io/acme/a".into(), t(&["b-c", "b-c-v1", "b-c-nightly"])))
        );
        // Tags: a suite that is no tag is reported, with what to do.
        let e = suite("chrome/Stable Release", &["latest"]).unwrap_err();
        assert!(
            e.contains("suite") && e.contains("naming: path") && e.contains("' '"),
            "{e}"
        );
        let e = suite(&format!("chrome/{}", "s".repeat(125)), &["latest", "6113728"]).unwrap_err();
        assert!(e.contains("128"), "{e}");
        let e = suite("-x/stable", &["latest"]).unwrap_err();
        assert!(e.contains("start and end"), "{e}");
        // The path preset keeps today's rule and the tags.
        let tags = t(&["latest", "v1"]);
        let (image, same) = image_and_tags(Naming::Path, &hub(), "images", "a/b", &BTreeMap::new(), &tags).unwrap();
        assert_eq!((image.repository(), same), ("docker.io/acme/a-b".into(), tags));
        // `images` renames the image, never the suite.
        let map = BTreeMap::from([("Chrome".to_string(), "chrome".to_string())]);
        let (image, tags) =
            image_and_tags(Naming::Suite, &hub(), "images", "Chrome/beta", &map, &t(&["latest"])).unwrap();
        assert_eq!(
            (image.repository(), tags),
            ("docker.io/acme/chrome".into(), t(&["beta"]))
        );
    }

    proptest! {
        /// Whatever the registry (a namespace, none, an ECR prefix) and the directory, an
        /// image name that is not refused has no empty path component: never `//`, never a
        /// leading or trailing `/`, and it reads back as the same repository.
        #[test]
        fn names_never_have_an_empty_component(
            context in "[a-z0-9._/-]{1,30}",
            suite in any::<bool>(),
            registry in prop_oneof![
                Just(hub()),
                Just(bare("r.j3ss.co")),
                Just(bare("localhost:5000")),
                Just(Registry::Generic {
                    host: "ghcr.io".into(),
                    namespace: "acme".into(),
                    username: None,
                    token_parameter: None,
                }),
                Just(Registry::Ecr {
                    registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
                    prefix: None,
                }),
                Just(Registry::Ecr {
                    registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
                    prefix: Some("team/x".into()),
                }),
            ],
        ) {
            let naming = if suite { Naming::Suite } else { Naming::Path };
            let tags = vec!["latest".to_string()];
            if let Ok((image, _)) = image_and_tags(naming, &registry, "r", &context, &BTreeMap::new(), &tags) {
                let repository = image.repository();
                prop_assert!(!repository.contains("//"), "{}", repository);
                prop_assert!(image.path.split('/').all(|c| !c.is_empty()), "{}", repository);
                let parsed = crate::image_ref::parse(&repository).unwrap();
                prop_assert_eq!(parsed.name(), repository.clone());
            }
        }

        /// Under `suite`, the suites of one name share its image, and every tag that is not
        /// refused matches Docker's grammar. (Two suites can still give one tag, `a` with
        /// `a-6113728`: the planner's clash check catches that.)
        #[test]
        fn suite_tags_are_valid_and_share_the_image(name in "[a-z]{1,8}", s1 in "\\PC{1,12}", s2 in "\\PC{1,12}") {
            let tags = vec!["latest".to_string(), "6113728".to_string()];
            let grammar = regex_lite::Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").unwrap();
            let a = image_and_tags(Naming::Suite, &hub(), "r", &format!("{name}/{s1}"), &BTreeMap::new(), &tags);
            let b = image_and_tags(Naming::Suite, &hub(), "r", &format!("{name}/{s2}"), &BTreeMap::new(), &tags);
            if let (Ok((ia, ta)), Ok((ib, tb))) = (&a, &b) {
                prop_assert_eq!(ia, ib);
                for t in ta.iter().chain(tb) {
                    prop_assert!(grammar.is_match(t), "{}", t);
                }
            }
        }

        /// Whatever the directory, a name is either valid by the grammar (checked here with a
        /// regular expression written from Docker's reference) or refused with a reason.
        #[test]
        fn names_match_dockers_grammar(context in "\\PC{1,40}(/\\PC{1,20})?") {
            let grammar = regex_lite::Regex::new(
                r"^docker\.io/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
            ).unwrap();
            if let Ok(image) = name(&context) {
                prop_assert!(grammar.is_match(&image), "{}", image);
                prop_assert!(image.len() <= 255);
            }
        }
    }
}
