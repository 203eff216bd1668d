//! Lines to instructions, as BuildKit's parser reads them (moby/buildkit
//! `frontend/dockerfile/parser/parser.go`, `directives.go`, `split_command.go` and
//! `line_parsers.go`): parser directives, comments, line continuations, heredoc bodies
//! (skipped) and the split of an instruction into its keyword, `--flags` and arguments.

use super::shell::Lexer;

/// BuildKit reads a Dockerfile with Go's `bufio.Scanner`, which refuses longer lines.
pub(super) const MAX_LINE: usize = 64 * 1024 - 1;

/// One instruction, its continuation lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Node {
    /// 1-based line of its first line.
    pub line: usize,
    /// The keyword as written (`from`, `FROM`).
    pub keyword: String,
    /// The leading `--name[=value]` words, quotes and escapes removed.
    pub flags: Vec<String>,
    /// The rest, trimmed.
    pub args: String,
}

impl Node {
    pub fn is(&self, keyword: &str) -> bool {
        self.keyword.eq_ignore_ascii_case(keyword)
    }
}

/// The instructions of `text` and the escape character its directives chose.
pub(super) fn parse(text: &str, problems: &mut Vec<String>) -> (Vec<Node>, char) {
    let mut directives = Directives {
        escape: '\\',
        done: false,
        seen: Vec::new(),
    };
    let mut lines = Lines {
        rest: text,
        number: 0,
        reported_long: false,
    };
    let mut nodes = Vec::new();
    while let Some(raw) = lines.next(problems) {
        let first = trim_newline(raw).trim_start();
        if !directives.done {
            directives.read(first, lines.number, problems);
        }
        let start = lines.number;
        let (content, mut complete) = trim_continuation(if is_comment(first) { "" } else { first }, directives.escape);
        if complete && content.is_empty() {
            continue;
        }
        let mut joined = content.to_owned();
        while !complete {
            let Some(raw) = lines.next(problems) else { break };
            let line = trim_newline(raw);
            // Comment lines inside a continuation are dropped; so are empty ones (BuildKit warns).
            if is_comment(line) || line.trim_start().is_empty() {
                continue;
            }
            let (content, done) = trim_continuation(line, directives.escape);
            joined.push_str(content);
            complete = done;
        }
        let node = split_command(&joined, start, directives.escape);
        if can_contain_heredoc(&node, directives.escape, problems) && joined.contains("<<") {
            match heredocs(&joined) {
                Ok(heredocs) => {
                    for heredoc in heredocs {
                        if !lines.skip_heredoc(&heredoc, problems) {
                            problems.push(format!(
                                "line {start}: the heredoc {:?} is never terminated",
                                heredoc.name
                            ));
                            nodes.push(node);
                            return (nodes, directives.escape);
                        }
                    }
                }
                Err(e) => problems.push(format!("line {start}: {e}")),
            }
        }
        nodes.push(node);
    }
    (nodes, directives.escape)
}

struct Lines<'a> {
    rest: &'a str,
    /// The number of the line last read.
    number: usize,
    reported_long: bool,
}

impl<'a> Lines<'a> {
    /// The next line, its `\n` included.
    fn next(&mut self, problems: &mut Vec<String>) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self.rest.find('\n').map_or(self.rest.len(), |i| i + 1);
        let (line, rest) = self.rest.split_at(end);
        self.rest = rest;
        self.number += 1;
        if line.len() > MAX_LINE + 1 && !self.reported_long {
            self.reported_long = true;
            problems.push(format!(
                "line {}: longer than {MAX_LINE} bytes, the longest line BuildKit reads",
                self.number
            ));
        }
        Some(line)
    }

    /// Reads past a heredoc's body; false when the text ends before its terminator.
    fn skip_heredoc(&mut self, heredoc: &Heredoc, problems: &mut Vec<String>) -> bool {
        while let Some(raw) = self.next(problems) {
            let line = trim_newline(raw);
            let line = if heredoc.chomp {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if line == heredoc.name {
                return true;
            }
        }
        false
    }
}

/// Parser directives: `# key=value` lines before anything else (`DirectiveParser`).
struct Directives {
    escape: char,
    done: bool,
    seen: Vec<String>,
}

impl Directives {
    fn read(&mut self, line: &str, number: usize, problems: &mut Vec<String>) {
        let Some((key, value)) = directive(line) else {
            self.done = true;
            return;
        };
        if self.seen.contains(&key) {
            problems.push(format!("line {number}: only one {key} parser directive can be used"));
            return;
        }
        if key == "escape" {
            match value {
                "\\" => self.escape = '\\',
                "`" => self.escape = '`',
                _ => problems.push(format!(
                    "line {number}: invalid escape token {value:?}; it must be ` or \\"
                )),
            }
        }
        self.seen.push(key);
    }
}

/// `# key=value` with a directive BuildKit knows (`syntax`, `escape`, `check`), the key lowercased.
fn directive(line: &str) -> Option<(String, &str)> {
    let go_space = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
    let rest = line.strip_prefix('#')?.trim_start();
    let key_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    let (key, rest) = rest.split_at(key_len);
    if key.is_empty() {
        return None;
    }
    let value = rest.trim_start_matches(go_space).strip_prefix('=')?;
    let value = value.trim_start_matches(go_space).trim_end_matches(go_space);
    let key = key.to_ascii_lowercase();
    (!value.is_empty() && matches!(key.as_str(), "syntax" | "escape" | "check")).then_some((key, value))
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Strips a trailing escape character that continues the line (`lineContinuationRegex`):
/// the escape, then only spaces and tabs, and not itself escaped. True when the line is complete.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let Some(before) = line.trim_end_matches([' ', '\t']).strip_suffix(escape) else {
        return (line, true);
    };
    if before.ends_with(escape) {
        (line, true)
    } else {
        (before, false)
    }
}

