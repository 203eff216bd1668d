//! A stand-in for the part of GitHub's REST API dockhand reads, answering for one
//! repository from a real git repository on this machine:
//!
//! - `GET /repos/{owner}/{repo}/git/trees/{sha}[?recursive=1]` (a commit or a tree),
//! - `GET /repos/{owner}/{repo}/compare/{base}...{head}`,
//! - `GET /repos/{owner}/{repo}/contents/{path}[?ref={sha}]`,
//! - `GET /repos/{owner}/{repo}` and `GET /repos/{owner}/{repo}/commits/{ref}` (what an
//!   order of `dockhand build` asks),
//!
//! in GitHub's JSON shapes, with GitHub's answers to the unhappy cases: 404 for a private
//! repository asked without its token, 401 for a wrong token, and on request a truncated
//! recursive listing, a spent rate limit or a few 502s. Everything comes from running
//! `git` with arguments (never a shell), after checking every id and path taken from a URL.
//!
//! It also takes `POST /repos/{owner}/{repo}/statuses/{sha}` ([`statuses`]): commit statuses,
//! kept for tests to read ([`FakeGitHub::statuses`]), with failures on request
//! ([`FakeGitHub::fail_statuses`]).
//!
//! [`hooks`] stands in for the repository webhook endpoints (webhooks, their deliveries,
//! redelivery), answering from data a test gives.

pub mod hooks;
pub mod statuses;

use base64::Engine as _;
use serde_json::{Value, json};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

const DOCS: &str = "https://docs.github.com/rest";
/// GitHub lists at most this many files in a comparison.
const COMPARE_FILE_LIMIT: usize = 300;
/// GitHub lists at most this many commits in a comparison (without pagination).
const COMPARE_COMMIT_LIMIT: usize = 250;
/// Files over this size come without content from the contents API (`"encoding": "none"`).
const CONTENTS_JSON_LIMIT: u64 = 1024 * 1024;

/// How the stand-in misbehaves, like GitHub sometimes does.
#[derive(Debug, Clone, Default)]
pub struct FakeOptions {
    /// The repository is private: requests without `Authorization: Bearer <token>` get
    /// 404, and with another token 401, as on GitHub.
    pub token: Option<String>,
    /// Recursive tree listings longer than this are cut to this many entries and marked
    /// `"truncated": true`.
    pub truncate_over: Option<usize>,
    /// The first this many requests get 403 with `x-ratelimit-remaining: 0` and
    /// `x-ratelimit-reset` that many seconds from now.
    pub rate_limited: usize,
    /// The next this many requests get 502.
    pub unavailable: usize,
    /// Every answer waits this long first, as a slow GitHub does.
    pub delay: std::time::Duration,
}

/// The stand-in, serving on a thread until dropped.
pub struct FakeGitHub {
    port: u16,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    log: Arc<Mutex<Vec<String>>>,
    down: Arc<std::sync::atomic::AtomicBool>,
    statuses: Arc<Mutex<statuses::StatusBook>>,
}

impl FakeGitHub {
    /// Serves `repository` (`owner/name`) from the git work tree or bare repository
    /// `git_dir` on a free loopback port.
    pub fn start(repository: &str, git_dir: &Path, options: FakeOptions) -> io::Result<Self> {
        let valid_part = |p: &str| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        match repository.split_once('/') {
            Some((o, n)) if valid_part(o) && valid_part(n) => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{repository:?} is not owner/name"),
                ));
            }
        }
        if !git_dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a directory", git_dir.display()),
            ));
        }
        let (server, port) = crate::bind_loopback()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let statuses = Arc::new(Mutex::new(statuses::StatusBook::default()));
        let state = Serving {
            statuses: statuses.clone(),
            repository: repository.to_owned(),
            git_dir: git_dir.to_owned(),
            options,
            base: format!("http://127.0.0.1:{port}"),
            served: 0,
            down: down.clone(),
        };
        let thread = {
            let (server, log) = (server.clone(), log.clone());
            std::thread::spawn(move || serve(&server, state, &log))
        };
        Ok(FakeGitHub {
            port,
            server,
            thread: Some(thread),
            log,
            down,
            statuses,
        })
    }

    /// `http://127.0.0.1:PORT`, the API root (`GITHUB_API_URL`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Takes GitHub down (every request answered 502 Server Error, as GitHub answers during
    /// an outage) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every commit status accepted so far, in order.
    pub fn statuses(&self) -> Vec<statuses::PostedStatus> {
        self.statuses.lock().expect("statuses").posted.clone()
    }

    /// Answers the next `times` commit status posts `status` instead: 403 as GitHub answers
    /// a token without "Commit statuses: read and write", or a 5xx.
    pub fn fail_statuses(&self, status: u16, times: usize) {
        let mut book = self.statuses.lock().expect("statuses");
        book.failures.extend(std::iter::repeat_n(status, times));
    }

    /// Every request so far, as `GET /repos/o/n/git/trees/…?recursive=1`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("request log").clone()
    }
}

