//! The shell-like word processing BuildKit applies to Dockerfile words: quotes, escapes and
//! `$VAR`/`${VAR…}` expansion. Written from moby/buildkit `frontend/dockerfile/shell/lex.go`
//! (`processStopOn`, `processDollar`, `processName`, the quote functions and `wordsStruct`);
//! it only ever builds strings, so no text it reads can run anything.
//!
//! Two bounds BuildKit does not have keep hostile input cheap: `${` nests at most
//! [`MAX_NESTING`] deep, and the variable values copied come out of a byte budget.

/// How deep `${a:-${b:-…}}` may nest.
pub(super) const MAX_NESTING: usize = 32;

/// What a variable holds, as far as the reader can know.
pub(super) enum Lookup<'a> {
    Set(&'a str),
    Unset,
    /// BuildKit knows it only at build time (the platform arguments, or an ARG made from one).
    Unknown,
}

/// The variables a word is expanded with.
pub(super) trait Env {
    fn lookup(&self, name: &str) -> Lookup<'_>;
}

/// No variables at all.
struct NoVariables;

impl Env for NoVariables {
    fn lookup(&self, _: &str) -> Lookup<'_> {
        Lookup::Unset
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ShellError {
    /// BuildKit refuses the word; the sentence is BuildKit's reason.
    Syntax(String),
    /// The word depends on this variable, whose value the reader cannot know.
    Unknown(String),
    /// `${VAR#…}`, `${VAR%…}` or `${VAR/…}` of a set variable: shell patterns, not evaluated here.
    Pattern(String),
    TooDeep,
    TooLarge,
}

impl std::fmt::Display for ShellError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShellError::Syntax(reason) => f.write_str(reason),
            ShellError::Unknown(name) => write!(f, "{name} has no value before the build runs"),
            ShellError::Pattern(name) => {
                write!(
                    f,
                    "${{{name}#…}}, ${{{name}%…}} and ${{{name}/…}} patterns are not evaluated by this reader"
                )
            }
            ShellError::TooDeep => write!(f, "${{…}} nests more than {MAX_NESTING} deep"),
            ShellError::TooLarge => f.write_str("variables expand to too much text"),
        }
    }
}

/// How a word is read: BuildKit's `Lex` options that dockhand needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lexer {
    pub escape: char,
    /// Keep quote characters in the result.
    pub raw_quotes: bool,
    /// Keep escape characters in the result.
    pub raw_escapes: bool,
    /// Leave `$VAR` of an unset variable as written.
    pub skip_unset: bool,
}

impl Lexer {
    /// BuildKit's `NewLex(escape)`: quotes and escapes are removed, unset variables are empty.
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
        }
    }

    /// `ProcessWord`: the word expanded, spaces kept. The bytes of variable values it
    /// copies are taken from `budget`.
    pub fn word(&self, text: &str, env: &dyn Env, budget: &mut usize) -> Result<String, ShellError> {
        Ok(self.run(text, env, budget)?.0)
    }

    /// `ProcessWords`: the text expanded and split at unquoted spaces.
    pub fn words(&self, text: &str, env: &dyn Env, budget: &mut usize) -> Result<Vec<String>, ShellError> {
        Ok(self.run(text, env, budget)?.1)
    }

    /// `word` where no variable is set: nothing is copied, so no budget is needed.
    pub fn word_without_variables(&self, text: &str) -> Result<String, ShellError> {
        self.word(text, &NoVariables, &mut 0)
    }

    /// `words` where no variable is set.
    pub fn words_without_variables(&self, text: &str) -> Result<Vec<String>, ShellError> {
        self.words(text, &NoVariables, &mut 0)
    }

    fn run(&self, text: &str, env: &dyn Env, budget: &mut usize) -> Result<(String, Vec<String>), ShellError> {
        let mut state = State {
            lexer: *self,
            chars: text.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            depth: 0,
            written: 0,
            limit: *budget,
        };
        let read = state.until(None, self.raw_escapes);
        *budget = budget.saturating_sub(state.written);
        read
    }
}

