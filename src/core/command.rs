//! `/tfpilot …` commands in PR comments: parsing and the `help` text.
//!
//! The rule (the labelling rule of the shared `comments.jsonl` fixtures):
//! a command is a source line whose first whitespace-separated token is exactly
//! `/tfpilot`, where that token does not sit inside a fenced or indented code
//! block, a block quote or an inline code span (found with pulldown-cmark, so
//! lazy quote continuations and multi-line code spans count as quoted/code).
//! The second token is the verb; only `destroy` takes one more token (the
//! request id, as confirmation on protected environments). Anything else on a
//! command line makes it malformed. `/tfpilotplan`, `**/tfpilot plan**`,
//! `- /tfpilot plan` and `/Tfpilot plan` are not commands.
//!
//! One refinement beyond that rule: lines inside an HTML comment (`<!-- … -->`)
//! are skipped too, because a command nobody can see in the rendered comment
//! must not act.
//!
//! The parser does no I/O and never panics; the caller decides what to do with
//! many commands in one comment (they come back in line order).

use std::fmt;
use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag};

/// The token that addresses tfpilot.
pub const PREFIX: &str = "/tfpilot";

/// Longest piece of user text quoted back in a reply, in characters.
const MAX_QUOTE_CHARS: usize = 80;

/// A command verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Run the plan workflow again.
    Plan,
    /// Apply the reviewed plan.
    Apply,
    /// Destroy what the request created.
    Destroy,
    /// Reply with the request's status.
    Status,
    /// Re-read GitHub state and repair the facts.
    Sync,
    /// Release a stuck environment lock.
    Unlock,
    /// Reply with the list of commands.
    Help,
}

impl Verb {
    /// All verbs in the order used to break ties when suggesting one.
    pub const ALL: [Verb; 7] = [
        Verb::Plan,
        Verb::Apply,
        Verb::Destroy,
        Verb::Status,
        Verb::Sync,
        Verb::Unlock,
        Verb::Help,
    ];

    /// The verb as typed after `/tfpilot`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Plan => "plan",
            Verb::Apply => "apply",
            Verb::Destroy => "destroy",
            Verb::Status => "status",
            Verb::Sync => "sync",
            Verb::Unlock => "unlock",
            Verb::Help => "help",
        }
    }

    /// The verb spelled exactly `s` (verbs are lowercase), if any.
    pub fn parse(s: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// One line saying what the command does, for `help`.
    pub fn describe(self) -> &'static str {
        match self {
            Verb::Plan => "run `terraform plan` for this request again (on the PR head)",
            Verb::Apply => "apply the reviewed plan (after merge, with the required approvals)",
            Verb::Destroy => {
                "destroy what this request created; protected environments need `/tfpilot destroy <request-id>`"
            }
            Verb::Status => "reply with where this request stands and what comes next",
            Verb::Sync => "re-read the PR, reviews and runs from GitHub and repair the status",
            Verb::Unlock => "release this environment's lock when a run left it stuck",
            Verb::Help => "show this list",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a valid command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandAction {
    /// `/tfpilot plan`
    Plan,
    /// `/tfpilot apply`
    Apply,
    /// `/tfpilot destroy [<request-id>]`; `confirm` is the typed request id.
    Destroy {
        /// The request id typed as confirmation, unchecked.
        confirm: Option<String>,
    },
    /// `/tfpilot status`
    Status,
    /// `/tfpilot sync`
    Sync,
    /// `/tfpilot unlock`
    Unlock,
    /// `/tfpilot help`
    Help,
}

impl CommandAction {
    /// The verb of this action.
    pub fn verb(&self) -> Verb {
        match self {
            CommandAction::Plan => Verb::Plan,
            CommandAction::Apply => Verb::Apply,
            CommandAction::Destroy { .. } => Verb::Destroy,
            CommandAction::Status => Verb::Status,
            CommandAction::Sync => Verb::Sync,
            CommandAction::Unlock => Verb::Unlock,
            CommandAction::Help => Verb::Help,
        }
    }

    /// The extra tokens after the verb (only `destroy` has one).
    pub fn args(&self) -> Vec<&str> {
        match self {
            CommandAction::Destroy {
                confirm: Some(id), ..
            } => vec![id.as_str()],
            _ => Vec::new(),
        }
    }
}

/// A valid command found in a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// 1-based line of the comment body it was on.
    pub line: usize,
    /// What it asks for.
    pub action: CommandAction,
}

/// Why a `/tfpilot` line is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// `/tfpilot` alone on its line.
    MissingVerb,
    /// The second token is not a verb.
    UnknownVerb {
        /// The token as typed.
        verb: String,
        /// Closest verb by Levenshtein distance (ties: [`Verb::ALL`] order).
        nearest: Verb,
        /// Levenshtein distance from `verb` to `nearest`.
        distance: usize,
    },
    /// A known verb followed by tokens it does not take.
    UnexpectedArguments {
        /// The verb.
        verb: Verb,
        /// The tokens it does not take.
        args: Vec<String>,
    },
}