/// An HTTP server on a free loopback port, and the port.
fn bind_loopback() -> io::Result<(Arc<tiny_http::Server>, u16)> {
    let server = tiny_http::Server::http("127.0.0.1:0").map_err(io::Error::other)?;
    let port = server
        .server_addr()
        .to_ip()
        .map(|a| a.port())
        .ok_or_else(|| io::Error::other("the server has no port"))?;
    Ok((Arc::new(server), port))
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Serving {
    repository: String,
    git_dir: PathBuf,
    options: FakeOptions,
    base: String,
    served: usize,
    /// While set, every request gets 502: GitHub down for a while.
    down: Arc<std::sync::atomic::AtomicBool>,
    statuses: Arc<Mutex<statuses::StatusBook>>,
}

/// One answer: status, extra headers, body and its content type.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    content_type: &'static str,
}

impl Answer {
    fn json(status: u16, body: Value) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: serde_json::to_vec_pretty(&body).expect("JSON serializes"),
            content_type: "application/json; charset=utf-8",
        }
    }

    fn error(status: u16, message: &str) -> Answer {
        Answer::json(
            status,
            json!({ "message": message, "documentation_url": DOCS, "status": status.to_string() }),
        )
    }

    /// Sends the answer with the headers every GitHub response carries.
    fn send(self, request: tiny_http::Request) {
        let mut response = tiny_http::Response::from_data(self.body).with_status_code(self.status);
        let headers = [
            ("Content-Type".to_owned(), self.content_type.to_owned()),
            ("X-GitHub-Api-Version-Selected".to_owned(), "2022-11-28".to_owned()),
        ];
        for (name, value) in headers.into_iter().chain(self.headers) {
            if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(h);
            }
        }
        let _ = request.respond(response);
    }

    fn not_found() -> Answer {
        Answer::error(404, "Not Found")
    }
}

fn serve(server: &tiny_http::Server, mut state: Serving, log: &Mutex<Vec<String>>) {
    for mut request in server.incoming_requests() {
        log.lock()
            .expect("request log")
            .push(format!("{} {}", request.method(), request.url()));
        let header = |name: &'static str| {
            request
                .headers()
                .iter()
                .find(|h| h.field.equiv(name))
                .map(|h| h.value.as_str().to_owned())
        };
        let (authorization, accept) = (header("Authorization"), header("Accept"));
        // A request's body: a commit status is a few hundred bytes.
        let mut body = Vec::new();
        let _ = io::Read::read_to_end(&mut io::Read::take(request.as_reader(), 1 << 20), &mut body);
        std::thread::sleep(state.options.delay);
        let answer = state.answer(
            request.method(),
            request.url(),
            authorization.as_deref(),
            accept.as_deref(),
            &body,
        );
        answer.send(request);
    }
}

