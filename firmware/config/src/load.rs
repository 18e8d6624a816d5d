//! Loading TOML text into a [`Config`]: parse, deserialize, validate, and point every
//! problem at its file, line and column.
//!
//! The source positions come from `toml`'s spans: the document is parsed once into a
//! spanned tree ([`toml::de::DeTable`]); deserialization errors carry a byte span that is
//! mapped to a field path, and validation errors carry a field path that is mapped back
//! to a span. Nothing here reads files; the caller passes the text and a name for it.

use core::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{ConfigError, Location};
use crate::schema::Config;

/// Parses and validates a TOML config. On failure returns the first problem, located in
/// the text; use [`check_toml`] to get all of them.
pub fn load_toml(text: &str, file_name: &str) -> Result<Config, ConfigError> {
    check_toml(text, file_name).map_err(|mut errors| errors.swap_remove(0))
}

/// Parses and validates a TOML config, returning every problem (never an empty list),
/// each located in the text.
pub fn check_toml(text: &str, file_name: &str) -> Result<Config, Vec<ConfigError>> {
    let tree = match DeTable::parse(text) {
        Ok(tree) => tree,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let mut err = ConfigError::new(
                "",
                syntax_message(e.message()),
                "correct the TOML syntax at this position",
            );
            err.location = Some(location(text, file_name, span.start));
            return Err(vec![err]);
        }
    };
    let config: Config = match toml::from_str(text) {
        Ok(config) => config,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let path = path_at(tree.get_ref(), span.clone());
            let (problem, fix) = explain(e.message());
            let mut err = ConfigError::new(path, problem, fix);
            err.location = Some(location(text, file_name, span.start));
            return Err(vec![err]);
        }
    };
    match crate::validate(&config) {
        Ok(()) => Ok(config),
        Err(mut errors) => {
            for err in &mut errors {
                let span = span_of(&tree, &err.path);
                err.location = Some(location(text, file_name, span.start));
            }
            Err(errors)
        }
    }
}

fn syntax_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or("invalid TOML").trim();
    format!("invalid TOML: {first}")
}

/// Turns a serde/toml message into a problem and a fix.
fn explain(message: &str) -> (String, String) {
    let mut problem = message.trim().trim_end_matches('.').to_string();
    // heapless: "invalid length 18, expected a string no more than 15 bytes long"
    if let Some(rest) = problem.strip_prefix("invalid length ")
        && let Some((len, expected)) = rest.split_once(", expected a string no more than ")
        && let Some(max) = expected.strip_suffix(" bytes long")
    {
        problem = format!("the value is {len} bytes long; at most {max} bytes fit");
    }
    let fix = if problem.starts_with("unknown field") {
        "remove the key or correct its spelling".to_string()
    } else if let Some(rest) = problem.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or("");
        format!("add `{field} = ...` to this table (see docs/config.md)")
    } else if problem.contains("bytes fit") {
        "shorten the value to the stated limit".to_string()
    } else if problem.starts_with("unknown variant") {
        "use one of the listed values".to_string()
    } else if problem.contains("IP address") || problem.contains("network address") {
        "write an address like `192.0.2.1`, a socket address like `192.0.2.1:4179`, or a prefix like `192.0.2.0/24`, as the field expects".to_string()
    } else if problem.starts_with("invalid type") {
        "write the value with the expected type".to_string()
    } else {
        "correct the value as described".to_string()
    };
    (problem, fix)
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn location(text: &str, file_name: &str, offset: usize) -> Location {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Location {
        file: file_name.to_string(),
        line,
        column,
    }
}

/// The deepest field path whose key or value span contains `span.start`.
fn path_at(table: &DeTable<'_>, span: Range<usize>) -> String {
    let mut path = String::new();
    descend_table(table, span.start, &mut path);
    path
}

fn descend_table(table: &DeTable<'_>, at: usize, path: &mut String) {
    for (key, value) in table.iter() {
        let in_key = key.span().contains(&at);
        if in_key || value.span().contains(&at) {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key.get_ref());
            if !in_key {
                descend_value(value, at, path);
            }
            return;
        }
    }
    // Array-of-tables and dotted-table values may lie outside the parent's span:
    // search children whose own spans do not cover the position.
    for (key, value) in table.iter() {
        let mut probe = String::new();
        if contains_deep(value, at) {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key.get_ref());
            descend_value(value, at, &mut probe);
            if !probe.is_empty() {
                if !probe.starts_with('[') {
                    path.push('.');
                }
                path.push_str(&probe);
            }
            return;
        }
    }
}

