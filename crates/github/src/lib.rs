//! dockhand's [`SourceHost`] over GitHub's REST API: the files of a commit
//! (`git/trees`), the files changed between two commits (`compare`, or the exact difference
//! of two trees when GitHub's comparison cannot give it) and one file's content
//! (`contents`); and commit statuses posted (`statuses`).
//!
//! The HTTP client is the one the AWS SDK already uses (hyper 1, rustls with aws-lc, the
//! system's root certificates), so the functions carry no second TLS stack. Every request
//! is bounded: a timeout, a few attempts with doubling backoff for 5xx and connection
//! failures, and, by default, no waiting on a rate limit (the Lambda invocation is retried
//! instead). Nothing taken from a webhook reaches a URL unchecked, and the token never
//! appears in `Debug` output, logs or errors.

pub mod hooks;
mod model;
mod status;
mod statuses;
mod validate;

pub use model::{COMPARE_FILE_LIMIT, tree_diff};

use dockhand_core::order::{CommitInfo, RepositoryInfo};
use dockhand_core::ports::SourceHost;
use dockhand_core::tree::{ChangedFile, HostError, Listing, ObjectId, TreeFile};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{HeaderMap, Method, Request};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use model::{Comparison, Contents, Tree};
use status::{Access, Verdict};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// GitHub's public API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The environment variable naming another API root (GitHub Enterprise, a stand-in), as
/// GitHub Actions names it.
pub const API_URL_ENV: &str = "GITHUB_API_URL";

/// The API root to use: `GITHUB_API_URL` if set, else GitHub's public API.
pub fn api_url_from_env() -> String {
    std::env::var(API_URL_ENV).unwrap_or_else(|_| DEFAULT_API_URL.to_owned())
}

/// The most of any JSON answer the client reads. GitHub's largest are tree listings, which
/// it truncates at 100,000 entries or 7 MB
/// (https://docs.github.com/en/rest/git/trees#get-a-tree); a contents answer carries at
/// most a 1 MB file, base64-encoded; a comparison at most 300 files and 250 commits
/// (https://docs.github.com/en/rest/commits/commits#compare-two-commits). Past this the
/// answer is refused ([`HostError::OverBudget`]) without reading the rest, so no answer
/// can take the spawner's 128 MB.
pub const MAX_JSON_BYTES: usize = 16 * 1024 * 1024;

const JSON: &str = "application/vnd.github+json";
const RAW: &str = "application/vnd.github.raw+json";
const API_VERSION: &str = "2022-11-28";

/// How patient the client is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// One request, from connecting to the last byte of the answer.
    pub request_timeout: Duration,
    /// Attempts at a request that fails with a 5xx, a timeout or a connection error.
    pub attempts: u32,
    /// The wait after the first failed attempt, doubled after each further one.
    pub backoff: Duration,
    /// The longest wait for a rate limit to reset before retrying once; a longer one is
    /// answered with [`HostError::RateLimited`] at once.
    pub max_rate_limit_wait: Duration,
    /// The most tree listings one [`SourceHost::tree`] or [`SourceHost::compare`] may make
    /// when GitHub truncates the recursive listing and the tree is walked directory by
    /// directory.
    pub max_requests: usize,
    /// The longest one [`SourceHost::tree`] or [`SourceHost::compare`] may take, every
    /// request and wait included; past it the call answers [`HostError::OverBudget`]. The
    /// spawner's function has 60 s (cfn/dockhand.yml) for the tree, the comparison,
    /// `.dockhand.yml` and queueing the builds: a walk of 3,000 listings cannot finish in
    /// it, and retrying one that could not would only fail again.
    pub time_budget: Duration,
    /// The least time between two requests that change something (a redelivery): GitHub
    /// asks for at least a second between `POST`s, against its secondary rate limits
    /// (https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#pause-between-mutative-requests).
    pub mutation_pause: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            request_timeout: Duration::from_secs(10),
            attempts: 3,
            backoff: Duration::from_millis(500),
            // Fail fast: the invocation is retried by Lambda, which is cheaper than waiting.
            max_rate_limit_wait: Duration::ZERO,
            max_requests: 3000,
            // Twice (the tree, then the comparison) leaves 20 s of the spawner's 60.
            time_budget: Duration::from_secs(20),
            mutation_pause: Duration::from_secs(1),
        }
    }
}

