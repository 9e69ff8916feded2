//! Target: PR comment bodies → `tfpilot::core::command::parse_comment`.
//!
//! Anyone who can comment on a pull request writes these. The parser must never
//! panic; every command or problem it reports must sit on a `/tfpilot` line of the
//! body, in line order; its messages must stay one short paragraph; a `/tfpilot` line
//! inside a code fence or an HTML comment must never act; and commands on plain lines
//! must all be found, in order.

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tfpilot::core::command::{Command, CommandAction, CommandParse, PREFIX, parse_comment};

use crate::common::{apply_line_edits, ensure, fuzz, line_edits, wide_string};

/// Markdown that changes what counts: fences, quotes, lists, HTML, code spans, and
/// command lines both good and bad.
const MARKDOWN: [&str; 44] = [
    "/tfpilot plan",
    "/tfpilot apply",
    "/tfpilot destroy req_dev_s3_ab12cd",
    "/tfpilot destroy a b",
    "/tfpilot",
    "/tfpilot paln",
    "/tfpilot plan now",
    "  /tfpilot sync  ",
    "\t/tfpilot status",
    "/tfpilot\u{a0}help",
    "/tfpilotplan",
    "/Tfpilot plan",
    "```",
    "````",
    "~~~",
    "```hcl",
    "    ",
    "> ",
    ">",
    "> > ",
    "> ```",
    "- ",
    "1. ",
    "* ",
    "<!--",
    "-->",
    "<!-- /tfpilot plan -->",
    "<details>",
    "</details>",
    "<pre>",
    "`",
    "``",
    "`/tfpilot plan`",
    "**",
    "_",
    "[",
    "](",
    "#",
    "---",
    "===",
    "\\",
    "|",
    "\r",
    "",
];

fn markdown_line() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => prop::sample::select(MARKDOWN.to_vec()).prop_map(str::to_owned),
        1 => "[a-z ]{0,12}",
        1 => wide_string(128),
    ];
    prop::collection::vec(piece, 1..4).prop_map(|v| v.concat())
}

/// Markdown bodies: mixed lines, deep quote and list nesting, and 64 KB bodies.
fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(markdown_line(), 0..60).prop_map(|v| v.join("\n")),
        2 => wide_string(1 << 16),
        1 => (prop::collection::vec(markdown_line(), 1..20), 64usize..=1024)
            .prop_map(|(lines, times)| {
                let block = lines.join("\n") + "\n";
                let mut body = block.repeat(times.min((64 << 10) / block.len().max(1) + 1));
                body.truncate(body.floor_char_boundary(64 << 10));
                body
            }),
        1 => (prop::sample::select(vec!["> ", "- ", "1. ", "  ", "> - ", "* > "]), 1usize..2000, markdown_line())
            .prop_map(|(prefix, depth, line)| format!("{}{line}\n/tfpilot plan\n", prefix.repeat(depth))),
    ]
}

/// The `index`th (1-based) line as the parser splits lines.
fn line_of(body: &str, index: usize) -> Option<&str> {
    let line = body.split('\n').nth(index.checked_sub(1)?)?;
    Some(line.strip_suffix('\r').unwrap_or(line))
}

fn check_outcome(body: &str) -> Result<(), TestCaseError> {
    let outcome = parse_comment(body);
    let (commands, problems) = match &outcome {
        CommandParse::NotAddressed => (&[][..], &[][..]),
        CommandParse::Commands(c) => {
            ensure(!c.is_empty(), || "Commands with none".to_owned())?;
            (c.as_slice(), &[][..])
        }
        CommandParse::Malformed { commands, problems } => {
            ensure(!problems.is_empty(), || {
                "Malformed with no problem".to_owned()
            })?;
            (commands.as_slice(), problems.as_slice())
        }
    };
    let mut lines: Vec<usize> = commands.iter().map(|c| c.line).collect();
    ensure(lines.windows(2).all(|w| w[0] < w[1]), || {
        format!("commands out of line order: {lines:?}")
    })?;
    let problem_lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
    ensure(problem_lines.windows(2).all(|w| w[0] < w[1]), || {
        format!("problems out of line order: {problem_lines:?}")
    })?;
    lines.extend(&problem_lines);
    for line in lines {
        let text = line_of(body, line)
            .ok_or_else(|| TestCaseError::fail(format!("line {line} is past the body")))?;
        ensure(text.split_whitespace().next() == Some(PREFIX), || {
            format!("line {line} is not a /tfpilot line: {text:?}")
        })?;
    }
    for p in problems {
        let text = line_of(body, p.line).unwrap_or_default();
        ensure(p.text == text.trim(), || {
            format!("problem text {:?} is not line {}", p.text, p.line)
        })?;
        let message = p.message();
        ensure(!message.contains(['\n', '\r']), || {
            format!("message spans lines: {message:?}")
        })?;
        ensure(message.chars().count() < 600, || {
            format!("message of {} chars", message.chars().count())
        })?;
        let _ = p.suggestion();
    }
    Ok(())
}

#[test]
fn fuzz_command_arbitrary_markdown() {
    fuzz("command_arbitrary_markdown", body(), |b| check_outcome(&b));
}

