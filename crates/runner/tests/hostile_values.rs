//! Values are data, never code: whatever a push puts in an override, a parameter or a
//! buildspec variable — quotes, `$(...)`, backticks, newlines, `;` — reaches the commands
//! byte for byte, including after travelling through the saved shell state from one
//! command and phase to the next, and nothing in it ever runs.

mod support;

use dockhand_runner::{BuildStatus, EnvironmentVariable};
use proptest::prelude::*;
use support::{Scratch, run, settings};

/// Every payload, if it ever reached a shell as code, would create `PWNED` in the
/// working directory.
const PAYLOADS: [&str; 8] = [
    "$(touch PWNED)",
    "`touch PWNED`",
    "'; touch PWNED; '",
    "\"; touch PWNED; \"",
    "\n touch PWNED\n",
    "${IFS}$(touch${IFS}PWNED)",
    "$'\\x27'; touch PWNED #",
    "\\\"$(touch PWNED)\\\"",
];

fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '\'', '"', '`', '$', '(', ')', '{', '}', ';', '|', '&', '\\', '\n', '\t', '\r', '*', '?', '!', '#', '~',
            '<', '>', '=', '%', ' ', '[', ']', '-',
        ]),
        prop::char::range('a', 'z'),
        prop::sample::select(vec!['é', '€', 'ß', '😀', '\u{7f}', '\u{1b}']),
    ]
}

fn noise() -> impl Strategy<Value = String> {
    proptest::collection::vec(hostile_char(), 0..24).prop_map(|c| c.into_iter().collect())
}

fn hostile_value() -> impl Strategy<Value = String> {
    (noise(), prop::sample::select(PAYLOADS.to_vec()), noise(), any::<bool>()).prop_map(
        |(before, payload, after, with_payload)| {
            if with_payload {
                format!("{before}{payload}{after}")
            } else {
                format!("{before}{after}")
            }
        },
    )
}

/// A YAML double-quoted scalar holding `value` exactly (JSON's escapes are YAML's).
fn yaml_string(value: &str) -> String {
    serde_json::to_string(value).unwrap()
}

const COMMANDS: &str = r#"
phases:
  pre_build:
    commands:
      - copied="$OVERRIDE"
      - export COPIED_SPEC="$SPEC_VALUE"
  build:
    commands:
      - printf '%s' "$OVERRIDE" > override.out
      - printf '%s' "$SPEC_VALUE" > spec.out
      - printf '%s' "$PARAM" > param.out
      - printf '%s' "$copied" > copied.out
      - bash -c 'printf "%s" "$COPIED_SPEC"' > copied-spec.out
"#;

fn check(override_value: &str, spec_value: &str, param_value: &str, utf8: bool) -> Result<(), TestCaseError> {
    let scratch = Scratch::new("hostile");
    let mut build = settings(&scratch);
    if utf8 {
        // bash quotes non-ASCII differently in a UTF-8 locale; both must read back exactly.
        build.process_env.push(("LC_ALL".into(), "C.UTF-8".into()));
    }
    build.overrides = vec![EnvironmentVariable::new("OVERRIDE", override_value)];
    build.parameters = vec![("PARAM".into(), param_value.into())];
    let buildspec = format!(
        "version: 0.2\nenv:\n  variables:\n    SPEC_VALUE: {}\n  parameter-store:\n    PARAM: /hostile\n{COMMANDS}",
        yaml_string(spec_value)
    );
    let o = run(&buildspec, &build);
    prop_assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let read = |name: &str| std::fs::read(scratch.path().join("src").join(name)).unwrap();
    prop_assert_eq!(read("override.out"), override_value.as_bytes());
    prop_assert_eq!(read("spec.out"), spec_value.as_bytes());
    prop_assert_eq!(read("param.out"), param_value.as_bytes());
    prop_assert_eq!(read("copied.out"), override_value.as_bytes());
    prop_assert_eq!(read("copied-spec.out"), spec_value.as_bytes());
    prop_assert!(!scratch.path().join("src/PWNED").exists(), "a value ran as code");
    prop_assert!(!scratch.path().join("PWNED").exists(), "a value ran as code");
    let vars = &o.events[1]["detail"]["additional-information"]["environment"]["environment-variables"];
    prop_assert_eq!(vars[0]["value"].as_str(), Some(override_value));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn hostile_values_arrive_intact_and_never_run(
        override_value in hostile_value(),
        spec_value in hostile_value(),
        param_value in hostile_value(),
        utf8 in any::<bool>(),
    ) {
        check(&override_value, &spec_value, &param_value, utf8)?;
    }
}

#[test]
fn every_payload_alone() {
    for payload in PAYLOADS {
        check(payload, payload, payload, false).unwrap();
        check(payload, payload, payload, true).unwrap();
    }
}
