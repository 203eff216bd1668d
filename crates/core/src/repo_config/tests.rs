use super::*;
use proptest::prelude::*;

fn err(text: &str) -> RepoConfigError {
    RepoConfig::parse(text).expect_err(text)
}

#[test]
fn a_full_file() {
    let c = RepoConfig::parse(
        "# settings\nnaming: suite\ntags: [nightly, \"v2\"]\nbuild_args:\n  BASE: \"3.20\"\n  DEBUG: true\n  N: 10\n  EMPTY: ''\nignore:\n  - docs/\n  - .github\n",
    )
    .unwrap();
    assert_eq!(c.naming, Some(Naming::Suite));
    assert_eq!(c.tags, ["nightly", "v2"]);
    assert_eq!(
        c.build_args,
        [
            ("BASE".to_string(), "3.20".to_string()),
            ("DEBUG".into(), "true".into()),
            ("N".into(), "10".into()),
            ("EMPTY".into(), "".into())
        ]
    );
    assert_eq!(c.build_args_env(), "BASE=3.20\nDEBUG=true\nN=10\nEMPTY=");
    assert_eq!(c.ignore, ["docs", ".github"]);
    assert_eq!(c.ignored("docs"), Some("docs"));
    assert_eq!(c.ignored("docs/a/b.md"), Some("docs"));
    assert_eq!(c.ignored("docsite/x"), None);
    assert_eq!(c.ignored(".github/workflows/ci.yml"), Some(".github"));
}

#[test]
fn the_cache_is_switched_by_a_plain_boolean() {
    assert_eq!(RepoConfig::parse("naming: path\n").unwrap().cache, None);
    assert_eq!(RepoConfig::parse("cache: false\n").unwrap().cache, Some(false));
    assert_eq!(RepoConfig::parse("cache: True\n").unwrap().cache, Some(true));
}

#[test]
fn absent_empty_and_comment_only_files_are_the_default() {
    assert_eq!(RepoConfig::from_file(None).unwrap(), RepoConfig::default());
    for text in ["", "\n", "# nothing yet\n", "---\n", "~\n"] {
        assert_eq!(RepoConfig::parse(text).unwrap(), RepoConfig::default(), "{text:?}");
    }
    assert_eq!(RepoConfig::default().build_args_env(), "");
}

#[test]
fn mistakes_name_their_line_and_the_fix() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "naming: suite\ntgas: [x]\n",
            2,
            "unknown setting \"tgas\"; the settings are naming, tags",
        ),
        ("naming: flat\n", 1, "write `naming: path`"),
        ("naming: [suite]\n", 1, "found a list"),
        ("\n\ntags: nightly\n", 3, "tags must be a list"),
        ("tags:\n  - ok\n  - -bad\n", 3, "the tag \"-bad\" must start with"),
        ("tags: [a b]\n", 1, "contains ' '"),
        ("build_args: [A]\n", 1, "build_args must be a mapping"),
        ("build_args:\n  1A: x\n", 2, "is not a name"),
        ("build_args:\n  A-B: x\n", 2, "is not a name"),
        ("build_args:\n  A:\n", 2, "has no value"),
        ("build_args:\n  A: [1]\n", 2, "must be a string, a number or true/false"),
        ("build_args:\n  A: \"x\\ny\"\n", 2, "'\\n'"),
        ("build_args:\n  A: \"x\\0y\"\n", 2, "'\\0'"),
        ("build_args:\n  A: |\n    two\n    lines\n", 2, "'\\n'"),
        ("build_args:\n  A: x\n  A: y\n", 3, "appears twice"),
        ("ignore: docs\n", 1, "ignore must be a list"),
        ("ignore: [../x]\n", 1, "`..`"),
        ("ignore: [/etc]\n", 1, "absolute"),
        ("ignore: [.]\n", 1, "whole repository"),
        ("ignore: [a//b]\n", 1, "empty"),
        ("naming: path\nnaming: suite\n", 2, "appears twice"),
        ("- a\n- b\n", 1, "must be a mapping of settings"),
        ("just words\n", 1, "must be a mapping of settings"),
        ("base: &b x\nnaming: *b\n", 1, "anchors"),
        ("naming: !!str suite\n", 1, "YAML tags"),
        ("tags: !custom [a]\n", 1, "YAML tags"),
        ("naming: suite\n---\nnaming: path\n", 2, "more than one YAML document"),
        ("tags: [a, [b, [c]]]\n", 1, "nested too deeply"),
        ("naming: 'unterminated\n", 1, "not valid YAML"),
        ("tags: [a\n", 2, "not valid YAML"),
        ("? [a]\n: b\n", 1, "a key must be a plain name"),
        ("cache: off\n", 1, "write `cache: true` or `cache: false`"),
        ("cache: 'false'\n", 1, "write `cache: true` or `cache: false`"),
        ("cache: [false]\n", 1, "found a list"),
        ("cache:\n", 1, "found nothing"),
    ];
    for (text, line, needle) in cases {
        let e = err(text);
        assert_eq!(e.line, Some(*line), "{text:?}: {e}");
        assert!(e.to_string().contains(needle), "{text:?}: {e}");
        assert!(e.to_string().starts_with(".dockhand.yml line "), "{e}");
    }
}

