//! The sticky PR comment: one snapshot per derived status, the size limit, and
//! determinism (the same facts render the same bytes).

mod render_support;

use proptest::prelude::*;
use render_support as s;
use tfpilot::core::plan::ChangeAction;
use tfpilot::core::request::{Extra, TimelineEntry};
use tfpilot::render::{
    COMMENT_LIMIT, EnvPolicy, StickyInput, body_hash, headline, marker, next_step, sticky_comment,
};

fn chars(s: &str) -> usize {
    s.chars().count()
}

#[test]
fn every_status_has_its_own_snapshot() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let mut headlines = std::collections::HashSet::new();
    for (name, request, status) in s::cases() {
        s::check_status(name, &request, status);
        let input = s::input(&request, &plan, &cost, &lock);
        let body = sticky_comment(&input);
        assert!(body.starts_with(&format!("{}\n", marker(s::ID))), "{name}");
        assert!(body.contains(headline(status)), "{name}");
        assert!(
            body.contains(&next_step(status, &request, &s::policy())),
            "{name}"
        );
        assert!(
            headlines.insert(headline(status)),
            "{name}: headline reused"
        );
        insta::assert_snapshot!(format!("sticky_{name}"), body);
    }
}

#[test]
fn next_steps_name_the_exact_command() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let expect = [
        ("plan_ready", "Approve the PR in GitHub's review UI"),
        ("approved", "Merge the PR, then comment `/tfpilot apply`"),
        ("merged", "Comment `/tfpilot apply`"),
        (
            "applied",
            "Comment `/tfpilot destroy` when the resources are no longer needed",
        ),
        ("failed_plan_failed", "comment `/tfpilot plan` to try again"),
        ("failed_destroy_stale", "Comment `/tfpilot sync`"),
    ];
    for (name, request, _) in s::cases() {
        let Some((_, text)) = expect.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let body = sticky_comment(&s::input(&request, &plan, &cost, &lock));
        assert!(body.contains(text), "{name}: {body}");
    }
}

#[test]
fn protected_environments_ask_for_the_id_to_destroy() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let request = s::applied();
    let mut input = s::input(&request, &plan, &cost, &lock);
    input.policy = EnvPolicy {
        protected: true,
        ..s::policy()
    };
    let body = sticky_comment(&input);
    assert!(body.contains(&format!("Comment `/tfpilot destroy {}`", s::ID)));
    assert!(body.contains("`dev` (protected)"));
}

#[test]
fn auto_apply_environments_say_the_merge_is_enough() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let request = s::approved();
    let mut input = s::input(&request, &plan, &cost, &lock);
    input.policy.auto_apply = true;
    let body = sticky_comment(&input);
    assert!(body.contains("tfpilot applies it right after the merge"));
    assert!(!body.contains("`/tfpilot apply`"));
}

#[test]
fn queued_shows_the_lock_holder_and_position() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let request = s::queued();
    let body = sticky_comment(&s::input(&request, &plan, &cost, &lock));
    assert!(body.contains(
        "**Environment lock:** held by `req_dev_vpc_a1b2c3`; this request is number 2 of 3 in the queue"
    ));
    // Not queued: the lock of someone else is none of this request's business.
    let request = s::plan_ready();
    let body = sticky_comment(&s::input(&request, &plan, &cost, &lock));
    assert!(!body.contains("Environment lock"));
}

#[test]
fn drift_is_shown_with_its_run() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let request = s::applied_with_drift();
    let body = sticky_comment(&s::input(&request, &plan, &cost, &lock));
    insta::assert_snapshot!("sticky_applied_with_drift", body);
    assert!(
        body.contains("**Drift:** ⚠️ the infrastructure changed outside Terraform (2 resources)")
    );
    assert!(body.contains("[drift plan](https://github.com/acme/infra/actions/runs/4004)"));
}

