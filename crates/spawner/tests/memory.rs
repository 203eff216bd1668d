//! The spawner's peak memory planning a push on a 500,000-file repository, and a forced
//! push over it, through the real GitHub adapter: the function has 128 MB
//! (cfn/dockhand.yml), and this asserts at most 96 MiB, leaving room for what a test
//! process does not hold (the Lambda runtime's own buffers, a larger event).
//!
//! Each case runs in a child process (this test binary again, running only the ignored
//! `child` test) so that its peak resident set (`VmHWM` in `/proc/self/status`) is its
//! own: the code, the tokio runtime, the HTTP client and every allocation the planning
//! made, as Lambda counts a function's memory. The synthetic GitHub serving the listings
//! runs in the parent, so none of its memory is counted. The test binary is a debug build
//! with the test harness, larger than the release spawner, so the figure errs high.
//!
//! The synthetic repository is shaped like a large monorepo: `packages/component-NN`
//! (50 of them, each with a Dockerfile) holding `src/module-NNN` (100 each) holding 100
//! files each, paths of about 56 characters. GitHub truncates a recursive listing past
//! 100,000 entries or 7 MB (https://docs.github.com/en/rest/git/trees#get-a-tree), and
//! so does the stand-in, so the adapter walks the tree directory by directory, as it must
//! on GitHub.

mod support;

use dockhand_core::ports::memory::MemoryCodeBuild;
use dockhand_core::queue::QueuedBuild;
use dockhand_core::request::ChangeSource;
use dockhand_core::start_build::StartError;
use dockhand_github::{GitHub, Policy};
use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

/// The most the spawner may hold at its peak, in KiB as `VmHWM` counts.
const LIMIT_KIB: u64 = 96 * 1024;
const URL_ENV: &str = "DOCKHAND_MEMORY_TEST_GITHUB";
const CASE_ENV: &str = "DOCKHAND_MEMORY_TEST_CASE";
const REPO: &str = "acme/images";

const COMPONENTS: usize = 50;
const MODULES: usize = 100;
const FILES: usize = 100;
/// GitHub's limits of one recursive listing.
const MAX_ENTRIES: usize = 100_000;
const MAX_BYTES: usize = 7_000_000;

/// The two commits: `BASE` and `HEAD` differ in three components (a file modified, a file
/// added, a module removed), every other directory is the same tree in both.
fn commit_id(head: bool) -> String {
    id(&[0xcc, u8::from(head)])
}

/// 40 hexadecimal digits from a few bytes, zero-padded.
fn id(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(40);
    for i in 0..20 {
        let _ = write!(text, "{:02x}", bytes.get(i).copied().unwrap_or(0));
    }
    text
}

/// A directory of the synthetic repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Root,
    Packages,
    Component(usize),
    Src(usize),
    Module(usize, usize),
}

const MODIFIED: (usize, usize, usize) = (7, 42, 31);
const ADDED_IN: (usize, usize) = (33, 0);
const REMOVED: (usize, usize) = (21, MODULES - 1);

impl Node {
    /// True when the directory's content differs between the two commits.
    fn differs(self) -> bool {
        let changed = |c: usize| [MODIFIED.0, ADDED_IN.0, REMOVED.0].contains(&c);
        match self {
            Node::Root | Node::Packages => true,
            Node::Component(c) | Node::Src(c) => changed(c),
            Node::Module(c, m) => (c, m) == (MODIFIED.0, MODIFIED.1) || (c, m) == ADDED_IN,
        }
    }

    /// Its tree id: the same in both commits unless it differs.
    fn sha(self, head: bool) -> String {
        let version = u8::from(head && self.differs());
        let (level, c, m) = match self {
            Node::Root => (0, 0, 0),
            Node::Packages => (1, 0, 0),
            Node::Component(c) => (2, c, 0),
            Node::Src(c) => (3, c, 0),
            Node::Module(c, m) => (4, c, m),
        };
        id(&[0xee, level, c as u8, m as u8, version])
    }

    fn parse(sha: &str) -> Option<(Node, bool)> {
        if sha == commit_id(false) || sha == commit_id(true) {
            return Some((Node::Root, sha == commit_id(true)));
        }
        let byte = |i: usize| u8::from_str_radix(sha.get(2 * i..2 * i + 2)?, 16).ok();
        if byte(0)? != 0xee {
            return None;
        }
        let (c, m) = (usize::from(byte(2)?), usize::from(byte(3)?));
        let node = match byte(1)? {
            0 => Node::Root,
            1 => Node::Packages,
            2 => Node::Component(c),
            3 => Node::Src(c),
            4 => Node::Module(c, m),
            _ => return None,
        };
        let head = byte(4)? == 1;
        (node.sha(head) == sha).then_some((node, head))
    }

