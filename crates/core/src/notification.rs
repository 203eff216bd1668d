//! What people are told: one formatter for build results and for the spawner's own
//! problems, giving an email report, a one-line SMS and a subject SNS accepts.

use crate::build_report::{BuildReport, Description};
use crate::plan::Skip;
use crate::queue::QueuedBuild;
use crate::request::BuildRequest;
use crate::retag::RetagLine;
use serde::Serialize;
use std::collections::BTreeMap;

/// SNS rejects subjects over 100 characters, or with anything but printable ASCII.
pub const MAX_SUBJECT: usize = 100;
/// One SMS: 140 characters, kept to ASCII so no carrier re-encodes it into two.
pub const MAX_SMS: usize = 140;
/// Every status a build can be notified of: the final ones, then IN_PROGRESS (a start).
pub const STATUSES: &[&str] = &["SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED", "IN_PROGRESS"];
/// Statuses notified unless configured otherwise: every final one. FAULT and TIMED_OUT are
/// failures too.
pub const DEFAULT_STATUSES: &[&str] = STATUSES.split_at(STATUSES.len() - 1).0;

/// A finished (or running) build as the notifier reads it back from the event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOutcome {
    pub project: String,
    pub build_id: String,
    pub status: String,
    pub repository: Option<String>,
    pub repository_url: Option<String>,
    pub commit: Option<String>,
    pub git_ref: Option<String>,
    pub context: Option<String>,
    pub image: Option<String>,
    pub tags: Vec<String>,
    /// The subset of `tags` that moves with the ref: pushed only if the ref still pointed
    /// at the commit when the build pushed.
    pub moving_tags: Vec<String>,
    pub commit_message: Option<String>,
    pub author: Option<String>,
    pub commit_url: Option<String>,
    pub duration_secs: Option<u64>,
    pub queued_secs: Option<u64>,
    /// The phase that did not succeed, and what CodeBuild said about it.
    pub failed_phase: Option<(String, String)>,
    pub logs_link: Option<String>,
    /// For a re-tag job ([`crate::retag`]): the images it gave their tags.
    pub retagged: Vec<RetagLine>,
    /// What the build's log says of its Docker Hub steps (hooks, autotests, description).
    pub report: BuildReport,
    /// Why the build's log could not be read for that report, when it could not.
    pub report_unread: Option<String>,
}

/// A message ready for SNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub subject: String,
    pub email: String,
    pub sms: String,
    pub status: String,
    pub repository: String,
}

/// The SNS Publish request, with the SNS API's member names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_arn: Option<String>,
    pub subject: String,
    pub message: String,
    pub message_structure: String,
    pub message_attributes: BTreeMap<String, MessageAttribute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageAttribute {
    pub data_type: String,
    pub string_value: String,
}

impl Notification {
    /// The Publish request: `MessageStructure=json` with `default`, `email` and `sms`, and the
    /// `status` and `repository` attributes subscriptions can filter on.
    pub fn publish_request(&self, topic_arn: Option<&str>) -> PublishRequest {
        let message = serde_json::json!({ "default": self.email, "email": self.email, "sms": self.sms });
        let attribute = |v: &str| MessageAttribute {
            data_type: "String".into(),
            string_value: v.into(),
        };
        PublishRequest {
            topic_arn: topic_arn.map(str::to_owned),
            subject: self.subject.clone(),
            message: message.to_string(),
            message_structure: "json".into(),
            message_attributes: BTreeMap::from([
                ("repository".to_owned(), attribute(&self.repository)),
                ("status".to_owned(), attribute(&self.status)),
            ]),
        }
    }
}

