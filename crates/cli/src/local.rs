//! `dockhand local demo`: the whole pipeline on this machine, on a sample repository.

use dockhand_core::notification::short_sha;
use dockhand_local::{Options, Stack, gitrepo};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Local mode on the sample repository, with CodeBuild's default limits, under `dir` of
/// the workspace.
fn sample_stack(workspace: &Path, dir: &str, say: dockhand_local::hub::Say) -> Result<Stack, String> {
    let password = dockhand_local::random_hex(16).map_err(|e| format!("the registry password: {e}"))?;
    Stack::start(Options {
        workspace: workspace.to_owned(),
        dir: workspace.join(dir),
        registry_token: password.clone(),
        registry_password: password,
        limits: dockhand_local::hub::Limits::default(),
        repository: None,
        queue_retention_seconds: None,
        say,
    })
}

pub fn run(workspace: &Path) -> Result<(), String> {
    let stack = sample_stack(workspace, ".work/local", Arc::new(|line: &str| println!("{line}")))?;
    let before = stack.repo.head();
    let after = stack
        .repo
        .commit("Three images: hello, web and tools/lint", &gitrepo::SAMPLE)?;
    println!(
        "\n== push {} to refs/heads/{} of {}/{}",
        short_sha(&after),
        stack.repo.branch,
        stack.repo.owner,
        stack.repo.name
    );
    let answer = stack.deliver(&before, &after, "11111111-2222-4333-8444-555555555555", None)?;
    println!("   the listener answered {} {}", answer.status, answer.body);
    if answer.status != 202 {
        return Err(format!(
            "the listener refused the push: {} {}",
            answer.status, answer.body
        ));
    }
    stack.wait_idle()?;

    println!("\n== the plan, as the spawner sent it to CodeBuild (StartBuild)");
    let builds = stack.hub.builds();
    for b in &builds {
        println!(
            "   {:<11} -> {}:{{{}}}  ({})",
            b.env("BUILD_CONTEXT").unwrap_or_default(),
            b.env("DOCKER_REPO").unwrap_or_default(),
            b.env("DOCKHAND_TAGS").unwrap_or_default(),
            b.status
        );
    }
    println!("\n== pushed images (registry API at {})", stack.registry.host);
    let mut pushed = 0;
    for b in &builds {
        let repository = b
            .env("DOCKER_REPO")
            .unwrap_or_default()
            .trim_start_matches(&format!("{}/", stack.registry.host))
            .to_owned();
        for tag in stack.registry.tags(&repository)? {
            let digest = stack.registry.digest(&repository, &tag)?;
            println!("   {}/{repository}:{tag}  {digest}", stack.registry.host);
            pushed += 1;
        }
    }
    cache_demo(&stack)?;
    graph_demo(&stack)?;
    hub_demo(&stack)?;
    by_hand_demo(&stack)?;
    println!("\n== peak memory of each function (VmHWM; the stack gives each 128 MB)");
    for (function, kib) in stack.functions.peak_memory_kib() {
        println!("   {function:<9} {:.1} MiB", kib as f64 / 1024.0);
    }
    println!("\n== the cleanup (daily on AWS), run once now: keeps builds that ended within 7 days");
    let cleanup = stack.cleanup()?;
    println!("   cleanup answered {cleanup}");

    let failed: Vec<_> = builds.iter().filter(|b| b.status != "SUCCEEDED").collect();
    let mut dead: Vec<String> = stack.hub.dead_letters();
    dead.extend(stack.dead_letters()?.into_iter().map(|(_, reason)| reason));
    println!(
        "\n== {} builds, {} failed, {pushed} image tags pushed, {} notifications, {} dead letters; stopping everything",
        builds.len(),
        failed.len(),
        stack.hub.notifications().len(),
        dead.len()
    );
    if builds.len() != 3 || !failed.is_empty() || !dead.is_empty() {
        return Err(format!(
            "the demo expected three successful builds; the functions' logs are in {}",
            stack.functions.log_dir().display()
        ));
    }
    Ok(())
}

