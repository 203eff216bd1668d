//! `dockhand deliveries`: the failed deliveries of the repository webhook that points at
//! dockhand, and, on request, each redelivered once.
//!
//! GitHub never redelivers a failed delivery by itself
//! (https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries).
//! This does what that page describes for a script: list the webhook's recent deliveries,
//! group them by guid (the event; redeliveries keep it), call an event failed when none of
//! its deliveries succeeded, and redeliver the newest failed delivery of each.

use dockhand_core::tree::HostError;
use dockhand_github::hooks::{self, Delivery, Failure, Hook, Redelivery};
use dockhand_github::{GitHub, Policy};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The most redeliveries one run asks for: a run cannot flood the listener, or spend the
/// token's quota, however much failed. Another run redelivers the rest.
pub const MAX_REDELIVERIES: usize = 100;

/// Exit status: failed deliveries remain (not redelivered, refused, or over the cap).
const FAILED_REMAIN: u8 = 1;
/// Exit status: GitHub could not tell, or refused to (a token, a name, a rate limit).
const ERROR: u8 = 2;

/// What `dockhand deliveries` was asked.
pub struct Options {
    pub repository: String,
    /// How far back, in seconds.
    pub since: u64,
    /// As the user wrote it, for messages.
    pub since_text: String,
    pub redeliver: bool,
    pub hook: HookChoice,
    pub pause: Duration,
}

pub enum HookChoice {
    Id(u64),
    /// The stack's `WebhookUrl`: the webhook whose payload URL it is.
    Url(String),
}

/// `30m`, `12h`, `3d`: minutes, hours or days, in seconds.
pub fn parse_since(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a duration such as 30m, 12h or 3d");
    let unit = match text.chars().last() {
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86_400,
        _ => return Err(bad()),
    };
    let number = &text[..text.len() - 1];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = number.parse().map_err(|_| bad())?;
    match n.checked_mul(unit) {
        Some(0) => Err(format!("{text:?} is no time at all")),
        Some(seconds) if seconds <= 365 * 86_400 => Ok(seconds),
        _ => Err(format!("{text:?} is more than a year")),
    }
}

/// Runs the command: prints what it finds on stdout, notes and errors on stderr.
pub fn run(options: &Options) -> ExitCode {
    crate::block_on(run_async(options)).unwrap_or_else(|e| error(&e))
}

fn error(message: &str) -> ExitCode {
    eprintln!("dockhand: {message}");
    ExitCode::from(ERROR)
}

async fn run_async(options: &Options) -> ExitCode {
    let Some(token) = std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.trim().is_empty()) else {
        return error(&format!(
            "set GITHUB_TOKEN: GitHub shows a repository's webhooks only to a token ({})",
            needs()
        ));
    };
    let api = dockhand_github::api_url_from_env();
    let github = match GitHub::new(&api, Some(token)) {
        Ok(github) => github.with_policy(Policy {
            // A person is waiting: a rate limit that resets within a minute is waited out,
            // as GitHub asks (retry-after, or x-ratelimit-reset), once.
            max_rate_limit_wait: Duration::from_secs(60),
            mutation_pause: options.pause,
            ..Policy::default()
        }),
        Err(e) => return error(&format!("GITHUB_API_URL {api:?}: {e}")),
    };
    let repository = &options.repository;
    let hook_id = match &options.hook {
        HookChoice::Id(id) => *id,
        HookChoice::Url(url) => match github.repository_hooks(repository).await {
            Ok(found) => match choose_hook(repository, &found, url) {
                Ok(hook) => {
                    eprintln!(
                        "dockhand: webhook {} of {repository} delivers to {}",
                        hook.id,
                        shown_url(url)
                    );
                    hook.id
                }
                Err(message) => return error(&message),
            },
            Err(e) => return error(&explain(&e)),
        },
    };
    if options.since > hooks::RETENTION_DAYS * 86_400 {
        eprintln!(
            "dockhand: GitHub keeps deliveries for {} days ({} on GitHub Enterprise Server): none older can be listed or redelivered",
            hooks::RETENTION_DAYS,
            7
        );
    }
    let now = unix_now();
    let cutoff = now - options.since as i64;
    let listing = match github.hook_deliveries(repository, hook_id, cutoff).await {
        Ok(listing) => listing,
        Err(e) => return error(&explain(&e)),
    };
    if listing.capped {
        eprintln!(
            "dockhand: read the newest {} deliveries only ({} pages); older ones were not looked at",
            listing.deliveries.len(),
            listing.pages
        );
    }
    let found = hooks::failures(&listing.deliveries);
    let mut out = String::new();
    for failure in &found {
        out.push_str(&line(failure));
        out.push('\n');
    }
    let still_failed: Vec<&Failure<'_>> = found.iter().filter(|f| !f.recovered()).collect();
    let recovered = found.len() - still_failed.len();
    out.push_str(&format!(
        "{} failed, {recovered} recovered, of {} deliveries to webhook {hook_id} of {repository} since {} ({})\n",
        still_failed.len(),
        listing.deliveries.len(),
        hooks::rfc3339(cutoff),
        options.since_text
    ));
    print!("{out}");
    if still_failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    if !options.redeliver {
        eprintln!(
            "dockhand: run again with --redeliver to have GitHub deliver each failed event once more (safe: builds are keyed on signed content, so a redelivery starts nothing twice)"
        );
        return ExitCode::from(FAILED_REMAIN);
    }
    redeliver(&github, repository, hook_id, &still_failed).await
}

