//! Validated names: [`LeafId`] and [`PolicyName`].
//!
//! Invariant: 1 to 63 bytes of `[A-Za-z0-9._-]`, so a name is printable, fits any log
//! line or interface description, and encodes canonically as its ASCII bytes.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The longest name, in bytes.
pub const MAX_NAME_LEN: usize = 63;

/// Why a string is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    /// The string is empty or longer than [`MAX_NAME_LEN`] bytes.
    #[error("a name has 1 to {MAX_NAME_LEN} characters, this one has {0}")]
    Length(usize),
    /// The string holds a character outside `[A-Za-z0-9._-]`.
    #[error("a name may hold only letters, digits, '.', '_' and '-'")]
    Character,
}

fn check(text: &str) -> Result<(), NameError> {
    if text.is_empty() || text.len() > MAX_NAME_LEN {
        return Err(NameError::Length(text.len()));
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(NameError::Character);
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `text` as a name.
            pub fn new(text: &str) -> Result<Self, NameError> {
                check(text)?;
                Ok(Self(text.to_owned()))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(text: String) -> Result<Self, NameError> {
                check(&text)?;
                Ok(Self(text))
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// The identity a leaf enrolls under; unique across the registry.
    LeafId
);
name_type!(
    /// The name of an enrollment policy on the RR.
    PolicyName
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        assert!(LeafId::new("leaf-a.site_1").is_ok());
        assert_eq!(LeafId::new(""), Err(NameError::Length(0)));
        assert_eq!(LeafId::new(&"a".repeat(64)), Err(NameError::Length(64)));
        assert!(LeafId::new(&"a".repeat(63)).is_ok());
        assert_eq!(PolicyName::new("a b"), Err(NameError::Character));
        assert_eq!(PolicyName::new("é"), Err(NameError::Character));
        let parsed: Result<LeafId, _> = serde_json::from_str("\"bad/name\"");
        assert!(parsed.is_err());
    }
}
