//! The template's IAM, read from `cfn/dockhand.yml` itself: least privilege by construction.
//!
//! yaml-rust2 drops CloudFormation's short-form tags and keeps their operands, so `!GetAtt
//! BuildProject.Arn` reads as "BuildProject.Arn", `!Ref Topic` as "Topic", and `!If [c, a, b]`
//! as the list [c, a, b]. A `*` hidden in any branch still shows up as `*`.

use std::collections::{BTreeMap, BTreeSet};
use yaml_rust2::{Yaml, YamlLoader};

/// Actions that accept no resource narrower than `*` (IAM service authorization reference).
const ONLY_STAR: &[&str] = &["ecr:GetAuthorizationToken"];

fn template() -> Yaml {
    let path = dockhand_testkit::root().join("cfn/dockhand.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn strings(node: &Yaml) -> Vec<String> {
    match node {
        Yaml::String(s) => vec![s.clone()],
        Yaml::Array(items) => items.iter().flat_map(strings).collect(),
        Yaml::BadValue => vec![],
        other => panic!("expected a string or a list, found {other:?}"),
    }
}

/// Statements of a policy document; a conditional statement contributes both branches.
fn statements(document: &Yaml) -> Vec<&Yaml> {
    let mut out = vec![];
    for entry in document["Statement"].as_vec().expect("Statement is a list") {
        match entry {
            Yaml::Hash(_) => out.push(entry),
            Yaml::Array(branches) => out.extend(branches.iter().filter(|b| matches!(b, Yaml::Hash(_)))),
            other => panic!("unexpected statement {other:?}"),
        }
    }
    out
}

/// Every policy document in the template, named by resource.
fn documents(template: &Yaml) -> Vec<(String, &Yaml)> {
    let mut out = vec![];
    for (name, resource) in template["Resources"].as_hash().unwrap() {
        let name = name.as_str().unwrap().to_owned();
        let properties = &resource["Properties"];
        match resource["Type"].as_str().unwrap() {
            "AWS::IAM::Role" => {
                out.push((format!("{name} (trust)"), &properties["AssumeRolePolicyDocument"]));
                for policy in properties["Policies"].as_vec().unwrap() {
                    out.push((name.clone(), &policy["PolicyDocument"]));
                }
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::SQS::QueuePolicy" | "AWS::SNS::TopicPolicy" => {
                out.push((name, &properties["PolicyDocument"]))
            }
            _ => {}
        }
    }
    assert!(out.len() >= 10, "found only {} policy documents", out.len());
    out
}

#[test]
fn no_wildcard_actions_and_star_resources_only_where_nothing_narrower_exists() {
    let template = template();
    let mut star_statements = 0;
    for (name, document) in documents(&template) {
        for statement in statements(document) {
            if statement["Effect"].as_str() == Some("Deny") {
                // A Deny only narrows: checked by its own test below.
                assert_eq!(name, "BuildRequestsTopicPolicy", "{name}: a Deny statement");
                continue;
            }
            assert_eq!(
                statement["Effect"].as_str(),
                Some("Allow"),
                "{name}: only Allow statements"
            );
            for forbidden in ["NotAction", "NotResource", "NotPrincipal"] {
                assert!(
                    statement[forbidden].is_badvalue(),
                    "{name}: {forbidden} is never least privilege"
                );
            }
            let actions = strings(&statement["Action"]);
            assert!(!actions.is_empty(), "{name}: a statement without actions");
            for action in &actions {
                assert!(!action.contains('*'), "{name}: wildcard action {action:?}");
                assert!(
                    action
                        .split_once(':')
                        .is_some_and(|(s, a)| !s.is_empty() && !a.is_empty())
                );
            }
            let resources = strings(&statement["Resource"]);
            if name.ends_with("(trust)") {
                assert!(resources.is_empty());
                continue;
            }
            assert!(!resources.is_empty(), "{name}: a statement without resources");
            if resources.iter().any(|r| r.contains('*') && !r.contains("/*")) {
                star_statements += 1;
                assert_eq!(resources, ["*"], "{name}: `*` mixed with other resources");
                for action in &actions {
                    assert!(
                        ONLY_STAR.contains(&action.as_str()),
                        "{name}: {action} on `*`, but it accepts narrower resources"
                    );
                }
            }
        }
    }
    assert_eq!(star_statements, 1, "only ecr:GetAuthorizationToken needs `*`");
}

/// Each role: action → the resources it is granted on. Resources read as the operands of
/// `!Ref`/`!GetAtt`/`!Sub` (the tags are dropped).
fn grants(template: &Yaml, role: &str) -> BTreeMap<String, BTreeSet<String>> {
    let properties = &template["Resources"][role]["Properties"];
    assert!(
        properties["ManagedPolicyArns"].is_badvalue(),
        "{role}: no managed policies"
    );
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for policy in properties["Policies"].as_vec().unwrap() {
        for statement in statements(&policy["PolicyDocument"]) {
            for action in strings(&statement["Action"]) {
                out.entry(action).or_default().extend(strings(&statement["Resource"]));
            }
        }
    }
    out
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (action, resource) in pairs {
        out.entry(action.to_string()).or_default().insert(resource.to_string());
    }
    out
}

const PROJECT: &str = "arn:${AWS::Partition}:codebuild:${AWS::Region}:${AWS::AccountId}:project/${BuildProject}";
const SECRET: &str = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${WebhookSecretParameter}";
const TOKEN: &str = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${RegistryTokenParameter}";
const GITHUB: &str = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${GitHubTokenParameter}";
const PULL: &str = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${PullTokenParameter}";
const ECR: &str = "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${EcrRepositoryPrefix}/*";

/// The notifier writes image records only: its one DynamoDB grant is held to `image#` keys.
#[test]
fn the_notifier_writes_image_records_alone() {
    let t = template();
    let properties = &t["Resources"]["NotifierRole"]["Properties"];
    let mut found = 0;
    for policy in properties["Policies"].as_vec().unwrap() {
        for statement in statements(&policy["PolicyDocument"]) {
            if strings(&statement["Action"]).iter().any(|a| a.starts_with("dynamodb:")) {
                found += 1;
                let leading = &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
                assert_eq!(strings(leading), ["image#*"], "{statement:?}");
            }
        }
    }
    assert_eq!(found, 1);
}

/// The notifier reads the GitHub token (and decrypts it) only when it posts commit
/// statuses: both grants are conditional on `PostsCommitStatuses`, which needs the
/// `CommitStatuses` parameter "true" and a token parameter.
#[test]
fn the_notifier_reads_the_github_token_only_for_commit_statuses() {
    let t = template();
    let conditions = &t["Conditions"];
    assert_eq!(
        strings(&conditions["PostsCommitStatuses"]),
        ["CommitStatuses", "true", "HasGitHubToken"]
    );
    assert_eq!(
        strings(&conditions["DecryptsCommitStatusesToken"]),
        ["PostsCommitStatuses", "HasSecretsKey"]
    );
    let parameter = &t["Parameters"]["CommitStatuses"];
    assert_eq!(parameter["Default"].as_str(), Some("false"));
    assert_eq!(strings(&parameter["AllowedValues"]), ["false", "true"]);
    let policy = &t["Resources"]["NotifierRole"]["Properties"]["Policies"][0]["PolicyDocument"];
    let mut conditional = BTreeMap::new();
    for entry in policy["Statement"].as_vec().unwrap() {
        let Yaml::Array(branches) = entry else {
            // Unconditional statements grant neither.
            let actions = strings(&entry["Action"]);
            assert!(
                !actions.iter().any(|a| a.starts_with("ssm:") || a.starts_with("kms:")),
                "{actions:?}"
            );
            continue;
        };
        let (condition, granted, otherwise) = (&branches[0], &branches[1], &branches[2]);
        assert_eq!(otherwise.as_str(), Some("AWS::NoValue"));
        conditional.insert(
            condition.as_str().unwrap().to_owned(),
            (strings(&granted["Action"]), strings(&granted["Resource"])),
        );
    }
    assert_eq!(
        conditional,
        BTreeMap::from([
            (
                "PostsCommitStatuses".to_owned(),
                (vec!["ssm:GetParameter".to_owned()], vec![GITHUB.to_owned()])
            ),
            (
                "DecryptsCommitStatusesToken".to_owned(),
                (vec!["kms:Decrypt".to_owned()], vec!["SecretsKmsKeyArn".to_owned()])
            ),
        ])
    );
}

#[test]
fn each_role_holds_exactly_its_calls_on_its_own_resources() {
    let t = template();
    let logs = |group: &'static str| [("logs:CreateLogStream", group), ("logs:PutLogEvents", group)];
    let with = |a: [(&'static str, &'static str); 2], rest: &[(&'static str, &'static str)]| {
        expect(&[a.as_slice(), rest].concat())
    };
    assert_eq!(
        grants(&t, "ListenerRole"),
        with(
            logs("ListenerLogs.Arn"),
            &[
                ("sns:Publish", "BuildRequestsTopic"),
                ("ssm:GetParameter", SECRET),
                ("kms:Decrypt", "SecretsKmsKeyArn"),
            ]
        )
    );
    assert_eq!(
        grants(&t, "SpawnerRole"),
        with(
            logs("SpawnerLogs.Arn"),
            &[
                ("codebuild:StartBuild", PROJECT),
                ("codebuild:ListBuildsForProject", PROJECT),
                ("codebuild:BatchGetBuilds", PROJECT),
                ("sns:Publish", "BuildResultsTopic"),
                ("sqs:ReceiveMessage", "RequestsQueue.Arn"),
                ("sqs:ReceiveMessage", "BuildsQueue.Arn"),
                ("sqs:DeleteMessage", "RequestsQueue.Arn"),
                ("sqs:DeleteMessage", "BuildsQueue.Arn"),
                ("sqs:GetQueueAttributes", "RequestsQueue.Arn"),
                ("sqs:GetQueueAttributes", "BuildsQueue.Arn"),
                ("sqs:ChangeMessageVisibility", "RequestsQueue.Arn"),
                ("sqs:ChangeMessageVisibility", "BuildsQueue.Arn"),
                ("sqs:SendMessage", "BuildsQueue.Arn"),
                ("sqs:SendMessage", "RequestsQueue.Arn"),
                ("sqs:SendMessage", "DeadLetterQueue.Arn"),
                ("dynamodb:GetItem", "LedgerTable.Arn"),
                ("dynamodb:PutItem", "LedgerTable.Arn"),
                ("dynamodb:DeleteItem", "LedgerTable.Arn"),
                ("dynamodb:BatchGetItem", "LedgerTable.Arn"),
                ("ssm:GetParameter", GITHUB),
                ("kms:Decrypt", "SecretsKmsKeyArn"),
            ]
        )
    );
    assert_eq!(
        grants(&t, "NotifierRole"),
        with(
            logs("NotifierLogs.Arn"),
            &[
                ("sns:Publish", "BuildResultsTopic"),
                ("sqs:SendMessage", "DeadLetterQueue.Arn"),
                ("dynamodb:PutItem", "LedgerTable.Arn"),
                ("logs:GetLogEvents", "BuildLogs.Arn"),
                ("ssm:GetParameter", GITHUB),
                ("kms:Decrypt", "SecretsKmsKeyArn"),
            ]
        )
    );
    assert_eq!(
        grants(&t, "CleanupRole"),
        with(
            logs("CleanupLogs.Arn"),
            &[
                ("codebuild:ListBuildsForProject", PROJECT),
                ("codebuild:BatchGetBuilds", PROJECT),
                ("codebuild:BatchDeleteBuilds", PROJECT),
                ("sqs:SendMessage", "DeadLetterQueue.Arn"),
            ]
        )
    );
    let ecr_push = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:CreateRepository",
        "ecr:DescribeRepositories",
        "ecr:GetDownloadUrlForLayer",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
    ];
    let mut build: Vec<(&str, &str)> = vec![
        ("ssm:GetParameter", TOKEN),
        ("ssm:GetParameter", GITHUB),
        ("ssm:GetParameter", PULL),
        ("kms:Decrypt", "SecretsKmsKeyArn"),
        ("ecr:GetAuthorizationToken", "*"),
    ];
    build.extend(ecr_push.iter().map(|a| (*a, ECR)));
    assert_eq!(grants(&t, "BuildRole"), with(logs("BuildLogs.Arn"), &build));
}