    /// Its entries at one commit: (name, mode, type, sha).
    fn entries(self, head: bool) -> Vec<(String, &'static str, &'static str, String)> {
        let blob = |name: String, sha: String| (name, "100644", "blob", sha);
        let tree = |name: String, node: Node| (name, "040000", "tree", node.sha(head));
        match self {
            Node::Root => vec![
                blob(".dockhand.yml".into(), id(&[0xbb, 1])),
                blob("README.md".into(), id(&[0xbb, 2])),
                tree("packages".into(), Node::Packages),
            ],
            Node::Packages => (0..COMPONENTS)
                .map(|c| tree(format!("component-{c:02}"), Node::Component(c)))
                .collect(),
            Node::Component(c) => vec![
                blob("Dockerfile".into(), id(&[0xbb, 3, c as u8])),
                tree("src".into(), Node::Src(c)),
            ],
            Node::Src(c) => (0..MODULES)
                .filter(|&m| !head || (c, m) != REMOVED)
                .map(|m| tree(format!("module-{m:03}"), Node::Module(c, m)))
                .collect(),
            Node::Module(c, m) => {
                let mut entries: Vec<_> = (0..FILES)
                    .map(|f| {
                        let version = u8::from(head && (c, m, f) == MODIFIED);
                        blob(
                            format!("source-file-{f:04}.rs"),
                            id(&[0xbb, 4, c as u8, m as u8, f as u8, version]),
                        )
                    })
                    .collect();
                if head && (c, m) == ADDED_IN {
                    entries.insert(0, blob("new-file.rs".into(), id(&[0xbb, 5])));
                }
                entries
            }
        }
    }
}

/// GitHub's answer to `git/trees/{sha}[?recursive=1]` for a directory of the synthetic
/// repository, truncated as GitHub truncates.
fn listing(base: &str, node: Node, head: bool, recursive: bool) -> String {
    let mut body = String::from("{\"sha\":\"");
    body.push_str(&node.sha(head));
    body.push_str("\",\"tree\":[");
    let mut count = 0;
    let mut truncated = false;
    // Depth first, as git lists a tree.
    let mut pending = vec![(String::new(), node)];
    'walk: while let Some((prefix, dir)) = pending.pop() {
        let mut below = Vec::new();
        for (name, mode, kind, sha) in dir.entries(head) {
            let path = format!("{prefix}{name}");
            let mut entry = format!("{{\"path\":\"{path}\",\"mode\":\"{mode}\",\"type\":\"{kind}\",\"sha\":\"{sha}\",");
            if kind == "blob" {
                entry.push_str("\"size\":2048,");
            }
            let _ = write!(entry, "\"url\":\"{base}/repos/{REPO}/git/{kind}s/{sha}\"}}");
            if count == MAX_ENTRIES || body.len() + entry.len() + 30 > MAX_BYTES {
                truncated = true;
                break 'walk;
            }
            if count > 0 {
                body.push(',');
            }
            body.push_str(&entry);
            count += 1;
            if recursive && kind == "tree" {
                let (child, _) = Node::parse(&sha).expect("a tree of the repository");
                below.push((format!("{path}/"), child));
            }
        }
        pending.extend(below.into_iter().rev());
    }
    let _ = write!(body, "],\"truncated\":{truncated}}}");
    body
}

