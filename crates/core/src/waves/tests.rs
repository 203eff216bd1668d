use super::*;
use proptest::prelude::*;

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

#[test]
fn pins_read_back_and_only_the_shapes_planning_writes_are_accepted() {
    let text = format!(
        "acme/base\tdocker.io/acme/base@{}\nr.j3ss.co/wine:latest\tr.j3ss.co/wine:dockhand-{}",
        digest(1),
        "ab".repeat(16)
    );
    assert_eq!(parse_pins(&text).unwrap().len(), 2);
    for bad in [
        "acme/base docker.io/acme/base@sha256:00".to_string(),
        format!("acme/base\tdocker.io/acme/base@{}\textra", digest(1)),
        format!("$(touch x)\tdocker.io/acme/base@{}", digest(1)),
        "acme/base\tdocker.io/acme/base:latest".to_string(),
        format!("acme/base\tdocker.io/acme/base@sha256:{}", "A".repeat(64)),
        format!("-rm\tdocker.io/acme/base@{}", digest(1)),
        format!("a b\tdocker.io/acme/base@{}", digest(1)),
        format!("\tdocker.io/acme/base@{}", digest(1)),
    ] {
        assert!(parse_pins(&bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        parse_dependents(&format!("{},x,{}", "a".repeat(64), "b".repeat(63))),
        ["a".repeat(64)]
    );
}

proptest! {
    /// Whatever a Dockerfile names, a name with a character a shell or `--build-context`
    /// could read is never accepted as a pin's name.
    #[test]
    fn hostile_names_are_never_pins(name in ".{0,64}") {
        let line = format!("{name}\tdocker.io/acme/base@{}", digest(7));
        let safe = !name.is_empty()
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/:@-".contains(&b));
        prop_assert_eq!(parse_pins(&line).is_ok(), safe && !name.contains('\n'));
    }
}

fn held(bases: &[(&str, &str)]) -> Held {
    let mut build = crate::testing::queued_build("6113728f27ae82c7b1a177c8d03f9e96e0adf246");
    set_env(&mut build.request, DEPENDENTS_VARIABLE, &"c".repeat(64));
    Held {
        build,
        bases: bases
            .iter()
            .map(|(context, key)| HeldBase {
                context: context.to_string(),
                key: key.to_string(),
                image: format!("docker.io/acme/{context}"),
                names: vec![format!("acme/{context}")],
                digest: None,
            })
            .collect(),
        state: HeldState::Waiting,
        expires_at: 1,
    }
}

#[test]
fn a_held_build_is_released_once_every_base_has_pushed() {
    let mut h = held(&[("left", "k1"), ("right", "k2")]);
    assert_eq!(h.base_pushed("k1", &digest(1)), Settled::Waiting);
    // The same base again changes nothing.
    assert_eq!(h.base_pushed("k1", &digest(1)), Settled::Waiting);
    let Settled::Release(build) = h.base_pushed("k2", &digest(2)) else {
        panic!("released")
    };
    assert_eq!(
        build.request.env(BASES_VARIABLE).unwrap(),
        format!(
            "acme/left\tdocker.io/acme/left@{}\nacme/right\tdocker.io/acme/right@{}",
            digest(1),
            digest(2)
        )
    );
    assert_eq!(h.dependents(), ["c".repeat(64)]);
    h.state = HeldState::Released;
    assert_eq!(h.base_pushed("k2", &digest(2)), Settled::Done);
    assert!(!h.block("left", "late"));
}

#[test]
fn a_blocked_build_stays_blocked() {
    let mut h = held(&[("left", "k1")]);
    assert!(h.block("left", "its build ended FAILED"));
    assert!(!h.block("left", "again"));
    assert_eq!(h.base_pushed("k1", &digest(1)), Settled::Done);
    let back = Held::from_json(&h.to_json()).unwrap();
    assert_eq!(back, h);
}

#[test]
fn pins_for_re_tagged_bases_come_first_and_stay() {
    let mut h = held(&[("left", "k1")]);
    let kept = format!("acme/old\tdocker.io/acme/old:dockhand-{}", "0".repeat(32));
    set_env(&mut h.build.request, BASES_VARIABLE, &kept);
    let Settled::Release(build) = h.base_pushed("k1", &digest(1)) else {
        panic!("released")
    };
    let pins = build.request.env(BASES_VARIABLE).unwrap();
    assert!(pins.starts_with(&kept), "{pins}");
    assert_eq!(parse_pins(pins).unwrap().len(), 2);
}
