//! `dockhand local demo`: the whole pipeline on this machine, on a sample repository.

use dockhand_local::{Options, Stack, gitrepo};
use std::path::Path;
use std::sync::Arc;

pub fn run(workspace: &Path) -> Result<(), String> {
    let say: dockhand_local::hub::Say = Arc::new(|line: &str| println!("{line}"));
    let password = dockhand_local::random_hex(16);
    let stack = Stack::start(Options {
        workspace: workspace.to_owned(),
        dir: workspace.join(".work/local"),
        registry_token: password.clone(),
        registry_password: password,
        limits: dockhand_local::hub::Limits::default(),
        say: say.clone(),
    })?;
    let before = stack.repo.head();
    let after = stack
        .repo
        .commit("Three images: hello, web and tools/lint", &gitrepo::SAMPLE)?;
    println!(
        "\n== push {} to refs/heads/{} of {}/{}",
        &after[..7],
        gitrepo::BRANCH,
        gitrepo::OWNER,
        gitrepo::NAME
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
    println!("\n== peak memory of each function (VmHWM; the stack gives each 128 MB)");
    for (function, kib) in stack.functions.peak_memory_kib() {
        println!("   {function:<9} {:.1} MiB", kib as f64 / 1024.0);
    }
    println!("\n== the weekly cleanup, run once now (keeps builds younger than 7 days)");
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