/// A message on the build-requests topic is planned and built: only the listener's role
/// may publish one, whatever another principal's own policy grants it.
#[test]
fn only_the_listener_publishes_build_requests() {
    let template = template();
    let policy = &template["Resources"]["BuildRequestsTopicPolicy"]["Properties"];
    assert_eq!(strings(&policy["Topics"]), ["BuildRequestsTopic"]);
    let statements = statements(&policy["PolicyDocument"]);
    let deny = statements
        .iter()
        .find(|s| s["Effect"].as_str() == Some("Deny"))
        .expect("a Deny statement");
    assert_eq!(strings(&deny["Action"]), ["sns:Publish"]);
    assert_eq!(strings(&deny["Resource"]), ["BuildRequestsTopic"]);
    assert_eq!(deny["Principal"]["AWS"].as_str(), Some("*"));
    assert_eq!(
        strings(&deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]),
        ["ListenerRole.Arn"]
    );
    let allow = statements
        .iter()
        .find(|s| s["Effect"].as_str() == Some("Allow"))
        .expect("an Allow statement");
    assert_eq!(strings(&allow["Principal"]["AWS"]), ["ListenerRole.Arn"]);
    assert_eq!(strings(&allow["Action"]), ["sns:Publish"]);
    // And no other role is granted sns:Publish on it.
    for role in ["SpawnerRole", "NotifierRole", "CleanupRole", "BuildRole"] {
        if template["Resources"][role].is_badvalue() {
            continue;
        }
        let grants = grants(&template, role);
        assert!(
            !grants
                .get("sns:Publish")
                .is_some_and(|r| r.contains("BuildRequestsTopic")),
            "{role} may publish build requests"
        );
    }
}