/// A malformed `/tfpilot` line, with what the person should type instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line of the comment body.
    pub line: usize,
    /// The line, trimmed.
    pub text: String,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl Problem {
    /// The verb worth suggesting ("did you mean …"), only for small typos.
    ///
    /// Uses the optimal-string-alignment distance on the lowercased token, so a
    /// swapped pair (`paln`) counts as one edit and `Apply` suggests `apply`;
    /// `hold` (two edits from `help`) or `r+` get no suggestion.
    pub fn suggestion(&self) -> Option<Verb> {
        let ProblemKind::UnknownVerb { verb, .. } = &self.kind else {
            return None;
        };
        suggest(verb)
    }

    /// A message the commenter can act on (Markdown, one paragraph).
    pub fn message(&self) -> String {
        let verbs = verb_list();
        match &self.kind {
            ProblemKind::MissingVerb => format!(
                "`/tfpilot` needs a command after it, for example `/tfpilot plan`. \
                 Commands: {verbs}."
            ),
            ProblemKind::UnknownVerb { verb, .. } => match self.suggestion() {
                Some(s) => format!(
                    "{} is not a tfpilot command: did you mean `{s}`? Type `/tfpilot {s}`.",
                    code(verb)
                ),
                None => format!(
                    "{} is not a tfpilot command. Commands: {verbs} (`/tfpilot help` explains each).",
                    code(verb)
                ),
            },
            ProblemKind::UnexpectedArguments { verb, args } => {
                let stray = code(&args.join(" "));
                if *verb == Verb::Destroy {
                    format!(
                        "`/tfpilot destroy` takes at most one argument, the request id to confirm: \
                         remove {stray} and type `/tfpilot destroy` or `/tfpilot destroy <request-id>`."
                    )
                } else {
                    format!(
                        "`/tfpilot {verb}` takes no arguments: remove {stray} and type `/tfpilot {verb}`."
                    )
                }
            }
        }
    }
}

/// The outcome of reading one comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandParse {
    /// No line addresses `/tfpilot`.
    NotAddressed,
    /// Valid commands, in line order.
    Commands(Vec<Command>),
    /// At least one `/tfpilot` line is malformed; valid ones are kept, in order.
    Malformed {
        /// The valid commands, in line order.
        commands: Vec<Command>,
        /// The malformed lines, in line order.
        problems: Vec<Problem>,
    },
}

