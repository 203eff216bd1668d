use super::*;
use proptest::prelude::*;
use std::time::{Duration, Instant};

/// The references a Dockerfile uses, asserting it has no problems.
fn refs(text: &str) -> Vec<String> {
    refs_with(text, &[])
}

fn refs_with(text: &str, build_args: &[(&str, &str)]) -> Vec<String> {
    let parsed = read_with(text, build_args);
    assert_eq!(parsed.problems, Vec::<String>::new(), "in {text:?}");
    parsed.uses.into_iter().map(|u| u.reference).collect()
}

fn read_with(text: &str, build_args: &[(&str, &str)]) -> Parsed {
    let args: Vec<(String, String)> = build_args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    read(text.as_bytes(), &args)
}

/// The problems of a Dockerfile, with what it uses.
fn problems(text: &str) -> (Vec<String>, Vec<String>) {
    let parsed = read(text.as_bytes(), &[]);
    (parsed.problems, parsed.uses.into_iter().map(|u| u.reference).collect())
}

fn used(reference: &str, line: usize, kind: UseKind) -> ImageUse {
    ImageUse {
        reference: reference.into(),
        line,
        kind,
    }
}

#[test]
fn a_multi_stage_go_build_uses_its_base_and_not_its_own_stage() {
    let text = "FROM golang:1.22 AS build\nWORKDIR /src\nCOPY . .\nRUN go build -o /app\n\nFROM scratch\nCOPY --from=build /app /app\nENTRYPOINT [\"/app\"]\n";
    assert_eq!(
        read(text.as_bytes(), &[]),
        Parsed {
            uses: vec![used("golang:1.22", 1, UseKind::From)],
            problems: vec![]
        }
    );
}

#[test]
fn an_arg_default_names_the_base_image() {
    assert_eq!(refs("ARG BASE=r.j3ss.co/wine\nFROM ${BASE}\n"), ["r.j3ss.co/wine"]);
    assert_eq!(refs("ARG BASE=r.j3ss.co/wine\nFROM $BASE\n"), ["r.j3ss.co/wine"]);
    assert_eq!(
        refs("ARG BASE=\"r.j3ss.co/wine\"\nFROM ${BASE}:latest\n"),
        ["r.j3ss.co/wine:latest"]
    );
}

#[test]
fn jessfraz_style_registry_images_and_their_stages() {
    let text = "FROM r.j3ss.co/bcc AS bcc\nFROM r.j3ss.co/wine\nCOPY --from=bcc /usr/share/bcc /usr/share/bcc\n";
    assert_eq!(
        read(text.as_bytes(), &[]).uses,
        [
            used("r.j3ss.co/bcc", 1, UseKind::From),
            used("r.j3ss.co/wine", 2, UseKind::From)
        ]
    );
}

#[test]
fn copy_from_an_image_is_a_use() {
    let text = "FROM alpine\nCOPY --from=docker.io/library/alpine:3 /x /y\n";
    assert_eq!(
        read(text.as_bytes(), &[]).uses,
        [
            used("alpine", 1, UseKind::From),
            used("docker.io/library/alpine:3", 2, UseKind::CopyFrom)
        ]
    );
}

#[test]
fn a_mount_from_an_image_is_a_use_and_every_mount_counts() {
    let text = "FROM alpine\nRUN --mount=type=cache,from=r.j3ss.co/base,target=/x make\n\
                RUN --mount=type=bind,target=/a,\"from=r.j3ss.co/a\" --network=none --mount=from=r.j3ss.co/b,target=/b true\n";
    assert_eq!(
        read(text.as_bytes(), &[]).uses[1..],
        [
            used("r.j3ss.co/base", 2, UseKind::MountFrom),
            used("r.j3ss.co/a", 3, UseKind::MountFrom),
            used("r.j3ss.co/b", 3, UseKind::MountFrom)
        ]
    );
    // Mounts without from, and secrets, name no image.
    assert_eq!(
        refs("FROM a\nRUN --mount=type=secret,id=x --mount=type=tmpfs,target=/t true\n"),
        ["a"]
    );
}