#[test]
fn limits() {
    let tags: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
    assert!(
        err(&format!("tags: [{}]", tags.join(", ")))
            .message
            .contains("more than the 10")
    );
    let args: Vec<String> = (0..=MAX_BUILD_ARGS).map(|i| format!("  A{i}: x")).collect();
    assert!(
        err(&format!("build_args:\n{}\n", args.join("\n")))
            .message
            .contains("more than the 50")
    );
    let long = "x".repeat(MAX_BUILD_ARG_VALUE_BYTES + 1);
    assert!(err(&format!("build_args:\n  A: {long}\n")).message.contains("bytes"));
    let medium = "x".repeat(MAX_BUILD_ARG_VALUE_BYTES);
    let args: Vec<String> = (0..5).map(|i| format!("  A{i}: {medium}")).collect();
    assert!(
        err(&format!("build_args:\n{}\n", args.join("\n")))
            .message
            .contains("together exceed")
    );
    let huge = format!("# {}\n", "x".repeat(MAX_FILE_BYTES));
    let e = RepoConfig::from_file(Some(huge.as_bytes())).unwrap_err();
    assert_eq!(e.line, None);
    assert!(e.to_string().starts_with(".dockhand.yml: the file is"), "{e}");
    assert_eq!(RepoConfig::parse(&huge).unwrap_err(), e);
    let e = RepoConfig::from_file(Some(b"naming: suite\ntags: [\xff]\n")).unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("UTF-8"));
}

#[test]
fn a_billion_laughs_is_refused_at_the_first_anchor() {
    let text = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n";
    assert!(err(text).message.contains("anchors"));
}

#[test]
fn deep_nesting_does_not_recurse_far() {
    let deep = format!("tags: {}{}", "[".repeat(20_000), "]".repeat(20_000));
    let e = err(&deep);
    assert!(
        e.message.contains("nested too deeply") || e.message.contains("not valid YAML"),
        "{e}"
    );
}

/// Values an attacker would put in a repository's file.
fn hostile() -> impl Strategy<Value = String> {
    let fixed = prop_oneof![
        Just("$(touch /tmp/pwned)".to_string()),
        Just("`id`".to_string()),
        Just("\"; rm -rf / #".to_string()),
        Just("'single' \\back".to_string()),
        Just("line1\nline2".to_string()),
        Just("x\r\ny".to_string()),
        Just("nul\0byte".to_string()),
        Just("{{login}} ${IFS} %s".to_string()),
        Just("&anchor *alias !!python/object".to_string()),
        Just("- evil: yaml\n  phases: {}".to_string()),
        Just("\u{202e}ünï \u{1f600}".to_string()),
        Just("x".repeat(5000)),
    ];
    (fixed, "\\PC{0,30}").prop_map(|(a, b)| format!("{a}{b}"))
}