impl Serving {
    fn answer(
        &mut self,
        method: &tiny_http::Method,
        url: &str,
        authorization: Option<&str>,
        accept: Option<&str>,
        body: &[u8],
    ) -> Answer {
        self.served += 1;
        let options = &self.options;
        if self.served <= options.rate_limited {
            let reset = unix_now() + options.rate_limited as u64;
            let mut answer = Answer::json(
                403,
                json!({
                    "message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)",
                    "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
                }),
            );
            answer.headers = vec![
                ("x-ratelimit-limit".into(), "60".into()),
                ("x-ratelimit-remaining".into(), "0".into()),
                ("x-ratelimit-reset".into(), reset.to_string()),
                ("x-ratelimit-used".into(), "60".into()),
                ("x-ratelimit-resource".into(), "core".into()),
            ];
            return answer;
        }
        if self.served <= options.rate_limited + options.unavailable
            || self.down.load(std::sync::atomic::Ordering::SeqCst)
        {
            return Answer::error(502, "Server Error");
        }
        if let Some(token) = &options.token {
            match authorization {
                None => return Answer::not_found(),
                Some(given) if given != format!("Bearer {token}") && given != format!("token {token}") => {
                    return Answer::error(401, "Bad credentials");
                }
                Some(_) => {}
            }
        }
        if *method == tiny_http::Method::Post {
            let mut book = self.statuses.lock().expect("statuses");
            return statuses::create(&mut book, &self.repository, &self.base, &Git(&self.git_dir), url, body);
        }
        if *method != tiny_http::Method::Get {
            return Answer::not_found();
        }
        let Some(request) = RequestUrl::parse(url) else {
            return Answer::not_found();
        };
        let param = |name: &str| request.param(name);
        let segments = request.segments();
        let ["repos", owner, name, rest @ ..] = segments.as_slice() else {
            return Answer::not_found();
        };
        // GitHub's owner and repository names are case-insensitive.
        if !format!("{owner}/{name}").eq_ignore_ascii_case(&self.repository) {
            return Answer::not_found();
        }
        let git = Git(&self.git_dir);
        match rest {
            ["git", "trees", sha] => self.tree(&git, sha, param("recursive").is_some()),
            ["compare", spec] => match spec.split_once("...") {
                Some((base, head)) => self.compare(&git, base, head),
                None => Answer::not_found(),
            },
            ["contents", path @ ..] => {
                let raw = accept.is_some_and(|a| a.contains("application/vnd.github.raw"));
                self.contents(&git, &path.join("/"), param("ref").unwrap_or("HEAD"), raw)
            }
            [] => self.repository_answer(&git),
            ["commits", reference @ ..] if !reference.is_empty() => self.commit(&git, &reference.join("/")),
            _ => Answer::not_found(),
        }
    }

    /// `GET /repos/{owner}/{repo}` (https://docs.github.com/en/rest/repos/repos#get-a-repository):
    /// the fields dockhand reads, the default branch being the git repository's HEAD.
    fn repository_answer(&self, git: &Git) -> Answer {
        let Some(branch) = git.text(&["symbolic-ref", "--quiet", "--short", "HEAD"]) else {
            return Answer::error(500, "the served repository has no default branch (a detached HEAD)");
        };
        let name = self.repository.split_once('/').map_or("", |(_, n)| n);
        Answer::json(
            200,
            json!({
                "id": 1,
                "name": name,
                "full_name": self.repository,
                "private": self.options.token.is_some(),
                "default_branch": branch.trim(),
                "html_url": format!("https://github.com/{}", self.repository),
                "clone_url": format!("https://github.com/{}.git", self.repository),
                "url": self.api(""),
            }),
        )
    }