#[test]
fn stage_names_are_case_insensitive_for_copy_and_mount_but_exact_for_from() {
    let text = "FROM alpine AS Base\nFROM base\nCOPY --from=BASE / /\nRUN --mount=from=bAsE,target=/b true\n";
    assert_eq!(refs(text), ["alpine"]);
    // BuildKit looks a FROM up by the lowercased stage name only; "BASE" is an image
    // name, and an invalid one.
    let (problems, uses) = problems("FROM alpine AS base\nFROM BASE\n");
    assert_eq!(uses, ["alpine"]);
    assert!(problems[0].starts_with("line 2: FROM names \"BASE\""), "{problems:?}");
}

#[test]
fn copy_and_mount_may_name_a_later_stage_but_from_only_an_earlier_one() {
    let text = "FROM alpine AS one\nCOPY --from=two / /\nFROM two\nFROM busybox AS two\n";
    assert_eq!(refs(text), ["alpine", "two", "busybox"]);
}

#[test]
fn stage_indexes_and_scratch_are_not_uses() {
    assert_eq!(
        refs("FROM scratch\nFROM alpine\nCOPY --from=0 / /\nCOPY --from=scratch / /\n"),
        ["alpine"]
    );
    let (problems, _) = problems("FROM alpine\nCOPY --from=3 / /\nCOPY --from=-1 / /\n");
    assert_eq!(
        problems,
        [
            "line 2: COPY --from=3: there is no stage 3",
            "line 3: COPY --from=-1: there is no stage -1"
        ]
    );
}

#[test]
fn build_args_override_global_arg_defaults() {
    let text = "ARG BASE=alpine\nARG TAG=3.19\nFROM ${BASE}:${TAG}\n";
    assert_eq!(refs_with(text, &[("TAG", "3.20")]), ["alpine:3.20"]);
    // A build argument is taken as given, not expanded, and only where an ARG declares it.
    assert_eq!(
        refs_with("ARG BASE\nFROM $BASE\n", &[("BASE", "r.j3ss.co/wine"), ("OTHER", "x")]),
        ["r.j3ss.co/wine"]
    );
    let (problems, _) = problems("FROM ${UNDECLARED:-}\n");
    assert_eq!(
        problems,
        ["line 1: FROM names no image after ARG expansion of \"${UNDECLARED:-}\""]
    );
}

#[test]
fn args_declared_in_a_stage_do_not_reach_later_from_lines() {
    let text = "ARG BASE=alpine\nFROM $BASE\nARG BASE=busybox\nARG NEXT=debian\nFROM ${NEXT:-ubuntu}\nFROM $BASE\n";
    assert_eq!(refs(text), ["alpine", "ubuntu", "alpine"]);
}

#[test]
fn expansion_follows_the_shell_forms_buildkit_supports() {
    let cases = [
        ("ARG A=alpine\nFROM $A", "alpine"),
        ("ARG A=alpine\nFROM ${A}:3", "alpine:3"),
        ("ARG A\nFROM ${A:-busybox}", "busybox"),
        ("ARG A=\nFROM ${A:-busybox}", "busybox"),
        ("ARG A=\nFROM x${A-busybox}", "x"),
        ("ARG A=1\nFROM busybox${A:+:tagged}", "busybox:tagged"),
        ("ARG A\nFROM busybox${A:+:tagged}", "busybox"),
        ("ARG A=a B=b\nFROM r.example.com/$A/$B", "r.example.com/a/b"),
        ("ARG A='single' B=\"dou ble\"\nFROM ${A}", "single"),
        ("ARG A=x\nARG B=${A}y\nFROM $B", "xy"),
        ("ARG A=x\nFROM ${A:-${B:-nested}}", "x"),
        ("FROM ${A:-${B:-nested}}", "nested"),
        ("FROM \"alpine\"", "alpine"),
        ("ARG T=3\nFROM 'alp'\"ine:${T}\"", "alpine:3"),
    ];
    for (text, reference) in cases {
        assert_eq!(refs(text), [reference], "{text}");
    }
    // An escaped dollar is a dollar, and no image name has one.
    let (problems, uses) = problems("ARG A=x\nFROM \\$A\n");
    assert!(uses.is_empty() && problems[0].contains("\"$A\""), "{problems:?}");
}

#[test]
fn an_arg_without_default_or_build_arg_expands_to_empty() {
    let (problems, uses) = problems("ARG BASE\nFROM $BASE\n");
    assert!(uses.is_empty());
    assert_eq!(
        problems,
        ["line 2: FROM names no image after ARG expansion of \"$BASE\""]
    );
}

