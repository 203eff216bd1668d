//! What an HTTP answer from GitHub means: success, a final error, a rate limit to wait
//! out, or a failure worth retrying. Pure, so every rule is tested here.

use dockhand_core::tree::HostError;
use hyper::HeaderMap;

/// How long to wait on a rate limit that names no time (GitHub: "wait at least one minute").
const DEFAULT_RATE_LIMIT_WAIT: u64 = 60;

/// What to do with one answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: the body is the answer.
    Done,
    /// Retrying will not change the answer.
    Fail(HostError),
    /// Rate limited until `reset` (Unix seconds).
    RateLimited { reset: u64, detail: String },
    /// 5xx: worth another attempt.
    Retry(String),
}

/// What an endpoint needs of a token, for the messages of a 401, 403 or 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A repository's files: trees, comparisons, contents.
    Contents,
    /// A repository's webhooks and their deliveries, read.
    ReadWebhooks,
    /// A delivery redelivered.
    WriteWebhooks,
    /// A commit status created.
    CommitStatuses,
}

impl Access {
    /// What a token needs for this, as a person would set it up.
    pub fn needs(self) -> &'static str {
        match self {
            Access::Contents => "a fine-grained token needs Contents: read-only on this repository",
            // https://docs.github.com/en/rest/repos/webhooks (the fine-grained permission of
            // each endpoint), https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps
            // (the classic scopes) and, for who may redeliver,
            // https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks.
            Access::ReadWebhooks => {
                "a fine-grained personal access token needs this repository and its \"Webhooks\" repository permission (read-only to list; read and write to redeliver), a classic one the read:repo_hook scope (admin:repo_hook to redeliver); only people with admin access to a repository can redeliver its webhooks"
            }
            // https://docs.github.com/en/rest/commits/statuses#create-a-commit-status (the
            // fine-grained permission) and the OAuth scopes page above (repo:status).
            Access::CommitStatuses => {
                "posting a commit status needs a fine-grained personal access token with the \"Commit statuses\" repository permission set to read and write (\"Commit statuses: read and write\") on this repository, or a classic one with the repo:status scope"
            }
            Access::WriteWebhooks => {
                "redelivering needs write access to the repository's webhooks: a fine-grained personal access token needs the \"Webhooks\" repository permission set to read and write, a classic one the admin:repo_hook (or repo) scope, and its owner admin access to the repository"
            }
        }
    }
}

/// Judges an answer to `what` (`GET <url>`, never holding the token) from an endpoint that
/// needs `access`. `authenticated` says whether the request carried a token; `now` is the
/// Unix time in seconds.
pub fn verdict(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
    authenticated: bool,
    now: u64,
    access: Access,
) -> Verdict {
    if (200..300).contains(&status) {
        return Verdict::Done;
    }
    let message = message(body);
    if matches!(status, 403 | 429)
        && let Some(reset) = rate_limit_reset(status, headers, &message, now)
    {
        let hint = if authenticated {
            "the token's hourly quota is spent or GitHub's secondary limit was hit"
        } else {
            "requests without a token get 60 an hour per IP address: give dockhand a token (github_token_parameter) for 5,000"
        };
        return Verdict::RateLimited {
            reset,
            detail: format!("{what} answered {status} ({message}); {hint}"),
        };
    }
    match status {
        404 if access == Access::Contents => Verdict::Fail(HostError::NotFound(format!(
            "{what} answered 404 ({message}): the repository, commit or path does not exist, or the repository is private and {}",
            if authenticated {
                "the token cannot read it"
            } else {
                "the request carried no token (GitHub answers 404, not 403, then): give dockhand a token that can read it"
            }
        ))),
        404 if access == Access::CommitStatuses => Verdict::Fail(HostError::NotFound(format!(
            "{what} answered 404 ({message}): the repository does not exist, or {}: {}",
            if authenticated {
                "this token cannot see it"
            } else {
                "the request carried no token"
            },
            access.needs()
        ))),
        // GitHub answers 404, not 403, for what a token may not see
        // (https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api).
        404 => Verdict::Fail(HostError::NotFound(format!(
            "{what} answered 404 ({message}): the repository or webhook does not exist, or {}: {}",
            if authenticated {
                "this token cannot see the repository's webhooks"
            } else {
                "the request carried no token (set GITHUB_TOKEN)"
            },
            access.needs()
        ))),
        401 => Verdict::Fail(HostError::Denied(match (authenticated, access) {
            (true, _) => format!("{what} answered 401 ({message}): the token is wrong, expired or revoked"),
            (false, Access::Contents) => format!("{what} answered 401 ({message}): this GitHub requires a token"),
            (false, Access::CommitStatuses) => format!(
                "{what} answered 401 ({message}): commit statuses are posted with a token only ({})",
                access.needs()
            ),
            (false, _) => format!(
                "{what} answered 401 ({message}): webhooks are read with a token only: set GITHUB_TOKEN ({})",
                access.needs()
            ),
        })),
        403 => {
            // The permissions GitHub would accept, when it says
            // (https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api#resource-not-accessible).
            let accepted = headers
                .get("x-accepted-github-permissions")
                .and_then(|v| v.to_str().ok())
                .map(|v| format!("; GitHub accepts {v}"))
                .unwrap_or_default();
            Verdict::Fail(HostError::Denied(format!(
                "{what} answered 403 ({message}): the token lacks access ({}){accepted}",
                access.needs()
            )))
        }
        500..=599 => Verdict::Retry(format!("{what} answered {status} ({message})")),
        _ => Verdict::Fail(HostError::Unavailable(format!("{what} answered {status} ({message})"))),
    }
}