    /// `GET /repos/{owner}/{repo}/commits/{ref}` (https://docs.github.com/en/rest/commits/commits#get-a-commit):
    /// `ref` is a commit id, a branch or tag name, or `heads/NAME` / `tags/NAME`. A ref that
    /// names no commit is answered 422 "No commit found for SHA", as GitHub answers it.
    fn commit(&self, git: &Git, reference: &str) -> Answer {
        let full = match reference.split_once('/') {
            Some(("heads" | "tags", _)) => format!("refs/{reference}"),
            _ => reference.to_owned(),
        };
        let Some(sha) = git.resolve(&full, "commit") else {
            return Answer::json(
                422,
                json!({
                    "message": format!("No commit found for SHA: {reference}"),
                    "documentation_url": "https://docs.github.com/rest/commits/commits#get-a-commit",
                    "status": "422"
                }),
            );
        };
        let Some(text) = git.text(&["log", "-1", "--format=%an%x00%ae%x00%aI%x00%B", &sha]) else {
            return Answer::error(500, "git log failed");
        };
        let mut parts = text.splitn(4, '\0');
        let (author, email, date, message) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("").trim_end_matches('\n'),
        );
        Answer::json(
            200,
            json!({
                "sha": sha,
                "url": self.api(&format!("/commits/{sha}")),
                "html_url": format!("https://github.com/{}/commit/{sha}", self.repository),
                "commit": {
                    "author": { "name": author, "email": email, "date": date },
                    "committer": { "name": author, "email": email, "date": date },
                    "message": message,
                },
            }),
        )
    }

    fn api(&self, path: &str) -> String {
        format!("{}/repos/{}{path}", self.base, self.repository)
    }

    fn tree(&self, git: &Git, sha: &str, recursive: bool) -> Answer {
        let Some(tree) = git.resolve(sha, "tree") else {
            return Answer::error(404, "Not Found");
        };
        let mut args = vec!["ls-tree", "-z", "-l", "--full-tree"];
        if recursive {
            args.extend(["-r", "-t"]);
        }
        args.push(&tree);
        let Some(listing) = git.text(&args) else {
            return Answer::error(500, "git ls-tree failed");
        };
        let mut entries: Vec<Value> = parse_ls_tree(&listing)
            .into_iter()
            .map(|e| {
                let kind = if e.kind == "tree" { "trees" } else { "blobs" };
                let mut entry = json!({
                    "path": e.path, "mode": e.mode, "type": e.kind, "sha": e.sha,
                    "url": self.api(&format!("/git/{kind}/{}", e.sha)),
                });
                if let Some(size) = e.size {
                    entry["size"] = json!(size);
                }
                if e.kind == "commit" {
                    entry.as_object_mut().expect("an object").remove("url");
                }
                entry
            })
            .collect();
        let mut truncated = false;
        if recursive
            && let Some(limit) = self.options.truncate_over
            && entries.len() > limit
        {
            entries.truncate(limit);
            truncated = true;
        }
        Answer::json(
            200,
            json!({ "sha": tree, "url": self.api(&format!("/git/trees/{tree}")), "tree": entries, "truncated": truncated }),
        )
    }

    fn compare(&self, git: &Git, base: &str, head: &str) -> Answer {
        let (Some(base), Some(head)) = (git.resolve(base, "commit"), git.resolve(head, "commit")) else {
            return Answer::error(404, "Not Found");
        };
        let Some(merge_base) = git.text(&["merge-base", &base, &head]).map(|s| s.trim().to_owned()) else {
            return Answer::error(404, &format!("No common ancestor between {base} and {head}."));
        };
        let count = |range: String| {
            git.text(&["rev-list", "--count", &range])
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        let ahead_by = count(format!("{merge_base}..{head}"));
        let behind_by = count(format!("{merge_base}..{base}"));
        let status = match (ahead_by, behind_by) {
            (0, 0) => "identical",
            (_, 0) => "ahead",
            (0, _) => "behind",
            _ => "diverged",
        };
        let range = format!("{merge_base}..{head}");
        let commits: Vec<Value> = git
            .text(&["log", "--reverse", "--format=%H%x00%s", &range])
            .unwrap_or_default()
            .lines()
            .take(COMPARE_COMMIT_LIMIT)
            .filter_map(|l| l.split_once('\0'))
            .map(|(sha, subject)| {
                json!({ "sha": sha, "url": self.api(&format!("/commits/{sha}")), "commit": { "message": subject } })
            })
            .collect();
        let Some(raw) = git.text(&["diff", "--raw", "-z", "-M", "--no-abbrev", &merge_base, &head]) else {
            return Answer::error(500, "git diff failed");
        };
        let numstat = git
            .text(&["diff", "--numstat", "-z", "-M", &merge_base, &head])
            .unwrap_or_default();
        let counts = parse_numstat(&numstat);
        let files: Vec<Value> = parse_raw_diff(&raw)
            .into_iter()
            .enumerate()
            .take(COMPARE_FILE_LIMIT)
            .map(|(i, d)| {
                let (additions, deletions) = counts.get(i).copied().unwrap_or((0, 0));
                let status = match d.status {
                    'A' => "added",
                    'D' => "removed",
                    'R' => "renamed",
                    'C' => "copied",
                    'T' => "changed",
                    _ => "modified",
                };
                let sha = if d.status == 'D' { &d.old_sha } else { &d.new_sha };
                let mut file = json!({
                    "sha": sha,
                    "filename": d.path,
                    "status": status,
                    "additions": additions,
                    "deletions": deletions,
                    "changes": additions + deletions,
                    "contents_url": self.api(&format!("/contents/{}?ref={head}", d.path)),
                });
                if let Some(previous) = d.previous {
                    file["previous_filename"] = json!(previous);
                }
                file
            })
            .collect();
        Answer::json(
            200,
            json!({
                "url": self.api(&format!("/compare/{base}...{head}")),
                "base_commit": { "sha": base },
                "merge_base_commit": { "sha": merge_base },
                "status": status,
                "ahead_by": ahead_by,
                "behind_by": behind_by,
                "total_commits": ahead_by,
                "commits": commits,
                "files": files,
            }),
        )
    }

    fn contents(&self, git: &Git, path: &str, reference: &str, raw: bool) -> Answer {
        let Some(commit) = git.resolve(reference, "commit") else {
            return Answer::error(404, &format!("No commit found for the ref {reference}"));
        };
        let path = path.trim_end_matches('/');
        let valid = path.is_empty()
            || path
                .split('/')
                .all(|s| !s.is_empty() && s != "." && s != ".." && !s.bytes().any(|b| b.is_ascii_control()));
        if !valid {
            return Answer::not_found();
        }
        let entry = if path.is_empty() {
            None
        } else {
            let Some(listing) = git.text(&["ls-tree", "-z", "-l", "--full-tree", &commit, "--", path]) else {
                return Answer::error(500, "git ls-tree failed");
            };
            match parse_ls_tree(&listing).into_iter().find(|e| e.path == path) {
                Some(e) => Some(e),
                None => return Answer::not_found(),
            }
        };
        let name = path.rsplit('/').next().unwrap_or_default();
        match entry {
            // The root, or a directory: a JSON array of its entries.
            None => self.directory(git, &commit, path),
            Some(e) if e.kind == "tree" => self.directory(git, &commit, path),
            Some(e) if e.kind == "commit" => Answer::json(
                200,
                json!({ "type": "submodule", "name": name, "path": path, "sha": e.sha, "size": 0 }),
            ),
            Some(e) => {
                let Some(bytes) = git.bytes(&["cat-file", "blob", &e.sha]) else {
                    return Answer::error(500, "git cat-file failed");
                };
                if e.mode == "120000" {
                    return Answer::json(
                        200,
                        json!({
                            "type": "symlink", "target": String::from_utf8_lossy(&bytes), "name": name,
                            "path": path, "sha": e.sha, "size": bytes.len(),
                        }),
                    );
                }
                if raw {
                    return Answer {
                        status: 200,
                        headers: Vec::new(),
                        body: bytes,
                        content_type: "application/vnd.github.raw; charset=utf-8",
                    };
                }
                let size = bytes.len() as u64;
                let (encoding, content) = if size > CONTENTS_JSON_LIMIT {
                    ("none", String::new())
                } else {
                    ("base64", wrapped_base64(&bytes))
                };
                Answer::json(
                    200,
                    json!({
                        "type": "file", "encoding": encoding, "size": size, "name": name, "path": path,
                        "content": content, "sha": e.sha,
                        "url": self.api(&format!("/contents/{path}?ref={commit}")),
                        "git_url": self.api(&format!("/git/blobs/{}", e.sha)),
                    }),
                )
            }
        }
    }

    fn directory(&self, git: &Git, commit: &str, path: &str) -> Answer {
        let tree = if path.is_empty() {
            format!("{commit}^{{tree}}")
        } else {
            format!("{commit}:{path}")
        };
        let Some(listing) = git.text(&["ls-tree", "-z", "-l", &tree]) else {
            return Answer::not_found();
        };
        let entries: Vec<Value> = parse_ls_tree(&listing)
            .into_iter()
            .map(|e| {
                let full = if path.is_empty() {
                    e.path.clone()
                } else {
                    format!("{path}/{}", e.path)
                };
                let kind = match (e.kind.as_str(), e.mode.as_str()) {
                    ("tree", _) => "dir",
                    ("commit", _) => "submodule",
                    (_, "120000") => "symlink",
                    _ => "file",
                };
                json!({ "type": kind, "name": e.path, "path": full, "sha": e.sha, "size": e.size.unwrap_or(0) })
            })
            .collect();
        Answer::json(200, Value::Array(entries))
    }
}