#[test]
fn platform_arguments_are_unknown_until_a_build_argument_gives_them() {
    assert_eq!(
        refs("FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM alpine\n"),
        ["golang:1.22", "alpine"]
    );
    let text = "ARG ARCH=${TARGETARCH}\nFROM r.j3ss.co/base:$ARCH\n";
    let (problems, uses) = problems(text);
    assert!(uses.is_empty());
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].starts_with("line 2: FROM depends on ARCH") && problems[0].contains("TARGETARCH"),
        "{problems:?}"
    );
    assert_eq!(refs_with(text, &[("TARGETARCH", "arm64")]), ["r.j3ss.co/base:arm64"]);
    assert_eq!(refs_with(text, &[("ARCH", "amd64")]), ["r.j3ss.co/base:amd64"]);
}

#[test]
fn copy_and_mount_from_refuse_variables_as_buildkit_does() {
    let (problems, uses) = problems(
        "ARG IMG=alpine\nFROM busybox\nARG IMG\nCOPY --from=$IMG / /\nCOPY --from=\"${IMG}\" / /\nRUN --mount=from=$IMG,target=/x true\nRUN --mount=from=price$,target=/x true\n",
    );
    assert_eq!(uses, ["busybox"]);
    assert!(
        problems[0].starts_with("line 4: COPY --from=\"$IMG\": BuildKit does not expand"),
        "{problems:?}"
    );
    assert!(problems[1].starts_with("line 5: COPY --from=\"${IMG}\""));
    assert!(problems[2].starts_with("line 6: RUN --mount=") && problems[2].contains("variable expansion"));
    // BuildKit lets a final `$` through, and the name is then simply not an image.
    assert!(
        problems[3].starts_with("line 7: RUN --mount from names \"price$\""),
        "{problems:?}"
    );
}

#[test]
fn quoted_flag_values_lose_their_quotes() {
    assert_eq!(refs("FROM a\nCOPY \"--from=r.j3ss.co/x\" --chown=1 / /\n")[..], ["a"]);
    assert_eq!(
        refs("FROM a\nCOPY --from=\"r.j3ss.co/x\" --chown=1 / /\n")[1..],
        ["r.j3ss.co/x"]
    );
}

#[test]
fn parser_directives_set_the_escape_character() {
    let text = "# Escape=`\nFROM r.j3ss.co/wine `\n  AS w\nRUN dir c:\\\nFROM w\n";
    assert_eq!(refs(text), ["r.j3ss.co/wine"]);
    // After a comment, a blank line or an instruction, it is a comment like any other.
    for late in ["# hello\n# escape=`\n", "\n# escape=`\n", "FROM a\n# escape=`\n"] {
        let (problems, _) = problems(&format!("{late}FROM r.j3ss.co/wine `\n  AS w\n"));
        assert!(problems[0].contains("one or three arguments"), "{late:?}: {problems:?}");
    }
    let (problems, _) = problems("# syntax=docker/dockerfile:1\n#check=skip=all\n# escape=x\n# ESCAPE=\\\nFROM a\n");
    assert_eq!(
        problems,
        [
            "line 3: invalid escape token \"x\"; it must be ` or \\",
            "line 4: only one escape parser directive can be used"
        ]
    );
}

#[test]
fn continuation_lines_join_and_drop_comments_and_empty_lines() {
    let text = "FROM \\  \n  # a comment inside\n\n   r.j3ss.co/wine \\\t\n AS \\\nwine\nCOPY --from=wine / /\n";
    assert_eq!(
        read(text.as_bytes(), &[]).uses,
        [used("r.j3ss.co/wine", 1, UseKind::From)]
    );
    // An escaped escape character ends the line.
    let (problems, uses) = problems("FROM alpine\nRUN echo \\\\\nFROM busybox\n");
    assert_eq!(
        (problems.len(), uses),
        (0, vec!["alpine".to_string(), "busybox".into()])
    );
    // A continuation at the end of the file ends the instruction.
    assert_eq!(refs("FROM alpine \\"), ["alpine"]);
}

#[test]
fn instructions_are_case_insensitive() {
    assert_eq!(
        refs("from alpine as Build\nFrom build\ncopy --from=BUILD / /\n"),
        ["alpine"]
    );
}

