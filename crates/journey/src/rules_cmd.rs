//! `journey rules check FILE`: reads a rules file — the `[rules]` section of
//! the service configuration (`[rules]`, `[rules.repeat_contact]`, ...,
//! `[rules.owners]`) — and reports every problem with the line, column and
//! field: syntax errors, unknown fields, wrong types and values out of range
//! ([`RulesConfig::validate`]). The other sections of a full service
//! configuration may be present and are ignored, so the service's own file
//! can be checked too. `journey replay --rules` loads candidates with
//! [`load`], so shadow mode and the check accept exactly the same files.

use std::io::Write;
use std::ops::Range;
use std::path::Path;

use journey_core::rules::RulesConfig;
use serde::Deserialize;
use toml_edit::{ImDocument, Item};

/// The file's shape: `[rules]`, plus the service sections that may sit next to it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rules: RulesConfig,
    #[serde(rename = "kafka")]
    _kafka: Option<serde::de::IgnoredAny>,
    #[serde(rename = "topics")]
    _topics: Option<serde::de::IgnoredAny>,
    #[serde(rename = "batch")]
    _batch: Option<serde::de::IgnoredAny>,
    #[serde(rename = "normalize")]
    _normalize: Option<serde::de::IgnoredAny>,
    #[serde(rename = "identity")]
    _identity: Option<serde::de::IgnoredAny>,
    #[serde(rename = "state")]
    _state: Option<serde::de::IgnoredAny>,
    #[serde(rename = "http")]
    _http: Option<serde::de::IgnoredAny>,
    #[serde(rename = "output")]
    _output: Option<serde::de::IgnoredAny>,
}

/// One problem in a rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line and column.
    pub line: usize,
    pub column: usize,
    /// Dotted path of the field, when known (`rules.repeat_contact.window_hours`).
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: ", self.line, self.column)?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Parses and validates the text of a rules file.
///
/// # Errors
/// Every problem found, each with line, column and field; a syntax or type
/// error stops at the first one (the TOML parser reports one at a time).
pub fn check(text: &str) -> Result<RulesConfig, Vec<Diagnostic>> {
    let doc = ImDocument::parse(text).ok();
    match toml::from_str::<RulesFile>(text) {
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let field = doc
                .as_ref()
                .and_then(|d| path_at(d.as_item(), span.start, ""));
            let message = e.message().trim().replace('\n', " ");
            let (line, column) = line_col(text, span.start);
            Err(vec![Diagnostic {
                line,
                column,
                field,
                message,
            }])
        }
        Ok(file) => {
            let problems = file.rules.validate();
            if problems.is_empty() {
                return Ok(file.rules);
            }
            Err(problems
                .into_iter()
                .map(|p| {
                    let field = format!("rules.{}", p.field);
                    let at = doc
                        .as_ref()
                        .and_then(|d| span_of(d.as_item(), &field))
                        .map_or(0, |s| s.start);
                    let (line, column) = line_col(text, at);
                    Diagnostic {
                        line,
                        column,
                        field: Some(field),
                        message: p.message,
                    }
                })
                .collect())
        }
    }
}

/// Reads and checks a rules file; the error lists every problem as `FILE:LINE:COL: field ...: message`.
///
/// # Errors
/// When the file cannot be read or has problems.
pub fn load(path: &Path) -> anyhow::Result<RulesConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    check(&text).map_err(|problems| {
        let lines: Vec<String> = problems
            .iter()
            .map(|d| format!("{}:{d}", path.display()))
            .collect();
        anyhow::anyhow!("invalid rules file:\n{}", lines.join("\n"))
    })
}

/// `journey rules check`: prints `FILE: ok ...` or one line per problem; `false` on problems.
///
/// # Errors
/// When the file cannot be read or the output cannot be written.
pub fn run_check(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    match check(&text) {
        Ok(cfg) => {
            let enabled = enabled_rules(&cfg);
            writeln!(
                out,
                "{}: ok; {} rules enabled: {}",
                path.display(),
                enabled.len(),
                enabled.join(", ")
            )?;
            Ok(true)
        }
        Err(problems) => {
            for d in &problems {
                writeln!(err, "{}:{d}", path.display())?;
            }
            writeln!(err, "{}: {} problem(s)", path.display(), problems.len())?;
            Ok(false)
        }
    }
}

