//! dockhand's [`SourceHost`] over GitHub's REST API: the files of a commit
//! (`git/trees`), the files changed between two commits (`compare`, or the exact difference
//! of two trees when GitHub's comparison cannot give it) and one file's content
//! (`contents`).
//!
//! The HTTP client is the one the AWS SDK already uses (hyper 1, rustls with aws-lc, the
//! system's root certificates), so the functions carry no second TLS stack. Every request
//! is bounded: a timeout, a few attempts with doubling backoff for 5xx and connection
//! failures, and, by default, no waiting on a rate limit (the Lambda invocation is retried
//! instead). Nothing taken from a webhook reaches a URL unchecked, and the token never
//! appears in `Debug` output, logs or errors.

mod model;
mod status;
mod validate;

pub use model::{COMPARE_FILE_LIMIT, tree_diff};

use dockhand_core::ports::{ChangedFile, HostError, SourceHost, TreeFile};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, AUTHORIZATION, HeaderValue, USER_AGENT};
use hyper::{HeaderMap, Request};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use model::{Comparison, Contents, Tree};
use status::Verdict;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// GitHub's public API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The environment variable naming another API root (GitHub Enterprise, a stand-in), as
/// GitHub Actions names it.
pub const API_URL_ENV: &str = "GITHUB_API_URL";

/// The API root to use: `GITHUB_API_URL` if set, else GitHub's public API.
pub fn api_url_from_env() -> String {
    std::env::var(API_URL_ENV).unwrap_or_else(|_| DEFAULT_API_URL.to_owned())
}

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
    /// The most tree listings one [`SourceHost::tree`] may make when GitHub truncates the
    /// recursive listing and the tree is walked directory by directory.
    pub max_requests: usize,
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
        }
    }
}