#[test]
fn heredoc_bodies_are_never_read_as_instructions() {
    let text = "FROM alpine\nRUN <<EOF\nFROM evil\nEOF\nRUN <<-\"END\" cat <<'TWO'\n\tFROM evil2\n\tEND\nFROM evil3\nTWO\n\
                COPY <<EOF /file\nFROM evil4\nEOF\nRUN cat << EOF\nFROM evil5\nEOF\nONBUILD RUN <<EOF\nFROM evil6\nEOF\nFROM busybox\n";
    assert_eq!(refs(text), ["alpine", "busybox"]);
}

#[test]
fn heredoc_markers_that_are_not_heredocs_are_left_alone() {
    // JSON form, a quoted marker, and `<<` alone open no heredoc.
    let text = "FROM alpine\nRUN [\"sh\", \"-c\", \"cat <<EOF\"]\nRUN echo \"<<EOF\"\nRUN echo <<\nFROM busybox\n";
    assert_eq!(refs(text), ["alpine", "busybox"]);
}

#[test]
fn an_unterminated_heredoc_is_a_problem() {
    let (problems, uses) = problems("FROM alpine\nRUN <<EOF\nFROM evil\n");
    assert_eq!(
        (problems, uses),
        (
            vec!["line 2: the heredoc \"EOF\" is never terminated".to_string()],
            vec!["alpine".to_string()]
        )
    );
}

#[test]
fn json_form_brackets_do_not_confuse_the_reader() {
    assert_eq!(
        refs("FROM alpine\nRUN [\"echo\", \"FROM evil\", \"[\"]\nCMD [\"a\"\nFROM busybox\n"),
        ["alpine", "busybox"]
    );
    let (problems, _) = problems("FROM alpine\nRUN [1]\n");
    assert_eq!(
        problems[0],
        "line 2: when using JSON array syntax, arrays must be comprised of strings only"
    );
}

#[test]
fn crlf_line_endings_and_a_byte_order_mark_are_read() {
    let text =
        "\u{feff}# escape=`\r\nFROM r.j3ss.co/wine `\r\n  AS w\r\nRUN <<EOF\r\nFROM evil\r\nEOF\r\nFROM busybox\r\n";
    assert_eq!(refs(text), ["r.j3ss.co/wine", "busybox"]);
}

#[test]
fn onbuild_triggers_name_no_image_of_this_build() {
    assert_eq!(refs("FROM alpine\nONBUILD COPY --from=r.j3ss.co/x / /\n"), ["alpine"]);
}

#[test]
fn malformed_instructions_are_problems() {
    let cases = [
        ("", "the file has no instructions"),
        ("# only\n\n", "the file has no instructions"),
        ("ARG A=1\n", "the file has no FROM, so it builds no image"),
        (
            "RUN true\nFROM a\n",
            "line 1: RUN comes before the first FROM, where only ARG may",
        ),
        ("FROM a\nFORM b\n", "line 2: unknown instruction \"FORM\""),
        (
            "FROM\n",
            "line 1: FROM requires either one or three arguments (an image, or an image AS a stage name)",
        ),
        (
            "FROM a b\n",
            "line 1: FROM requires either one or three arguments (an image, or an image AS a stage name)",
        ),
        (
            "FROM a AS 1st\n",
            "line 1: invalid name for build stage: \"1st\", name can't start with a number or contain symbols",
        ),
        (
            "FROM a\nCOPY --from / /\n",
            "line 2: COPY --from needs a value: --from=<stage or image>",
        ),
        (
            "FROM a\nCOPY --from=b --from=c / /\n",
            "line 2: COPY has --from more than once",
        ),
        ("ARG =x\nFROM a\n", "line 1: ARG names can not be blank"),
        ("ARG A=${B:?unset}\nFROM a\n", "line 1: ARG \"A\": B: unset"),
        (
            "ARG A=${B:?must be set}\nFROM a\n",
            "line 1: ARG \"A\": syntax error: missing '}'",
        ),
        ("FROM ${A\n", "line 1: FROM \"${A\": syntax error: missing '}'"),
        ("FROM ${}\n", "line 1: FROM \"${}\": syntax error: bad substitution"),
        (
            "FROM 'alpine\n",
            "line 1: FROM \"'alpine\": unexpected end of statement while looking for matching single-quote",
        ),
        (
            "FROM a\nRUN --mount=type=secret,from=b,id=x true\n",
            "line 2: RUN --mount=\"type=secret,from=b,id=x\": secret mount should not have a from",
        ),
        (
            "FROM a\nRUN --mount=type=nfs true\n",
            "line 2: RUN --mount=\"type=nfs\": unsupported mount type \"nfs\"",
        ),
    ];
    for (text, problem) in cases {
        assert_eq!(problems(text).0.first().map(String::as_str), Some(problem), "{text:?}");
    }
}

