//! `make deploy`, `outputs`, `dead-letters`, `deliveries`, `secret` and `destroy` against a
//! moto server: a smoke test of the Makefile, the packaging and the deploy script. moto
//! creates the resource types it knows (functions, roles, topics, the queues, log groups,
//! rules) and skips the others (the HTTP API, the CodeBuild project, subscriptions, invoke
//! configs, topic policies and the CloudWatch alarms: moto 5.2.1's CloudFormation has no
//! AWS::CloudWatch::Alarm); cfn-lint checks those, and tests/template.rs what they say.
//!
//! The zips are the suite's own debug builds of the functions (`DOCKHAND_BINARIES`), so the
//! test compiles nothing; the 4 MiB budget of the release zips is checked by
//! `zips_over_the_budget_are_refused` here and by `make build` itself.

use dockhand_local::github::hooks::{FakeDelivery, FakeHook, FakeHooks, HooksSetup};
use dockhand_testkit::{Moto, root};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

struct Env {
    moto: Moto,
    dir: PathBuf,
}

impl Env {
    fn new(name: &str) -> Env {
        let root = root();
        let moto = Moto::start_with(
            &root.join(".venv/bin/python"),
            &[&root.join("tests/deploy/moto_server.py")],
        );
        let dir = std::env::temp_dir().join(format!("dockhand-deploy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Env { moto, dir }
    }

    fn file(&self, json: &str) -> PathBuf {
        let path = self.dir.join("dockhand.json");
        std::fs::write(&path, json).unwrap();
        path
    }

    fn command(&self, program: &str) -> Command {
        let root = root();
        let mut c = Command::new(program);
        c.current_dir(&root)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    root.join(".venv/bin").display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .env("AWS_ENDPOINT_URL", &self.moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", self.dir.join("no-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("no-aws-credentials"))
            .env("DOCKHAND_FILE", self.dir.join("dockhand.json"))
            // The functions the suite already built, zipped as they are: the release build
            // with cargo lambda (and its 4 MiB budget) is `make build`'s, checked apart.
            .env("DOCKHAND_BINARIES", target_dir().join("debug"))
            .env("DOCKHAND_ZIPS", self.dir.join("zips"))
            .env("DOCKHAND_SETTINGS_DIR", self.dir.join("settings"))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS");
        // make builds the CLI: with cargo test's variables it would compile everything anew.
        dockhand_local::lambda::forget_cargo_test(&mut c);
        c
    }

    fn make(&self, args: &[&str]) -> Output {
        let out = self
            .command("make")
            .arg("--no-print-directory")
            .args(args)
            .output()
            .unwrap();
        eprintln!(
            "== make {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn aws(&self, args: &[&str]) -> Result<Value, String> {
        let out = self
            .command("aws")
            .args(args)
            .args(["--region", "eu-west-1", "--output", "json"])
            // The CLI's SQS client ignores AWS_ENDPOINT_URL for its legacy endpoint.
            .args(["--endpoint-url", &self.moto.endpoint])
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8(out.stdout).unwrap();
        Ok(if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        })
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// cargo's target directory, wherever it is.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Where cargo is, so make can still build the CLI.
fn cargo_bin() -> PathBuf {
    Path::new(&std::env::var("CARGO").unwrap()).parent().unwrap().to_owned()
}

/// Each entry of a zip with its Unix permission bits.
fn zip_entries(path: &Path) -> Vec<(String, u32)> {
    let out = Command::new(root().join(".venv/bin/python"))
        .args([
            "-c",
            "import sys, zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.filename, (i.external_attr >> 16) & 0o777)",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, mode) = l.rsplit_once(' ').unwrap();
            (name.to_owned(), mode.parse().unwrap())
        })
        .collect()
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

const FILE: &str = r#"{
  "stack": "smoke",
  "region": "eu-west-1",
  "config": {
    "project": "smoke-builds",
    "registry": { "type": "dockerhub", "namespace": "acme", "username": "acmebot" },
    "repositories": ["acme/*"],
    "github_token_parameter": "/dockhand/smoke/github-token",
    "timeout_minutes": 45
  },
  "notify": { "email": "builds@example.com", "statuses": ["FAILED", "FAULT"] },
  "cleanup": { "retention_days": 14 }
}"#;

#[test]
fn deploy_outputs_rotate_and_destroy() {
    let env = Env::new("smoke");
    env.file(FILE);

    // Deploy: secret, bucket, content-addressed zips, the stack, the outputs.
    let out = env.make(&["deploy"]);
    let said = text(&out);
    assert!(out.status.success(), "make deploy failed:\n{said}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("BuildResultsTopicArn     arn:aws:sns:eu-west-1:123456789012:smoke-build-results"));
    assert!(stdout.contains("DeadLetterQueueUrl"));
    assert!(stdout.contains("BuildsQueueUrl"));
    assert!(stdout.contains("LedgerTableName          smoke-builds"));
    assert!(stdout.contains("Payload URL   https://"));
    assert!(stdout.contains("Content type  application/json"));

    let stack = env
        .aws(&["cloudformation", "describe-stacks", "--stack-name", "smoke"])
        .unwrap();
    assert_eq!(stack["Stacks"][0]["StackStatus"], "CREATE_COMPLETE");

    // Build requests are encrypted with the AWS-managed key; the results topic is not, so
    // that CloudWatch alarms can publish to it.
    for (topic, key) in [("build-requests", Some("alias/aws/sns")), ("build-results", None)] {
        let arn = format!("arn:aws:sns:eu-west-1:123456789012:smoke-{topic}");
        let attributes = env.aws(&["sns", "get-topic-attributes", "--topic-arn", &arn]).unwrap();
        assert_eq!(attributes["Attributes"]["KmsMasterKeyId"].as_str(), key, "{topic}");
    }

    // The webhook secret: 32 random bytes as hex, never printed when stdout is not a terminal.
    let secret = |env: &Env| -> String {
        env.aws(&[
            "ssm",
            "get-parameter",
            "--name",
            "/dockhand/smoke/webhook-secret",
            "--with-decryption",
        ])
        .unwrap()["Parameter"]["Value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first = secret(&env);
    assert_eq!(first.len(), 64);
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!said.contains(&first), "the secret was printed");

    // Each zip is uploaded under its own SHA-256, and each function runs the zip it names.
    let bucket = "dockhand-artifacts-123456789012-eu-west-1";
    let objects = env.aws(&["s3api", "list-objects-v2", "--bucket", bucket]).unwrap();
    let keys: Vec<&str> = objects["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap())
        .collect();
    let zips = env.dir.join("zips");
    let config_param: Value = serde_json::from_str(
        std::fs::read_to_string(env.dir.join("settings/parameters"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("DockhandConfig="))
            .unwrap(),
    )
    .unwrap();
    // What stack-parameters decided and deploy.sh did: its files name the bucket and the keys.
    let settings = |name: &str| std::fs::read_to_string(env.dir.join("settings").join(name)).unwrap();
    assert_eq!(settings("artifact-bucket"), bucket);
    let uploaded = settings("upload-keys");
    for function in ["listener", "spawner", "notifier", "cleanup"] {
        let zip = zips.join(function).join("bootstrap.zip");
        let key = format!("smoke/{function}-{}.zip", sha256(&zip));
        assert!(keys.contains(&key.as_str()), "{key} not in {keys:?}");
        assert!(uploaded.lines().any(|k| k == key), "{key} not in {uploaded}");
        // What Lambda's provided.al2023 runtime runs: one executable file named bootstrap.
        assert_eq!(zip_entries(&zip), [("bootstrap".to_owned(), 0o755)], "{function}");

        let f = env
            .aws(&[
                "lambda",
                "get-function",
                "--function-name",
                &format!("smoke-{function}"),
            ])
            .unwrap();
        let c = &f["Configuration"];
        assert_eq!(c["Runtime"], "provided.al2023", "{function}");
        assert_eq!(c["Handler"], "bootstrap");
        // moto's CloudFormation drops Architectures; tests/template.rs checks arm64.
        assert_eq!(c["MemorySize"], 128);
        let vars = &c["Environment"]["Variables"];
        let config: Value = serde_json::from_str(vars["DOCKHAND_CONFIG"].as_str().unwrap()).unwrap();
        assert_eq!(config, config_param, "{function}");
        assert_eq!(config["project"], "smoke-builds");
        assert_eq!(config["timeout_minutes"], 45);
    }
    let listener = env
        .aws(&[
            "lambda",
            "get-function-configuration",
            "--function-name",
            "smoke-listener",
        ])
        .unwrap();
    assert_eq!(
        listener["Environment"]["Variables"]["WEBHOOK_SECRET_PARAMETER"],
        "/dockhand/smoke/webhook-secret"
    );
    let notifier = env
        .aws(&[
            "lambda",
            "get-function-configuration",
            "--function-name",
            "smoke-notifier",
        ])
        .unwrap();
    assert_eq!(notifier["Environment"]["Variables"]["NOTIFY_STATUSES"], "FAILED,FAULT");
    // The queues between a push and its builds, the ledger, and the mappings that feed
    // the spawner from both queues, as the spawner's environment names them.
    let spawner = env
        .aws(&[
            "lambda",
            "get-function-configuration",
            "--function-name",
            "smoke-spawner",
        ])
        .unwrap();
    let vars = &spawner["Environment"]["Variables"];
    assert_eq!(vars["LEDGER_TABLE"], "smoke-builds");
    assert!(
        vars["BUILDS_QUEUE_URL"].as_str().unwrap().ends_with("/smoke-builds"),
        "{vars}"
    );
    assert!(
        vars["BUILDS_QUEUE_ARN"].as_str().unwrap().ends_with(":smoke-builds"),
        "{vars}"
    );
    let retention = &vars["BUILDS_QUEUE_RETENTION_SECONDS"];
    assert!(retention == "86400" || retention == 86400, "{retention}");
    for queue in ["smoke-build-requests", "smoke-builds"] {
        let url = env.aws(&["sqs", "get-queue-url", "--queue-name", queue]).unwrap()["QueueUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        let attributes = env
            .aws(&[
                "sqs",
                "get-queue-attributes",
                "--queue-url",
                &url,
                "--attribute-names",
                "All",
            ])
            .unwrap();
        let redrive: Value = serde_json::from_str(attributes["Attributes"]["RedrivePolicy"].as_str().unwrap()).unwrap();
        assert!(
            redrive["deadLetterTargetArn"]
                .as_str()
                .unwrap()
                .ends_with(":smoke-dead-letters")
        );
        assert_eq!(attributes["Attributes"]["MessageRetentionPeriod"], "86400", "{queue}");
    }
    let table = env
        .aws(&["dynamodb", "describe-table", "--table-name", "smoke-builds"])
        .unwrap();
    assert_eq!(table["Table"]["KeySchema"][0]["AttributeName"], "key");
    let mappings = env
        .aws(&[
            "lambda",
            "list-event-source-mappings",
            "--function-name",
            "smoke-spawner",
        ])
        .unwrap();
    let mut sources: Vec<String> = mappings["EventSourceMappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["EventSourceArn"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    sources.sort();
    assert_eq!(sources, ["smoke-build-requests", "smoke-builds"]);

    let cleanup = env
        .aws(&[
            "lambda",
            "get-function-configuration",
            "--function-name",
            "smoke-cleanup",
        ])
        .unwrap();
    // Lambda's variables are strings; moto hands a Number parameter through as a number.
    let retention = &cleanup["Environment"]["Variables"]["RETENTION_DAYS"];
    assert!(retention == "14" || retention == 14, "{retention}");

    // A second deploy with nothing changed uploads nothing and succeeds.
    let again = env.make(&["deploy"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(!text(&again).contains("uploading"));
    assert_eq!(secret(&env), first, "a deploy never replaces the secret");

    // The Docker Hub and GitHub tokens, read from stdin (the terminal, for a person) and
    // never echoed.
    for (verb, token, parameter) in [
        (
            "registry-token",
            "dckr_pat_not-a-real-token-1234567890",
            "/dockhand/dockerhub/acme",
        ),
        (
            "github-token",
            "github_pat_not-a-real-token-0987654321",
            "/dockhand/smoke/github-token",
        ),
    ] {
        let mut child = env
            .command("make")
            .args(["--no-print-directory", verb])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
        }
        let stored = child.wait_with_output().unwrap();
        assert!(stored.status.success(), "{verb}: {}", text(&stored));
        assert!(!text(&stored).contains(token), "{verb}: the token was printed");
        let value = env
            .aws(&["ssm", "get-parameter", "--name", parameter, "--with-decryption"])
            .unwrap();
        assert_eq!(value["Parameter"]["Value"], token);
        assert_eq!(value["Parameter"]["Type"], "SecureString");
    }

    // Outputs on their own.
    let outputs = env.make(&["outputs"]);
    assert!(outputs.status.success());
    assert!(
        String::from_utf8_lossy(&outputs.stdout).contains("WebhookSecretParameter   /dockhand/smoke/webhook-secret")
    );

    // The dead letters, through the operator's verbs: none, then a push the spawner gave
    // up on, listed with its cause and replayed to the requests queue.
    let empty = env.make(&["dead-letters"]);
    assert!(empty.status.success(), "{}", text(&empty));
    assert!(String::from_utf8_lossy(&empty.stdout).contains("the dead-letter queue is empty"));
    let queue = |name: &str| -> String {
        env.aws(&["sqs", "get-queue-url", "--queue-name", name]).unwrap()["QueueUrl"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let request = serde_json::json!({
        "delivery": "d-1",
        "repository": {
            "name": "images", "full_name": "acme/images",
            "clone_url": "https://github.com/acme/images.git", "private": false,
            "default_branch": "main"
        },
        "ref": "refs/heads/main",
        "commit": "3e8a1f5c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f",
        "tags": ["latest"],
        "changes": { "paths": ["web/Dockerfile"], "removed": [], "directories": [], "source": { "kind": "commits" } }
    })
    .to_string();
    env.aws(&[
        "sqs",
        "send-message",
        "--queue-url",
        &queue("smoke-dead-letters"),
        "--message-body",
        &request,
        "--message-attributes",
        r#"{"dockhand-reason":{"DataType":"String","StringValue":"GitHub could not answer: 502"}}"#,
    ])
    .unwrap();
    let listed = env.make(&["dead-letters"]);
    let said = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.status.success(), "{}", text(&listed));
    assert!(
        said.contains("spawner (plan)  acme/images refs/heads/main 3e8a1f5 -  GitHub could not answer: 502"),
        "{said}"
    );
    assert!(said.contains("1 record(s)"), "{said}");
    let replayed = env.make(&["dead-letters", "REPLAY=1"]);
    let said = String::from_utf8_lossy(&replayed.stdout).into_owned();
    assert!(replayed.status.success(), "{}", text(&replayed));
    assert!(said.contains("replayed: smoke-build-requests"), "{said}");
    assert!(said.contains("1 record(s): 1 replayed, 0 left"), "{said}");
    let planning = env
        .aws(&["sqs", "receive-message", "--queue-url", &queue("smoke-build-requests")])
        .unwrap();
    assert_eq!(planning["Messages"][0]["Body"].as_str(), Some(request.as_str()));
    let empty = env.make(&["dead-letters"]);
    assert!(String::from_utf8_lossy(&empty.stdout).contains("the dead-letter queue is empty"));

    // Missed deliveries: the stack's WebhookUrl, read with the AWS CLI, finds the webhook
    // of the repository at a GitHub stand-in, and its failed delivery is redelivered.
    let stack = env
        .aws(&["cloudformation", "describe-stacks", "--stack-name", "smoke"])
        .unwrap();
    let webhook_url = stack["Stacks"][0]["Outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["OutputKey"] == "WebhookUrl")
        .and_then(|o| o["OutputValue"].as_str())
        .unwrap()
        .to_owned();
    let github = FakeHooks::start(HooksSetup::new(
        "acme/web",
        "github_pat_smoke",
        vec![FakeHook {
            id: 7,
            url: webhook_url.clone(),
            events: vec!["push".into()],
            deliveries: vec![FakeDelivery::push(1, "missed", Duration::from_secs(300), 502)],
        }],
    ))
    .unwrap();
    let missed = env
        .command("make")
        .args(["--no-print-directory", "deliveries", "REPO=acme/web", "REDELIVER=1"])
        .env("GITHUB_API_URL", github.url())
        .env("GITHUB_TOKEN", "github_pat_smoke")
        .output()
        .unwrap();
    assert!(missed.status.success(), "{}", text(&missed));
    assert!(
        text(&missed).contains(&format!("delivers to {webhook_url}")),
        "{}",
        text(&missed)
    );
    assert!(
        text(&missed).contains("redelivery of 1 (guid missed): accepted"),
        "{}",
        text(&missed)
    );
    assert_eq!(github.redelivered(), [1]);

    // Rotation: the new secret first, the old one still valid; then the old one retired.
    let rotate = env.make(&["secret", "ROTATE=1"]);
    assert!(rotate.status.success(), "{}", text(&rotate));
    let both = secret(&env);
    let lines: Vec<&str> = both.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1], first);
    assert_ne!(lines[0], first);
    let newest = lines[0].to_owned();
    let retire = env.make(&["secret", "RETIRE=1"]);
    assert!(retire.status.success(), "{}", text(&retire));
    assert_eq!(secret(&env), newest);

    // Destroy: the stack, its functions and its zips go; the secret stays.
    let destroy = env.make(&["destroy"]);
    assert!(destroy.status.success(), "{}", text(&destroy));
    let gone = env.aws(&["cloudformation", "describe-stacks", "--stack-name", "smoke"]);
    assert!(gone.unwrap_err().contains("does not exist"));
    let functions = env.aws(&["lambda", "list-functions"]).unwrap();
    assert_eq!(functions["Functions"].as_array().unwrap().len(), 0);
    let objects = env.aws(&["s3api", "list-objects-v2", "--bucket", bucket]).unwrap();
    assert!(objects.is_null() || objects["Contents"].is_null(), "{objects}");
    assert_eq!(secret(&env), newest);
}

#[test]
fn missing_prerequisites_are_named_before_anything_happens() {
    let env = Env::new("prereq");

    // No dockhand.json.
    let out = env.make(&["deploy"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("copy dockhand.example.json to dockhand.json"),
        "{}",
        text(&out)
    );

    // An invalid one: the same checks the functions run, naming the file and the field.
    env.file(r#"{"config":{"registry":{"type":"dockerhub","namespace":"Not Valid"}}}"#);
    let out = env.make(&["deploy"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("registry.namespace"), "{}", text(&out));

    // No credentials.
    env.file(FILE);
    let out = env
        .command("make")
        .args(["--no-print-directory", "deploy"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("no usable AWS credentials"), "{}", text(&out));
    assert!(text(&out).contains("aws configure"), "{}", text(&out));

    // No AWS CLI at all.
    let out = env
        .command("make")
        .args(["--no-print-directory", "outputs"])
        .env("PATH", format!("{}:/usr/bin:/bin", cargo_bin().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("the AWS CLI is not installed"), "{}", text(&out));

    // make's values are checked by stack-parameters before any AWS call, saying what to do,
    // and never evaluated.
    let marker = env.dir.join("evaluated");
    let hostile = format!("FN=`touch {}`", marker.display());
    let out = env.make(&["logs", &hostile]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("FN must be one of listener, spawner, notifier, cleanup, build (make logs FN=spawner)"),
        "{}",
        text(&out)
    );
    assert!(!marker.exists(), "a value was evaluated");
    let out = env.make(&["dead-letters", "REPLAY=maybe"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("REPLAY must be 1 (or left out), not maybe"),
        "{}",
        text(&out)
    );

    // Nothing was created on the way.
    let stacks = env.aws(&["cloudformation", "list-stacks"]).unwrap();
    assert_eq!(stacks["StackSummaries"].as_array().unwrap().len(), 0);
}

/// The budget `make build` enforces on the release zips: 4 MiB each, the name of any
/// function over it, and a failure.
#[test]
fn zips_over_the_budget_are_refused() {
    let env = Env::new("sizes");
    let zips = env.dir.join("zips");
    let write = |function: &str, bytes: usize| {
        std::fs::create_dir_all(zips.join(function)).unwrap();
        std::fs::write(zips.join(function).join("bootstrap.zip"), vec![0u8; bytes]).unwrap();
    };
    let sizes = || {
        env.command("bash")
            .args(["cfn/deploy.sh", "sizes"])
            .env("DOCKHAND_ZIPS", &zips)
            .output()
            .unwrap()
    };
    for function in ["listener", "spawner", "notifier", "cleanup"] {
        write(function, 4 * 1024 * 1024);
    }
    let out = sizes();
    assert!(out.status.success(), "{}", text(&out));
    write("spawner", 4 * 1024 * 1024 + 1);
    let out = sizes();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("spawner is over the budget of 4194304 bytes"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("listener is over"), "{}", text(&out));
    assert!(text(&out).contains("a zip is over its 4 MiB budget"), "{}", text(&out));
}