/// `dockhand local up`: local mode, kept running until Enter or Ctrl-C, with the sample
/// repository committed (not pushed) or the given one served, and the environment that
/// points the AWS SDK, and so the dockhand command, at it.
pub fn up(workspace: &Path, repository: Option<PathBuf>) -> Result<(), String> {
    let say: dockhand_local::hub::Say = Arc::new(|line: &str| println!("{line}"));
    let password = dockhand_local::random_hex(16).map_err(|e| format!("the registry password: {e}"))?;
    let sample = repository.is_none();
    let stack = Stack::start(Options {
        workspace: workspace.to_owned(),
        dir: workspace.join(".work/local-up"),
        registry_token: password.clone(),
        registry_password: password,
        limits: dockhand_local::hub::Limits::default(),
        repository,
        queue_retention_seconds: None,
        say,
    })?;
    if sample {
        stack
            .repo
            .commit("Three images: hello, web and tools/lint", &gitrepo::SAMPLE)?;
    }
    let exports: Vec<String> = stack
        .aws_environment()
        .into_iter()
        .map(|(name, value)| format!("export {name}={value}"))
        .collect();
    let repo = stack.repo.full_name();
    let project = dockhand_local::PROJECT;
    let stack_name = dockhand_local::STACK;
    println!(
        "
== local mode is up: {repo} on the GitHub stand-in, its branch {}; builds push to {}
   In another shell, point the dockhand command (and the AWS CLI) at it:

{}

   then, for example:
   dockhand build --stack {stack_name} --repo {repo} --all --wait
   dockhand status --project {project}
   dockhand logs BUILD_ID --follow
   dockhand dead-letters --stack {stack_name}

== press Enter (or Ctrl-C) to stop everything",
        stack.repo.branch,
        stack.registry.host,
        exports.join("\n")
    );
    wait_for_stop()?;
    println!("== stopping");
    Ok(())
}

/// Blocks until Enter, the end of standard input, or Ctrl-C (SIGINT) or SIGTERM: whichever
/// comes first. The signal is caught so that everything local mode started is stopped.
fn wait_for_stop() -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let stopped = runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("SIGTERM: {e}"))?;
        let enter = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        });
        tokio::select! {
            _ = enter => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        Ok::<(), String>(())
    });
    // Not waiting for the read of standard input, which may never end.
    runtime.shutdown_background();
    stopped
}

/// What `dockhand local run` was asked.
pub struct RunOptions {
    pub workspace: PathBuf,
    pub repository: PathBuf,
    pub git_ref: Option<String>,
    pub before: Option<String>,
    pub limits: dockhand_local::hub::Limits,
}

/// `dockhand local run`: a push of your repository through the local pipeline.
pub fn run_repository(options: &RunOptions) -> Result<(), String> {
    let say: dockhand_local::hub::Say = Arc::new(|line: &str| println!("{line}"));
    let password = dockhand_local::random_hex(16).map_err(|e| format!("the registry password: {e}"))?;
    let stack = Stack::start(Options {
        workspace: options.workspace.clone(),
        dir: options.workspace.join(".work/local-run"),
        registry_token: password.clone(),
        registry_password: password,
        limits: options.limits,
        repository: Some(options.repository.clone()),
        queue_retention_seconds: None,
        say: say.clone(),
    })?;
    let repo = &stack.repo;
    let git_ref = repo.full_ref(options.git_ref.as_deref().unwrap_or(&repo.branch))?;
    let after = repo.resolve(&git_ref)?;
    let before = match &options.before {
        Some(sha) => repo.resolve(sha)?,
        None => "0".repeat(40),
    };
    println!(
        "\n== push {git_ref} of {} at {} ({}), as {}",
        repo.work.display(),
        short_sha(&after),
        if options.before.is_some() {
            format!("changes since {}", short_sha(&before))
        } else {
            "a new ref: every image".to_owned()
        },
        repo.full_name()
    );
    let event = repo.push_event_for(&git_ref, &before, &after)?;
    let answer = stack.deliver_event(event.clone(), "00000000-0000-4000-8000-000000000001", None)?;
    println!("   the listener answered {} {}", answer.status, answer.body);
    if answer.status != 202 {
        return Err(format!("the listener refused the push: {}", answer.body));
    }
    stack.wait_idle()?;

    // What should have been built: the spawner's own planner, on the same stand-in.
    let deployment = dockhand_core::Deployment::from_json(&stack.config).map_err(|e| e.to_string())?;
    let body = serde_json::to_vec(&event).expect("an event serializes");
    let dockhand_core::webhook::Event::Push(push) =
        dockhand_core::webhook::parse_event("push", Some("application/json"), &body).map_err(|e| e.to_string())?
    else {
        return Err("not a push".into());
    };
    let planned = match dockhand_core::intake::intake(&push, "plan", &deployment).map_err(|e| e.to_string())? {
        dockhand_core::intake::Intake::Build(request) => {
            crate::plan_online(&request, &deployment, &stack.github.url(), None)?
        }
        dockhand_core::intake::Intake::Ignored { reason } => {
            println!("\n== nothing to build: {reason}");
            return Err(format!("the push builds nothing: {reason}"));
        }
    };
    let builds = stack.hub.builds();
    let (mut pushed, mut failed, mut not_built) = (0, 0, 0);
    println!("\n== images");
    for entry in &planned {
        match entry {
            dockhand_core::PlanEntry::Build(job) => {
                let started: Vec<_> = builds
                    .iter()
                    .filter(|b| b.env("DOCKHAND_BUILD_KEY").as_deref() == Some(job.key.as_str()))
                    .collect();
                let Some(build) = started.last() else {
                    not_built += 1;
                    println!("   {:<24} NOT STARTED (see the dead letters below)", job.context);
                    continue;
                };
                if build.status != "SUCCEEDED" {
                    failed += 1;
                    println!(
                        "   {:<24} {} in {}: {}",
                        job.context,
                        build.status,
                        build.failed_phase.as_deref().unwrap_or("?"),
                        build.log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("")
                    );
                    continue;
                }
                pushed += 1;
                let repository = job.image.trim_start_matches(&format!("{}/", stack.registry.host));
                for tag in stack.registry.tags(repository)? {
                    if job.tags.contains(&tag) {
                        let digest = stack.registry.digest(repository, &tag)?;
                        println!("   {:<24} {}:{tag}  {digest}", job.context, job.image);
                    }
                }
            }
            dockhand_core::PlanEntry::Skip(skip) => {
                if skip.attention {
                    not_built += 1;
                }
                println!("   {:<24} not built: {}", skip.context, skip.reason);
            }
        }
    }
    for (_, reason) in stack.dead_letters()? {
        println!("   dead letter: {reason}");
    }
    println!("\n{pushed} pushed, {failed} failed, {not_built} not built");
    let builds_planned = planned
        .iter()
        .filter(|e| matches!(e, dockhand_core::PlanEntry::Build(_)))
        .count();
    if pushed == builds_planned && failed == 0 && not_built == 0 {
        Ok(())
    } else {
        Err(format!(
            "not every image was pushed (see above); the functions' logs were in {}",
            stack.functions.log_dir().display()
        ))
    }
}