#[test]
fn a_stale_plan_is_called_out() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let mut request = s::plan_ready();
    if let Some(pr) = request.github_mut().pr.as_mut() {
        pr.head_sha = Some("0000000aaaaaaa".into());
    }
    let body = sticky_comment(&s::input(&request, &plan, &cost, &lock));
    assert!(body.contains("This plan ran on `c02cef2`, but the pull request is now at `0000000`"));
    assert!(body.contains("wait for the new plan, or comment `/tfpilot plan`"));
}

#[test]
fn a_missing_plan_summary_links_the_run_instead() {
    let request = s::plan_ready();
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let input = StickyInput {
        plan: None,
        cost: None,
        fingerprint: None,
        lock: None,
        ..s::input(&request, &plan, &cost, &lock)
    };
    let body = sticky_comment(&input);
    assert!(body.contains(
        "The plan succeeded, but its summary could not be read; see [the plan run](https://github.com/acme/infra/actions/runs/1001)."
    ));
    assert!(!body.contains("<details>"));
}

#[test]
fn a_three_thousand_resource_plan_fits_with_status_and_next_step_intact() {
    let plan = s::big_plan(3_000);
    let (cost, lock) = (s::cost(), s::lock());
    let request = s::plan_ready();
    let input = s::input(&request, &plan, &cost, &lock);
    let body = sticky_comment(&input);
    let status = input.status();

    assert!(chars(&body) <= COMMENT_LIMIT, "{} characters", chars(&body));
    // The cut is not wasteful: the list uses most of the room.
    assert!(chars(&body) > COMMENT_LIMIT - 1_000, "{}", chars(&body));
    assert!(body.starts_with(&marker(s::ID)));
    assert!(body.contains(&format!("### {}", headline(status))));
    assert!(body.contains(&format!(
        "**Next step:** {}",
        next_step(status, &request, &s::policy())
    )));
    assert!(body.contains("**Plan: 3000 to add, 0 to change, 0 to destroy.**"));
    assert!(body.contains("| ➕ `create` | 3,000 |"));
    // Everything after the list is still there.
    assert!(body.contains("#### Runs"));
    assert!(body.contains("#### Recent activity"));
    // The note counts exactly what was left out and links the run.
    let shown = body.matches("- ➕ `module.tfpilot_").count();
    assert!(shown > 100 && shown < 3_000, "{shown}");
    let note = format!(
        "… {} more; full plan in the run: [plan run](https://github.com/acme/infra/actions/runs/1001)",
        with_commas(3_000 - shown)
    );
    assert!(body.contains(&note), "missing {note}");
    assert!(body.contains("</details>"));
}

fn with_commas(n: usize) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn the_limit_is_in_characters_not_bytes() {
    // Three-byte characters: the body is far over 65,536 bytes but within the limit.
    let plan = s::summary_of(
        (0..3_000)
            .map(|i| {
                s::change(
                    &format!("aws_s3_object.o[\"ディレクトリ/ファイル-{i:05}\"]"),
                    ChangeAction::Create,
                )
            })
            .collect(),
        Default::default(),
    );
    let (cost, lock) = (s::cost(), s::lock());
    let request = s::plan_ready();
    let body = sticky_comment(&s::input(&request, &plan, &cost, &lock));
    assert!(chars(&body) <= COMMENT_LIMIT);
    assert!(chars(&body) > COMMENT_LIMIT - 1_000);
    assert!(body.len() > COMMENT_LIMIT);
}

#[test]
fn the_same_facts_render_the_same_bytes() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    for (name, request, _) in s::cases() {
        let a = sticky_comment(&s::input(&request, &plan, &cost, &lock));
        let b = sticky_comment(&s::input(&request, &plan, &cost, &lock));
        assert_eq!(body_hash(&a), body_hash(&b), "{name}");
        // A minute later nothing visible changed, so nothing would be sent.
        let mut later = s::input(&request, &plan, &cost, &lock);
        later.now = s::now() + chrono::Duration::minutes(1);
        assert_eq!(body_hash(&sticky_comment(&later)), body_hash(&a), "{name}");
    }
    // A new fact does change it.
    let a = sticky_comment(&s::input(&s::plan_ready(), &plan, &cost, &lock));
    let b = sticky_comment(&s::input(&s::approved(), &plan, &cost, &lock));
    assert_ne!(body_hash(&a), body_hash(&b));
}