#[test]
fn kms_is_used_through_ssm_only() {
    let t = template();
    for role in ["ListenerRole", "SpawnerRole", "NotifierRole", "BuildRole"] {
        for policy in t["Resources"][role]["Properties"]["Policies"].as_vec().unwrap() {
            for statement in statements(&policy["PolicyDocument"]) {
                if strings(&statement["Action"]).contains(&"kms:Decrypt".to_owned()) {
                    let via = &statement["Condition"]["StringEquals"]["kms:ViaService"];
                    assert_eq!(via.as_str(), Some("ssm.${AWS::Region}.amazonaws.com"), "{role}");
                }
            }
        }
    }
}

#[test]
fn every_function_runs_as_its_own_role_on_arm64_with_its_own_log_group() {
    let t = template();
    let resources = t["Resources"].as_hash().unwrap();
    let functions: Vec<&str> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Lambda::Function"))
        .map(|(n, _)| n.as_str().unwrap())
        .collect();
    assert_eq!(
        functions,
        [
            "ListenerFunction",
            "SpawnerFunction",
            "NotifierFunction",
            "CleanupFunction"
        ]
    );
    let mut roles = BTreeSet::new();
    for name in functions {
        let stem = name.trim_end_matches("Function");
        let p = &t["Resources"][name]["Properties"];
        assert_eq!(p["Role"].as_str().unwrap(), format!("{stem}Role.Arn"));
        assert!(roles.insert(p["Role"].as_str().unwrap().to_owned()));
        assert_eq!(p["Runtime"].as_str(), Some("provided.al2023"));
        assert_eq!(strings(&p["Architectures"]), ["arm64"]);
        assert_eq!(p["LoggingConfig"]["LogGroup"].as_str().unwrap(), format!("{stem}Logs"));
        assert!(p["MemorySize"].as_i64().is_some(), "{name}: memory is set");
    }
}