/// Real comments from `../shared/fixtures/github/comments.jsonl` when present, and a
/// few written here, as seeds to mutate.
fn seed_comments() -> Vec<String> {
    let mut seeds: Vec<String> = [
        "Looks good to me.\n\n/tfpilot plan",
        "> /tfpilot apply\n\nquoting the above, then\n/tfpilot apply",
        "```\n/tfpilot destroy\n```\n/tfpilot status",
        "<!--\n/tfpilot apply\n-->\n- item\n  /tfpilot plan",
        "/tfpilot paln\r\n/tfpilot destroy req_prod_s3_ab12cd extra\r\n",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let shared =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/github/comments.jsonl");
    match std::fs::read_to_string(&shared) {
        Ok(text) => seeds.extend(text.lines().filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v["translated"].as_str().map(str::to_owned)
        })),
        Err(_) => eprintln!(
            "SKIPPED: {} not present; mutating built-in comments only",
            shared.display()
        ),
    }
    seeds
}

#[test]
fn fuzz_command_mutated_comments() {
    let seeds = seed_comments();
    fuzz(
        "command_mutated_comments",
        (
            prop::sample::select(seeds),
            line_edits(8, markdown_line().boxed()),
        ),
        |(seed, edits)| check_outcome(&apply_line_edits(&seed, &edits)),
    );
}

/// A fence longer than any backtick run in `body`, so nothing inside can close it.
fn fence_for(body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

#[test]
fn fuzz_command_nothing_inside_a_fence_or_html_comment_acts() {
    fuzz(
        "command_nothing_inside_a_fence_or_html_comment_acts",
        (body(), any::<bool>()),
        |(inner, html)| {
            let wrapped = if html {
                if inner.contains("-->") {
                    return Ok(());
                }
                format!("<!--\n{inner}\n-->\n")
            } else {
                let fence = fence_for(&inner);
                format!("{fence}\n{inner}\n{fence}\n")
            };
            let outcome = parse_comment(&wrapped);
            prop_assert_eq!(outcome, CommandParse::NotAddressed, "{:?}", wrapped);
            Ok(())
        },
    );
}

/// A command line and what it must parse to.
fn command_line() -> impl Strategy<Value = (String, CommandAction)> {
    prop_oneof![
        Just(("/tfpilot plan".to_owned(), CommandAction::Plan)),
        Just(("/tfpilot apply".to_owned(), CommandAction::Apply)),
        Just(("/tfpilot status".to_owned(), CommandAction::Status)),
        Just(("/tfpilot sync".to_owned(), CommandAction::Sync)),
        Just(("/tfpilot unlock".to_owned(), CommandAction::Unlock)),
        Just(("/tfpilot help".to_owned(), CommandAction::Help)),
        Just((
            "/tfpilot destroy".to_owned(),
            CommandAction::Destroy { confirm: None }
        )),
        "req_[a-z]{2,6}_[a-z0-9-]{1,10}_[a-z0-9]{6}".prop_map(|id| (
            format!("/tfpilot destroy {id}"),
            CommandAction::Destroy { confirm: Some(id) }
        )),
    ]
}

#[test]
fn fuzz_command_commands_between_prose_are_all_found() {
    // Prose without Markdown syntax; commands on their own lines, indented less than
    // the four columns that would make an indented code block.
    let prose = "[A-Za-z][A-Za-z0-9 ,.!?']{0,60}";
    let line = prop_oneof![
        3 => prose.prop_map(|p| (p, None)),
        1 => Just((String::new(), None)),
        2 => (command_line(), " {0,3}", "[ \t]{0,3}", any::<bool>())
            .prop_map(|((text, action), before, after, crlf)| {
                let end = if crlf { "\r" } else { "" };
                (format!("{before}{text}{after}{end}"), Some(action))
            }),
    ];
    fuzz(
        "command_commands_between_prose_are_all_found",
        prop::collection::vec(line, 0..40),
        |lines| {
            let body = lines
                .iter()
                .map(|(l, _)| l.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let want: Vec<(usize, CommandAction)> = lines
                .iter()
                .enumerate()
                .filter_map(|(i, (_, a))| a.clone().map(|a| (i + 1, a)))
                .collect();
            let got: Vec<(usize, CommandAction)> = match parse_comment(&body) {
                CommandParse::NotAddressed => Vec::new(),
                CommandParse::Commands(c) => c.into_iter().map(|c| (c.line, c.action)).collect(),
                other => return Err(TestCaseError::fail(format!("{other:?} for {body:?}"))),
            };
            prop_assert_eq!(got, want, "{:?}", body);
            Ok(())
        },
    );
}

#[test]
fn deep_quotes_lists_and_fences_of_64_kb_parse() {
    // A command after 64 KB of nesting is still inside it (lazy continuation), so it
    // must not act; one after a blank line and a closed fence must.
    let n = 32 * 1024;
    let deep_quote = format!("{}x\n/tfpilot apply\n", "> ".repeat(n));
    assert_eq!(parse_comment(&deep_quote), CommandParse::NotAddressed);
    let deep_list = format!("{}x\n/tfpilot apply\n", "- ".repeat(n));
    check_outcome(&deep_list).unwrap_or_else(|e| panic!("{e}"));
    let fences = "```\n".repeat(16 * 1024) + "\n/tfpilot plan\n";
    assert_eq!(
        parse_comment(&fences),
        CommandParse::Commands(vec![Command {
            line: 16 * 1024 + 2,
            action: CommandAction::Plan
        }])
    );
    let brackets = "[".repeat(64 * 1024) + "\n/tfpilot sync";
    assert!(matches!(
        parse_comment(&brackets),
        CommandParse::Commands(_)
    ));
}