#[test]
fn user_text_cannot_hide_the_rest_of_the_comment() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let mut request = s::plan_ready();
    request.push_timeline(TimelineEntry {
        at: Some(s::t(7)),
        what: "<!-- hide everything\n# and @mention someone".into(),
        who: Some("mallory".into()),
        extra: Extra::new(),
    });
    request.requester = Some("@bob | x".into());
    let body = sticky_comment(&s::input(&request, &plan, &cost, &lock));
    assert_eq!(body.matches("<!--").count(), 1, "only the marker");
    assert!(!body.contains("\n# and"));
    assert!(!body.contains(" @mention"));
    assert!(!body.contains(" @bob"));
}

#[test]
fn only_the_last_timeline_lines_are_shown() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let request = s::destroyed();
    let body = sticky_comment(&s::input(&request, &plan, &cost, &lock));
    let shown = body
        .split("#### Recent activity")
        .nth(1)
        .map(|t| t.lines().filter(|l| l.starts_with("- 2026-")).count());
    assert_eq!(shown, Some(5));
    assert!(body.contains("- 2026-03-01 10:59 UTC · cleanup pull request #230 opened · tfpilot"));
    assert!(!body.contains("request created from issue #41"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the addresses, timeline and names hold, the comment stays under the
    /// limit and keeps its marker, headline and next step.
    #[test]
    fn any_input_fits_and_keeps_the_head(
        addresses in proptest::collection::vec("\\PC{0,300}", 0..300),
        whats in proptest::collection::vec("\\PC{0,400}", 0..60),
        requester in "\\PC{0,500}",
        env in "\\PC{0,500}",
    ) {
        let mut changes = s::small_plan().resource_changes;
        changes.extend(addresses.iter().map(|a| {
            let mut c = s::change(a, ChangeAction::Update);
            c.sensitive = true;
            c.action_reason = Some(a.clone());
            c.previous_address = Some(a.clone());
            c.deposed = Some(a.clone());
            c
        }));
        let plan = s::summary_of(changes, Default::default());
        let mut request = s::plan_ready();
        request.requester = Some(requester);
        request.environment = Some(env);
        for w in whats {
            request.push_timeline(TimelineEntry {
                at: None,
                what: w.clone(),
                who: Some(w),
                extra: Extra::new(),
            });
        }
        let (cost, lock) = (s::cost(), s::lock());
        let input = s::input(&request, &plan, &cost, &lock);
        let body = sticky_comment(&input);
        let status = input.status();
        prop_assert!(chars(&body) <= COMMENT_LIMIT);
        prop_assert!(body.starts_with(&marker(s::ID)));
        prop_assert!(body.contains(headline(status)));
        let next = next_step(status, &request, &s::policy());
        prop_assert!(body.contains(&next));
        prop_assert_eq!(body.matches("<!--").count(), 1);
    }
}

/// Every `/tfpilot …` the comment tells people to type is a command the parser
/// accepts, including the protected destroy with its confirmation id.
#[test]
fn every_command_named_in_the_comment_parses() {
    use tfpilot::core::command::{CommandParse, parse_comment};
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let span = regex::Regex::new(r"`(/tfpilot[^`]*)`").expect("regex");
    let mut seen = std::collections::BTreeSet::new();
    for protected in [false, true] {
        for (name, request, _) in s::cases() {
            let mut input = s::input(&request, &plan, &cost, &lock);
            input.policy.protected = protected;
            let body = sticky_comment(&input);
            for cap in span.captures_iter(&body) {
                let typed = &cap[1];
                match parse_comment(typed) {
                    CommandParse::Commands(c) if c.len() == 1 => {}
                    other => panic!("{name}: `{typed}` does not parse: {other:?}"),
                }
                seen.insert(typed.to_string());
            }
        }
    }
    // The cases name every command a next step uses.
    for c in [
        "/tfpilot plan",
        "/tfpilot apply",
        "/tfpilot destroy",
        "/tfpilot sync",
        "/tfpilot unlock",
        "/tfpilot help",
    ] {
        assert!(seen.contains(c), "{c} never shown");
    }
    assert!(seen.contains(&format!("/tfpilot destroy {}", s::ID)));
}

/// The seed's own request document (legacy `planRun`/`pr` fields only) renders.
#[test]
fn the_seed_example_renders_from_its_legacy_fields() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/requests/seed-example.json"
    ))
    .expect("fixture present");
    let request: tfpilot::core::request::Request = serde_json::from_str(&text).expect("parses");
    let input = StickyInput {
        request: &request,
        now: s::now(),
        plan: None,
        cost: None,
        fingerprint: None,
        lock: None,
        policy: s::policy(),
        repo_url: None,
    };
    let body = sticky_comment(&input);
    assert!(body.starts_with("<!-- tfpilot:request:req_dev_s3_tgqpp8 -->\n### 📋 Plan ready"));
    assert!(body.contains("#223"));
    assert!(body.contains("| plan | ✅ `success` | [#22456244688]("));
    insta::assert_snapshot!("sticky_seed_example", body);
}