/// The report of one build. Everything in it comes from the build's environment, which
/// whoever started the build chose, so every line is cleaned and links are printed only
/// when they are plain `https://` URLs.
pub fn build_notification(o: &BuildOutcome) -> Notification {
    if !o.retagged.is_empty() {
        return retag_notification(o);
    }
    let status = clean_line(&o.status, 100);
    let build_id = clean_line(&o.build_id, 300);
    let image = o.image.as_deref().map(|i| clean_line(i, 300));
    let short_image = image.as_deref().map(short_image).unwrap_or("unknown image");
    let sha7 = o.commit.as_deref().map(short_sha).unwrap_or_else(|| "-------".into());
    let first_line = o.commit_message.as_deref().map(first_line).unwrap_or_default();
    let succeeded = o.status == "SUCCEEDED";

    let mut email = String::new();
    let mut line = |label: &str, value: &str| {
        if !value.is_empty() {
            email.push_str(&format!("{label:<12}{value}\n"));
        }
    };
    line("Status:", &status);
    line(
        "Image:",
        &image
            .clone()
            .unwrap_or_else(|| format!("(no image recorded; build {build_id})")),
    );
    let (moving, fixed): (Vec<&String>, Vec<&String>) = o.tags.iter().partition(|t| o.moving_tags.contains(t));
    let list = |tags: &[&String]| {
        let tags: Vec<String> = tags
            .iter()
            .map(|t| clean_line(t, 200))
            .filter(|t| !t.is_empty())
            .collect();
        ellipsize(&tags.join(", "), 1000)
    };
    let tags = list(&o.tags.iter().collect::<Vec<_>>());
    line(
        "Tags:",
        &match o.status.as_str() {
            // No tag recorded: nothing to say, rather than "(pushed)" about nothing.
            _ if tags.is_empty() => String::new(),
            "SUCCEEDED" if moving.is_empty() => format!("{tags} (pushed)"),
            "SUCCEEDED" if fixed.is_empty() => {
                format!("{} (pushed if the ref still pointed at this commit)", list(&moving))
            }
            "SUCCEEDED" => format!(
                "{} (pushed); {} (pushed if the ref still pointed at this commit)",
                list(&fixed),
                list(&moving)
            ),
            "IN_PROGRESS" => format!("{tags} (building)"),
            _ => format!("{tags} (not pushed)"),
        },
    );
    line("Repository:", &clean_line(o.repository.as_deref().unwrap_or(""), 300));
    line("Ref:", &clean_line(o.git_ref.as_deref().unwrap_or(""), 300));
    line("Commit:", format!("{sha7} {first_line}").trim_end());
    line("Author:", &clean_line(o.author.as_deref().unwrap_or(""), 200));
    line("Directory:", &clean_line(o.context.as_deref().unwrap_or(""), 300));
    let timing = match (o.duration_secs, o.queued_secs) {
        (Some(d), Some(q)) => format!("{} (queued {})", human(d), human(q)),
        (Some(d), None) => human(d),
        (None, Some(q)) => format!("queued {}", human(q)),
        (None, None) => String::new(),
    };
    line("Duration:", &timing);
    hub_steps(&mut line, &o.report);
    if let Some(why) = &o.report_unread {
        line(
            "Report:",
            &format!("not read from the build's log ({})", clean_line(why, 300)),
        );
    }
    if !succeeded {
        email.push('\n');
        failed_phase(&mut email, o);
        sut_log(&mut email, &o.report);
    }
    links(&mut email, o, &build_id);

    let why = match (o.report.failed_hook(), o.report.failed_test()) {
        _ if succeeded => String::new(),
        (Some(hook), _) => format!(": hook {} failed", clean_line(&hook.name, 20)),
        (None, Some(_)) => ": test failed".to_owned(),
        (None, None) => String::new(),
    };
    Notification {
        subject: subject(&format!("dockhand {status}: {short_image} @{sha7} {first_line}")),
        sms: sms(&format!("dockhand {status} {short_image} @{sha7}{why}")),
        email: format!("dockhand build {status} for {short_image}\n\n{email}"),
        status: attribute_value(Some(&o.status)),
        repository: attribute_value(o.repository.as_deref()),
    }
}

/// The Docker Hub steps the build ran, as its report lines say: hooks, autotests and the
/// description sync, each with its outcome.
fn hub_steps(line: &mut impl FnMut(&str, &str), report: &BuildReport) {
    let outcome = |failed: &Option<String>, ok: &str| match failed {
        None => ok.to_owned(),
        Some(status) => format!("failed (exit status {})", clean_line(status, 20)),
    };
    let hooks: Vec<String> = report
        .hooks
        .iter()
        .map(|h| format!("hooks/{} {}", clean_line(&h.name, 40), outcome(&h.failed, "ran")))
        .collect();
    line("Hooks:", &ellipsize(&hooks.join(", "), 1000));
    let mut tests: Vec<String> = report
        .tests
        .iter()
        .map(|t| format!("{} {}", clean_line(&t.name, 200), outcome(&t.failed, "passed")))
        .collect();
    if let Some(why) = &report.tests_skipped {
        tests.push(format!("not run: {}", clean_line(why, 300)));
    }
    line("Tests:", &ellipsize(&tests.join(", "), 1000));
    let description = match &report.description {
        Some(Description::Synced(path)) => format!(
            "{} is the repository's description on Docker Hub",
            clean_line(path, 300)
        ),
        Some(Description::Failed(why)) => format!(
            "not updated ({}); the image was pushed all the same",
            clean_line(why, 300)
        ),
        None => String::new(),
    };
    line("README:", &description);
}