/// A YAML double-quoted scalar holding exactly `s`.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A hostile build argument value is either refused with a line, or kept byte for byte
    /// as one `KEY=value` line.
    #[test]
    fn hostile_build_args_are_refused_or_kept_exactly(value in hostile()) {
        let text = format!("build_args:\n  ARG: {}\n", quoted(&value));
        match RepoConfig::parse(&text) {
            Ok(c) => {
                prop_assert!(!value.contains(['\n', '\r', '\0']));
                prop_assert!(value.len() <= MAX_BUILD_ARG_VALUE_BYTES);
                prop_assert_eq!(c.build_args_env(), format!("ARG={value}"));
                prop_assert_eq!(c.build_args_env().lines().count(), 1);
            }
            Err(e) => prop_assert_eq!(e.line, Some(2)),
        }
    }

    /// Hostile tags, names and directories are refused (or, for directories, kept as data).
    #[test]
    fn hostile_tags_and_names_are_refused(value in hostile()) {
        let tag = RepoConfig::parse(&format!("tags: [{}]\n", quoted(&value)));
        prop_assert!(tag.is_err());
        let name = RepoConfig::parse(&format!("build_args:\n  {}: x\n", quoted(&value)));
        prop_assert!(name.is_err());
        if let Ok(c) = RepoConfig::parse(&format!("ignore: [{}]\n", quoted(&value))) {
            prop_assert!(!c.ignore[0].chars().any(char::is_control));
        }
    }

    /// Arbitrary text never panics the parser, and an error always names the file.
    #[test]
    fn arbitrary_text_is_parsed_or_explained(text in "\\PC{0,200}") {
        if let Err(e) = RepoConfig::parse(&text) {
            prop_assert!(e.to_string().starts_with(".dockhand.yml"));
            prop_assert!(!e.message.is_empty());
        }
    }
}

/// A NUL byte once ended the parse silently: the keys after it, an unknown key, even
/// broken YAML were ignored, and git showed the file as binary.
#[test]
fn a_nul_or_another_forbidden_character_refuses_the_file_with_its_line() {
    let e = RepoConfig::from_file(Some(b"naming: path\n\0\ntags: [latest]\nnot: [valid\n")).unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("U+0000"), "{e}");
    for (text, line) in [
        ("tags: [a]\x00", 1),
        ("naming: path\n# \x07bell\n", 2),
        ("naming: path\n\n\ntags: [\x7f]\n", 4),
        ("naming: \u{9b}path\n", 1),
        ("naming: path\u{fffe}\n", 1),
        ("naming: path\n\u{feff}tags: [a]\n", 2),
    ] {
        let e = RepoConfig::from_file(Some(text.as_bytes())).unwrap_err();
        assert_eq!(e.line, Some(line), "{text:?}: {e}");
        assert!(e.message.contains("YAML does not allow"), "{e}");
    }
    // What YAML allows stays allowed: tabs in comments, CRLF, NEL, non-ASCII text, a BOM first.
    for text in [
        "\u{feff}naming: path\r\n",
        "# a\tcomment \u{85} ünï \u{1f600}\nnaming: path\n",
    ] {
        assert_eq!(RepoConfig::parse(text).unwrap().naming, Some(Naming::Path), "{text:?}");
    }
}

