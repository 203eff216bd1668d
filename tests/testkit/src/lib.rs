//! Test support shared by the function crates.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// A moto server on a free loopback port, stopped when dropped. Each test gets its own, so
/// state never leaks between tests.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let program = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .or_else(|| Some(root().join(".venv/bin/moto_server")).filter(|p| p.exists()))
            .unwrap_or_else(|| PathBuf::from("moto_server"));
        Moto::start_with(&program, &[])
    }

    /// A moto server run as `program leading_args... -H 127.0.0.1 -p PORT`.
    ///
    /// The port is free when chosen, but tests run in parallel: another test's server can
    /// take it before this one binds it, and then this one exits while the port answers for
    /// the other, until that test ends. So the server is ready only when *its own* process
    /// holds the listening socket; one that exited is started again on another port.
    pub fn start_with(program: &Path, leading_args: &[&Path]) -> Moto {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut child = Command::new(program)
                .args(leading_args)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start {}: {e}. Run `make test`, which installs moto into .venv (or `make deps` once, then cargo test)",
                        program.display()
                    )
                });
            loop {
                assert!(
                    Instant::now() < deadline,
                    "moto did not start listening on port {port} within 60 s"
                );
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if listens_on(child.id(), port) && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Moto {
                        child,
                        endpoint: format!("http://127.0.0.1:{port}"),
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// An SDK configuration pointed at this server, with dummy credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sns::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A topic with a queue subscribed to it by raw delivery, so a test can read back exactly
/// what was published.
/// Creates a queue on moto, answering its URL and ARN.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    (url, arn)
}

pub struct TopicProbe {
    pub topic_arn: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl TopicProbe {
    pub async fn create(config: &aws_config::SdkConfig, name: &str) -> TopicProbe {
        let sns = aws_sdk_sns::Client::new(config);
        let topic_arn = sns.create_topic().name(name).send().await.unwrap().topic_arn.unwrap();
        Self::attach(config, &topic_arn, &format!("{name}-probe"), None).await
    }

    /// Another queue on an existing topic, optionally with a subscription filter policy.
    pub async fn attach(
        config: &aws_config::SdkConfig,
        topic_arn: &str,
        queue: &str,
        filter_policy: Option<&str>,
    ) -> TopicProbe {
        let sns = aws_sdk_sns::Client::new(config);
        let sqs = aws_sdk_sqs::Client::new(config);
        let topic_arn = topic_arn.to_owned();
        let (queue_url, queue_arn) = create_queue(&sqs, queue).await;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .set_attributes(Some(
                [("RawMessageDelivery", "true")]
                    .into_iter()
                    .chain(filter_policy.map(|policy| ("FilterPolicy", policy)))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            ))
            .send()
            .await
            .unwrap();
        TopicProbe {
            topic_arn,
            queue_url,
            sqs,
        }
    }

    /// Every message waiting in the queue, removed from it.
    pub async fn drain(&self) -> Vec<String> {
        drain_queue(&self.sqs, &self.queue_url).await
    }
}

/// Every message waiting in a queue, in the order received, removed from it.
pub async fn drain_queue(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for m in messages {
            bodies.push(m.body.unwrap_or_default());
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// Stores a SecureString parameter.
pub async fn put_secure_string(config: &aws_config::SdkConfig, name: &str, value: &str) {
    aws_sdk_ssm::Client::new(config)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

/// GitHub's example payloads for one event, from the npm package `@octokit/webhooks-examples`.
pub fn octokit_examples(event: &str) -> Vec<serde_json::Value> {
    let path = root().join("tests/node_modules/@octokit/webhooks-examples/api.github.com/index.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}. Run `make test`, which installs the npm package (or `make deps` once, then cargo test)",
            path.display()
        )
    });
    let index: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let entry = index
        .into_iter()
        .find(|e| e["name"] == event)
        .unwrap_or_else(|| panic!("no {event} examples"));
    entry["examples"].as_array().unwrap().clone()
}

/// The X-Hub-Signature-256 GitHub would send.
pub fn sign(secret: &str, body: &[u8]) -> String {
    dockhand_core::signature::sign(secret.as_bytes(), body)
}

/// A fixture under tests/fixtures.
pub fn fixture(name: &str) -> String {
    let path = root().join("tests/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The deployment of `tests/fixtures/config.json`: Docker Hub `acme`, the repositories of
/// the fixtures (`acme/images`) and of GitHub's own examples (`Codertocat/Hello-World`).
pub fn deployment() -> dockhand_core::Deployment {
    dockhand_core::Deployment::from_json(&fixture("config.json")).unwrap()
}

/// GitHub's view of `push-monorepo.json`'s pushed commit: `web`, `api` and `tools/lint`
/// hold Dockerfiles, the root and the removed `legacy-api` do not.
pub fn monorepo_host() -> dockhand_core::source::ListedHost {
    let files = [
        "README.md",
        "web/Dockerfile",
        "web/nginx.conf",
        "api/Dockerfile",
        "api/requirements.txt",
        "tools/lint/Dockerfile",
        "tools/lint/lint.sh",
    ];
    dockhand_core::source::ListedHost {
        files: files
            .iter()
            .map(|p| {
                let mut sha = [0; 20];
                sha[19] = p.len() as u8;
                dockhand_core::tree::TreeFile::new(*p, sha.into(), dockhand_core::tree::FileKind::Regular)
            })
            .collect(),
        ..Default::default()
    }
}

/// Whether process `pid` holds a socket listening on loopback `port`: its descriptors name
/// the inode of the LISTEN entry (`0A`) for the port in `/proc/net/tcp` (Linux's format,
/// proc(5)).
fn listens_on(pid: u32, port: u16) -> bool {
    let local = format!("0100007F:{port:04X}");
    let inodes: Vec<String> = std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A"))
                .then(|| fields.get(9).map(|inode| format!("socket:[{inode}]")))
                .flatten()
        })
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|target| inodes.iter().any(|inode| target.as_os_str() == inode.as_str()))
}

/// Runs git in `work`, independent of the machine's configuration (no system or global
/// file, `home` as HOME, a fixed author, `main` as the first branch, paths quoted), and
/// answers its standard output; a git that fails fails the test.
pub fn git(work: &std::path::Path, home: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "core.quotePath=true",
        ])
        .arg("-C")
        .arg(work)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", home)
        .output()
        .expect("git must be installed to run this test");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("git answers UTF-8 here")
}