/// After a failed test, the `sut` service's last log lines, as the build printed them.
fn sut_log(email: &mut String, report: &BuildReport) {
    if report.sut_log.is_empty() {
        return;
    }
    email.push_str("Last lines of the sut service's log:\n");
    for l in &report.sut_log {
        email.push_str(&format!("  | {}\n", clean_line(l, 300)));
    }
}

/// The phase that did not succeed, and what CodeBuild said of it.
fn failed_phase(email: &mut String, o: &BuildOutcome) {
    if let Some((phase, context)) = &o.failed_phase {
        email.push_str(&format!("Failed phase: {}\n", clean_line(phase, 100)));
        let context = clean_line(context, 2000);
        if !context.is_empty() {
            email.push_str(&format!("  {context}\n"));
        }
    }
}

/// The links that close a report: logs and commit when they are plain URLs, the build id.
fn links(email: &mut String, o: &BuildOutcome, build_id: &str) {
    email.push('\n');
    if let Some(link) = o.logs_link.as_deref().filter(|l| is_plain_url(l)) {
        email.push_str(&format!("Logs:   {link}\n"));
    }
    if let Some(url) = commit_link(o) {
        email.push_str(&format!("Commit: {url}\n"));
    }
    email.push_str(&format!("Build:  {build_id}\n"));
}

/// The report of a re-tag job: which images were given which tags without a build, or,
/// when it failed, what that means and how to build them instead.
fn retag_notification(o: &BuildOutcome) -> Notification {
    let status = clean_line(&o.status, 100);
    let build_id = clean_line(&o.build_id, 300);
    let sha7 = o.commit.as_deref().map(short_sha).unwrap_or_else(|| "-------".into());
    let first_line = o.commit_message.as_deref().map(first_line).unwrap_or_default();
    let n = o.retagged.len();
    let images = if n == 1 {
        short_image(&o.retagged[0].repository).to_owned()
    } else {
        format!("{n} images")
    };
    let mut email = format!(
        "dockhand re-tag {status} for {images}\n\nThese images were built before from exactly the same files, build arguments and platforms, so they were given this push's tags without a build (a copy of the tag their build pushed, same digest).\n\n"
    );
    let mut line = |label: &str, value: &str| {
        if !value.is_empty() {
            email.push_str(&format!("{label:<12}{value}\n"));
        }
    };
    line("Status:", &status);
    line("Repository:", &clean_line(o.repository.as_deref().unwrap_or(""), 300));
    line("Ref:", &clean_line(o.git_ref.as_deref().unwrap_or(""), 300));
    line("Commit:", format!("{sha7} {first_line}").trim_end());
    line("Author:", &clean_line(o.author.as_deref().unwrap_or(""), 200));
    email.push('\n');
    for image in &o.retagged {
        let moving = if image.moving_tags.is_empty() {
            String::new()
        } else {
            format!(
                " ({} only if the ref still pointed at this commit)",
                image.moving_tags.join(", ")
            )
        };
        email.push_str(&format!(
            "  {}: {} from {}{moving}\n",
            short_image(&image.repository),
            image.tags.join(", "),
            image.key_tag
        ));
    }
    if o.status != "SUCCEEDED" && o.status != "IN_PROGRESS" {
        email.push_str(&format!(
            "\nThe re-tag did not finish: some tags may not have been given. The usual cause is a tag {}... deleted from the registry (a retention or lifecycle rule); the build log names the image. To build the images instead, set `rebuild: always` in {} and push again.\n",
            crate::image_key::KEY_TAG_PREFIX,
            crate::repo_config::REPO_CONFIG_PATH
        ));
        failed_phase(&mut email, o);
    }
    links(&mut email, o, &build_id);
    Notification {
        subject: subject(&format!("dockhand re-tag {status}: {images} @{sha7} {first_line}")),
        sms: sms(&format!("dockhand re-tag {status} {images} @{sha7}")),
        email,
        status: attribute_value(Some(&o.status)),
        repository: attribute_value(o.repository.as_deref()),
    }
}