/// GitHub's base64: wrapped at 60 columns, each line ending with a newline.
fn wrapped_base64(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for chunk in encoded.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// `git` in the served repository, run directly with arguments (no shell), without the
/// user's or system's configuration.
struct Git<'a>(&'a Path);

impl Git<'_> {
    fn bytes(&self, args: &[&str]) -> Option<Vec<u8>> {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.0)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            // A path from a URL is a path, never a pattern.
            .env("GIT_LITERAL_PATHSPECS", "1")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    }

    fn text(&self, args: &[&str]) -> Option<String> {
        self.bytes(args).and_then(|b| String::from_utf8(b).ok())
    }

    /// The full id of the `kind` (`commit` or `tree`) that `name` names: a full or
    /// abbreviated object id, or a branch or tag name. `None` if it names none.
    fn resolve(&self, name: &str, kind: &str) -> Option<String> {
        let plain = !name.is_empty()
            && !name.starts_with(['-', '.', '/'])
            && !name.contains("..")
            && !name.ends_with('/')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b));
        if !plain {
            return None;
        }
        let id = self.text(&[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{name}^{{{kind}}}"),
        ])?;
        let id = id.trim();
        (id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
    }
}

struct LsTreeEntry {
    mode: String,
    kind: String,
    sha: String,
    size: Option<u64>,
    path: String,
}

