//! The listener's pure path — verify the signature, decode, apply the ref rules, build and
//! encode the BuildRequest — on a typical push and on a 5 MB one.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dockhand_core::Deployment;
use dockhand_core::ports::Secret;
use dockhand_listener::{Delivery, Outcome, interpret, verify};
use serde_json::{Value, json};
use std::hint::black_box;

const SECRET: &str = "bench-secret";

fn typical() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/push-monorepo.json"
    ))
    .unwrap()
}

/// A push of ~5 MB: many commits touching many files across many directories.
fn huge() -> String {
    let mut push: Value = serde_json::from_str(&typical()).unwrap();
    let template = push["commits"][0].clone();
    let mut commits = Vec::new();
    for n in 0.. {
        let mut c = template.clone();
        let files: Vec<String> = (0..50)
            .map(|i| format!("service-{:03}/src/module_{n:05}/file_{i:02}.rs", n % 400))
            .collect();
        c["modified"] = json!(files);
        c["message"] = json!(format!("Refactor module {n}\n\nA longer description of the change."));
        commits.push(c);
        if n % 100 == 99 {
            push["commits"] = json!(commits);
            let text = push.to_string();
            if text.len() >= 5_000_000 {
                return text;
            }
        }
    }
    unreachable!()
}

fn run(body: &[u8], signature: &str, secrets: &[Secret], deployment: &Deployment) -> usize {
    let d = Delivery {
        event: Some("push"),
        delivery: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        signature_256: Some(signature),
        has_legacy_signature: false,
        content_type: Some("application/json"),
        body,
    };
    verify(&d, secrets).unwrap();
    match interpret(&d, deployment) {
        Outcome::Publish { message, .. } => message.len(),
        Outcome::Reply(r) => panic!("{r:?}"),
    }
}

fn bench(c: &mut Criterion) {
    let deployment = dockhand_testkit::deployment();
    // Two secrets, as during a rotation: both are always checked.
    let secrets = vec![Secret::new("previous-secret"), Secret::new(SECRET)];
    let mut group = c.benchmark_group("listener");
    for (name, body) in [("typical push", typical()), ("5 MB push", huge())] {
        let signature = dockhand_core::signature::sign(SECRET.as_bytes(), body.as_bytes());
        let published = run(body.as_bytes(), &signature, &secrets, &deployment);
        eprintln!("{name}: body {} bytes -> BuildRequest {published} bytes", body.len());
        group.throughput(Throughput::Bytes(body.len() as u64));
        if body.len() > 1_000_000 {
            group.sample_size(20);
        }
        group.bench_function(name, |b| {
            b.iter(|| run(black_box(body.as_bytes()), &signature, &secrets, &deployment))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