/// The spawner's problems with one push: directories it could not build, or the push as a whole.
pub fn skip_notification(request: &BuildRequest, skips: &[Skip]) -> Notification {
    let sha7 = short_sha(&request.commit);
    let repository = clean_line(&request.repository.full_name, 300);
    let mut email = format!(
        "dockhand could not build {} director{} of this push.\n\nRepository: {}\nRef:        {}\nCommit:     {sha7} {}\n\n",
        skips.len(),
        if skips.len() == 1 { "y" } else { "ies" },
        repository,
        clean_line(&request.git_ref, 300),
        request
            .head_commit
            .as_ref()
            .map(|h| first_line(&h.message))
            .unwrap_or_default(),
    );
    for skip in skips {
        email.push_str(&format!(
            "- {}: {}\n",
            clean_line(&skip.context, 300),
            clean_line(&skip.reason, 2000)
        ));
    }
    Notification {
        subject: subject(&format!("dockhand NOT BUILT: {repository} @{sha7}")),
        sms: sms(&format!(
            "dockhand NOT BUILT {repository} @{sha7}: {} directories",
            skips.len()
        )),
        email,
        status: "NOT_BUILT".into(),
        repository: attribute_value(Some(&request.repository.full_name)),
    }
}

/// An order (`dockhand build`, or the scheduled refresh) that builds nothing: the
/// repository, ref or commit it names is not one the deployment builds or GitHub knows.
pub fn order_refused_notification(order: &crate::order::Order, reason: &str) -> Notification {
    let repository = clean_line(&order.repository, 300);
    let what = match order.kind {
        crate::order::OrderKind::Manual => "The build asked for with `dockhand build`",
        crate::order::OrderKind::Refresh => "The scheduled refresh",
    };
    let email = format!(
        "{what} built nothing.\n\nRepository: {repository}\nRef:        {}\nCommit:     {}\nAsked by:   {}\nOrder:      {}\nWhy:        {}\n",
        clean_line(order.git_ref.as_deref().unwrap_or("(the default branch)"), 300),
        clean_line(order.commit.as_deref().unwrap_or("(the ref's head)"), 100),
        clean_line(order.by.as_deref().unwrap_or("(not said)"), 100),
        clean_line(&order.id, 100),
        clean_line(reason, 2000),
    );
    Notification {
        subject: subject(&format!("dockhand NOT BUILT: {repository} (order {})", order.id)),
        sms: sms(&format!("dockhand NOT BUILT {repository}: the order was refused")),
        email,
        status: "NOT_BUILT".into(),
        repository: attribute_value(Some(&order.repository)),
    }
}

/// A planned build that never started: CodeBuild had no room for it until its queue's
/// retention ran out, or refused it. The message is in the dead-letter queue.
pub fn not_started_notification(build: &QueuedBuild, reason: &str) -> Notification {
    let sha7 = short_sha(&build.commit);
    let image = clean_line(short_image(&build.image), 300);
    let email = format!(
        "dockhand could not start the build of {image} ({}) and gave up.\n\nRepository: {}\nRef:        {}\nCommit:     {}\nTags:       {}\nWhy:        {}\n\nThe build's message is in the stack's dead-letter queue (DeadLetterQueueUrl in `make outputs`). Once CodeBuild has room again (raise the project's ConcurrentBuildLimit or the account's concurrent build quota, or wait for running builds), send it back to the builds queue; it starts once, even if it was started meanwhile.\n",
        clean_line(&build.context, 300),
        clean_line(&build.repository, 300),
        clean_line(&build.git_ref, 300),
        clean_line(&build.commit, 100),
        clean_line(&build.tags.join(", "), 1000),
        clean_line(reason, 2000),
    );
    Notification {
        subject: subject(&format!("dockhand NOT STARTED: {image} @{sha7}")),
        sms: sms(&format!(
            "dockhand NOT STARTED {image} @{sha7}: {}",
            clean_line(reason, 80)
        )),
        email,
        status: "NOT_STARTED".into(),
        repository: attribute_value(Some(&build.repository)),
    }
}

/// Builds that will not start because an image they are built from did not push: the
/// base (a build of the same push, at `base_context` pushing `base_image`) failed, or never
/// started. `blocked` are the held builds, the base's dependents and theirs, all of one push.
pub fn blocked_notification(base_context: &str, base_image: &str, why: &str, blocked: &[QueuedBuild]) -> Notification {
    let field = |f: fn(&QueuedBuild) -> &str| blocked.first().map(f).unwrap_or_default();
    let (repository, git_ref, commit) = (field(|b| &b.repository), field(|b| &b.git_ref), field(|b| &b.commit));
    let sha7 = short_sha(commit);
    let image = clean_line(short_image(base_image), 300);
    let list: Vec<String> = blocked
        .iter()
        .map(|b| format!("  {} ({})", clean_line(&b.image, 300), clean_line(&b.context, 300)))
        .collect();
    let email = format!(
        "dockhand did not build {} image(s) of this push, because an image they are built from, {image} ({}), was not pushed.\n\nRepository: {}\nRef:        {}\nCommit:     {}\nWhy:        {}\n\nNot built:\n{}\n\nOnce {} builds again (fix it and push), they are rebuilt with it.\n",
        blocked.len(),
        clean_line(base_context, 300),
        clean_line(repository, 300),
        clean_line(git_ref, 300),
        clean_line(commit, 100),
        clean_line(why, 2000),
        list.join("\n"),
        clean_line(base_context, 300),
    );
    Notification {
        subject: subject(&format!(
            "dockhand NOT BUILT: {} image(s) on {image} @{sha7}",
            blocked.len()
        )),
        sms: sms(&format!(
            "dockhand NOT BUILT {} image(s): base {image} @{sha7} did not push",
            blocked.len()
        )),
        email,
        status: "NOT_BUILT".into(),
        repository: attribute_value(Some(repository)),
    }
}