/// A GitHub REST API client for one API root and, optionally, one token.
#[derive(Clone)]
pub struct GitHub {
    api: String,
    token: Option<String>,
    policy: Policy,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
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
    /// the body of a 2xx answer, or why there is none.
    async fn get(&self, path: &str, accept: &str) -> Result<Bytes, HostError> {
        let url = format!("{}{path}", self.api);
        let what = format!("GET {url}");
        let attempts = self.policy.attempts.max(1);
        let mut failures = 0u32;
        let mut waited = false;
        loop {
            let answer = tokio::time::timeout(self.policy.request_timeout, self.send(&url, accept)).await;
            let verdict = match answer {
                Err(_) => Verdict::Retry(format!(
                    "{what}: no complete answer within {:?}",
                    self.policy.request_timeout
                )),
                Ok(Err(e)) => Verdict::Retry(format!("{what}: {e}")),
                Ok(Ok((status, headers, body))) => {
                    match status::verdict(status, &headers, &body, &what, self.token.is_some(), unix_now()) {
                        Verdict::Done => return Ok(body),
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

    async fn send(&self, url: &str, accept: &str) -> Result<(u16, HeaderMap, Bytes), String> {
        let mut request = Request::get(url)
            .header(ACCEPT, accept)
            .header(USER_AGENT, "dockhand")
            .header("x-github-api-version", API_VERSION);
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "the token is not a valid header value")?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = self.client.request(request).await.map_err(|e| causes(&e))?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| causes(&e))?.to_bytes();
        Ok((parts.status.as_u16(), parts.headers, body))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, HostError> {
        let body = self.get(path, JSON).await?;
        serde_json::from_slice(&body).map_err(|e| {
            HostError::Unavailable(format!(
                "GET {}{path} answered something that is not the JSON GitHub sends: {e}",
                self.api
            ))
        })
    }

    /// One tree listing, counted against `policy.max_requests`.
    async fn listing(
        &self,
        repository: &str,
        commit: &str,
        tree: &str,
        recursive: bool,
        used: &mut usize,
    ) -> Result<Tree, HostError> {
        if *used >= self.policy.max_requests {
            return Err(HostError::Unavailable(format!(
                "listing the files of {repository} at {commit} needs more than {} requests (GitHub truncates recursive listings of very large trees); the repository is too large to walk within the bound",
                self.policy.max_requests
            )));
        }
        *used += 1;
        let query = if recursive { "?recursive=1" } else { "" };
        self.get_json(&format!("/repos/{repository}/git/trees/{tree}{query}"))
            .await
    }
}

impl SourceHost for GitHub {
    async fn tree(&self, repository: &str, commit: &str) -> Result<Vec<TreeFile>, HostError> {
        let repository = validate::repository(repository)?;
        let commit = validate::object_id("commit", commit)?;
        let mut used = 0;
        let whole = self.listing(repository, commit, commit, true, &mut used).await?;
        let mut files = if !whole.truncated {
            whole.files("")
        } else {
            tracing::info!(
                repository,
                commit,
                "GitHub truncated the recursive tree; walking it directory by directory"
            );
            // The root alone, then each directory recursively; a directory still too large
            // for one listing is listed alone and its own directories walked in turn.
            let mut files = Vec::new();
            let mut pending = vec![(String::new(), commit.to_owned(), false)];
            while let Some((dir, sha, recursive)) = pending.pop() {
                let sha = validate::object_id("tree", &sha)?;
                let listing = self.listing(repository, commit, sha, recursive, &mut used).await?;
                if recursive && listing.truncated {
                    pending.push((dir, sha.to_owned(), false));
                    continue;
                }
                if listing.truncated {
                    return Err(HostError::Unavailable(format!(
                        "GitHub truncated the listing of the single directory {:?} of {repository} at {commit}: too many entries to list",
                        if dir.is_empty() { "/" } else { &dir }
                    )));
                }
                files.extend(listing.files(&dir));
                if !recursive {
                    pending.extend(listing.subtrees(&dir).into_iter().map(|(d, s)| (d, s, true)));
                }
            }
            files
        };
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    async fn compare(&self, repository: &str, base: &str, head: &str) -> Result<Vec<ChangedFile>, HostError> {
        let repository = validate::repository(repository)?;
        let base = validate::object_id("base commit", base)?;
        let head = validate::object_id("head commit", head)?;
        let comparison: Comparison = self
            .get_json(&format!("/repos/{repository}/compare/{base}...{head}"))
            .await?;
        if let Some(files) = comparison.changed_files() {
            return Ok(files);
        }
        tracing::info!(
            repository,
            base,
            head,
            status = comparison.status,
            files = comparison.files.as_ref().map(Vec::len),
            "GitHub's comparison is not the exact difference (a forced push, or {COMPARE_FILE_LIMIT}+ files); comparing the two trees"
        );
        let base_files = self.tree(repository, base).await?;
        let head_files = self.tree(repository, head).await?;
        Ok(tree_diff(&base_files, &head_files))
    }

    async fn file(&self, repository: &str, commit: &str, path: &str) -> Result<Option<Vec<u8>>, HostError> {
        let repository = validate::repository(repository)?;
        let commit = validate::object_id("commit", commit)?;
        let encoded = validate::path(path)?;
        let endpoint = format!("/repos/{repository}/contents/{encoded}?ref={commit}");
        let value: serde_json::Value = match self.get_json(&endpoint).await {
            Err(HostError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        match model::contents(&value) {
            Ok(Contents::File(bytes)) => Ok(Some(bytes)),
            Ok(Contents::NotAFile) => Ok(None),
            Ok(Contents::TooLargeForJson) => match self.get(&endpoint, RAW).await {
                Ok(bytes) => Ok(Some(bytes.to_vec())),
                Err(HostError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            },
            Err(e) => Err(HostError::Unavailable(format!("GET {}{endpoint}: {e}", self.api))),
        }
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
                p.max_requests
            ),
            (
                Duration::from_secs(10),
                3,
                Duration::from_millis(500),
                Duration::ZERO,
                3000
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
            github.file("o/r", &commit, "../secrets").await.unwrap_err(),
            github.file("o/r", &commit, "/etc/passwd").await.unwrap_err(),
        ];
        for err in cases {
            assert!(matches!(err, HostError::NotFound(_)), "{err:?}");
        }
    }
}