fn contains_deep(value: &Spanned<DeValue<'_>>, at: usize) -> bool {
    if value.span().contains(&at) {
        return true;
    }
    match value.get_ref() {
        DeValue::Table(t) => t
            .iter()
            .any(|(k, v)| k.span().contains(&at) || contains_deep(v, at)),
        DeValue::Array(a) => a.iter().any(|v| contains_deep(v, at)),
        _ => false,
    }
}

fn descend_value(value: &Spanned<DeValue<'_>>, at: usize, path: &mut String) {
    match value.get_ref() {
        DeValue::Table(t) => descend_table(t, at, path),
        DeValue::Array(a) => {
            if let Some(i) = a.iter().position(|v| contains_deep(v, at)) {
                path.push_str(&format!("[{i}]"));
                descend_value(&a[i], at, path);
            }
        }
        _ => {}
    }
}

/// The span of the deepest existing element along `path` (e.g. `bgp.peers[1].address`);
/// a path to an absent field resolves to its nearest existing parent.
fn span_of(tree: &Spanned<DeTable<'_>>, path: &str) -> Range<usize> {
    let mut best = 0..0;
    let mut table: Option<&DeTable<'_>> = Some(tree.get_ref());
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (name, indices) = split_indices(segment);
        let Some(t) = table else { break };
        let Some((key, value)) = t.iter().find(|(k, _)| k.get_ref() == name) else {
            break;
        };
        best = key.span();
        let mut current = Some(value);
        for index in indices {
            match current.map(Spanned::get_ref) {
                Some(DeValue::Array(a)) if index < a.len() => {
                    current = Some(&a[index]);
                    best = first_span(&a[index]);
                }
                _ => break,
            }
        }
        table = match current.map(Spanned::get_ref) {
            Some(DeValue::Table(t)) => Some(t),
            _ => None,
        };
        if let Some(v) = current
            && !matches!(v.get_ref(), DeValue::Table(_))
        {
            best = v.span();
        }
    }
    best
}

/// For a table element of an array, the first key's span is more useful than the
/// table's (array-of-tables spans may start at the header).
fn first_span(value: &Spanned<DeValue<'_>>) -> Range<usize> {
    match value.get_ref() {
        DeValue::Table(t) => t
            .iter()
            .map(|(k, _)| k.span())
            .min_by_key(|s| s.start)
            .unwrap_or(value.span()),
        _ => value.span(),
    }
}

fn split_indices(segment: &str) -> (&str, Vec<usize>) {
    let name_end = segment.find('[').unwrap_or(segment.len());
    let indices = segment[name_end..]
        .split(['[', ']'])
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    (&segment[..name_end], indices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_characters_from_one() {
        let text = "a = 1\nbé = 2\n";
        let loc = location(text, "f.toml", text.find('=').unwrap());
        assert_eq!((loc.line, loc.column), (1, 3));
        let loc = location(text, "f.toml", text.rfind('=').unwrap());
        assert_eq!((loc.line, loc.column), (2, 4));
    }

    #[test]
    fn paths_and_spans_map_both_ways() {
        let text = "[bgp]\nhold_time = 9\n[[bgp.peers]]\naddress = \"192.0.2.1\"\n[[bgp.peers]]\naddress = \"192.0.2.2\"\nremote_as = 1\n";
        let tree = DeTable::parse(text).unwrap();
        let at = text.rfind("192.0.2.2").unwrap();
        assert_eq!(path_at(tree.get_ref(), at..at + 1), "bgp.peers[1].address");
        let span = span_of(&tree, "bgp.peers[1].remote_as");
        assert_eq!(&text[span], "1");
        let span = span_of(&tree, "bgp.peers[1].max_prefixes");
        assert!(text[span.start..].starts_with("address = \"192.0.2.2\""));
    }
}