/// The synthetic GitHub: trees, a comparison that says "diverged" (a forced push, so the
/// adapter diffs the two trees) and `.dockhand.yml`.
fn serve(server: &tiny_http::Server) {
    let base = format!("http://{}", server.server_addr());
    for request in server.incoming_requests() {
        let url = request.url().to_owned();
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        let rest = path.strip_prefix(&format!("/repos/{REPO}/")).unwrap_or("");
        let (status, body) = if let Some(sha) = rest.strip_prefix("git/trees/") {
            match Node::parse(sha) {
                Some((node, head)) => (200, listing(&base, node, head, query.contains("recursive"))),
                None => (404, r#"{"message":"Not Found"}"#.to_owned()),
            }
        } else if rest.starts_with("compare/") {
            (
                200,
                r#"{"status":"diverged","ahead_by":1,"behind_by":1,"files":[]}"#.to_owned(),
            )
        } else if rest.starts_with("contents/.dockhand.yml") {
            // `ignore: [docs]`, base64.
            (
                200,
                r#"{"type":"file","encoding":"base64","size":15,"content":"aWdub3JlOiBbZG9jc10K\n"}"#.to_owned(),
            )
        } else {
            (404, r#"{"message":"Not Found"}"#.to_owned())
        };
        let response = tiny_http::Response::from_string(body)
            .with_status_code(status)
            .with_header(tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..]).unwrap());
        let _ = request.respond(response);
    }
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// Runs one case in a child process; answers its peak and its report line.
fn run_child(url: &str, case: &str) -> (u64, String) {
    let started = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(URL_ENV, url)
        .env(CASE_ENV, case)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the {case} child failed:\n{stdout}\n{stderr}");
    // The harness prints `test child ... ` before the test's own output, on the same line.
    let line = stdout
        .lines()
        .find_map(|l| l.find("MEMORY ").map(|at| l[at..].to_owned()))
        .unwrap_or_else(|| panic!("no MEMORY line from the {case} child:\n{stdout}\n{stderr}"));
    let peak = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("peak_kib="))
        .and_then(|v| v.parse().ok())
        .unwrap();
    eprintln!("{line} (child ran {:?})", started.elapsed());
    (peak, line)
}

#[test]
fn planning_a_500k_file_tree_and_a_forced_push_over_it_fits_in_96_mib() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("NOTICE: no /proc/self/status (not Linux); skipping the memory test");
        return;
    }
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let url = format!("http://{}", server.server_addr());
    let thread = {
        let server = server.clone();
        std::thread::spawn(move || serve(&server))
    };
    let results = [run_child(&url, "push"), run_child(&url, "forced")];
    server.unblock();
    thread.join().unwrap();
    for (peak, line) in results {
        assert!(
            peak <= LIMIT_KIB,
            "the spawner needed {} KiB ({:.1} MiB), more than the {} MiB allowed: {line}",
            peak,
            peak as f64 / 1024.0,
            LIMIT_KIB / 1024
        );
    }
}

/// One case, in the child process the test above starts.
#[tokio::test]
#[ignore = "run by planning_a_500k_file_tree_and_a_forced_push_over_it_fits_in_96_mib in a process of its own"]
async fn child() {
    let (Ok(url), Ok(case)) = (std::env::var(URL_ENV), std::env::var(CASE_ENV)) else {
        eprintln!("NOTICE: the memory child runs only as the memory test's child process");
        return;
    };
    let at_start = vm_hwm_kib();
    let github = GitHub::new(&url, None).unwrap().with_policy(Policy {
        backoff: Duration::from_millis(10),
        ..Policy::default()
    });
    // Never asked: planning only queues builds.
    let spawner = spawner(
        MemoryCodeBuild::refusing(StartError::Refused("this test only plans".into())),
        github,
    );
    let mut request = request();
    request.commit = commit_id(true);
    // The tags the rules give the new commit: the spawner checks them as the listener does.
    let dockhand_core::rules::RefDecision::Build { tags, fixed } = deployment().rules.decide(
        &request.git_ref,
        request.repository.default_branch.as_deref(),
        &request.commit,
    ) else {
        panic!("the fixture's push builds")
    };
    (request.tags, request.fixed_tags) = (tags, fixed);
    let modified = format!(
        "packages/component-{:02}/src/module-{:03}/source-file-{:04}.rs",
        MODIFIED.0, MODIFIED.1, MODIFIED.2
    );
    request.changes.paths = vec![modified];
    request.changes.removed = vec![];
    let expected: &[&str] = match case.as_str() {
        "push" => {
            request.changes.source = ChangeSource::Commits;
            &["packages/component-07"]
        }
        "forced" => {
            request.changes.source = ChangeSource::Compare { base: commit_id(false) };
            &[
                "packages/component-07",
                "packages/component-21",
                "packages/component-33",
            ]
        }
        other => panic!("unknown case {other}"),
    };
    let started = Instant::now();
    let (report, builds) = plan(&spawner, &request).await;
    let elapsed = started.elapsed();
    let peak = vm_hwm_kib();
    let mut contexts: Vec<String> = builds
        .iter()
        .map(|m| serde_json::from_str::<QueuedBuild>(&m.body).unwrap().context)
        .collect();
    contexts.sort();
    assert_eq!(contexts, expected, "{report:#?}");
    println!(
        "MEMORY case={case} peak_kib={peak} at_start_kib={at_start} plan_ms={}",
        elapsed.as_millis()
    );
}