/// When a 403 or 429 is a rate limit, the Unix second it ends:
/// `x-ratelimit-remaining: 0` with `x-ratelimit-reset` (the primary limit), or `retry-after`
/// seconds (a secondary limit), or a minute for a 429 or a message about a rate limit that
/// names no time.
pub fn rate_limit_reset(status: u16, headers: &HeaderMap, message: &str, now: u64) -> Option<u64> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let number = |name: &str| header(name).and_then(|v| v.parse::<u64>().ok());
    if let Some(after) = number("retry-after") {
        return Some(now + after);
    }
    if header("x-ratelimit-remaining") == Some("0") {
        return Some(number("x-ratelimit-reset").unwrap_or(now + DEFAULT_RATE_LIMIT_WAIT));
    }
    if status == 429 || message.to_ascii_lowercase().contains("rate limit") {
        return Some(now + DEFAULT_RATE_LIMIT_WAIT);
    }
    None
}

/// GitHub's `message` from an error body, or the start of whatever the body is.
pub fn message(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if v["message"].is_string() => v["message"].as_str().unwrap_or_default().to_owned(),
        _ => String::from_utf8_lossy(body).trim().to_owned(),
    };
    if text.is_empty() {
        return "no message".into();
    }
    let short: String = text.chars().take(300).collect();
    if short.len() < text.len() {
        format!("{short}…")
    } else {
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    const WHAT: &str = "GET https://api.github.com/repos/o/r/git/trees/abc?recursive=1";
    const NOW: u64 = 1_700_000_000;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn judge(status: u16, pairs: &[(&'static str, &str)], body: &str, authenticated: bool) -> Verdict {
        judge_as(status, pairs, body, authenticated, Access::Contents)
    }

    fn judge_as(
        status: u16,
        pairs: &[(&'static str, &str)],
        body: &str,
        authenticated: bool,
        access: Access,
    ) -> Verdict {
        verdict(
            status,
            &headers(pairs),
            body.as_bytes(),
            WHAT,
            authenticated,
            NOW,
            access,
        )
    }

    #[test]
    fn success() {
        assert_eq!(judge(200, &[], "{}", false), Verdict::Done);
    }

    #[test]
    fn not_found_explains_private_repositories() {
        let Verdict::Fail(HostError::NotFound(m)) = judge(404, &[], r#"{"message":"Not Found"}"#, false) else {
            panic!()
        };
        assert!(
            m.contains(WHAT) && m.contains("(Not Found)") && m.contains("private") && m.contains("no token"),
            "{m}"
        );
        let Verdict::Fail(HostError::NotFound(m)) = judge(404, &[], "", true) else {
            panic!()
        };
        assert!(
            m.contains("the token cannot read it") && m.contains("no message"),
            "{m}"
        );
    }

    #[test]
    fn denied() {
        let bad = judge(
            401,
            &[],
            r#"{"message":"Bad credentials","documentation_url":"x"}"#,
            true,
        );
        assert!(
            matches!(bad, Verdict::Fail(HostError::Denied(m)) if m.contains("Bad credentials") && m.contains("wrong"))
        );
        // A 403 with quota left is about permissions, not the rate limit.
        let forbidden = judge(
            403,
            &[("x-ratelimit-remaining", "4999"), ("x-ratelimit-reset", "1700000100")],
            r#"{"message":"Resource not accessible by personal access token"}"#,
            true,
        );
        assert!(matches!(forbidden, Verdict::Fail(HostError::Denied(m)) if m.contains("not accessible")));
    }

    #[test]
    fn webhook_endpoints_say_which_permission() {
        let judge_hooks = judge_as;
        let Verdict::Fail(HostError::NotFound(m)) =
            judge_hooks(404, &[], r#"{"message":"Not Found"}"#, true, Access::ReadWebhooks)
        else {
            panic!()
        };
        assert!(
            m.contains("cannot see the repository's webhooks")
                && m.contains("\"Webhooks\" repository permission")
                && m.contains("read:repo_hook"),
            "{m}"
        );
        let Verdict::Fail(HostError::NotFound(m)) = judge_hooks(404, &[], "", false, Access::ReadWebhooks) else {
            panic!()
        };
        assert!(m.contains("set GITHUB_TOKEN"), "{m}");
        let Verdict::Fail(HostError::Denied(m)) = judge_hooks(
            401,
            &[],
            r#"{"message":"Requires authentication"}"#,
            false,
            Access::ReadWebhooks,
        ) else {
            panic!()
        };
        assert!(
            m.contains("Requires authentication") && m.contains("set GITHUB_TOKEN"),
            "{m}"
        );
        let Verdict::Fail(HostError::Denied(m)) = judge_hooks(
            403,
            &[("x-accepted-github-permissions", "webhooks=write")],
            r#"{"message":"Resource not accessible by personal access token"}"#,
            true,
            Access::WriteWebhooks,
        ) else {
            panic!()
        };
        assert!(
            m.contains("Resource not accessible")
                && m.contains("read and write")
                && m.contains("GitHub accepts webhooks=write"),
            "{m}"
        );
        // The files' messages are unchanged.
        let Verdict::Fail(HostError::Denied(m)) = judge(403, &[], "{}", true) else {
            panic!()
        };
        assert!(m.contains("Contents: read-only") && !m.contains("accepts"), "{m}");
    }

    #[test]
    fn commit_statuses_say_which_permission() {
        let Verdict::Fail(HostError::Denied(m)) = judge_as(
            403,
            &[("x-accepted-github-permissions", "statuses=write")],
            r#"{"message":"Resource not accessible by personal access token"}"#,
            true,
            Access::CommitStatuses,
        ) else {
            panic!()
        };
        assert!(
            m.contains("Commit statuses: read and write")
                && m.contains("repo:status")
                && m.contains("GitHub accepts statuses=write"),
            "{m}"
        );
        let Verdict::Fail(HostError::NotFound(m)) =
            judge_as(404, &[], r#"{"message":"Not Found"}"#, true, Access::CommitStatuses)
        else {
            panic!()
        };
        assert!(
            m.contains("cannot see it") && m.contains("Commit statuses") && !m.contains("webhook"),
            "{m}"
        );
        // A commit GitHub does not have is final, not retried.
        let v = judge_as(
            422,
            &[],
            r#"{"message":"No commit found for SHA: 0123"}"#,
            true,
            Access::CommitStatuses,
        );
        assert!(matches!(v, Verdict::Fail(HostError::Unavailable(m)) if m.contains("No commit found")));
    }

    #[test]
    fn primary_rate_limit() {
        let body = r#"{"message":"API rate limit exceeded for 203.0.113.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}"#;
        for status in [403, 429] {
            let v = judge(
                status,
                &[
                    ("x-ratelimit-limit", "60"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1700000321"),
                ],
                body,
                false,
            );
            let Verdict::RateLimited { reset, detail } = v else {
                panic!("{v:?}")
            };
            assert_eq!(reset, 1_700_000_321);
            assert!(
                detail.contains("API rate limit exceeded") && detail.contains("give dockhand a token"),
                "{detail}"
            );
        }
        // Spent, but no reset header: a minute.
        let v = judge(403, &[("x-ratelimit-remaining", "0")], body, true);
        assert!(matches!(v, Verdict::RateLimited { reset, .. } if reset == NOW + 60));
    }

    #[test]
    fn secondary_rate_limit() {
        let body = r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#;
        let v = judge(403, &[("retry-after", "30")], body, true);
        assert!(matches!(v, Verdict::RateLimited { reset, .. } if reset == NOW + 30));
        let v = judge(429, &[("retry-after", " 5 ")], "", true);
        assert!(matches!(v, Verdict::RateLimited { reset, .. } if reset == NOW + 5));
        // No header at all: the message says so, or it is a 429.
        let v = judge(403, &[("x-ratelimit-remaining", "12")], body, true);
        assert!(matches!(v, Verdict::RateLimited { reset, .. } if reset == NOW + 60));
        let v = judge(429, &[], "slow down", true);
        assert!(matches!(v, Verdict::RateLimited { reset, .. } if reset == NOW + 60));
    }

    #[test]
    fn server_errors_are_retried_and_others_are_not() {
        for status in [500, 502, 503, 504] {
            assert!(
                matches!(judge(status, &[], "<html>Unicorn!</html>", true), Verdict::Retry(m) if m.contains(&status.to_string()) && m.contains("Unicorn"))
            );
        }
        let v = judge(422, &[], r#"{"message":"No commit found for SHA: abc"}"#, true);
        assert!(
            matches!(v, Verdict::Fail(HostError::Unavailable(m)) if m.contains("422") && m.contains("No commit found"))
        );
    }

    #[test]
    fn messages_are_short() {
        assert_eq!(message(br#"{"message":"Not Found","status":"404"}"#), "Not Found");
        assert_eq!(message(b"  plain text \n"), "plain text");
        assert_eq!(message(b""), "no message");
        let long = message("x".repeat(1000).as_bytes());
        assert_eq!(long.chars().count(), 301);
    }
}
