//! `dockhand plan` answers a recorded history of pushes byte for byte as it did when they
//! were recorded (tests/recorded/record.py): every way of planning (`--tree`, `--repo`,
//! `--payload-only`, a comparison with `--changes`, no `--config`) under three deployments,
//! plus the repository's fixtures. A change of any plan, skip reason or message fails here;
//! when the change is meant, re-record and say so in the commit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn recorded() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recorded")
}

struct Case {
    name: String,
    status: i32,
    args: Vec<String>,
}

fn cases() -> Vec<Case> {
    std::fs::read_to_string(recorded().join("cases.tsv"))
        .unwrap()
        .lines()
        .map(|line| {
            let mut fields = line.split('\t');
            Case {
                name: fields.next().unwrap().to_owned(),
                status: fields.next().unwrap().parse().unwrap(),
                args: fields.map(str::to_owned).collect(),
            }
        })
        .collect()
}

#[test]
fn recorded_pushes_plan_byte_for_byte() {
    let dir = recorded();
    let here = format!("{}/", dir.display());
    let scratch = std::env::temp_dir().join(format!("dockhand-recorded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let checkout = scratch.join("repo");
    let clone = Command::new("git")
        .args(["clone", "-q", "-b", "main"])
        .arg(dir.join("history.bundle"))
        .arg(&checkout)
        .output()
        .unwrap();
    assert!(clone.status.success(), "{}", String::from_utf8_lossy(&clone.stderr));
    let checkout_text = checkout.display().to_string();
    let cases = cases();
    assert!(cases.len() >= 200, "the record holds {} cases", cases.len());
    let mut failed = Vec::new();
    for case in &cases {
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| a.replace("@/", &here).replace("@repo", &checkout_text))
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_dockhand"))
            .arg("plan")
            .args(&args)
            .env("GITHUB_API_URL", "http://127.0.0.1:9")
            .env("GITHUB_TOKEN", "")
            .output()
            .unwrap();
        let normal = |bytes: &[u8]| {
            String::from_utf8_lossy(bytes)
                .replace(&here, "@/")
                .replace(&checkout_text, "@repo")
        };
        let expected =
            |ext: &str| std::fs::read_to_string(dir.join("out").join(format!("{}.{ext}", case.name))).unwrap();
        let (stdout, stderr) = (normal(&out.stdout), normal(&out.stderr));
        let status = out.status.code().unwrap_or(-1);
        if stdout != expected("out") || stderr != expected("err") || status != case.status {
            failed.push(format!(
                "{} (exit {status}, recorded {}):\n  stderr: {}\n  stdout: {}",
                case.name,
                case.status,
                stderr.trim(),
                stdout.chars().take(600).collect::<String>()
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        failed.is_empty(),
        "{} of {} recorded plans changed; the first:\n{}",
        failed.len(),
        cases.len(),
        failed.iter().take(3).cloned().collect::<Vec<_>>().join("\n")
    );
}