/// Makes a commit with `commit`, delivers the push and waits until everything it started
/// is done; answers the builds it started.
fn push_and_wait(
    stack: &Stack,
    commit: impl FnOnce(&gitrepo::Repo) -> Result<String, String>,
) -> Result<Vec<dockhand_local::hub::BuildRecord>, String> {
    let before = stack.repo.head();
    let started = stack.hub.builds().len();
    let after = commit(&stack.repo)?;
    let delivery = format!("00000000-0000-4000-8000-{:012}", started + 1);
    let answer = stack.deliver(&before, &after, &delivery, None)?;
    if answer.status != 202 {
        return Err(format!(
            "the listener refused the push: {} {}",
            answer.status, answer.body
        ));
    }
    stack.wait_idle()?;
    Ok(stack.hub.builds().split_off(started))
}

/// The whole CodeBuild build of `context` among `builds` (clone, build, push, tags), in
/// seconds; an error unless exactly one build of it ran and succeeded.
fn build_seconds(builds: &[dockhand_local::hub::BuildRecord], context: &str) -> Result<f64, String> {
    let ran: Vec<_> = builds
        .iter()
        .filter(|b| b.env("BUILD_CONTEXT").as_deref() == Some(context))
        .collect();
    match ran.as_slice() {
        [b] if b.status == "SUCCEEDED" => Ok(b.end.unwrap_or(b.start) - b.start),
        [b] => Err(format!("the build of {context} {}:\n{}", b.status, b.log)),
        _ => Err(format!("expected one build of {context}, {} ran", ran.len())),
    }
}

/// The demo's second part: the two images with a shell, then a change to the file copied
/// after `slow`'s long RUN step, built again on an empty image store with the cache.
fn cache_demo(stack: &Stack) -> Result<(), String> {
    println!(
        "\n== push two images with a shell (busybox FROM scratch): shell, and slow, whose RUN step takes {} s",
        gitrepo::SLOW_SECONDS
    );
    let builds = push_and_wait(stack, |repo| repo.commit_shell_sample("Two images with a shell"))?;
    let cold = build_seconds(&builds, "slow")?;
    build_seconds(&builds, "shell")?;
    println!("   slow built in {cold:.1} s, its layers written to the registry cache");
    println!("\n== change slow/app.txt, copied after the RUN step, and push");
    let builds = push_and_wait(stack, |repo| {
        repo.commit("slow: version 2", &[("slow/app.txt", Some("version 2\n"))])
    })?;
    let warm = build_seconds(&builds, "slow")?;
    println!(
        "   slow rebuilt in {warm:.1} s on an empty image store: the RUN step's layer came from the registry cache ({:.1}x faster)",
        cold / warm
    );
    Ok(())
}