/// Redelivers each still-failed event once, oldest first (they leave GitHub's retention
/// first), at most [`MAX_REDELIVERIES`].
async fn redeliver(github: &GitHub, repository: &str, hook_id: u64, failed: &[&Failure<'_>]) -> ExitCode {
    let (mut accepted, mut refused) = (0usize, 0usize);
    let chosen: Vec<&&Failure<'_>> = failed.iter().rev().take(MAX_REDELIVERIES).collect();
    for (done, failure) in chosen.iter().enumerate() {
        let delivery = failure.latest();
        let what = format!("redelivery of {} (guid {})", delivery.id, clean(&delivery.guid));
        match github.redeliver(repository, hook_id, delivery.id).await {
            Ok(Redelivery::Accepted) => {
                accepted += 1;
                println!("{what}: accepted; GitHub delivers it again now");
            }
            Ok(Redelivery::Refused { status, message }) => {
                refused += 1;
                let why = match status {
                    404 => "the delivery is gone: older than GitHub keeps, or its webhook was removed",
                    _ => "GitHub will not redeliver it",
                };
                println!("{what}: refused: {status} {} ({why})", clean(&message));
            }
            Err(e) => {
                // Every one before this was accepted or refused.
                println!(
                    "{accepted} redelivered, {refused} refused, {} not asked",
                    failed.len() - done
                );
                return error(&format!(
                    "stopped redelivering: {}; run again later for the rest",
                    explain(&e)
                ));
            }
        }
    }
    let over = failed.len() - chosen.len();
    if over > 0 {
        println!("capped: a run redelivers at most {MAX_REDELIVERIES}; {over} failed event(s) left for another run");
    }
    println!("{accepted} redelivered, {refused} refused, {over} not asked");
    if refused == 0 && over == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED_REMAIN)
    }
}

/// One failed event: state, when, delivery id, guid, event, status, original or
/// redelivery, and how it ended.
fn line(failure: &Failure<'_>) -> String {
    let d: &Delivery = failure.latest();
    let attempts = failure.failed.len();
    let answer = match d.status_code {
        0 => "no answer:".to_owned(),
        code => code.to_string(),
    };
    let mut text = format!(
        "{:<9}  {}  delivery {}  guid {}  {}  {answer} {}  {}",
        if failure.recovered() { "RECOVERED" } else { "FAILED" },
        clean(&d.delivered_at),
        d.id,
        clean(&d.guid),
        clean(&d.event_action()),
        clean(&d.status),
        if d.redelivery { "redelivery" } else { "original" },
    );
    if attempts > 1 {
        text.push_str(&format!(", {attempts} failed attempts"));
    }
    if let Some(ok) = failure.recovered_by {
        text.push_str(&format!(
            "; delivered as {} at {} ({} {})",
            ok.id,
            clean(&ok.delivered_at),
            ok.status_code,
            clean(&ok.status)
        ));
    }
    text
}

