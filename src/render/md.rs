//! Safe GitHub-flavoured Markdown pieces, and counting in characters.
//!
//! Values in the comment come from people (addresses with `for_each` keys, timeline
//! text, logins) and must not change the comment's structure: an HTML comment opener
//! would hide everything after it (including the next step), a `|` would split a
//! table cell, a newline would end a list item, an `@login` would notify someone on
//! every edit. Every value goes through one of these helpers before it is written.

/// Number of characters in `s`, as GitHub counts a comment's length.
pub fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to at most `max` characters, ending in `…` when something was cut.
pub fn clip(s: &str, max: usize) -> String {
    if chars(s) <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(1);
    let mut out: String = s.chars().take(keep).collect();
    if max > 0 {
        out.push('…');
    }
    out
}

/// Control characters and line breaks become spaces, so a value stays on its line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Plain text with every Markdown and HTML special character neutralised.
///
/// Markdown's inline markers are backslash-escaped (`\@` also stops a mention, `\$`
/// stops GitHub reading `$…$` as math);
/// `<`, `>` and `&` become entities so no HTML (and no `<!--`) gets through. Values
/// are always written mid-line, so block markers (`#`, `-`, `1.`) need no escape.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '~' | '|' | '@' | '$' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// An inline code span that shows `s` verbatim, whatever backticks it holds.
///
/// The fence is one backtick longer than the longest run inside; a space pads a
/// value that starts or ends with a backtick (CommonMark strips one on each side).
/// For prose and lists; a table cell needs [`code_cell`].
pub fn code(s: &str) -> String {
    code_span(&one_line(s), false)
}

/// Like [`code`], for a table cell: `|` is escaped as `\|`, which GitHub removes
/// inside tables (and would show anywhere else).
pub fn code_cell(s: &str) -> String {
    code_span(&one_line(s), true)
}

fn code_span(s: &str, in_table: bool) -> String {
    let body = if in_table {
        s.replace('|', "\\|")
    } else {
        s.to_string()
    };
    if body.is_empty() {
        return "` `".to_string();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    let pad = body.starts_with('`') || body.ends_with('`');
    if pad {
        format!("{fence} {body} {fence}")
    } else {
        format!("{fence}{body}{fence}")
    }
}

/// A link `[label](url)`, or the label alone when the URL is not http(s).
///
/// Characters that would end the link destination early are percent-encoded.
pub fn link(label: &str, url: &str) -> String {
    match safe_url(url) {
        Some(u) => format!("[{}]({u})", text(label)),
        None => text(label),
    }
}

/// `url` with the characters that break a Markdown link destination encoded, or
/// `None` when it is not an http(s) URL.
pub fn safe_url(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '"' => out.push_str("%22"),
            '`' => out.push_str("%60"),
            '|' => out.push_str("%7C"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// `1234567` as `1,234,567`, so big plans read at a glance.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The first seven characters of a commit SHA, as GitHub shows it.
pub fn short_sha(sha: &str) -> String {
    sha.chars().take(7).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_neutralises_html_comments_mentions_and_markup() {
        let t = text("<!-- x --> @alice *bold* [l](u) a|b\nnext");
        assert!(!t.contains("<!--"));
        assert!(!t.contains('\n'));
        assert!(t.contains("\\@alice"));
        assert!(t.contains("\\*bold\\*"));
        assert!(t.contains("a\\|b"));
        assert_eq!(text("$1 → $2"), "\\$1 → \\$2");
    }

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code("a.b"), "`a.b`");
        assert_eq!(code("x`y"), "``x`y``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code(""), "` `");
        assert_eq!(code_cell("a|b"), "`a\\|b`");
        assert_eq!(code("a\nb"), "`a b`");
    }

    #[test]
    fn clip_counts_characters_not_bytes() {
        assert_eq!(clip("ééééé", 5), "ééééé");
        assert_eq!(clip("éééééé", 5), "éééé…");
        assert_eq!(chars(&clip("éééééé", 5)), 5);
        assert_eq!(clip("abc", 0), "");
    }

    #[test]
    fn links_only_for_http_and_never_break_out() {
        assert_eq!(link("run", "javascript:alert(1)"), "run");
        assert_eq!(
            link("run", "https://x.test/a (b)"),
            "[run](https://x.test/a%20%28b%29)"
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
