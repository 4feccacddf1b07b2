//! A scenario file error: where (file, line, column, key path), what was expected, and a
//! hint when one helps.
//!
//! ```text
//! error: scenarios/x.toml:12:9: intermediary[0].idle-timeout.after: invalid duration "60" (...); expected a number with a unit, like "60s"
//!   hint: ...
//! ```

use std::fmt;

/// One error in one scenario file, from either loading pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file as displayed (the path the user gave).
    pub file: String,
    /// 1-based line; 0 when the error is about the file as a whole (it cannot be read).
    pub line: usize,
    /// 1-based column, in characters; 0 with `line` 0.
    pub column: usize,
    /// Where in the document, e.g. `intermediary[0].idle-timeout.after`, `expect[2].gap-max`;
    /// empty for the top level or the whole file.
    pub key_path: String,
    /// What is wrong and what was expected.
    pub message: String,
    /// A suggestion, e.g. "did you mean `nginx`?".
    pub hint: Option<String>,
}

impl ScenarioError {
    /// An error at byte `offset` of `text` (clamped to the text).
    pub fn at(
        file: &str,
        text: &str,
        offset: usize,
        key_path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_column(text, offset);
        Self {
            file: file.to_string(),
            line,
            column,
            key_path: key_path.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// An error about the file as a whole (line 0), e.g. it cannot be read.
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            line: 0,
            column: 0,
            key_path: String::new(),
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint if there is one.
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.key_path.is_empty() {
            write!(f, ": {}", self.key_path)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely
/// typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d > 0 && *d <= (word.len().max(c.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A hint "did you mean `x`?" when a candidate is close to `word`.
pub(crate) fn suggestion<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    did_you_mean(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// One key of a key path, quoted as TOML would when it is not a bare key.
pub(crate) fn key_segment(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

/// Rewrites serde's stock messages in the file's words: keys rather than fields, the
/// allowed keys or values listed, and a "did you mean" hint for a likely typo.
/// `key_path` is the table the message is about (it picks the example for a missing key).
pub(crate) fn humanize_serde_message(message: &str, key_path: &str) -> (String, Option<String>) {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (word, allowed) = split_expected(rest);
        if allowed.is_empty() {
            return (
                format!("unknown key {word}; this table takes no keys"),
                None,
            );
        }
        let hint = suggestion(&unquote(&word), allowed.iter().map(String::as_str));
        let list = allowed.join(", ");
        return (format!("unknown key {word}; expected one of: {list}"), hint);
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (word, allowed) = split_expected(rest);
        let hint = suggestion(&unquote(&word), allowed.iter().map(String::as_str));
        let list = allowed.join(", ");
        return (
            format!("unknown value {word}; expected one of: {list}"),
            hint,
        );
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let key = unquote(rest);
        return (
            format!(
                "missing required key {rest}; expected {}",
                missing_example(&key, key_path)
            ),
            None,
        );
    }
    (message.replace('\n', "; "), None)
}

/// An example line for a required key.
fn missing_example(key: &str, key_path: &str) -> String {
    let example = match key {
        "description" => "description = \"An idle stream must survive 30 minutes\"",
        "duration" => "duration = \"30m\"",
        "at" => "at = \"1s\"",
        "do" if key_path.starts_with("fault") => {
            "do = \"partition\" (or repair, hold, release, crash, bounce)"
        }
        "do" => {
            "do = \"open-stream\" (or close-stream, initialize, open-get-stream, call-tool, reconnect-stream, ping, delete-session)"
        }
        "method" => "method = \"notifications/tools/list_changed\"",
        "check" => "check = \"stream.survives\" (or another check id)",
        "data" => "data = \"hello\"",
        "checks" => "checks = [\"stream.survives\"]",
        _ => return format!("a `{key} = ...` line in this table"),
    };
    format!("a line like {example}")
}

/// Splits serde's "`word`, expected one of `a`, `b`" into the word and the allowed list.
fn split_expected(rest: &str) -> (String, Vec<String>) {
    let (word, tail) = match rest.find(", expected") {
        Some(i) => (&rest[..i], &rest[i..]),
        None => match rest.find(", there are no") {
            Some(i) => (&rest[..i], ""),
            None => (rest, ""),
        },
    };
    let tail = tail
        .trim_start_matches(", expected")
        .trim_start_matches(" one of")
        .trim();
    let allowed = tail
        .split(", ")
        .map(|s| unquote(s.trim()))
        .filter(|s| !s.is_empty())
        .collect();
    (word.to_string(), allowed)
}

fn unquote(s: &str) -> String {
    s.trim_matches('`').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // After the two-byte 'é' the column counts characters.
        assert_eq!(line_column(text, 9), (2, 3));
        // Inside a multi-byte character and past the end are clamped.
        assert_eq!(line_column(text, 8), (2, 2));
        assert_eq!(line_column(text, 1000), (3, 1));
    }

    #[test]
    fn display_has_location_key_path_and_hint() {
        let e = ScenarioError::at("s.toml", "x\n  y", 4, "a[0].b", "bad; expected c")
            .with_hint("try c");
        assert_eq!(
            e.to_string(),
            "error: s.toml:2:3: a[0].b: bad; expected c\n  hint: try c"
        );
        let e = ScenarioError::whole_file("s.toml", "cannot read");
        assert_eq!(e.to_string(), "error: s.toml: cannot read");
    }

    #[test]
    fn suggestions_need_a_small_distance() {
        let names = ["nginx", "aws-alb", "cloudflare"];
        assert_eq!(did_you_mean("ngnix", names), Some("nginx"));
        assert_eq!(did_you_mean("aws-elb", names), Some("aws-alb"));
        assert_eq!(did_you_mean("haproxy", names), None);
        assert_eq!(did_you_mean("nginx", names), None);
    }

    #[test]
    fn serde_messages_list_the_allowed_keys() {
        let (m, h) = humanize_serde_message(
            "unknown field `descripton`, expected one of `description`, `cites`",
            "",
        );
        assert_eq!(
            m,
            "unknown key `descripton`; expected one of: description, cites"
        );
        assert_eq!(h.as_deref(), Some("did you mean `description`?"));
        let (m, _) = humanize_serde_message("unknown field `x`, expected `checks`", "");
        assert_eq!(m, "unknown key `x`; expected one of: checks");
        let (m, h) = humanize_serde_message(
            "unknown variant `any1`, expected one of `upstream`, `any`",
            "",
        );
        assert_eq!(m, "unknown value `any1`; expected one of: upstream, any");
        assert_eq!(h.as_deref(), Some("did you mean `any`?"));
        let (m, _) = humanize_serde_message("missing field `duration`", "");
        assert_eq!(
            m,
            "missing required key `duration`; expected a line like duration = \"30m\""
        );
        let (m, _) = humanize_serde_message("missing field `do`", "fault[0]");
        assert!(m.contains("do = \"partition\""), "{m}");
    }
}