/// Parse a comment body into tfpilot commands.
pub fn parse_comment(body: &str) -> CommandParse {
    // The Markdown parse (code, quotes and HTML comments are skipped) only once a
    // line starts with `/tfpilot`: most comments have none and cost one scan.
    let mut skipped: Option<Vec<Range<usize>>> = None;
    let mut commands = Vec::new();
    let mut problems = Vec::new();
    let mut offset = 0usize;
    for (index, raw_line) in body.split('\n').enumerate() {
        let line_start = offset;
        offset += raw_line.len() + 1;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        if first != PREFIX {
            continue;
        }
        // `first` is a subslice of `line`, so its start is found by pointer offset.
        let token_start = line_start + (first.as_ptr() as usize - line.as_ptr() as usize);
        let skipped = skipped.get_or_insert_with(|| skipped_ranges(body));
        if skipped.iter().any(|r| r.contains(&token_start)) {
            continue;
        }
        let line_no = index + 1;
        match parse_command_line(line) {
            Ok(action) => commands.push(Command {
                line: line_no,
                action,
            }),
            Err(kind) => problems.push(Problem {
                line: line_no,
                text: line.trim().to_owned(),
                kind,
            }),
        }
    }
    if !problems.is_empty() {
        CommandParse::Malformed { commands, problems }
    } else if !commands.is_empty() {
        CommandParse::Commands(commands)
    } else {
        CommandParse::NotAddressed
    }
}

/// True when a line of the comment addresses `/tfpilot` (well formed or not).
pub fn addresses_tfpilot(body: &str) -> bool {
    !matches!(parse_comment(body), CommandParse::NotAddressed)
}

/// The reply text for `/tfpilot help` (Markdown).
pub fn help_text() -> String {
    let mut out = String::from(
        "tfpilot commands: write one per line in a comment on the request's pull request \
         (not inside code blocks or quotes).\n\n",
    );
    for verb in Verb::ALL {
        out.push_str(&format!("- `/tfpilot {verb}`: {}\n", verb.describe()));
    }
    out
}

fn parse_command_line(line: &str) -> Result<CommandAction, ProblemKind> {
    let mut tokens = line.split_whitespace().skip(1);
    let Some(verb_token) = tokens.next() else {
        return Err(ProblemKind::MissingVerb);
    };
    let args: Vec<String> = tokens.map(str::to_owned).collect();
    let Some(verb) = Verb::parse(verb_token) else {
        let (nearest, distance) = nearest_verb(verb_token);
        return Err(ProblemKind::UnknownVerb {
            verb: verb_token.to_owned(),
            nearest,
            distance,
        });
    };
    let max_args = usize::from(verb == Verb::Destroy);
    if args.len() > max_args {
        let stray = args[max_args..].to_vec();
        return Err(ProblemKind::UnexpectedArguments { verb, args: stray });
    }
    Ok(match verb {
        Verb::Plan => CommandAction::Plan,
        Verb::Apply => CommandAction::Apply,
        Verb::Destroy => CommandAction::Destroy {
            confirm: args.into_iter().next(),
        },
        Verb::Status => CommandAction::Status,
        Verb::Sync => CommandAction::Sync,
        Verb::Unlock => CommandAction::Unlock,
        Verb::Help => CommandAction::Help,
    })
}

/// Closest verb by Levenshtein distance, ties broken in [`Verb::ALL`] order.
fn nearest_verb(token: &str) -> (Verb, usize) {
    let mut best = (Verb::Plan, strsim::levenshtein(token, Verb::Plan.as_str()));
    for verb in Verb::ALL.into_iter().skip(1) {
        let d = strsim::levenshtein(token, verb.as_str());
        if d < best.1 {
            best = (verb, d);
        }
    }
    best
}

fn suggest(token: &str) -> Option<Verb> {
    // Very long tokens cannot be a typo of a short verb; skip the quadratic work.
    if token.chars().count() > 16 {
        return None;
    }
    let lower = token.to_lowercase();
    let mut best: Option<(Verb, usize)> = None;
    for verb in Verb::ALL {
        let d = strsim::osa_distance(&lower, verb.as_str());
        if best.is_none_or(|(_, bd)| d < bd) {
            best = Some((verb, d));
        }
    }
    let (verb, d) = best?;
    let limit = if lower.chars().count() >= 6 { 2 } else { 1 };
    (d <= limit).then_some(verb)
}