#[test]
fn nothing_that_fails_asynchronously_is_lost() {
    let t = template();
    let r = &t["Resources"];
    for config in ["NotifierInvokeConfig", "CleanupInvokeConfig"] {
        let p = &r[config]["Properties"];
        assert_eq!(
            p["DestinationConfig"]["OnFailure"]["Destination"].as_str(),
            Some("DeadLetterQueue.Arn")
        );
        assert!(p["MaximumRetryAttempts"].as_i64().unwrap() <= 2);
    }
    // The dead letters take SQS's largest message: a failure record is never refused.
    let dead = &r["DeadLetterQueue"]["Properties"];
    assert_eq!(dead["MaximumMessageSize"].as_i64(), Some(1_048_576));
    assert_eq!(dead["MessageRetentionPeriod"].as_i64(), Some(14 * 24 * 3600));
    // SNS into the requests queue, raw; what SNS cannot deliver goes to the dead letters.
    let subscription = &r["RequestsSubscription"]["Properties"];
    assert_eq!(subscription["Protocol"].as_str(), Some("sqs"));
    assert_eq!(subscription["Endpoint"].as_str(), Some("RequestsQueue.Arn"));
    assert_eq!(subscription["RawMessageDelivery"].as_bool(), Some(true));
    assert_eq!(
        subscription["RedrivePolicy"]["deadLetterTargetArn"].as_str(),
        Some("DeadLetterQueue.Arn")
    );
    // Both queues redrive to the dead letters after the receives the spawner counts on, and
    // keep messages for the retention the spawner is told.
    for queue in ["RequestsQueue", "BuildsQueue"] {
        let p = &r[queue]["Properties"];
        assert_eq!(
            p["RedrivePolicy"]["deadLetterTargetArn"].as_str(),
            Some("DeadLetterQueue.Arn")
        );
        assert_eq!(
            p["RedrivePolicy"]["maxReceiveCount"].as_i64(),
            Some(i64::from(dockhand_core::retry::MAX_RECEIVES)),
            "{queue}"
        );
        assert_eq!(p["MessageRetentionPeriod"].as_str(), Some("QueueRetentionSeconds"));
        // At least six times the spawner's timeout, as Lambda advises.
        let timeout = r["SpawnerFunction"]["Properties"]["Timeout"].as_i64().unwrap();
        assert!(p["VisibilityTimeout"].as_i64().unwrap() >= 6 * timeout, "{queue}");
    }
    let env = &r["SpawnerFunction"]["Properties"]["Environment"]["Variables"];
    for variable in ["BUILDS_QUEUE_RETENTION_SECONDS", "REQUESTS_QUEUE_RETENTION_SECONDS"] {
        assert_eq!(env[variable].as_str(), Some("QueueRetentionSeconds"));
    }
    assert_eq!(env["BUILDS_QUEUE_ARN"].as_str(), Some("BuildsQueue.Arn"));
    // Each mapping reports batch item failures, or a waiting build would fail its batch.
    for (mapping, queue, batch) in [
        ("RequestsMapping", "RequestsQueue.Arn", 1),
        ("BuildsMapping", "BuildsQueue.Arn", 10),
    ] {
        let p = &r[mapping]["Properties"];
        assert_eq!(p["EventSourceArn"].as_str(), Some(queue));
        assert_eq!(p["FunctionName"].as_str(), Some("SpawnerFunction"));
        assert_eq!(p["BatchSize"].as_i64(), Some(batch));
        assert_eq!(strings(&p["FunctionResponseTypes"]), ["ReportBatchItemFailures"]);
        assert!(!p["ScalingConfig"]["MaximumConcurrency"].is_badvalue());
    }
    // The ledger's key and TTL are the ones the spawner writes.
    let table = &r["LedgerTable"]["Properties"];
    assert_eq!(
        table["KeySchema"][0]["AttributeName"].as_str(),
        Some(dockhand_aws::dynamodb::KEY)
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(dockhand_aws::dynamodb::EXPIRES_AT)
    );
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"].as_bool(), Some(true));
    for rule in [
        "BuildStateRule",
        "BuildFinishedRule",
        "CleanupScheduleRule",
        "RefreshScheduleRule",
    ] {
        for target in r[rule]["Properties"]["Targets"].as_vec().unwrap() {
            assert_eq!(
                target["DeadLetterConfig"]["Arn"].as_str(),
                Some("DeadLetterQueue.Arn"),
                "{rule}"
            );
        }
    }
    // The notifier hears of this project's builds only.
    let pattern = &r["BuildStateRule"]["Properties"]["EventPattern"];
    assert_eq!(strings(&pattern["detail"]["project-name"]), ["ProjectName"]);
    assert_eq!(strings(&pattern["source"]), ["aws.codebuild"]);
}