fn enabled_rules(cfg: &RulesConfig) -> Vec<&'static str> {
    [
        ("repeat_contact", cfg.repeat_contact.enabled),
        ("channel_hop", cfg.channel_hop.enabled),
        ("broken_promise", cfg.broken_promise.enabled),
        ("detractor", cfg.detractor.enabled),
        ("abandoned_checkout", cfg.abandoned_checkout.enabled),
        ("transfer_loop", cfg.transfer_loop.enabled),
        ("unanswered", cfg.unanswered.enabled),
        ("sentiment_drop", cfg.sentiment_drop.enabled),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect()
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn contains(span: Option<Range<usize>>, pos: usize) -> bool {
    span.is_some_and(|s| s.start <= pos && pos < s.end.max(s.start + 1))
}

/// The dotted path of the deepest key or value at byte `pos`.
fn path_at(item: &Item, pos: usize, prefix: &str) -> Option<String> {
    let table = item.as_table_like()?;
    for (name, child) in table.iter() {
        let path = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        if let Some(deeper) = path_at(child, pos, &path) {
            return Some(deeper);
        }
        let key_span = table.get_key_value(name).and_then(|(k, _)| k.span());
        if contains(key_span, pos) || (child.is_value() && contains(child.span(), pos)) {
            return Some(path);
        }
    }
    None
}

/// The span of the key named by a dotted path (or of its value, or table header).
fn span_of(root: &Item, path: &str) -> Option<Range<usize>> {
    let mut item = root;
    let mut best = None;
    for name in path.split('.') {
        let table = item.as_table_like()?;
        let (key, child) = table.get_key_value(name)?;
        best = key.span().or_else(|| child.span()).or(best);
        item = child;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        check(text)
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_good_file_and_an_empty_one_pass() {
        let cfg =
            check("[rules]\ndefault_owner = \"care\"\n[rules.channel_hop]\nmin_channels = 2\n")
                .expect("valid");
        assert_eq!(cfg.channel_hop.min_channels, 2);
        assert_eq!(check("").expect("defaults"), RulesConfig::default());
        // A full service config: the other sections are ignored.
        assert!(
            check("[kafka]\nbootstrap_servers = \"x:9092\"\n[rules.detractor]\nnps_max = 5\n")
                .is_ok()
        );
    }

    #[test]
    fn unknown_fields_wrong_types_and_bad_values_name_line_and_field() {
        assert_eq!(
            problems("[rules]\n\n[rules.repeat_contact]\nwindw_hours = 3\n"),
            ["4:1: field `rules.repeat_contact.windw_hours`: unknown field `windw_hours`, expected one of `enabled`, `min_contacts`, `window_hours`, `severity`"]
        );
        let severity = problems("[rules.unanswered]\nseverity = \"urgent\"\n");
        assert_eq!(severity.len(), 1);
        assert!(
            severity[0]
                .starts_with("2:12: field `rules.unanswered.severity`: unknown variant `urgent`"),
            "{severity:?}"
        );
        assert_eq!(
            problems("[rules.channel_hop]\nenabled = true\nwindow_hours = 0\n[rules.unanswered.service_level_minutes]\nchat = 5\nfax = 5\n"),
            [
                "3:1: field `rules.channel_hop.window_hours`: must be greater than 0 (default 48)",
                "6:1: field `rules.unanswered.service_level_minutes.fax`: unknown channel `fax` (expected one of chat, phone, email, web, store, survey)",
            ]
        );
        let syntax = problems("[rules\n");
        assert!(syntax[0].starts_with("1:7:"), "{syntax:?}");
        assert!(problems("[rule.repeat_contact]\nenabled = false\n")[0]
            .contains("unknown field `rule`"));
    }
}