/// `git ls-tree -z -l` output: `<mode> SP <type> SP <object> SP+ <size> TAB <path> NUL`.
fn parse_ls_tree(text: &str) -> Vec<LsTreeEntry> {
    text.split('\0')
        .filter_map(|record| {
            let (meta, path) = record.split_once('\t')?;
            let mut fields = meta.split_whitespace();
            let (mode, kind, sha, size) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
            Some(LsTreeEntry {
                mode: mode.to_owned(),
                kind: kind.to_owned(),
                sha: sha.to_owned(),
                size: size.parse().ok(),
                path: path.to_owned(),
            })
        })
        .collect()
}

struct RawDiff {
    status: char,
    old_sha: String,
    new_sha: String,
    path: String,
    previous: Option<String>,
}

/// `git diff --raw -z`: `:<old mode> <new mode> <old sha> <new sha> <status>NUL<path>NUL`,
/// with a second path for renames and copies (`R<score>NUL<old>NUL<new>NUL`).
fn parse_raw_diff(text: &str) -> Vec<RawDiff> {
    let mut fields = text.split('\0');
    let mut out = Vec::new();
    while let Some(meta) = fields.next() {
        let Some(meta) = meta.strip_prefix(':') else { continue };
        let parts: Vec<&str> = meta.split(' ').collect();
        let [_, _, old_sha, new_sha, status] = parts.as_slice() else {
            continue;
        };
        let status = status.chars().next().unwrap_or('M');
        let Some(first) = fields.next() else { break };
        let (path, previous) = if matches!(status, 'R' | 'C') {
            let Some(second) = fields.next() else { break };
            (second.to_owned(), Some(first.to_owned()))
        } else {
            (first.to_owned(), None)
        };
        out.push(RawDiff {
            status,
            old_sha: (*old_sha).to_owned(),
            new_sha: (*new_sha).to_owned(),
            path,
            previous,
        });
    }
    out
}

