//! No template hard-codes an account, an ARN, a bucket or a region: they come from
//! `vars.*` (the seed's workflows hard-coded all four).

use std::path::PathBuf;

use regex::Regex;

fn templates() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates/workflows");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("templates/workflows")
        .map(|e| {
            let path = e.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            (path.display().to_string(), text)
        })
        .collect();
    out.sort();
    assert!(out.len() >= 4, "templates present");
    out
}

/// The patterns a hard-coded cloud value would match, with what each one means.
fn forbidden() -> Vec<(&'static str, Regex)> {
    let rules = [
        (
            "an AWS account id (12 digits)",
            r"(^|[^0-9a-f])[0-9]{12}([^0-9a-f]|$)",
        ),
        ("an ARN", r"(?i)\barn:aws"),
        (
            "an AWS region",
            r"(?i)\b(us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov)-(north|south|east|west|central|northeast|southeast|northwest|southwest)-[0-9]\b",
        ),
        ("an S3 URL", r"(?i)s3://"),
        ("a literal bucket", r#"(?i)bucket\s*[=:]\s*"?[a-z0-9]"#),
        (
            "a literal DynamoDB table",
            r#"(?i)dynamodb_table\s*=\s*"?[a-z0-9]"#,
        ),
        ("a literal role", r#"(?i)role-to-assume:\s*[a-z0-9"']"#),
        ("a literal region input", r#"(?i)aws-region:\s*[a-z0-9"']"#),
    ];
    rules
        .into_iter()
        .map(|(what, re)| (what, Regex::new(re).expect("regex")))
        .collect()
}

fn findings(text: &str) -> Vec<String> {
    let rules = forbidden();
    text.lines()
        .enumerate()
        .flat_map(|(n, line)| {
            rules
                .iter()
                .filter(|(_, re)| re.is_match(line))
                .map(move |(what, _)| format!("line {}: {what}: {line}", n + 1))
        })
        .collect()
}

#[test]
fn templates_hold_no_account_arn_bucket_or_region() {
    for (path, text) in templates() {
        let found = findings(&text);
        assert!(found.is_empty(), "{path}:\n{}", found.join("\n"));
    }
}

#[test]
fn the_grep_catches_the_seeds_hard_coded_values() {
    // Lines in the shape of the seed's workflows: each must be caught, or the test above
    // proves nothing.
    for line in [
        "          role-to-assume: arn:aws:iam::123456789012:role/tfplan-connector",
        "          aws-region: eu-west-2",
        r#"            -backend-config="bucket=tfpilot-tfstate-core-dev" \"#,
        r#"            -backend-config="region=us-east-1" \"#,
        r#"            -backend-config="dynamodb_table=tfpilot-tfstate-lock-core-dev" \"#,
        "          aws s3 cp x s3://tfpilot-requests/cost/",
        "          ACCOUNT=123456789012",
    ] {
        assert!(!findings(line).is_empty(), "not caught: {line}");
    }
    // The variable forms the templates use are fine.
    for line in [
        "          role-to-assume: ${{ vars.TFPILOT_AWS_ROLE_ARN }}",
        r#"            "-backend-config=bucket=${STATE_BUCKET}""#,
        "        uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0",
    ] {
        assert!(findings(line).is_empty(), "false alarm: {line}");
    }
}
