use super::*;
use crate::dockerfile::{ImageUse, UseKind};

/// A node pushing `image` with `latest`, whose Dockerfile names `uses`.
fn node(image: &str, uses: &[&str]) -> Node {
    Node {
        image: Some(image.to_owned()),
        tags: vec!["latest".into()],
        dockerfile: Some(Parsed {
            uses: uses
                .iter()
                .enumerate()
                .map(|(i, u)| ImageUse {
                    reference: (*u).to_owned(),
                    line: i + 1,
                    kind: UseKind::From,
                })
                .collect(),
            problems: Vec::new(),
        }),
        unread: None,
        removed: false,
    }
}

fn graph(nodes: &[(&str, Node)]) -> Graph {
    Graph::new(&nodes.iter().map(|(d, n)| (d.to_string(), n.clone())).collect())
}

fn set(dirs: &[&str]) -> BTreeSet<String> {
    dirs.iter().map(|d| d.to_string()).collect()
}

fn bases(g: &Graph, dir: &str) -> Vec<String> {
    g.bases(dir).into_iter().map(|b| b.context).collect()
}

#[test]
fn a_reference_to_a_repository_image_is_an_edge_whatever_its_tag_or_spelling() {
    let g = graph(&[
        ("base", node("docker.io/acme/base", &["debian:12"])),
        ("a", node("docker.io/acme/a", &["acme/base"])),
        ("b", node("docker.io/acme/b", &["docker.io/acme/base:v2"])),
        ("c", node("docker.io/acme/c", &["index.docker.io/acme/base:latest"])),
        ("wine", node("r.j3ss.co/wine", &[])),
        ("figma", node("r.j3ss.co/figma", &["r.j3ss.co/wine"])),
    ]);
    for dependent in ["a", "b", "c"] {
        assert_eq!(bases(&g, dependent), ["base"], "{dependent}");
    }
    assert_eq!(bases(&g, "figma"), ["wine"]);
    assert!(bases(&g, "base").is_empty(), "debian is external");
    assert_eq!(g.dependents("base").collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(g.bases("b")[0].names, set(&["docker.io/acme/base:v2"]));
}

#[test]
fn dependents_are_found_transitively_with_the_changed_base_that_reached_them() {
    // base <- mid <- top; other <- lone
    let g = graph(&[
        ("base", node("docker.io/acme/base", &[])),
        ("mid", node("docker.io/acme/mid", &["acme/base"])),
        ("top", node("docker.io/acme/top", &["acme/mid"])),
        ("other", node("docker.io/acme/other", &[])),
        ("lone", node("docker.io/acme/lone", &["acme/other"])),
    ]);
    let reached = g.dependents_of(&set(&["base"]));
    assert_eq!(
        reached,
        BTreeMap::from([("mid".to_string(), "base".to_string()), ("top".into(), "base".into())])
    );
    // A dependent that changed itself is not reached again.
    assert_eq!(g.dependents_of(&set(&["base", "mid"])).len(), 1);
    assert_eq!(
        g.waves(&set(&["base", "mid", "top", "other"])),
        vec![
            vec!["base".to_string(), "other".into()],
            vec!["mid".into()],
            vec!["top".into()]
        ]
    );
}

#[test]
fn a_diamond_waits_for_both_sides() {
    let g = graph(&[
        ("base", node("docker.io/acme/base", &[])),
        ("left", node("docker.io/acme/left", &["acme/base"])),
        ("right", node("docker.io/acme/right", &["acme/base"])),
        ("app", node("docker.io/acme/app", &["acme/left", "acme/right"])),
    ]);
    assert_eq!(bases(&g, "app"), ["left", "right"]);
    let all = set(&["base", "left", "right", "app"]);
    assert_eq!(g.dependents_of(&set(&["base"])).len(), 3);
    assert_eq!(
        g.waves(&all),
        vec![
            vec!["base".to_string()],
            vec!["left".into(), "right".into()],
            vec!["app".into()]
        ]
    );
    assert!(g.cycles().is_empty());
}

#[test]
fn a_cycle_is_found_and_never_ordered_and_dependents_of_it_never_loop() {
    let g = graph(&[
        ("a", node("docker.io/acme/a", &["acme/b"])),
        ("b", node("docker.io/acme/b", &["acme/c"])),
        ("c", node("docker.io/acme/c", &["acme/a"])),
        ("d", node("docker.io/acme/d", &["acme/c"])),
        ("e", node("docker.io/acme/e", &[])),
    ]);
    assert_eq!(g.cycles(), vec![vec!["a".to_string(), "b".into(), "c".into()]]);
    // Walking the dependents ends.
    assert_eq!(
        g.dependents_of(&set(&["a"])).keys().collect::<Vec<_>>(),
        ["b", "c", "d"]
    );
    // Neither the cycle nor what is built from it gets a wave.
    assert_eq!(g.waves(&set(&["a", "b", "c", "d", "e"])), vec![vec!["e".to_string()]]);
    assert!(g.to_text().contains("cycle: a <-> b <-> c"));
}

#[test]
fn own_image_digest_pins_and_bad_references_are_notes_not_edges() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let g = graph(&[
        ("base", node("docker.io/acme/base", &["acme/base:previous"])),
        (
            "pinned",
            node("docker.io/acme/pinned", &[&format!("acme/base@{digest}")]),
        ),
        ("bad", node("docker.io/acme/bad", &["Not/A/Reference"])),
    ]);
    assert!(bases(&g, "base").is_empty());
    assert!(g.notes("base")[0].contains("own image"), "{:?}", g.notes("base"));
    assert!(bases(&g, "pinned").is_empty());
    assert!(
        g.notes("pinned")[0].contains("pinned by digest"),
        "{:?}",
        g.notes("pinned")
    );
    assert!(bases(&g, "bad").is_empty());
    assert_eq!(g.notes("bad").len(), 1);
}

#[test]
fn several_directories_pushing_one_repository_are_told_apart_by_the_tag() {
    // The suite preset: web pushes latest, web/dev pushes dev.
    let mut dev = node("docker.io/acme/web", &[]);
    dev.tags = vec!["dev".into()];
    let g = graph(&[
        ("web", node("docker.io/acme/web", &[])),
        ("web/dev", dev),
        ("a", node("docker.io/acme/a", &["acme/web:dev"])),
        ("b", node("docker.io/acme/b", &["acme/web"])),
        ("c", node("docker.io/acme/c", &["acme/web:other"])),
    ]);
    assert_eq!(bases(&g, "a"), ["web/dev"]);
    assert_eq!(bases(&g, "b"), ["web"]);
    assert!(bases(&g, "c").is_empty());
    assert!(g.notes("c")[0].contains("could be the image of any of"));
}

#[test]
fn dot_output_quotes_what_it_is_given() {
    let g = graph(&[
        ("base", node("docker.io/acme/base", &[])),
        ("we\"ird", node("docker.io/acme/weird", &["acme/base"])),
    ]);
    let dot = g.to_dot();
    assert!(dot.starts_with("digraph images {"));
    assert!(dot.contains(r#""base" -> "we\"ird";"#), "{dot}");
    assert!(dot.contains(r#"[label="base\ndocker.io/acme/base"]"#), "{dot}");
    assert!(dot.ends_with("}\n"));
}

#[test]
fn an_unread_dockerfile_is_said_to_have_unknown_bases() {
    let mut big = node("docker.io/acme/big", &[]);
    big.dockerfile = None;
    big.unread = Some("it is larger than 1048576 bytes".into());
    let g = graph(&[("big", big)]);
    assert!(g.notes("big")[0].contains("bases are unknown"));
}