/// `git diff --numstat -z`, in the order of `--raw`: `<added> TAB <deleted> TAB <path>NUL`,
/// or for a rename `<added> TAB <deleted> TAB NUL<old>NUL<new>NUL`; binary files count 0.
fn parse_numstat(text: &str) -> Vec<(u64, u64)> {
    let mut fields = text.split('\0');
    let mut out = Vec::new();
    while let Some(record) = fields.next() {
        let mut parts = record.splitn(3, '\t');
        let (Some(added), Some(deleted), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if path.is_empty() {
            // A rename: the two paths follow.
            fields.next();
            fields.next();
        }
        out.push((added.parse().unwrap_or(0), deleted.parse().unwrap_or(0)));
    }
    out
}

/// Decodes `%XX` escapes; `None` for a malformed escape or bytes that are not UTF-8.
/// A request's path, cut into percent-decoded segments, and its query parameters.
pub(crate) struct RequestUrl<'a> {
    segments: Vec<String>,
    query: Vec<(&'a str, &'a str)>,
}

impl<'a> RequestUrl<'a> {
    /// `None` when a segment does not decode (GitHub answers such a path 404).
    pub(crate) fn parse(url: &'a str) -> Option<Self> {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        Some(RequestUrl {
            segments: path.split('/').skip(1).map(percent_decode).collect::<Option<_>>()?,
            query: query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap_or((p, "")))
                .collect(),
        })
    }

    pub(crate) fn segments(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }

    pub(crate) fn param(&self, name: &str) -> Option<&'a str> {
        self.query.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_output() {
        let ls = "100644 blob aaaa      12\tweb/Dockerfile\x00040000 tree bbbb       -\tweb\x00160000 commit cccc       -\tvendor/x\x00";
        let entries = parse_ls_tree(ls);
        assert_eq!(entries.len(), 3);
        assert_eq!(
            (entries[0].path.as_str(), entries[0].size),
            ("web/Dockerfile", Some(12))
        );
        assert_eq!((entries[1].kind.as_str(), entries[1].size), ("tree", None));
        assert_eq!(entries[2].kind, "commit");

        let raw = ":100644 100644 1111 2222 M\0web/index.html\0:100644 100644 3333 3333 R100\0chrome/beta/Dockerfile\0browsers/beta/Dockerfile\0:100644 000000 4444 0000 D\0lib/util.sh\0";
        let diff = parse_raw_diff(raw);
        assert_eq!(diff.len(), 3);
        assert_eq!((diff[0].status, diff[0].path.as_str()), ('M', "web/index.html"));
        assert_eq!(
            (diff[1].status, diff[1].path.as_str(), diff[1].previous.as_deref()),
            ('R', "browsers/beta/Dockerfile", Some("chrome/beta/Dockerfile"))
        );
        assert_eq!((diff[2].status, diff[2].old_sha.as_str()), ('D', "4444"));

        let numstat =
            "1\t1\tweb/index.html\x000\t0\t\0chrome/beta/Dockerfile\0browsers/beta/Dockerfile\0-\t-\tlogo.png\0";
        assert_eq!(parse_numstat(numstat), [(1, 1), (0, 0), (0, 0)]);
    }

    #[test]
    fn base64_is_wrapped_like_github() {
        let text = wrapped_base64(&[7u8; 100]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.iter().map(|l| l.len()).collect::<Vec<_>>(), [60, 60, 16]);
        assert!(text.ends_with('\n'));
        assert_eq!(wrapped_base64(b""), "");
    }

    #[test]
    fn decodes_urls() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("%C3%BC").as_deref(), Some("ü"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("%zz"), None);
    }
}