/// BuildKit's `reWhitespace`.
fn is_blank(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits at the first run of blanks, as `reWhitespace.Split(s, 2)` does.
pub(super) fn split_blank(s: &str) -> (&str, &str) {
    match s.find(is_blank) {
        Some(i) => (&s[..i], s[i..].trim_start_matches(is_blank)),
        None => (s, ""),
    }
}

/// The words of `s` between runs of blanks (`parseStringsWhitespaceDelimited`).
pub(super) fn blank_separated(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(is_blank).filter(|w| !w.is_empty()).collect()
    }
}

/// `splitCommand` and `extractBuilderFlags`.
fn split_command(line: &str, number: usize, escape: char) -> Node {
    let (keyword, rest) = split_blank(line.trim());
    let (flags, args) = if rest.is_empty() {
        (Vec::new(), "")
    } else {
        builder_flags(rest, escape)
    };
    Node {
        line: number,
        keyword: keyword.to_owned(),
        flags,
        args: args.trim().to_owned(),
    }
}

/// The leading `--` words of an instruction and the text after them.
fn builder_flags(line: &str, escape: char) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        while chars.next_if(|&(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return (flags, "");
        };
        if !line[start..].starts_with("--") {
            return (flags, &line[start..]);
        }
        let mut word = String::new();
        let mut quoted = false;
        let mut quote = None;
        let end = loop {
            let Some((i, c)) = chars.next() else { break None };
            match quote {
                None if c.is_whitespace() => break Some(i),
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    quoted = true;
                }
                Some(q) if c == q => quote = None,
                _ if c == escape => match chars.next() {
                    Some((_, escaped)) => word.push(escaped),
                    None => quote = None,
                },
                _ => word.push(c),
            }
        };
        if word == "--" {
            return (flags, end.map_or("", |i| &line[i..]));
        }
        if quoted || !word.is_empty() {
            flags.push(word);
        }
        if end.is_none() {
            return (flags, "");
        }
    }
}

/// The words of an ARG, ENV or LABEL with their quotes and escapes kept (`parseWords`).
pub(super) fn quoted_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                continue;
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                blank_ok = true;
            }
            Some(q) if c == q => quote = None,
            _ => {}
        }
        let escapes = quote != Some('\'');
        if c == escape && escapes {
            match chars.next() {
                Some(escaped) => {
                    word.push(c);
                    word.push(escaped);
                }
                // An escape at the end is dropped, and ends a quote.
                None => quote = None,
            }
            continue;
        }
        word.push(c);
    }
    if blank_ok || !word.is_empty() {
        words.push(word);
    }
    words
}

/// Whether the instruction's arguments are a JSON array (`parseJSON`): `Ok(None)` for shell
/// form, an error for an array that holds anything but strings.
pub(super) fn json_form(args: &str) -> Result<Option<Vec<String>>, String> {
    let args = args.trim_start();
    if !args.starts_with('[') {
        return Ok(None);
    }
    let Ok(items) = serde_json::from_str::<Vec<serde_json::Value>>(args) else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::String(s) => Ok(s),
            _ => Err("when using JSON array syntax, arrays must be comprised of strings only".to_owned()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// RUN, COPY and ADD in shell form may have heredocs, also as an ONBUILD trigger
/// (`canContainHeredoc`). An instruction that may be in JSON form and is in a broken one is
/// a problem (`parseMaybeJSON`).
fn can_contain_heredoc(node: &Node, escape: char, problems: &mut Vec<String>) -> bool {
    let trigger;
    let node = if node.is("onbuild") {
        trigger = split_command(&node.args, node.line, escape);
        &trigger
    } else {
        node
    };
    if !["run", "copy", "add", "cmd", "entrypoint", "shell", "volume"]
        .iter()
        .any(|k| node.is(k))
    {
        return false;
    }
    match json_form(&node.args) {
        Ok(json) => json.is_none() && ["run", "copy", "add"].iter().any(|k| node.is(k)),
        Err(e) => {
            problems.push(format!("line {}: {e}", node.line));
            false
        }
    }
}

struct Heredoc {
    name: String,
    /// `<<-`: the terminator may be indented with tabs.
    chomp: bool,
}

/// The heredocs an instruction opens, in order (`heredocsFromLine`, `ParseHeredoc`).
fn heredocs(line: &str) -> Result<Vec<Heredoc>, String> {
    let raw = Lexer {
        escape: '\\',
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
    };
    // BuildKit ignores a line it cannot split, and so finds no heredoc in it.
    let words = raw.words_without_variables(line).unwrap_or_default();
    let plain = Lexer {
        skip_unset: true,
        ..Lexer::new('\\')
    };
    let mut found = Vec::new();
    for word in words {
        let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
        let Some(rest) = rest.strip_prefix("<<") else { continue };
        let (chomp, rest) = match rest.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let rest = rest.trim_start_matches(['\t', '\n', '\x0c', '\r', ' ']);
        if rest.is_empty() || rest.contains('<') {
            continue;
        }
        let mut names = plain
            .words_without_variables(rest)
            .map_err(|e| format!("cannot read the heredoc {rest:?}: {e}"))?;
        if names.len() == 1 {
            found.push(Heredoc {
                name: names.remove(0),
                chomp,
            });
        }
    }
    Ok(found)
}