/// A git repository in `dir/work` (`dir` emptied first) with one commit of `files`
/// (path, content): the work tree and the commit's id.
pub fn one_commit_repository(dir: &std::path::Path, files: &[(&str, &str)]) -> (std::path::PathBuf, String) {
    let _ = std::fs::remove_dir_all(dir);
    let work = dir.join("work");
    for (path, content) in files {
        let file = work.join(path);
        std::fs::create_dir_all(file.parent().expect("a file in the work tree")).unwrap();
        std::fs::write(file, content).unwrap();
    }
    std::fs::create_dir_all(&work).unwrap();
    git(&work, dir, &["init", "--quiet"]);
    git(&work, dir, &["add", "."]);
    git(&work, dir, &["commit", "--quiet", "-m", "one commit"]);
    let sha = git(&work, dir, &["rev-parse", "HEAD"]).trim().to_owned();
    (work, sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_socket_is_told_apart_from_another_process_s() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listens_on(std::process::id(), port));
        // Another process does not hold it, and a closed port is held by no one.
        let other = Command::new("sleep").arg("5").spawn().unwrap();
        assert!(!listens_on(other.id(), port));
        drop(listener);
        assert!(!listens_on(std::process::id(), port));
        let mut other = other;
        let _ = other.kill();
        let _ = other.wait();
    }
}