/// A GitHub REST API client for one API root and, optionally, one token.
#[derive(Clone)]
pub struct GitHub {
    api: String,
    token: Option<String>,
    policy: Policy,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// When the last request that changes something was sent, shared by every clone.
    last_mutation: Arc<Mutex<Option<Instant>>>,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("api", &self.api)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl GitHub {
    /// A client for `api_base` (`https://api.github.com`, a GitHub Enterprise
    /// `https://HOST/api/v3`, or `http://127.0.0.1:PORT` for a stand-in), sending `token`
    /// as a bearer token when there is one.
    pub fn new(api_base: &str, token: Option<String>) -> Result<Self, String> {
        let api = api_base.trim().trim_end_matches('/').to_owned();
        let uri: hyper::Uri = api
            .parse()
            .map_err(|e| format!("the GitHub API URL {api:?} is not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(format!(
                    "the GitHub API URL {api:?} must start with https:// (or http:// for a local stand-in)"
                ));
            }
        };
        if uri.host().is_none() || uri.query().is_some() || api.contains('#') {
            return Err(format!(
                "the GitHub API URL {api:?} must be a scheme, a host and optionally a path, such as {DEFAULT_API_URL}"
            ));
        }
        let token = token.filter(|t| !t.trim().is_empty());
        if let Some(t) = &token
            && HeaderValue::from_str(&format!("Bearer {t}")).is_err()
        {
            // Never the token itself in the message.
            return Err("the GitHub token holds characters an HTTP header cannot carry (a newline?)".into());
        }
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = if https {
            builder
                .with_provider_and_native_roots(provider)
                .map_err(|e| format!("cannot set up TLS for {api}: {e}"))?
        } else {
            // Plain HTTP only: no certificate is ever checked, so none need loading.
            builder.with_tls_config(
                rustls::ClientConfig::builder_with_provider(provider.into())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| format!("cannot set up TLS: {e}"))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(GitHub {
            api,
            token,
            policy: Policy::default(),
            client,
            last_mutation: Arc::new(Mutex::new(None)),
        })
    }

    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The API root requests go to, without a trailing `/`.
    pub fn api_base(&self) -> &str {
        &self.api
    }

    /// One GET of `path` (starting with `/`, already validated and encoded), with retries:
    /// the body of a 2xx answer, or why there is none. A body longer than `limit` bytes is
    /// not read past its first `limit + 1` ([`HostError::FileTooLarge`], `size` from
    /// `Content-Length` when the server sent one).
    async fn get(&self, path: &str, accept: &str, limit: usize) -> Result<Vec<u8>, HostError> {
        let url = format!("{}{path}", self.api);
        let answer = self
            .call(&Method::GET, &url, accept, limit, Access::Contents, &[])
            .await?;
        Ok(answer.body)
    }

    /// One request of `method` to `url` (the API root and a validated path, or a link GitHub
    /// gave under the API root), with retries: a 2xx answer, or one whose status is in
    /// `answers` (for the caller to judge), or why there is none. `access` is what the
    /// endpoint needs, for the messages of a 401, 403 or 404. A body longer than `limit`
    /// bytes is not read past its first `limit + 1` ([`HostError::FileTooLarge`]).
    async fn call(
        &self,
        method: &Method,
        url: &str,
        accept: &str,
        limit: usize,
        access: Access,
        answers: &[u16],
    ) -> Result<Answer, HostError> {
        self.call_with_body(method, url, accept, limit, access, answers, None)
            .await
    }