#[test]
fn pattern_substitutions_of_set_variables_are_problems_not_guesses() {
    let (problems, uses) = problems("ARG V=alpine:3.20\nFROM ${V%:*}\n");
    assert!(uses.is_empty());
    assert!(problems[0].contains("patterns are not evaluated"), "{problems:?}");
}

#[test]
fn references_that_docker_refuses_are_problems() {
    let (problems, uses) = problems("FROM Alpine\nFROM $(curl)\nFROM a\nCOPY --from=`id` / /\n");
    assert_eq!(uses, ["a"]);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems[0].starts_with("line 1: FROM names \"Alpine\", which"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("line 2: FROM names \"$(curl)\", which"),
        "{problems:?}"
    );
    assert!(
        problems[2].starts_with("line 4: COPY --from names \"`id`\""),
        "{problems:?}"
    );
}

#[test]
fn the_mount_csv_is_read_as_buildkit_reads_it() {
    assert_eq!(mount_from("type=bind,\"from=a,b\"").unwrap(), Some("a,b".into()));
    assert_eq!(
        mount_from("\"from=say \"\"hi\"\"\",target=/x").unwrap(),
        Some("say \"hi\"".into())
    );
    assert_eq!(mount_from("target=/x,").unwrap(), None);
    assert_eq!(mount_from("FROM=x,from=y").unwrap(), Some("y".into()));
    for bad in ["", "from=a\"b", "\"from=a", "\"from=a\"x"] {
        assert!(mount_from(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn hostile_text_is_data() {
    let nul = "FROM alpine\0\nRUN \0\0\nFROM \0\n";
    assert_eq!(problems(nul).1, Vec::<String>::new());
    // Deep nesting is refused, not recursed into.
    let deep = format!("FROM {}x{}\n", "${a:-".repeat(10_000), "}".repeat(10_000));
    assert!(problems(&deep).0[0].contains("nests more than"));
    // ARGs that double each other stop at the budget.
    let mut doubling = String::from("ARG A=xxxxxxxxxxxxxxxx\n");
    doubling.push_str(&"ARG A=$A$A\n".repeat(40));
    doubling.push_str("FROM $A\n");
    let (problems, uses) = problems(&doubling);
    assert!(uses.is_empty() && problems[0].contains("too much text"), "{problems:?}");
    // Invalid UTF-8 is read lossily.
    assert_eq!(read(b"FROM alpine\nRUN \xff\xfe\nFROM \xc3\n", &[]).uses.len(), 1);
}

/// Reading is linear: a 1 MiB line, however hostile, reads in a fraction of a second even
/// in a debug build.
#[test]
fn a_megabyte_line_reads_quickly() {
    let n = MAX_DOCKERFILE_BYTES / 8;
    let lines = [
        format!("FROM alpine\nRUN echo {}\n", "a b \"c\" ".repeat(n / 2)),
        format!("FROM alpine\nRUN {}\n", "<<EOF ".repeat(n)),
        format!("FROM alpine\nRUN {}\n", "${a:-".repeat(n)),
        format!("FROM {}\n", "$a".repeat(n)),
        format!("ARG A={}\nFROM $A\n", "\\$".repeat(n)),
        format!("FROM alpine\nRUN --mount={}\n", "\"\"".repeat(n)),
        format!("FROM alpine\nCOPY --from={} / /\n", "x".repeat(n * 4)),
        "FROM a AS b\nCOPY --from=b / /\n".repeat(MAX_DOCKERFILE_BYTES / 30),
        format!("FROM alpine\n{}", "\\\n".repeat(n)),
    ];
    for text in lines {
        let started = Instant::now();
        let _ = read(text.as_bytes(), &[]);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}… took {:?}",
            &text[..40],
            started.elapsed()
        );
    }
}

/// A valid image reference that is no stage name of the generated files.
fn image() -> impl Strategy<Value = String> {
    "(r\\.j3ss\\.co/|localhost:5000/|jess/)?img[a-z0-9]{0,6}(:[a-z0-9]{1,5})?"
}

fn stages() -> impl Strategy<Value = Vec<(String, bool)>> {
    prop::collection::vec((image(), any::<bool>()), 1..8)
}

/// A Dockerfile of the given stages: stage i is `s{i}`, and copies from the one before it
/// (by name, or by index) when asked.
fn dockerfile(stages: &[(String, bool)]) -> String {
    let mut text = String::from("# syntax=docker/dockerfile:1\nARG UNUSED=1\n");
    for (i, (image, copies)) in stages.iter().enumerate() {
        text.push_str(&format!("FROM {image} AS s{i}\nRUN echo building stage {i}\n"));
        if *copies && i > 0 {
            text.push_str(&format!("COPY --from=s{} /a /b\nCOPY --from={} /a /b\n", i - 1, i - 1));
        }
    }
    text
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = read(&bytes, &[]);
    }

    /// Text made of the reader's own syntax, in any order.
    #[test]
    fn dockerfile_shaped_noise_never_panics(parts in prop::collection::vec(prop::sample::select(vec![
        "FROM ", "from ", "ARG ", "COPY ", "RUN ", "ONBUILD ", "--from=", "--mount=", "from=", ",", " AS ", " ",
        "\n", "\r\n", "\\", "`", "# escape=`\n", "#", "$", "${", "}", ":-", ":+", "?", "#", "%", "/", "\"", "'",
        "<<", "<<-", "EOF", "\tEOF", "[", "]", "=", "a", "r.j3ss.co/x", "\0", "\u{feff}", "é", "$(", ")",
    ]), 0..60), args in prop::collection::vec(("[A-Z]{1,2}", "\\PC{0,6}"), 0..3)) {
        let _ = read(parts.concat().as_bytes(), &args);
    }

    /// A hostile build argument comes back verbatim as the reference, or as a problem.
    #[test]
    fn hostile_build_arguments_are_only_data(value in "(\\PC|[\"'`$(){};|&\n\\\\]){0,40}") {
        let parsed = read(b"ARG V\nFROM ${V}\n", &[("V".into(), value.clone())]);
        match &parsed.uses[..] {
            [] => prop_assert!(value.is_empty() || !parsed.problems.is_empty()),
            [one] => {
                prop_assert_eq!(&one.reference, &value);
                prop_assert!(image_ref::parse(&value).is_ok());
            }
            more => prop_assert!(false, "{:?}", more),
        }
    }

    /// An ARG default in double quotes with no `"`, `\` or `$` expands to itself.
    #[test]
    fn hostile_arg_defaults_are_only_data(value in "[^\"\\\\$\n\r]{0,40}") {
        let parsed = read(format!("ARG V=\"{value}\"\nFROM ${{V}}\n").as_bytes(), &[]);
        for u in &parsed.uses {
            prop_assert_eq!(&u.reference, &value);
        }
        prop_assert_eq!(parsed.uses.len() + parsed.problems.len(), 1);
    }

    /// A generated file reads back exactly the images of its stages.
    #[test]
    fn generated_stages_read_back(stages in stages()) {
        let parsed = read(dockerfile(&stages).as_bytes(), &[]);
        prop_assert_eq!(parsed.problems, Vec::<String>::new());
        let images: Vec<_> = stages.iter().map(|(image, _)| (image.clone(), UseKind::From)).collect();
        prop_assert_eq!(parsed.uses.into_iter().map(|u| (u.reference, u.kind)).collect::<Vec<_>>(), images);
    }

    /// Breaking lines with continuations, comments and empty lines changes nothing but
    /// line numbers.
    #[test]
    fn continuations_and_comments_change_nothing(stages in stages(), breaks in prop::collection::vec(any::<bool>(), 64)) {
        let text = dockerfile(&stages);
        let mut broken = String::new();
        let mut spaces = 0;
        for (i, c) in text.char_indices() {
            let in_comment = text[..i].rsplit('\n').next().is_some_and(|line| line.starts_with('#'));
            if c == ' ' && !in_comment {
                spaces += 1;
                if breaks[spaces % breaks.len()] {
                    broken.push_str(" \\ \n  # a comment\n\n ");
                    continue;
                }
            }
            broken.push(c);
        }
        let key = |p: Parsed| (p.problems, p.uses.into_iter().map(|u| (u.reference, u.kind)).collect::<Vec<_>>());
        prop_assert_eq!(key(read(broken.as_bytes(), &[])), key(read(text.as_bytes(), &[])));
    }
}