/// A message the spawner could not use at all (not a request it can read, or a request
/// GitHub never answered for), now in the dead-letter queue.
pub fn dead_letter_notification(what: &str, reason: &str, repository: Option<&str>) -> Notification {
    let email = format!(
        "dockhand gave up on {}.\n\nWhy: {}\n\nThe message is in the stack's dead-letter queue (DeadLetterQueueUrl in `make outputs`); send it back to its queue once the cause is fixed.\n",
        clean_line(what, 300),
        clean_line(reason, 2000)
    );
    Notification {
        subject: subject(&format!("dockhand GAVE UP: {}", clean_line(what, 200))),
        sms: sms(&format!("dockhand GAVE UP: {}", clean_line(what, 100))),
        email,
        status: "DEAD_LETTER".into(),
        repository: attribute_value(repository),
    }
}

fn attribute_value(s: Option<&str>) -> String {
    let v = clean_line(s.unwrap_or(""), 256);
    if v.is_empty() { "unknown".into() } else { v }
}

/// `docker.io/acme/web` reads as `acme/web`.
fn short_image(image: &str) -> &str {
    image.strip_prefix("docker.io/").unwrap_or(image)
}

/// `DOCKHAND_COMMIT_URL`, or else the commit's page under `SOURCE_REPO_URL`, whichever
/// is a plain URL.
fn commit_link(o: &BuildOutcome) -> Option<String> {
    o.commit_url.clone().filter(|u| is_plain_url(u)).or_else(|| {
        let base = o.repository_url.as_deref()?.trim_end_matches(".git");
        let url = format!("{base}/commit/{}", o.commit.as_deref().filter(|c| !c.is_empty())?);
        is_plain_url(&url).then_some(url)
    })
}

/// A link worth printing: `https://`, then only printable ASCII with no spaces, at most
/// 2000 characters. Anything else is left out rather than cleaned: a URL with characters
/// removed or cut short leads somewhere else, and a look-alike non-ASCII host is how a
/// link misleads.
pub(crate) fn is_plain_url(url: &str) -> bool {
    url.len() <= 2000
        && url.strip_prefix("https://").is_some_and(|rest| !rest.is_empty())
        && url.bytes().all(|b| b.is_ascii_graphic())
}

/// The first seven characters of a commit id, cleaned like any line. Characters, not
/// bytes: the commit comes from a message or a build's environment and need not be hex,
/// and slicing it at byte 7 panics inside a multi-byte character.
pub fn short_sha(commit: &str) -> String {
    clean_line(commit, usize::MAX).chars().take(7).collect()
}

fn first_line(message: &str) -> String {
    clean_line(message.lines().find(|l| !l.trim().is_empty()).unwrap_or(""), 200)
}

/// One line of display text: control characters and bidirectional overrides (which can make
/// text read backwards) removed, whitespace runs collapsed, at most `max` characters.
pub fn clean_line(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect();
    let collapsed = cleaned
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    ellipsize(&collapsed, max)
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(3)).collect();
    out.truncate(out.trim_end().len());
    out.push_str("...");
    out
}

fn ascii_line(s: &str, max: usize) -> String {
    let ascii: String = clean_line(s, usize::MAX)
        .chars()
        .filter(|c| (' '..='~').contains(c))
        .collect();
    ellipsize(
        ascii
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .as_str(),
        max,
    )
}

/// A subject SNS accepts, whatever went into it.
pub fn subject(s: &str) -> String {
    let line = ascii_line(s, MAX_SUBJECT);
    if line.is_empty() { "dockhand".into() } else { line }
}

/// A one-line, one-message SMS.
pub fn sms(s: &str) -> String {
    ascii_line(s, MAX_SMS)
}

pub(crate) fn human(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests;