struct State<'e> {
    lexer: Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'e dyn Env,
    raw_escapes: bool,
    depth: usize,
    written: usize,
    limit: usize,
}

/// The words of a text, split at unquoted whitespace (`wordsStruct`).
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.raw_char(c);
        }
    }

    fn raw_char(&mut self, c: char) {
        self.buf.push(c);
        self.in_word = true;
    }

    fn string(&mut self, s: &str) {
        s.chars().for_each(|c| self.char(c));
    }

    fn raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

fn syntax(message: &str) -> ShellError {
    ShellError::Syntax(message.to_owned())
}

impl State<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    /// `processStopOn`: reads up to `stop` (consumed) or the end.
    fn until(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Vec<String>), ShellError> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let read = self.until_inner(stop);
        self.raw_escapes = saved;
        read
    }

    fn until_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), ShellError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                    words.string(&value);
                }
                '<' => {
                    let value = self.possible_heredoc();
                    result.push_str(&value);
                    words.raw_string(&value);
                }
                '\'' | '"' => {
                    let value = self.quoted(c)?;
                    result.push_str(&value);
                    words.raw_string(&value);
                }
                _ => {
                    self.pos += 1;
                    if c == self.lexer.escape {
                        if self.raw_escapes {
                            words.raw_char(c);
                            result.push(c);
                        }
                        let Some(escaped) = self.next() else { break };
                        words.raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.char(c);
                        result.push(c);
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(ShellError::Syntax(format!(
                "unexpected end of statement while looking for matching {stop}"
            ))),
            None => Ok((result, words.finish())),
        }
    }

    /// `processSingleQuote` and `processDoubleQuote`, at the opening quote: single quotes
    /// keep everything; double quotes expand `$` and let the escape character escape `"`,
    /// `$` and itself.
    fn quoted(&mut self, quote: char) -> Result<String, ShellError> {
        let mut result = String::new();
        self.pos += 1;
        if self.lexer.raw_quotes {
            result.push(quote);
        }
        let double = quote == '"';
        loop {
            let Some(mut c) = self.peek() else {
                let name = if double { "double-quote" } else { "single-quote" };
                return Err(ShellError::Syntax(format!(
                    "unexpected end of statement while looking for matching {name}"
                )));
            };
            if c == '$' && double {
                let value = self.dollar()?;
                result.push_str(&value);
                continue;
            }
            self.pos += 1;
            if c == quote {
                if self.lexer.raw_quotes {
                    result.push(quote);
                }
                return Ok(result);
            }
            if c == self.lexer.escape && double {
                if self.raw_escapes {
                    result.push(c);
                }
                match self.peek() {
                    None => continue,
                    Some(n) if n == '"' || n == '$' || n == self.lexer.escape => {
                        self.pos += 1;
                        c = n;
                    }
                    Some(_) => {}
                }
            }
            result.push(c);
        }
    }

    /// A variable's value, counted against the limit.
    fn value(&mut self, name: &str) -> Result<Option<String>, ShellError> {
        match self.env.lookup(name) {
            Lookup::Set(value) => {
                self.written += value.len();
                if self.written > self.limit {
                    return Err(ShellError::TooLarge);
                }
                Ok(Some(value.to_owned()))
            }
            Lookup::Unset => Ok(None),
            Lookup::Unknown => Err(ShellError::Unknown(name.to_owned())),
        }
    }

    /// `processDollar`, at a `$`.
    fn dollar(&mut self) -> Result<String, ShellError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.value(&name)? {
                Some(value) => value,
                None if self.lexer.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(syntax("syntax error: missing '}'")),
            Some('{' | '}' | ':') => return Err(syntax("syntax error: bad substitution")),
            Some(_) => {}
        }
        let name = self.name();
        let mut modifier = self.next();
        let mut null_is_unset = false;
        if modifier == Some(':') {
            null_is_unset = true;
            modifier = self.next();
        }
        let unsupported = || {
            let shown: String = [null_is_unset.then_some(':'), modifier].into_iter().flatten().collect();
            ShellError::Syntax(format!("unsupported modifier ({shown}) in substitution"))
        };
        match modifier {
            Some('}') if !null_is_unset => Ok(match self.value(&name)? {
                Some(value) => value,
                None if self.lexer.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(m @ ('+' | '-' | '?' | '#' | '%')) => {
                let pattern = m == '#' || m == '%';
                if null_is_unset && pattern {
                    return Err(unsupported());
                }
                let word = self.nested(|s| s.until(Some('}'), pattern), "syntax error: missing '}'")?;
                let value = self.value(&name)?;
                if value.is_none() && self.lexer.skip_unset {
                    let colon = if null_is_unset { ":" } else { "" };
                    return Ok(format!("${{{name}{colon}{m}{word}}}"));
                }
                let missing = value.as_deref().is_none_or(|v| null_is_unset && v.is_empty());
                match m {
                    '-' => Ok(if missing { word } else { value.unwrap_or_default() }),
                    '+' => Ok(if missing { String::new() } else { word }),
                    '?' if missing => {
                        let default = if value.is_none() {
                            "is not allowed to be unset"
                        } else {
                            "is not allowed to be empty"
                        };
                        let message = if word.is_empty() { default } else { &word };
                        Err(ShellError::Syntax(format!("{name}: {message}")))
                    }
                    '?' => Ok(value.unwrap_or_default()),
                    _ => Err(ShellError::Pattern(name)),
                }
            }
            Some('/') if !null_is_unset => {
                if self.peek() == Some('/') {
                    self.pos += 1;
                }
                let pattern = self.nested(|s| s.until(Some('/'), true), "syntax error: missing '/' in ${}")?;
                let replacement = self.nested(|s| s.until(Some('}'), true), "syntax error: missing '}'")?;
                match self.value(&name)? {
                    None if self.lexer.skip_unset => Ok(format!("${{{name}/{pattern}/{replacement}}}")),
                    _ => Err(ShellError::Pattern(name)),
                }
            }
            // BuildKit says "unsupported modifier" of the end of the text.
            None => Err(syntax("syntax error: missing '}'")),
            _ => Err(unsupported()),
        }
    }

    /// A word inside `${…}`, one level deeper; `at_end` is the error when the text ends first.
    fn nested(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<(String, Vec<String>), ShellError>,
        at_end: &str,
    ) -> Result<String, ShellError> {
        if self.depth == MAX_NESTING {
            return Err(ShellError::TooDeep);
        }
        self.depth += 1;
        let word = read(self);
        self.depth -= 1;
        match word {
            Ok((word, _)) => Ok(word),
            Err(ShellError::Syntax(_)) if self.peek().is_none() => Err(syntax(at_end)),
            Err(e) => Err(e),
        }
    }

    /// `processName`: digits, one special parameter, or letters, digits and underscores.
    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_numeric() => {
                while let Some(c) = self.peek().filter(|c| c.is_numeric()) {
                    self.pos += 1;
                    name.push(c);
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')) => {
                self.pos += 1;
                return c.to_string();
            }
            _ => {}
        }
        while let Some(c) = self.peek().filter(|&c| c.is_alphabetic() || c.is_numeric() || c == '_') {
            self.pos += 1;
            name.push(c);
        }
        name
    }

    /// `processPossibleHeredoc`: `<<` keeps the blanks after it in the same word.
    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.pos += 1;
        let mut result = String::from("<<");
        while let Some(c) = self.peek().filter(|c| matches!(c, '\t' | '\r' | ' ')) {
            self.pos += 1;
            result.push(c);
        }
        result
    }
}