#[test]
fn a_closed_unmerged_pr_asks_to_reopen_it() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let mut request = s::planning();
    *request
        .github_mut()
        .workflows
        .slot(tfpilot::core::request::WorkflowKind::Plan) = None;
    if let Some(pr) = request.github_mut().pr.as_mut() {
        pr.open = false;
    }
    let body = sticky_comment(&s::input(&request, &plan, &cost, &lock));
    assert!(body.contains("### 📝 Request created"));
    assert!(body.contains("The pull request #223 was closed without merging. Reopen it"));
}

#[test]
fn a_changed_plan_is_shown_beside_the_reviewed_one_until_applied() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let request = s::plan_changed();
    let body = sticky_comment(&s::input(&request, &plan, &cost, &lock));
    for part in [
        "Apply refused: the plan changed since review",
        "#### ⚠️ The plan changed since review",
        "| | Reviewed plan | Plan at apply time |",
        "| ➕ add | 2 | 3 |",
        "| 🔧 change | 1 | 0 |",
        "| Fingerprint | `4f2a9c0d1e8b` | `b7e1c2d3a4f5` |",
        "`module.tfpilot_req_dev_s3_tgqpp8.aws_s3_bucket_public_access_block.this`: `create` only at apply time",
        "`module.tfpilot_req_dev_s3_tgqpp8.aws_s3_bucket_policy.this`: `update` only in the reviewed plan",
        "`/tfpilot apply` now applies the **plan at apply time** (fingerprint `b7e1c2d3a4f5`)",
    ] {
        assert!(body.contains(part), "missing {part:?} in:\n{body}");
    }
    // Unchanged resources are not listed as differences.
    assert!(!body.contains("aws_s3_bucket.this`: "), "{body}");

    // Applied: the section is gone.
    let mut applied = request.clone();
    if let Some(run) = applied.github_mut().workflows.apply.as_mut() {
        run.conclusion = Some("success".into());
    }
    let body = sticky_comment(&s::input(&applied, &plan, &cost, &lock));
    assert!(!body.contains("The plan changed since review"), "{body}");

    // A plan at apply time that could not be read is never offered for applying.
    let mut unreadable = request.clone();
    if let Some(f) = unreadable.apply_plan.as_mut() {
        f.summary = None;
        f.unreadable = Some("the apply artifact has expired".into());
    }
    let body = sticky_comment(&s::input(&unreadable, &plan, &cost, &lock));
    assert!(
        body.contains("could not be read (the apply artifact has expired)"),
        "{body}"
    );
    assert!(
        !body.contains("now applies the **plan at apply time**"),
        "{body}"
    );
}
