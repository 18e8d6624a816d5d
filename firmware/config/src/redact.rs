//! Printable views of a config: the whole structure as a TOML value tree, with secrets
//! (WireGuard private key, join tokens) replaced by a marker unless asked otherwise.

use crate::schema::Config;

/// What replaces a secret in a redacted view.
pub const REDACTED: &str = "<redacted>";

/// Keys whose values are secrets, wherever they appear in the tree.
const SECRET_KEYS: &[&str] = &["private_key", "join_token", "join_tokens"];

impl Config {
    /// The config as a TOML table with every secret replaced by `"<redacted>"`; suitable
    /// for printing, logging and the status API.
    pub fn redacted(&self) -> toml::Table {
        let mut table = self.to_table();
        redact_table(&mut table);
        table
    }

    /// The config as a TOML table including its secrets.
    pub fn to_table(&self) -> toml::Table {
        // NOTE(unwrap): every schema type serializes to TOML (no maps with non-string
        // keys, no bare values at the top level); a failure is a bug caught by tests.
        toml::Table::try_from(self).expect("config serializes to a TOML table")
    }
}

fn redact_table(table: &mut toml::Table) {
    for (key, value) in table.iter_mut() {
        if SECRET_KEYS.contains(&key.as_str()) {
            redact_value(value);
        } else {
            descend(value);
        }
    }
}

fn descend(value: &mut toml::Value) {
    match value {
        toml::Value::Table(t) => redact_table(t),
        toml::Value::Array(items) => items.iter_mut().for_each(descend),
        _ => {}
    }
}

fn redact_value(value: &mut toml::Value) {
    match value {
        toml::Value::Array(items) => items.iter_mut().for_each(redact_value),
        other => *other = toml::Value::String(REDACTED.to_string()),
    }
}