/// The demo's third part: the image graph. `base`, and `greeter` and `banner` built FROM
/// it; a change to `base` builds it first, then both on the very image it pushed.
fn graph_demo(stack: &Stack) -> Result<(), String> {
    let base_repository = stack.image_repository("base")?;
    println!("\n== commit base, and greeter and banner built FROM {base_repository} (banner through ARG BASE)");
    stack
        .repo
        .commit_graph_sample("A base image and two images on it", &base_repository)?;
    println!("== change base/base.txt alone and push: base builds first, then the two images on it");
    let builds = push_and_wait(stack, |repo| {
        repo.commit("base: version 2", &[("base/base.txt", Some("base 2\n"))])
    })?;
    let mut ran = Vec::new();
    for dir in gitrepo::GRAPH_SAMPLE_DIRS {
        build_seconds(&builds, dir)?;
        ran.extend(builds.iter().filter(|b| b.env("BUILD_CONTEXT").as_deref() == Some(dir)));
    }
    if ran.len() != 3 || builds.len() != 3 {
        return Err(format!("expected three builds, {} ran", builds.len()));
    }
    let start = ran.iter().map(|b| b.start).fold(f64::INFINITY, f64::min);
    ran.sort_by(|a, b| a.start.total_cmp(&b.start));
    for b in &ran {
        println!(
            "   {:<8} started {:5.1} s, ended {:5.1} s",
            b.env("BUILD_CONTEXT").unwrap_or_default(),
            b.start - start,
            b.end.unwrap_or(b.start) - start
        );
    }
    let base = ran
        .iter()
        .find(|b| b.env("BUILD_CONTEXT").as_deref() == Some("base"))
        .expect("base ran");
    let pushed = base
        .exported_variables
        .iter()
        .find(|(name, _)| name == "DOCKHAND_IMAGE_DIGEST")
        .map(|(_, digest)| digest.clone())
        .ok_or("the base's build exported no DOCKHAND_IMAGE_DIGEST")?;
    println!("   base pushed {base_repository}@{pushed}");
    for b in ran.iter().filter(|b| b.env("BUILD_CONTEXT").as_deref() != Some("base")) {
        let context = b.env("BUILD_CONTEXT").unwrap_or_default();
        let pinned = b.env("DOCKHAND_BASES").unwrap_or_default();
        let digest = pinned.rsplit_once('@').map(|(_, d)| d).unwrap_or("nothing");
        if digest != pushed || b.start < base.end.unwrap_or(f64::INFINITY) {
            return Err(format!(
                "{context} was not built after base on its digest: DOCKHAND_BASES {pinned:?}"
            ));
        }
        println!("   {context:<8} built on base @{digest} == base's pushed digest");
    }
    Ok(())
}

/// The demo's last part: images as Docker Hub built them. `hooked` passes its test and
/// its `post_push` hook pushes one more tag; `failing` fails its test and pushes nothing.
fn hub_demo(stack: &Stack) -> Result<(), String> {
    println!(
        "\n== push two images with Docker Hub's hooks and autotests: hooked (post_checkout, post_push, a passing docker-compose.test.yml) and failing (a failing one)"
    );
    let builds = push_and_wait(stack, |repo| repo.commit_hub_sample("Images as Docker Hub built them"))?;
    let of = |context: &str| {
        builds
            .iter()
            .find(|b| b.env("BUILD_CONTEXT").as_deref() == Some(context))
            .ok_or(format!("{context} was not built"))
    };
    let (hooked, failing) = (of("hooked")?, of("failing")?);
    for b in [hooked, failing] {
        let context = b.env("BUILD_CONTEXT").unwrap_or_default();
        println!(
            "   {context} {} in {:.1} s; its report:",
            b.status,
            b.end.unwrap_or(b.start) - b.start
        );
        for line in b.log.lines().filter(|l| l.starts_with("##dockhand ")) {
            println!("     {line}");
        }
        let repository = stack.image_repository(&context)?;
        let path = repository.trim_start_matches(&format!("{}/", stack.registry.host));
        let tags = stack.registry.tags(path)?;
        if tags.is_empty() {
            println!("   {repository}: nothing pushed");
        }
        for tag in tags {
            println!("   {repository}:{tag}  {}", stack.registry.digest(path, &tag)?);
        }
    }
    if hooked.status != "SUCCEEDED" || failing.status != "FAILED" {
        return Err(format!(
            "expected hooked to succeed and failing to fail:\n{}\n{}",
            hooked.log, failing.log
        ));
    }
    Ok(())
}

