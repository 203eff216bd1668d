//! The listener's pure path — verify the signature, decode, apply the ref rules, build and
//! encode the BuildRequest — on a typical push and on a 5 MB one.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dockhand_core::Deployment;
use dockhand_core::signature::Secret;
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

/// A push of ~5 MB, the shape of the issue's: 500 commits of 300 files each, across many
/// directories of many services. Paths recur across commits (a refactor touches the same
/// files again), about one in ten is a removal, and some commits touch Dockerfiles.
fn huge() -> String {
    const SERVICES: [&str; 24] = [
        "api", "web", "auth", "billing", "search", "worker", "gateway", "mailer", "reports", "ingest", "media",
        "notify", "audit", "ledger", "admin", "docs", "cli", "sync", "cache", "queue", "infra", "ml", "etl", "mobile",
    ];
    const DIRS: [&str; 8] = [
        "src", "src/api", "src/db", "src/util", "lib", "test", "conf", "docs/ref",
    ];
    const EXTS: [&str; 5] = ["rs", "go", "py", "ts", "md"];
    let mut push: Value = serde_json::from_str(&typical()).unwrap();
    let template = push["commits"][0].clone();
    // A small deterministic generator (xorshift), so every run benchmarks the same body.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let commits: Vec<Value> = (0..500)
        .map(|n| {
            let (mut added, mut modified, mut removed) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..300 {
                let service = SERVICES[next(SERVICES.len())];
                let path = if next(100) == 0 {
                    format!("{service}/Dockerfile")
                } else {
                    // 38,400 possible paths for 150,000 mentions: many recur.
                    let dir = DIRS[next(DIRS.len())];
                    let file = next(200);
                    format!("{service}/{dir}/component_{file:04}.{}", EXTS[file % EXTS.len()])
                };
                match next(10) {
                    0 => removed.push(path),
                    1..=3 => added.push(path),
                    _ => modified.push(path),
                }
            }
            let mut c = template.clone();
            c["id"] = json!(format!("{n:040x}"));
            c["message"] = json!(format!("Refactor module {n}\n\nA longer description of the change."));
            c["added"] = json!(added);
            c["modified"] = json!(modified);
            c["removed"] = json!(removed);
            c
        })
        .collect();
    push["head_commit"] = commits.last().unwrap().clone();
    push["commits"] = json!(commits);
    push.to_string()
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