fn verb_list() -> String {
    Verb::ALL
        .iter()
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `s` as an inline code span, shortened, whatever backticks it contains.
fn code(s: &str) -> String {
    let shown: String = if s.chars().count() > MAX_QUOTE_CHARS {
        let mut t: String = s.chars().take(MAX_QUOTE_CHARS).collect();
        t.push('…');
        t
    } else {
        s.to_owned()
    };
    let longest_run = shown.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    // CommonMark strips one space on each side, which keeps edge backticks apart.
    if shown.starts_with('`') || shown.ends_with('`') {
        format!("{fence} {shown} {fence}")
    } else {
        format!("{fence}{shown}{fence}")
    }
}

/// Byte ranges of the body where a `/tfpilot` token does not count.
fn skipped_ranges(body: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    for (event, range) in Parser::new_ext(body, Options::empty()).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(_)) | Event::Start(Tag::BlockQuote(_)) | Event::Code(_) => {
                ranges.push(range)
            }
            Event::Start(Tag::HtmlBlock) | Event::InlineHtml(_)
                if body
                    .get(range.clone())
                    .is_some_and(|s| s.trim_start().starts_with("<!--")) =>
            {
                ranges.push(range)
            }
            _ => {}
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(body: &str) -> Vec<(usize, CommandAction)> {
        match parse_comment(body) {
            CommandParse::Commands(c) => c.into_iter().map(|c| (c.line, c.action)).collect(),
            other => panic!("expected commands for {body:?}, got {other:?}"),
        }
    }

    fn problems(body: &str) -> Vec<Problem> {
        match parse_comment(body) {
            CommandParse::Malformed { problems, .. } => problems,
            other => panic!("expected malformed for {body:?}, got {other:?}"),
        }
    }

    #[test]
    fn plain_commands_are_found_with_their_line() {
        assert_eq!(commands("/tfpilot plan"), vec![(1, CommandAction::Plan)]);
        assert_eq!(
            commands("Looks good.\r\n\r\n  /tfpilot apply  \r\n"),
            vec![(3, CommandAction::Apply)]
        );
    }

    #[test]
    fn two_commands_both_run_in_order() {
        assert_eq!(
            commands("/tfpilot sync\nthen\n/tfpilot status"),
            vec![(1, CommandAction::Sync), (3, CommandAction::Status)]
        );
    }

    #[test]
    fn destroy_takes_an_optional_request_id() {
        assert_eq!(
            commands("/tfpilot destroy"),
            vec![(1, CommandAction::Destroy { confirm: None })]
        );
        assert_eq!(
            commands("/tfpilot destroy req_dev_s3_ab12cd"),
            vec![(
                1,
                CommandAction::Destroy {
                    confirm: Some("req_dev_s3_ab12cd".into())
                }
            )]
        );
        let p = problems("/tfpilot destroy req_dev_s3_ab12cd now");
        assert_eq!(
            p[0].kind,
            ProblemKind::UnexpectedArguments {
                verb: Verb::Destroy,
                args: vec!["now".into()]
            }
        );
        assert!(
            p[0].message().contains("remove `now`"),
            "{}",
            p[0].message()
        );
    }

    #[test]
    fn code_and_quotes_are_ignored() {
        for body in [
            "```\n/tfpilot apply\n```",
            "~~~sh\n/tfpilot apply\n~~~",
            "text\n\n    /tfpilot apply\n",
            "`/tfpilot apply`",
            "> /tfpilot apply",
            "> quoted\n/tfpilot apply",
            "see `code\n/tfpilot apply` here",
            "<!--\n/tfpilot apply\n-->",
            "- /tfpilot apply",
            "**/tfpilot apply**",
            "/tfpilotapply",
            "/Tfpilot apply",
            "please run /tfpilot apply",
        ] {
            assert_eq!(parse_comment(body), CommandParse::NotAddressed, "{body:?}");
        }
    }

    #[test]
    fn a_command_after_a_closed_fence_counts() {
        assert_eq!(
            commands("```\n/tfpilot apply\n```\n/tfpilot plan"),
            vec![(4, CommandAction::Plan)]
        );
    }

    #[test]
    fn typo_gets_did_you_mean() {
        let p = problems("/tfpilot aply");
        assert_eq!(
            p[0].kind,
            ProblemKind::UnknownVerb {
                verb: "aply".into(),
                nearest: Verb::Apply,
                distance: 1
            }
        );
        assert_eq!(p[0].suggestion(), Some(Verb::Apply));
        assert_eq!(
            p[0].message(),
            "`aply` is not a tfpilot command: did you mean `apply`? Type `/tfpilot apply`."
        );
        assert_eq!(problems("/tfpilot paln")[0].suggestion(), Some(Verb::Plan));
        assert_eq!(
            problems("/tfpilot Apply")[0].suggestion(),
            Some(Verb::Apply)
        );
        assert_eq!(
            problems("/tfpilot destory")[0].suggestion(),
            Some(Verb::Destroy)
        );
    }

    #[test]
    fn far_verbs_get_no_suggestion_but_the_list() {
        for verb in ["r+", "hold", "lgtm", "merge"] {
            let p = problems(&format!("/tfpilot {verb}"));
            assert_eq!(p[0].suggestion(), None, "{verb}");
            assert!(p[0].message().contains("Commands: plan, apply"), "{verb}");
        }
    }

    #[test]
    fn missing_verb_and_stray_args_are_named() {
        let p = problems("/tfpilot");
        assert_eq!(p[0].kind, ProblemKind::MissingVerb);
        assert!(p[0].message().contains("for example `/tfpilot plan`"));
        let p = problems("/tfpilot plan -d new-project");
        assert_eq!(
            p[0].message(),
            "`/tfpilot plan` takes no arguments: remove `-d new-project` and type `/tfpilot plan`."
        );
    }

    #[test]
    fn valid_commands_survive_next_to_a_malformed_line() {
        match parse_comment("/tfpilot plan\n/tfpilot aply") {
            CommandParse::Malformed { commands, problems } => {
                assert_eq!(commands.len(), 1);
                assert_eq!(commands[0].action, CommandAction::Plan);
                assert_eq!(problems[0].line, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn quoted_user_text_cannot_break_out_of_its_code_span() {
        let p = problems("/tfpilot a`b");
        assert!(p[0].message().starts_with("``a`b``"), "{}", p[0].message());
        let long = "x".repeat(500);
        let p = problems(&format!("/tfpilot plan {long}"));
        assert!(p[0].message().len() < 300);
    }

    #[test]
    fn unicode_and_huge_comments_do_not_panic() {
        let body = "ünïcødé 🚀\n/tfpilot plän\n/tfpilot\u{a0}apply\n\u{2028}/tfpilot sync";
        let _ = parse_comment(body);
        let mut big = String::new();
        while big.len() < 64 * 1024 {
            big.push_str("/tfpilot plan ```` > 🚀 `x` <!-- \n");
        }
        let _ = parse_comment(&big);
        let one_line = "é".repeat(40_000);
        assert_eq!(parse_comment(&one_line), CommandParse::NotAddressed);
    }

    #[test]
    fn help_lists_every_verb_once() {
        let help = help_text();
        for verb in Verb::ALL {
            assert_eq!(
                help.matches(&format!("- `/tfpilot {verb}`")).count(),
                1,
                "{verb}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC*") {
            let _ = parse_comment(&s);
        }

        #[test]
        fn markdown_noise_never_panics(s in "[ \\t\\n>`~*#<!\\-/tfpilotplanaply]{0,200}") {
            if let CommandParse::Malformed { problems, .. } = parse_comment(&s) {
                for p in problems {
                    let _ = p.message();
                }
            }
        }
    }
}