#[test]
fn platforms_override_the_deployments_and_are_checked_strictly() {
    let c = RepoConfig::parse("platforms: [linux/amd64, linux/arm64]\n").unwrap();
    assert_eq!(
        c.platforms,
        Some(vec!["linux/amd64".to_owned(), "linux/arm64".to_owned()])
    );
    // Absent: the deployment's; an empty list: the build host's own.
    assert_eq!(RepoConfig::parse("naming: path\n").unwrap().platforms, None);
    assert_eq!(RepoConfig::parse("platforms: []\n").unwrap().platforms, Some(vec![]));
    for (text, line, says) in [
        ("platforms: linux/amd64\n", 1, "must be a list"),
        ("platforms:\n  - linux/amd64\n  - linux/amd64\n", 3, "listed twice"),
        ("platforms: [linux/x86_64]\n", 1, "one of linux/amd64"),
        ("platforms: [\"linux/amd64;id\"]\n", 1, "os/arch[/variant]"),
        ("platforms: [[linux/amd64]]\n", 1, "found a list"),
    ] {
        let e = RepoConfig::parse(text).unwrap_err();
        assert_eq!(e.line, Some(line), "{text:?}: {e}");
        assert!(e.message.contains(says), "{text:?}: {e}");
    }
}

#[test]
fn rebuild_is_auto_or_always() {
    assert_eq!(RepoConfig::parse("naming: path\n").unwrap().rebuild, Rebuild::Auto);
    assert_eq!(RepoConfig::parse("rebuild: auto\n").unwrap().rebuild, Rebuild::Auto);
    assert_eq!(RepoConfig::parse("rebuild: always\n").unwrap().rebuild, Rebuild::Always);
    let e = RepoConfig::parse("tags: [a]\nrebuild: yes\n").unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("`rebuild: always`"), "{e}");
}

#[test]
fn each_directory_may_name_its_description_file() {
    let c = RepoConfig::parse(
        "description:\n  web/: docs/web.md\n  .: docs/root.md\n  \"tools/lint\": tools/lint/README.md\n",
    )
    .unwrap();
    assert_eq!(c.description_path("web"), "docs/web.md");
    assert_eq!(c.description_path("."), "docs/root.md");
    assert_eq!(c.description_path("tools/lint"), "tools/lint/README.md");
    // Elsewhere, and without the setting: the README beside the Dockerfile.
    assert_eq!(c.description_path("api"), "api/README.md");
    let none = RepoConfig::default();
    assert_eq!(none.description_path("."), "README.md");
    assert_eq!(none.description_path("a/b"), "a/b/README.md");
}

#[test]
fn a_description_file_stays_inside_the_repository() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "description: README.md\n",
            1,
            "must be a mapping of image directories to files",
        ),
        ("description: [web]\n", 1, "must be a mapping"),
        (
            "description:\n  web: ../secrets.md\n",
            2,
            "has an empty, `.` or `..` component",
        ),
        ("description:\n  web: web/../../x.md\n", 2, "`..` component"),
        ("description:\n  web: ./README.md\n", 2, "`..` component"),
        ("description:\n  web: /etc/passwd\n", 2, "is absolute"),
        ("description:\n  web: docs//web.md\n", 2, "empty"),
        ("description:\n  web: docs/\n", 2, "empty"),
        ("description:\n  web: \"a\\nb.md\"\n", 2, "control character"),
        ("description:\n  web: \"\"\n", 2, "is empty"),
        ("description:\n  web:\n", 2, "found nothing"),
        ("description:\n  web: [a.md]\n", 2, "found a list"),
        ("description:\n  ../web: a.md\n", 2, "the directory \"../web\""),
        ("description:\n  /web: a.md\n", 2, "is absolute"),
        ("description:\n  web: a.md\n  web/: b.md\n", 3, "appears twice"),
    ];
    for (text, line, message) in cases {
        let e = err(text);
        assert_eq!(e.line, Some(*line), "{text:?}: {e}");
        assert!(e.to_string().contains(message), "{text:?}: {e}");
    }
    let long = format!("description:\n  web: {}\n", "a".repeat(MAX_DESCRIPTION_PATH_BYTES + 1));
    assert!(err(&long).to_string().contains("longer than 1024 bytes"));
    let many: String = (0..=MAX_DESCRIPTIONS).map(|i| format!("  d{i}: a.md\n")).collect();
    assert!(
        err(&format!("description:\n{many}"))
            .to_string()
            .contains("more than the 100")
    );
}