/// The scheduled refresh exists only when configured: its rule, its alarms and the
/// statements naming it carry `HasRefresh`; the rule sends the scheduled event to the
/// requests queue, which lets that rule alone send as EventBridge, and its dead letters go
/// to the dead-letter queue, whose policy lets the rule send them.
#[test]
fn the_refresh_schedule_is_opt_in_and_sends_to_the_requests_queue_alone() {
    let t = template();
    let r = &t["Resources"];
    let parameter = &t["Parameters"]["RefreshSchedule"];
    assert_eq!(parameter["Default"].as_str(), Some(""));
    // `!Not [!Equals [!Ref RefreshSchedule, ""]]` reads as [["RefreshSchedule", ""]].
    assert_eq!(strings(&t["Conditions"]["HasRefresh"]), ["RefreshSchedule", ""]);
    for resource in ["RefreshScheduleRule", "RefreshUndeliveredAlarm", "RefreshLostAlarm"] {
        assert_eq!(r[resource]["Condition"].as_str(), Some("HasRefresh"), "{resource}");
    }
    let rule = &r["RefreshScheduleRule"]["Properties"];
    assert_eq!(rule["ScheduleExpression"].as_str(), Some("RefreshSchedule"));
    let targets = rule["Targets"].as_vec().unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0]["Arn"].as_str(), Some("RequestsQueue.Arn"));
    assert!(
        targets[0]["Input"].is_badvalue(),
        "the scheduled event itself, unmodified"
    );
    assert!(targets[0]["RetryPolicy"]["MaximumRetryAttempts"].as_i64().is_some());

    // The queue's policy: SNS's statement, and the rule's, only with a refresh.
    let policy = &r["RequestsQueuePolicy"]["Properties"]["PolicyDocument"];
    let conditional: Vec<&Yaml> = policy["Statement"]
        .as_vec()
        .unwrap()
        .iter()
        .filter(|s| matches!(s, Yaml::Array(_)))
        .collect();
    assert_eq!(conditional.len(), 1);
    let branches = conditional[0].as_vec().unwrap();
    assert_eq!(branches[0].as_str(), Some("HasRefresh"));
    assert_eq!(branches[2].as_str(), Some("AWS::NoValue"));
    let statement = &branches[1];
    assert_eq!(strings(&statement["Principal"]["Service"]), ["events.amazonaws.com"]);
    assert_eq!(strings(&statement["Action"]), ["sqs:SendMessage"]);
    assert_eq!(strings(&statement["Resource"]), ["RequestsQueue.Arn"]);
    assert_eq!(
        strings(&statement["Condition"]["ArnEquals"]["aws:SourceArn"]),
        ["RefreshScheduleRule.Arn"]
    );

    // Its dead letters are let in, only with a refresh.
    let dead = statements(&r["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]);
    let events = dead
        .iter()
        .find(|s| s["Sid"].as_str() == Some("EventBridgeDeadLetters"))
        .unwrap();
    let sources = events["Condition"]["ArnEquals"]["aws:SourceArn"].as_vec().unwrap();
    assert!(
        sources.contains(&Yaml::Array(vec![
            Yaml::String("HasRefresh".into()),
            Yaml::String("RefreshScheduleRule.Arn".into()),
            Yaml::String("AWS::NoValue".into()),
        ])),
        "{sources:?}"
    );

    // The spawner sends one order per repository back to the queue.
    let env = &r["SpawnerFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(env["REQUESTS_QUEUE_URL"].as_str(), Some("RequestsQueue"));
}

/// The results topic: CloudWatch publishes to it for this stack's alarms and nothing else,
/// and the roles that publish build results keep doing so with their own IAM grants.
#[test]
fn only_this_stacks_alarms_may_publish_results_by_the_topic_policy() {
    let t = template();
    let r = &t["Resources"];
    // Unencrypted: the AWS-managed key's policy cannot let CloudWatch alarms publish.
    let topic = &r["BuildResultsTopic"];
    assert!(topic["Properties"]["KmsMasterKeyId"].is_badvalue());
    let skips = topic["Metadata"]["checkov"]["skip"].as_vec().unwrap();
    assert!(
        skips
            .iter()
            .any(|s| s["id"].as_str() == Some("CKV_AWS_26") && !s["comment"].as_str().unwrap_or("").is_empty()),
        "the encryption check is skipped with its reason"
    );

    let policy = &r["BuildResultsTopicPolicy"]["Properties"];
    assert_eq!(strings(&policy["Topics"]), ["BuildResultsTopic"]);
    let statements = statements(&policy["PolicyDocument"]);
    assert_eq!(statements.len(), 1, "one statement: CloudWatch's");
    let s = statements[0];
    assert_eq!(
        s["Effect"].as_str(),
        Some("Allow"),
        "no Deny: the roles' IAM grants still count"
    );
    let principal = s["Principal"].as_hash().unwrap();
    assert_eq!(principal.len(), 1);
    assert_eq!(strings(&s["Principal"]["Service"]), ["cloudwatch.amazonaws.com"]);
    assert_eq!(strings(&s["Action"]), ["sns:Publish"]);
    assert_eq!(strings(&s["Resource"]), ["BuildResultsTopic"]);
    let condition = s["Condition"].as_hash().unwrap();
    assert_eq!(condition.len(), 2);
    assert_eq!(
        strings(&s["Condition"]["StringEquals"]["aws:SourceAccount"]),
        ["AWS::AccountId"]
    );
    let stack_alarms = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}";
    assert_eq!(
        strings(&s["Condition"]["ArnLike"]["aws:SourceArn"]),
        [format!("{stack_alarms}*")]
    );
    // Every alarm of the stack is one the policy lets publish.
    for (alarm, a) in alarms(&t) {
        let name = a["AlarmName"].as_str().unwrap();
        assert!(name.starts_with("${AWS::StackName} "), "{alarm}: {name}");
    }

    // The two roles that publish results today are granted it in their own policies.
    for role in ["NotifierRole", "SpawnerRole"] {
        assert!(
            grants(&t, role)
                .get("sns:Publish")
                .is_some_and(|r| r.contains("BuildResultsTopic")),
            "{role}"
        );
    }
}

/// What an alarm watches: namespace, metric and statistic.
type Metric = (&'static str, &'static str, &'static str);
const LAMBDA_ERRORS: Metric = ("AWS/Lambda", "Errors", "Sum");
const LAMBDA_THROTTLES: Metric = ("AWS/Lambda", "Throttles", "Sum");
const LAMBDA_LOST: Metric = ("AWS/Lambda", "DestinationDeliveryFailures", "Sum");
const RULE_FAILED: Metric = ("AWS/Events", "FailedInvocations", "Sum");
const RULE_LOST: Metric = ("AWS/Events", "InvocationsFailedToBeSentToDlq", "Sum");
const SNS_FAILED: Metric = ("AWS/SNS", "NumberOfNotificationsFailed", "Sum");
const SNS_LOST: Metric = ("AWS/SNS", "NumberOfNotificationsFailedToRedriveToDlq", "Sum");
const QUEUE_HOLDS: Metric = ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum");

/// Every alarm of the stack (README: What is watched): its resource, its name after the
/// stack's, its metric, and its one dimension with the value the template writes (`!Ref X`
/// reads "X", `!GetAtt X.Y` "X.Y").
const WATCHES: &[(&str, &str, Metric, (&str, &str))] = &[
    (
        "DeadLettersAlarm",
        "dead letters waiting",
        QUEUE_HOLDS,
        ("QueueName", "DeadLetterQueue.QueueName"),
    ),
    (
        "ListenerErrorsAlarm",
        "listener errors",
        LAMBDA_ERRORS,
        ("FunctionName", "ListenerFunction"),
    ),
    (
        "ListenerThrottlesAlarm",
        "listener throttled",
        LAMBDA_THROTTLES,
        ("FunctionName", "ListenerFunction"),
    ),
    (
        "SpawnerErrorsAlarm",
        "spawner errors",
        LAMBDA_ERRORS,
        ("FunctionName", "SpawnerFunction"),
    ),
    (
        "SpawnerThrottlesAlarm",
        "spawner throttled",
        LAMBDA_THROTTLES,
        ("FunctionName", "SpawnerFunction"),
    ),
    (
        "NotifierErrorsAlarm",
        "notifier errors",
        LAMBDA_ERRORS,
        ("FunctionName", "NotifierFunction"),
    ),
    (
        "NotifierThrottlesAlarm",
        "notifier throttled",
        LAMBDA_THROTTLES,
        ("FunctionName", "NotifierFunction"),
    ),
    (
        "NotifierDeadLetterLostAlarm",
        "notifier dead letter lost",
        LAMBDA_LOST,
        ("FunctionName", "NotifierFunction"),
    ),
    (
        "CleanupErrorsAlarm",
        "cleanup errors",
        LAMBDA_ERRORS,
        ("FunctionName", "CleanupFunction"),
    ),
    (
        "CleanupThrottlesAlarm",
        "cleanup throttled",
        LAMBDA_THROTTLES,
        ("FunctionName", "CleanupFunction"),
    ),
    (
        "CleanupDeadLetterLostAlarm",
        "cleanup dead letter lost",
        LAMBDA_LOST,
        ("FunctionName", "CleanupFunction"),
    ),
    (
        "BuildEventsUndeliveredAlarm",
        "build events undelivered",
        RULE_FAILED,
        ("RuleName", "BuildStateRule"),
    ),
    (
        "BuildEventsLostAlarm",
        "build events lost",
        RULE_LOST,
        ("RuleName", "BuildStateRule"),
    ),
    (
        "CleanupScheduleUndeliveredAlarm",
        "cleanup not started",
        RULE_FAILED,
        ("RuleName", "CleanupScheduleRule"),
    ),
    (
        "CleanupScheduleLostAlarm",
        "cleanup start lost",
        RULE_LOST,
        ("RuleName", "CleanupScheduleRule"),
    ),
    (
        "RefreshUndeliveredAlarm",
        "refresh not started",
        RULE_FAILED,
        ("RuleName", "RefreshScheduleRule"),
    ),
    (
        "RefreshLostAlarm",
        "refresh lost",
        RULE_LOST,
        ("RuleName", "RefreshScheduleRule"),
    ),
    (
        "FinishedBuildsUndeliveredAlarm",
        "finished builds undelivered",
        RULE_FAILED,
        ("RuleName", "BuildFinishedRule"),
    ),
    (
        "FinishedBuildsLostAlarm",
        "finished builds lost",
        RULE_LOST,
        ("RuleName", "BuildFinishedRule"),
    ),
    (
        "BuildRequestsUndeliveredAlarm",
        "build requests undelivered",
        SNS_FAILED,
        ("TopicName", "BuildRequestsTopic.TopicName"),
    ),
    (
        "BuildRequestsLostAlarm",
        "build requests lost",
        SNS_LOST,
        ("TopicName", "BuildRequestsTopic.TopicName"),
    ),
    (
        "ResultsUndeliveredAlarm",
        "results undelivered",
        SNS_FAILED,
        ("TopicName", "BuildResultsTopic.TopicName"),
    ),
];

/// The template's alarms by resource name.
fn alarms(t: &Yaml) -> BTreeMap<String, &Yaml> {
    t["Resources"]
        .as_hash()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|(n, r)| (n.as_str().unwrap().to_owned(), &r["Properties"]))
        .collect()
}

/// What an alarm watches: (namespace, metric, dimension name, dimension value).
fn watched(alarm: &Yaml) -> (String, String, String, String) {
    let dimensions = alarm["Dimensions"].as_vec().expect("Dimensions is a list");
    assert_eq!(dimensions.len(), 1, "one dimension: {alarm:?}");
    let s = |y: &Yaml| y.as_str().unwrap().to_owned();
    (
        s(&alarm["Namespace"]),
        s(&alarm["MetricName"]),
        s(&dimensions[0]["Name"]),
        s(&dimensions[0]["Value"]),
    )
}

#[test]
fn every_alarm_watches_its_metric_and_tells_the_results_topic() {
    let t = template();
    let alarms = alarms(&t);
    let listed: BTreeSet<&str> = WATCHES.iter().map(|w| w.0).collect();
    assert_eq!(listed.len(), WATCHES.len(), "an alarm listed twice");
    assert_eq!(
        alarms.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        listed,
        "the template's alarms are the ones listed here"
    );
    let mut names = BTreeSet::new();
    for &(alarm, name, (namespace, metric, statistic), (dimension, value)) in WATCHES {
        let a = alarms[alarm];
        let resource = &t["Resources"][alarm];
        let full = format!("${{AWS::StackName}} {name}");
        assert_eq!(a["AlarmName"].as_str(), Some(full.as_str()), "{alarm}");
        // What an SMS shows: short, plain ASCII, and within 255 with a 128-character stack name.
        assert!(name.len() <= 30 && name.bytes().all(|b| b.is_ascii_lowercase() || b == b' '));
        assert!(names.insert(name), "{alarm}: two alarms named alike");
        assert_eq!(
            watched(a),
            (namespace.into(), metric.into(), dimension.into(), value.into()),
            "{alarm}"
        );
        assert_eq!(a["Statistic"].as_str(), Some(statistic), "{alarm}");
        assert_eq!(a["Period"].as_i64(), Some(300), "{alarm}");
        assert_eq!(a["EvaluationPeriods"].as_i64(), Some(1), "{alarm}");
        assert_eq!(a["Threshold"].as_i64(), Some(0), "{alarm}");
        assert_eq!(
            a["ComparisonOperator"].as_str(),
            Some("GreaterThanThreshold"),
            "{alarm}"
        );
        assert_eq!(a["TreatMissingData"].as_str(), Some("notBreaching"), "{alarm}");
        assert_eq!(strings(&a["AlarmActions"]), ["BuildResultsTopic"], "{alarm}");
        assert!(a["OKActions"].is_badvalue() && a["InsufficientDataActions"].is_badvalue());
        // Created once the topic lets CloudWatch publish, so a first ALARM is heard.
        assert_eq!(
            resource["DependsOn"].as_str(),
            Some("BuildResultsTopicPolicy"),
            "{alarm}"
        );
        // The email carries the description: what failed and what to run next.
        let description = a["AlarmDescription"].as_str().unwrap();
        assert!(description.len() <= 1024, "{alarm}: {} characters", description.len());
        assert!(description.is_ascii(), "{alarm}");
        assert!(
            [
                "make dead-letters",
                "make logs FN=",
                "make deliveries",
                "aws sns",
                "GitHub"
            ]
            .iter()
            .any(|next| description.contains(next)),
            "{alarm}: no next step in {description:?}"
        );
    }
}

/// A function, rule, dead-letter queue or topic added later without its alarms fails here.
#[test]
fn every_function_rule_dead_letter_queue_and_delivery_is_watched() {
    let t = template();
    let watched: BTreeSet<_> = alarms(&t).values().map(|a| watched(a)).collect();
    let expect = |namespace: &str, metric: &str, dimension: &str, value: String| {
        let key = (namespace.to_owned(), metric.to_owned(), dimension.to_owned(), value);
        assert!(watched.contains(&key), "no alarm on {key:?}");
    };
    let resources = t["Resources"].as_hash().unwrap();
    let of_type = |kind: &'static str| {
        resources
            .iter()
            .filter(move |(_, r)| r["Type"].as_str() == Some(kind))
            .map(|(n, r)| (n.as_str().unwrap().to_owned(), r))
    };
    let mut covered = 0;
    for (function, _) in of_type("AWS::Lambda::Function") {
        for metric in ["Errors", "Throttles"] {
            expect("AWS/Lambda", metric, "FunctionName", function.clone());
        }
        covered += 1;
    }
    assert!(covered >= 4, "the four functions");
    // Asynchronous invocations whose failures go to a destination: a destination that
    // cannot take them loses them.
    let mut destinations = 0;
    for (_, config) in of_type("AWS::Lambda::EventInvokeConfig") {
        let p = &config["Properties"];
        if !p["DestinationConfig"]["OnFailure"].is_badvalue() {
            let function = p["FunctionName"].as_str().unwrap().to_owned();
            expect("AWS/Lambda", "DestinationDeliveryFailures", "FunctionName", function);
            destinations += 1;
        }
    }
    assert!(destinations >= 2, "the notifier's and the cleanup's");
    let mut rules = 0;
    for (rule, _) in of_type("AWS::Events::Rule") {
        for metric in ["FailedInvocations", "InvocationsFailedToBeSentToDlq"] {
            expect("AWS/Events", metric, "RuleName", rule.clone());
        }
        rules += 1;
    }
    assert!(rules >= 2, "the build state and the cleanup schedule");
    // Every queue something dead-letters into.
    let mut dead_letter_queues = BTreeSet::new();
    for (_, resource) in resources {
        for target in [
            &resource["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
            &resource["Properties"]["DestinationConfig"]["OnFailure"]["Destination"],
        ] {
            if let Some(arn) = target.as_str() {
                dead_letter_queues.insert(arn.trim_end_matches(".Arn").to_owned());
            }
        }
    }
    assert_eq!(dead_letter_queues, BTreeSet::from(["DeadLetterQueue".to_owned()]));
    for queue in dead_letter_queues {
        expect(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            format!("{queue}.QueueName"),
        );
    }
    // Every topic's deliveries; and where a subscription redrives, the redrive too.
    for (name, subscription) in of_type("AWS::SNS::Subscription") {
        let p = &subscription["Properties"];
        let topic = format!("{}.TopicName", p["TopicArn"].as_str().unwrap());
        expect("AWS/SNS", "NumberOfNotificationsFailed", "TopicName", topic.clone());
        if !p["RedrivePolicy"].is_badvalue() {
            expect(
                "AWS/SNS",
                "NumberOfNotificationsFailedToRedriveToDlq",
                "TopicName",
                topic,
            );
        } else {
            assert_ne!(p["Protocol"].as_str(), Some("sqs"), "{name}: a queue without redrive");
        }
    }
}