/// The one webhook of `hooks` whose payload URL is `url`.
fn choose_hook<'a>(repository: &str, hooks: &'a [Hook], url: &str) -> Result<&'a Hook, String> {
    let matching: Vec<&Hook> = hooks
        .iter()
        .filter(|h| h.config.url.as_deref().is_some_and(|u| same_url(u, url)))
        .collect();
    match matching.as_slice() {
        [hook] => Ok(hook),
        [] if hooks.is_empty() => Err(format!(
            "{repository} has no webhooks: add one whose payload URL is {} (README: Deploy to AWS)",
            shown_url(url)
        )),
        [] => Err(format!(
            "no webhook of {repository} delivers to {}; its webhooks deliver to: {}. Add the webhook (README: Deploy to AWS), or pass --hook-id",
            shown_url(url),
            hooks
                .iter()
                .map(|h| format!(
                    "{} (id {})",
                    h.config.url.as_deref().map_or("no URL".into(), shown_url),
                    h.id
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        several => Err(format!(
            "webhooks {} of {repository} all deliver to {}: pass --hook-id",
            several.iter().map(|h| h.id.to_string()).collect::<Vec<_>>().join(", "),
            shown_url(url)
        )),
    }
}

/// Two payload URLs are the same webhook endpoint: scheme and host compared without
/// regard to case, the rest exactly, a trailing `/` aside.
fn same_url(a: &str, b: &str) -> bool {
    fn parts(url: &str) -> (String, &str) {
        let url = url.trim().trim_end_matches('/');
        match url.split_once("://") {
            Some((scheme, rest)) => {
                let (host, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
                (
                    format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase()),
                    path,
                )
            }
            None => (url.to_owned(), ""),
        }
    }
    parts(a) == parts(b)
}

/// A payload URL as printed: without userinfo or query, which may carry a secret.
fn shown_url(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let path = match path.split_once(['?', '#']) {
        Some((path, _)) => format!("{path}?…"),
        None => path.to_owned(),
    };
    let shown = if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    };
    clean(&shown)
}

/// Text from GitHub, printable on a terminal: control characters shown as `?`.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// What a token needs, for messages.
fn needs() -> &'static str {
    "a fine-grained personal access token with the repository's \"Webhooks\" permission, read-only to list and read and write to redeliver; or a classic token with read:repo_hook, or admin:repo_hook to redeliver"
}

/// GitHub's error, with what to do about it.
fn explain(e: &HostError) -> String {
    match e {
        HostError::RateLimited { reset, detail } => format!(
            "{detail}; GitHub's rate limit resets at {}: try again then",
            hooks::rfc3339(*reset as i64)
        ),
        other => other.to_string(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_since("30m"), Ok(1800));
        assert_eq!(parse_since("12h"), Ok(43_200));
        assert_eq!(parse_since("3d"), Ok(259_200));
        assert_eq!(parse_since(" 1d "), Ok(86_400));
        for bad in ["", "3", "d", "3w", "-1d", "1.5h", "3 d", "+3d", "99999999999999999999d"] {
            assert!(parse_since(bad).is_err(), "{bad:?}");
        }
        assert!(parse_since("0h").unwrap_err().contains("no time"));
        assert!(parse_since("366d").unwrap_err().contains("more than a year"));
    }

    #[test]
    fn urls() {
        let stack = "https://abc123.execute-api.eu-west-1.amazonaws.com/webhook";
        assert!(same_url(stack, stack));
        assert!(same_url(
            "HTTPS://ABC123.execute-api.eu-west-1.amazonaws.com/webhook/",
            stack
        ));
        assert!(!same_url(
            "https://abc123.execute-api.eu-west-1.amazonaws.com/Webhook",
            stack
        ));
        assert!(!same_url("https://other.example.com/webhook", stack));
        assert!(!same_url(
            "http://abc123.execute-api.eu-west-1.amazonaws.com/webhook",
            stack
        ));
        assert_eq!(
            shown_url("https://user:secret@hooks.example.com/in?token=abc"),
            "https://hooks.example.com/in?…"
        );
        assert_eq!(shown_url(stack), stack);
        assert_eq!(shown_url("https://x.example/a\u{1b}[31m"), "https://x.example/a?[31m");
    }
}