/// The demo's last part: builds by hand. This very command, run against local mode as
/// against AWS (only the endpoints differ): `dockhand build --dir hello --wait` (the
/// image is built again, though nothing changed), then `dockhand status` and `dockhand
/// logs` of that build.
fn by_hand_demo(stack: &Stack) -> Result<(), String> {
    let me = std::env::current_exe().map_err(|e| format!("this command's path: {e}"))?;
    let run = |args: &[&str]| -> Result<(bool, String), String> {
        println!("\n$ dockhand {}", args.join(" "));
        let out = std::process::Command::new(&me)
            .args(args)
            .envs(stack.aws_environment())
            .output()
            .map_err(|e| format!("dockhand {}: {e}", args[0]))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The build's whole log was shown above: a long answer is shown by its end.
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > 12 {
            println!("   ({} lines; the last 6:)", lines.len());
        }
        for line in &lines[lines.len().saturating_sub(if lines.len() > 12 { 6 } else { 12 })..] {
            println!("   {line}");
        }
        Ok((out.status.success(), text))
    };
    println!(
        "\n== build by hand, as on AWS (dockhand local up keeps local mode running for you to try): the order goes to the requests queue and is planned like a push"
    );
    let repo = stack.repo.full_name();
    let before = stack.hub.builds().len();
    let (ok, text) = run(&[
        "build",
        "--stack",
        dockhand_local::STACK,
        "--repo",
        &repo,
        "--dir",
        "hello",
        "--wait",
        "--by",
        "the demo",
    ])?;
    let builds = stack.hub.builds();
    let Some(build) = builds[before..]
        .iter()
        .find(|b| b.env("BUILD_CONTEXT").as_deref() == Some("hello"))
    else {
        return Err(format!("dockhand build started no build of hello:\n{text}"));
    };
    if !ok || builds.len() != before + 1 {
        return Err(format!(
            "dockhand build --dir hello did not build exactly hello:\n{text}"
        ));
    }
    let since = [
        "status",
        "--project",
        dockhand_local::PROJECT,
        "--since",
        "1h",
        "--max",
        "5",
    ];
    let (ok, _) = run(&since)?;
    let (logs_ok, log) = run(&["logs", &build.id])?;
    if !ok || !logs_ok || !log.contains("Entering phase BUILD") {
        return Err("dockhand status or logs failed against local mode (see above)".into());
    }
    Ok(())
}

/// `make bench-build`: the `slow` image rebuilt after a change to the file copied after its
/// RUN step, `rounds` times without the registry cache and `rounds` times with it, each on
/// an empty image store as CodeBuild's hosts are; prints each time, the medians and the
/// ratio. Each time is the whole build as CodeBuild bills it: clone, build, push, tags.
pub fn bench_build(workspace: &Path, rounds: usize) -> Result<(), String> {
    let stack = sample_stack(workspace, ".work/bench-build", Arc::new(|_: &str| {}))?;
    println!(
        "== bench-build: the sample's slow image (a {} s RUN step, then COPY app.txt), engine {}",
        gitrepo::SLOW_SECONDS,
        stack.engine
    );
    // The first build writes the cache that the cached rounds read.
    build_seconds(
        &push_and_wait(&stack, |repo| repo.commit_shell_sample("Two images with a shell"))?,
        "slow",
    )?;
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        for (cache, times) in [(false, &mut cold), (true, &mut warm)] {
            let setting = format!("cache: {cache}\n");
            let app = format!("round {round}, cache {cache}\n");
            let builds = push_and_wait(&stack, |repo| {
                repo.commit(
                    &format!("bench round {round}, cache {cache}"),
                    &[(".dockhand.yml", Some(&setting)), ("slow/app.txt", Some(&app))],
                )
            })?;
            let seconds = build_seconds(&builds, "slow")?;
            println!(
                "   round {round}: {:<16} {seconds:6.2} s",
                if cache { "registry cache" } else { "no cache" }
            );
            times.push(seconds);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (cold, warm) = (median(&mut cold), median(&mut warm));
    println!(
        "== median of {rounds}: no cache {cold:.2} s, registry cache {warm:.2} s: {:.1}x faster",
        cold / warm
    );
    Ok(())
}