    /// [`Self::call`] sending `body` (JSON) with each attempt.
    #[allow(clippy::too_many_arguments)]
    async fn call_with_body(
        &self,
        method: &Method,
        url: &str,
        accept: &str,
        limit: usize,
        access: Access,
        answers: &[u16],
        body: Option<&[u8]>,
    ) -> Result<Answer, HostError> {
        let what = format!("{method} {url}");
        let attempts = self.policy.attempts.max(1);
        let mut failures = 0u32;
        let mut waited = false;
        loop {
            let answer =
                tokio::time::timeout(self.policy.request_timeout, self.send(method, url, accept, limit, body)).await;
            let verdict = match answer {
                Err(_) => Verdict::Retry(format!(
                    "{what}: no complete answer within {:?}",
                    self.policy.request_timeout
                )),
                Ok(Err(e)) => Verdict::Retry(format!("{what}: {e}")),
                Ok(Ok((status, headers, body, complete))) => {
                    let judged = if answers.contains(&status) {
                        Verdict::Done
                    } else {
                        status::verdict(status, &headers, &body, &what, self.token.is_some(), unix_now(), access)
                    };
                    match judged {
                        Verdict::Done if complete => return Ok(Answer { status, headers, body }),
                        Verdict::Done => {
                            return Err(HostError::FileTooLarge {
                                path: what,
                                limit,
                                size: headers
                                    .get(hyper::header::CONTENT_LENGTH)
                                    .and_then(|v| v.to_str().ok()?.parse().ok()),
                            });
                        }
                        other => other,
                    }
                }
            };
            match verdict {
                Verdict::Done => unreachable!("returned above"),
                Verdict::Fail(e) => return Err(e),
                Verdict::RateLimited { reset, detail } => {
                    let wait = until(reset);
                    if waited || wait > self.policy.max_rate_limit_wait {
                        return Err(HostError::RateLimited { reset, detail });
                    }
                    waited = true;
                    tracing::warn!(endpoint = %url, wait_ms = wait.as_millis() as u64, "GitHub rate limit: waiting for the reset");
                    tokio::time::sleep(wait).await;
                }
                Verdict::Retry(why) => {
                    failures += 1;
                    if failures >= attempts {
                        return Err(HostError::Unavailable(format!(
                            "{why} (gave up after {failures} attempt{}); GitHub may be having trouble (https://www.githubstatus.com): the delivery is retried later",
                            if failures == 1 { "" } else { "s" }
                        )));
                    }
                    let delay = self.policy.backoff.saturating_mul(1 << (failures - 1).min(16));
                    tracing::warn!(
                        attempt = failures,
                        of = attempts,
                        delay_ms = delay.as_millis() as u64,
                        "{why}; retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// One request, with `body` as JSON if there is one: the status, the headers, at most
    /// `limit` bytes of the answer's body, and whether that is all of it. Reading stops as
    /// soon as more than `limit` has arrived, or before reading at all when
    /// `Content-Length` says so.
    async fn send(
        &self,
        method: &Method,
        url: &str,
        accept: &str,
        limit: usize,
        body: Option<&[u8]>,
    ) -> Result<(u16, HeaderMap, Vec<u8>, bool), String> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(url)
            .header(ACCEPT, accept)
            .header(USER_AGENT, "dockhand")
            .header("x-github-api-version", API_VERSION);
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "the token is not a valid header value")?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = self.client.request(request).await.map_err(|e| causes(&e))?;
        let (parts, mut body) = response.into_parts();
        let declared: Option<usize> = parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        if declared.is_some_and(|length| length > limit) {
            return Ok((parts.status.as_u16(), parts.headers, Vec::new(), false));
        }
        // Sized from Content-Length when there is one: no doubling of a 7 MB listing.
        let mut data = Vec::with_capacity(declared.unwrap_or(0));
        let mut complete = true;
        while let Some(frame) = body.frame().await {
            let Ok(chunk) = frame.map_err(|e| causes(&e))?.into_data() else {
                continue;
            };
            if data.len() + chunk.len() > limit {
                data.extend_from_slice(&chunk[..limit - data.len()]);
                complete = false;
                break;
            }
            data.extend_from_slice(&chunk);
        }
        Ok((parts.status.as_u16(), parts.headers, data, complete))
    }

    /// A JSON answer's body, at most [`MAX_JSON_BYTES`] of it.
    async fn get_json_body(&self, path: &str) -> Result<Vec<u8>, HostError> {
        self.get(path, JSON, MAX_JSON_BYTES).await.map_err(|e| match e {
            HostError::FileTooLarge { path, limit, .. } => HostError::OverBudget(format!(
                "{path} answered more than the {limit} bytes dockhand reads of one answer"
            )),
            other => other,
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, HostError> {
        let body = self.get_json_body(path).await?;
        serde_json::from_slice(&body).map_err(|e| self.unreadable(path, &e))
    }

    fn unreadable(&self, path: &str, e: &serde_json::Error) -> HostError {
        HostError::Unavailable(format!(
            "GET {}{path} answered something that is not the JSON GitHub sends: {e}",
            self.api
        ))
    }

    /// The body of one tree listing (read it with [`Self::read_tree`]), counted against
    /// `policy.max_requests`.
    async fn listing(
        &self,
        repository: &str,
        tree: ObjectId,
        recursive: bool,
        walk: &Walk<'_>,
    ) -> Result<(Vec<u8>, String), HostError> {
        if walk.used.fetch_add(1, Ordering::Relaxed) >= self.policy.max_requests {
            return Err(HostError::OverBudget(format!(
                "{} needs more than {} requests: GitHub truncates the recursive listing of a tree over 100,000 entries or 7 MB (https://docs.github.com/en/rest/git/trees#get-a-tree), and walking this one directory by directory takes more",
                walk.what, self.policy.max_requests
            )));
        }
        let query = if recursive { "?recursive=1" } else { "" };
        let path = format!("/repos/{repository}/git/trees/{tree}{query}");
        Ok((self.get_json_body(&path).await?, path))
    }

    fn read_tree<'a>(&self, (body, path): &'a (Vec<u8>, String)) -> Result<Tree<'a>, HostError> {
        serde_json::from_slice(body).map_err(|e| self.unreadable(path, &e))
    }

    /// Every file of the tree `root`, their paths under `dir`: one recursive listing, or
    /// when GitHub truncates it, the tree walked directory by directory. With `trees`, the
    /// id of every directory too, `dir` itself (the root: ".") first.
    async fn files_under(
        &self,
        repository: &str,
        root: ObjectId,
        dir: &str,
        walk: &Walk<'_>,
        mut trees: Option<&mut Vec<(Box<str>, ObjectId)>>,
    ) -> Result<Vec<TreeFile>, HostError> {
        let named = |d: &str| -> Box<str> { if d.is_empty() { ".".into() } else { d.into() } };
        let whole = self.listing(repository, root, true, walk).await?;
        let tree = self.read_tree(&whole)?;
        if !tree.truncated {
            if let Some(trees) = trees {
                trees.extend(tree.sha.map(|sha| (named(dir), sha)));
                trees.extend(tree.subtrees(dir).into_iter().map(|(d, id)| (d.into_boxed_str(), id)));
            }
            return Ok(tree.files(dir).collect());
        }
        drop(tree);
        drop(whole);
        tracing::info!(
            repository,
            tree = %root,
            dir,
            "GitHub truncated the recursive tree; walking it directory by directory"
        );
        // The root alone, then each directory recursively; a directory still too large
        // for one listing is listed alone and its own directories walked in turn.
        let mut files = Vec::new();
        let mut pending = vec![(dir.to_owned(), root, false)];
        let mut first = true;
        while let Some((dir, sha, recursive)) = pending.pop() {
            let body = self.listing(repository, sha, recursive, walk).await?;
            let listing = self.read_tree(&body)?;
            if recursive && listing.truncated {
                pending.push((dir, sha, false));
                continue;
            }
            if listing.truncated {
                return Err(HostError::OverBudget(format!(
                    "GitHub truncated the listing of the single directory {:?} in {}: too many entries to list",
                    if dir.is_empty() { "/" } else { &dir },
                    walk.what
                )));
            }
            files.extend(listing.files(&dir));
            if let Some(trees) = trees.as_deref_mut() {
                // Every directory is a subtree of the level above it, but the root.
                if std::mem::take(&mut first) {
                    trees.extend(listing.sha.map(|sha| (named(&dir), sha)));
                }
                if recursive {
                    trees.extend(
                        listing
                            .subtrees(&dir)
                            .into_iter()
                            .map(|(d, id)| (d.into_boxed_str(), id)),
                    );
                }
            }
            if !recursive {
                let subtrees = listing.subtrees(&dir);
                if let Some(trees) = trees.as_deref_mut() {
                    trees.extend(subtrees.iter().map(|(d, id)| (d.as_str().into(), *id)));
                }
                pending.extend(subtrees.into_iter().map(|(d, s)| (d, s, true)));
            }
        }
        Ok(files)
    }

    /// The exact difference of the trees of two commits, reading only what differs: both
    /// trees listed whole when GitHub lists them whole, otherwise level by level, skipping
    /// every directory whose tree id is the same at both commits (its files are too).
    async fn diff_trees(
        &self,
        repository: &str,
        base: ObjectId,
        head: ObjectId,
        walk: &Walk<'_>,
    ) -> Result<Vec<ChangedFile>, HostError> {
        let mut changes = Vec::new();
        let mut pending = vec![(String::new(), base, head)];
        while let Some((dir, base, head)) = pending.pop() {
            // One recursive listing a side, held as files only while the other is read.
            let complete = |listing: &(Vec<u8>, String)| -> Result<Option<Vec<TreeFile>>, HostError> {
                let tree = self.read_tree(listing)?;
                Ok((!tree.truncated).then(|| tree.files(&dir).collect()))
            };
            if let Some(base_files) = complete(&self.listing(repository, base, true, walk).await?)?
                && let Some(head_files) = complete(&self.listing(repository, head, true, walk).await?)?
            {
                changes.extend(tree_diff(&base_files, &head_files));
                continue;
            }
            let base_level = self.listing(repository, base, false, walk).await?;
            let head_level = self.listing(repository, head, false, walk).await?;
            let level = {
                let (base_tree, head_tree) = (self.read_tree(&base_level)?, self.read_tree(&head_level)?);
                if base_tree.truncated || head_tree.truncated {
                    return Err(HostError::OverBudget(format!(
                        "GitHub truncated the listing of the single directory {:?} in {}: too many entries to list",
                        if dir.is_empty() { "/" } else { &dir },
                        walk.what
                    )));
                }
                model::level_diff(&dir, &base_tree, &head_tree)
            };
            drop((base_level, head_level));
            changes.extend(level.changed);
            pending.extend(level.differing);
            for (path, tree) in level.added {
                let added = self.files_under(repository, tree, &path, walk, None).await?;
                changes.extend(added.into_iter().map(|f| ChangedFile {
                    path: f.path.into(),
                    previous_path: None,
                    removed: false,
                }));
            }
            for (path, tree) in level.removed {
                let removed = self.files_under(repository, tree, &path, walk, None).await?;
                changes.extend(removed.into_iter().map(|f| ChangedFile {
                    path: f.path.into(),
                    previous_path: None,
                    removed: true,
                }));
            }
        }
        changes.sort_unstable_by(|a, b| a.path.cmp(&b.path).then(a.removed.cmp(&b.removed)));
        Ok(changes)
    }

    /// Runs one walk within `policy.time_budget`.
    async fn within_budget<T>(
        &self,
        walk: &Walk<'_>,
        work: impl Future<Output = Result<T, HostError>>,
    ) -> Result<T, HostError> {
        let budget = self.policy.time_budget;
        match tokio::time::timeout(budget, work).await {
            Ok(answer) => answer,
            Err(_) => Err(HostError::OverBudget(format!(
                "{} took more than its {budget:?} after {} requests: GitHub truncates the recursive listing of a tree over 100,000 entries or 7 MB (https://docs.github.com/en/rest/git/trees#get-a-tree), and walking it directory by directory takes longer",
                walk.what,
                walk.used.load(Ordering::Relaxed)
            ))),
        }
    }
}

/// An answer the caller reads: a 2xx, or a status it asked to judge itself.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// One budgeted call: what it is, for messages, and the requests it made.
struct Walk<'a> {
    what: &'a str,
    used: AtomicUsize,
}

impl<'a> Walk<'a> {
    fn new(what: &'a str) -> Self {
        Walk {
            what,
            used: AtomicUsize::new(0),
        }
    }
}

impl SourceHost for GitHub {
    async fn tree(&self, repository: &str, commit: &str) -> Result<Listing, HostError> {
        let repository = validate::repository(repository)?;
        let commit = validate::commit("commit", commit)?;
        let what = format!("listing the files of {repository} at {commit}");
        let walk = Walk::new(&what);
        let mut trees = Vec::new();
        let mut files = self
            .within_budget(&walk, self.files_under(repository, commit, "", &walk, Some(&mut trees)))
            .await?;
        files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        trees.sort_unstable();
        Ok(Listing { files, trees })
    }

    async fn compare(&self, repository: &str, base: &str, head: &str) -> Result<Vec<ChangedFile>, HostError> {
        let repository = validate::repository(repository)?;
        let base = validate::commit("base commit", base)?;
        let head = validate::commit("head commit", head)?;
        let what = format!("comparing {base} and {head} of {repository}");
        let walk = Walk::new(&what);
        self.within_budget(&walk, async {
            let comparison: Comparison = self
                .get_json(&format!("/repos/{repository}/compare/{base}...{head}"))
                .await?;
            if let Some(files) = comparison.changed_files() {
                return Ok(files);
            }
            tracing::info!(
                repository,
                %base,
                %head,
                status = comparison.status,
                files = comparison.files.as_ref().map(Vec::len),
                "GitHub's comparison is not the exact difference (a forced push, or {COMPARE_FILE_LIMIT}+ files); comparing the two trees"
            );
            drop(comparison);
            self.diff_trees(repository, base, head, &walk).await
        })
        .await
    }

    async fn file(
        &self,
        repository: &str,
        commit: &str,
        path: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let repository = validate::repository(repository)?;
        let commit = validate::commit("commit", commit)?;
        let encoded = validate::path(path)?;
        let endpoint = format!("/repos/{repository}/contents/{encoded}?ref={commit}");
        let value: serde_json::Value = match self.get_json(&endpoint).await {
            Err(HostError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        let too_large = |size| HostError::FileTooLarge {
            path: path.to_owned(),
            limit: max_bytes,
            size,
        };
        // The size GitHub states is checked before any content is decoded or downloaded.
        if let Some(size) = value["size"].as_u64()
            && value["type"] == "file"
            && size > max_bytes as u64
        {
            return Err(too_large(Some(size)));
        }
        match model::contents(&value) {
            Ok(Contents::File(bytes)) if bytes.len() > max_bytes => Err(too_large(Some(bytes.len() as u64))),
            Ok(Contents::File(bytes)) => Ok(Some(bytes)),
            Ok(Contents::NotAFile) => Ok(None),
            Ok(Contents::TooLargeForJson { .. }) => match self.get(&endpoint, RAW, max_bytes).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(HostError::NotFound(_)) => Ok(None),
                Err(HostError::FileTooLarge { size, .. }) => Err(too_large(size)),
                Err(e) => Err(e),
            },
            Err(e) => Err(HostError::Unavailable(format!("GET {}{endpoint}: {e}", self.api))),
        }
    }

    /// `GET /repos/{owner}/{repo}` (https://docs.github.com/en/rest/repos/repos#get-a-repository).
    async fn repository(&self, repository: &str) -> Result<RepositoryInfo, HostError> {
        let repository = validate::repository(repository)?;
        let path = format!("/repos/{repository}");
        let answer: model::Repository = self.get_json(&path).await?;
        Ok(RepositoryInfo {
            full_name: answer.full_name,
            name: answer.name,
            private: answer.private,
            default_branch: answer.default_branch,
        })
    }

    /// `GET /repos/{owner}/{repo}/compare/{ancestor}...{head}`
    /// (https://docs.github.com/en/rest/commits/commits#compare-two-commits): `head` is
    /// `ahead` of its ancestors, `identical` to itself; `behind` or `diverged` otherwise.
    /// One commit a page: only the status is read.
    async fn is_ancestor(&self, repository: &str, ancestor: &str, head: &str) -> Result<bool, HostError> {
        let repository = validate::repository(repository)?;
        let ancestor = validate::commit("commit", ancestor)?;
        let head = validate::commit("head commit", head)?;
        let comparison: Comparison = self
            .get_json(&format!("/repos/{repository}/compare/{ancestor}...{head}?per_page=1"))
            .await?;
        Ok(matches!(comparison.status.as_str(), "ahead" | "identical"))
    }

    /// `GET /repos/{owner}/{repo}/commits/{ref}`, where the ref is `heads/X`, `tags/X` or a
    /// commit id (https://docs.github.com/en/rest/commits/commits#get-a-commit). GitHub
    /// answers 422 ("No commit found for SHA") for a ref that names nothing, 404 for a
    /// repository it does not show: both are "not found" here.
    async fn commit(&self, repository: &str, reference: &str) -> Result<CommitInfo, HostError> {
        let repository = validate::repository(repository)?;
        let short = reference
            .strip_prefix("refs/")
            .filter(|r| r.starts_with("heads/") || r.starts_with("tags/"))
            .or_else(|| validate::is_object_id(reference).then_some(reference))
            .ok_or_else(|| {
                HostError::NotFound(format!(
                    "{reference:?} is not refs/heads/NAME, refs/tags/NAME or a commit id"
                ))
            })?;
        let path = format!("/repos/{repository}/commits/{}", validate::path(short)?);
        let url = format!("{}{path}", self.api);
        let answer = self
            .call(&Method::GET, &url, JSON, MAX_JSON_BYTES, Access::Contents, &[422])
            .await?;
        if answer.status == 422 {
            return Err(HostError::NotFound(format!(
                "{repository} has no commit at {reference} (GET {url} answered 422)"
            )));
        }
        let commit: model::CommitAnswer =
            serde_json::from_slice(&answer.body).map_err(|e| self.unreadable(&path, &e))?;
        if !validate::is_object_id(&commit.sha) {
            return Err(HostError::Unavailable(format!(
                "GET {url} answered a commit id {:?}",
                commit.sha
            )));
        }
        Ok(CommitInfo {
            sha: commit.sha,
            message: commit.commit.message,
            author: commit.commit.author.as_ref().and_then(|a| a.name.clone()),
            timestamp: commit.commit.author.and_then(|a| a.date),
        })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// From now until the Unix second `reset`.
fn until(reset: u64) -> Duration {
    (UNIX_EPOCH + Duration::from_secs(reset))
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

/// An error and its causes, `: `-separated (hyper's own message alone says little).
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls() {
        assert_eq!(
            GitHub::new("https://api.github.com/", None).unwrap().api_base(),
            DEFAULT_API_URL
        );
        assert_eq!(
            GitHub::new(" https://ghe.example.com/api/v3 ", None)
                .unwrap()
                .api_base(),
            "https://ghe.example.com/api/v3"
        );
        assert_eq!(
            GitHub::new("http://127.0.0.1:8080", None).unwrap().api_base(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "",
            "api.github.com",
            "ftp://x",
            "https://",
            "https://x/?a=b",
            "https://x/#f",
            "not a url",
        ] {
            assert!(GitHub::new(bad, None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_token_never_shows() {
        let secret = "ghp_0123456789abcdefSECRET";
        let github = GitHub::new(DEFAULT_API_URL, Some(secret.into())).unwrap();
        let debug = format!("{github:?}");
        assert!(!debug.contains(secret) && debug.contains("<redacted>"), "{debug}");
        let anonymous = format!("{:?}", GitHub::new(DEFAULT_API_URL, None).unwrap());
        assert!(anonymous.contains("token: None"), "{anonymous}");
        let err = GitHub::new(DEFAULT_API_URL, Some(format!("{secret}\nX-Evil: 1"))).unwrap_err();
        assert!(!err.contains(secret), "{err}");
        // A blank token is no token.
        assert!(format!("{:?}", GitHub::new(DEFAULT_API_URL, Some("  ".into())).unwrap()).contains("token: None"));
    }

    #[test]
    fn policy_defaults() {
        let p = Policy::default();
        assert_eq!(
            (
                p.request_timeout,
                p.attempts,
                p.backoff,
                p.max_rate_limit_wait,
                p.max_requests,
                p.time_budget,
                p.mutation_pause
            ),
            (
                Duration::from_secs(10),
                3,
                Duration::from_millis(500),
                Duration::ZERO,
                3000,
                Duration::from_secs(20),
                Duration::from_secs(1)
            )
        );
        let fast = Policy {
            attempts: 1,
            ..Policy::default()
        };
        assert_eq!(
            GitHub::new(DEFAULT_API_URL, None)
                .unwrap()
                .with_policy(fast.clone())
                .policy(),
            &fast
        );
    }

    #[test]
    fn waits() {
        assert_eq!(until(0), Duration::ZERO);
        let later = until(unix_now() + 10);
        assert!(
            later > Duration::from_secs(8) && later <= Duration::from_secs(10),
            "{later:?}"
        );
    }

    /// A server on loopback that answers each connection's request with `answer`.
    fn one_answer_server(answer: Vec<u8>) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                // The client hangs up once it has read enough: the rest fails to send.
                let _ = stream.write_all(&answer);
            }
        });
        url
    }

    #[tokio::test]
    async fn bodies_are_not_read_past_their_limit() {
        // Chunked (no length said): read until past the limit, then dropped.
        let chunk = vec![b'x'; 64 * 1024];
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
        for _ in 0..64 {
            chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            chunked.extend_from_slice(&chunk);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let url = one_answer_server(chunked);
        let github = GitHub::new(&url, None).unwrap();
        let err = github.get("/raw", RAW, 1000).await.unwrap_err();
        assert_eq!(
            err,
            HostError::FileTooLarge {
                path: format!("GET {url}/raw"),
                limit: 1000,
                size: None
            }
        );
        // A stated length over the limit: refused before reading the body.
        let mut sized = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            4 << 20
        )
        .into_bytes();
        sized.extend(std::iter::repeat_n(b'y', 4 << 20));
        let url = one_answer_server(sized);
        let github = GitHub::new(&url, None).unwrap();
        let err = github.get("/raw", RAW, 1000).await.unwrap_err();
        assert!(
            matches!(err, HostError::FileTooLarge { size: Some(s), limit: 1000, .. } if s == 4 << 20),
            "{err:?}"
        );
        // Within the limit: the whole body.
        let url = one_answer_server(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_vec());
        let github = GitHub::new(&url, None).unwrap();
        assert_eq!(github.get("/raw", RAW, 5).await.unwrap(), b"hello");
        // A JSON answer past MAX_JSON_BYTES is over budget: retrying would not shrink it.
        let mut listing = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            MAX_JSON_BYTES + 1
        )
        .into_bytes();
        listing.extend(std::iter::repeat_n(b' ', MAX_JSON_BYTES + 1));
        let url = one_answer_server(listing);
        let github = GitHub::new(&url, None).unwrap();
        let err = github.tree("o/r", &"a".repeat(40)).await.unwrap_err();
        assert!(
            matches!(&err, HostError::OverBudget(m) if m.contains("/git/trees/") && m.contains(&MAX_JSON_BYTES.to_string())),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn invalid_input_makes_no_request() {
        // Port 9 (discard) on loopback: a request would fail as Unavailable, not NotFound.
        let github = GitHub::new("http://127.0.0.1:9", None).unwrap();
        let commit = "a".repeat(40);
        let cases = [
            github.tree("not-a-repo", &commit).await.unwrap_err(),
            github.tree("o/r", "main").await.unwrap_err(),
            github.compare("o/../r", &commit, &commit).await.unwrap_err(),
            github.compare("o/r", &commit, "HEAD~1").await.unwrap_err(),
            github.file("o/r", &commit, "../secrets", 100).await.unwrap_err(),
            github.file("o/r", &commit, "/etc/passwd", 100).await.unwrap_err(),
        ];
        for err in cases {
            assert!(matches!(err, HostError::NotFound(_)), "{err:?}");
        }
    }
}
