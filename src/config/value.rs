//! Typed input values and their types: what form answers, defaults and presets become.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The type of a module input, as written in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputType {
    /// `string`
    String,
    /// `number`
    Number,
    /// `bool`
    Bool,
    /// `list(string)`
    ListString,
    /// `map(string)`
    MapString,
    /// `enum`: a string restricted to `allowed`.
    Enum,
}

impl InputType {
    /// The spelling used in the catalogue and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Number => "number",
            InputType::Bool => "bool",
            InputType::ListString => "list(string)",
            InputType::MapString => "map(string)",
            InputType::Enum => "enum",
        }
    }
    const ALL: [InputType; 6] = [
        InputType::String,
        InputType::Number,
        InputType::Bool,
        InputType::ListString,
        InputType::MapString,
        InputType::Enum,
    ];
}

impl fmt::Display for InputType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InputType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        InputType::ALL
            .into_iter()
            .find(|t| t.as_str() == s.trim())
            .ok_or_else(|| {
                de::Error::custom(format!(
                    "unknown input type `{s}`, expected one of `string`, `number`, `bool`, `list(string)`, `map(string)`, `enum`"
                ))
            })
    }
}

/// A typed input value: what a form answer, a default or a preset becomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum InputValue {
    /// A bool.
    Bool(bool),
    /// A number (integers stay integers; no NaN or infinity).
    Number(serde_json::Number),
    /// A string (also enum values).
    String(String),
    /// A list of strings.
    List(Vec<String>),
    /// A map of strings (sorted keys, so output is deterministic).
    Map(BTreeMap<String, String>),
}

impl InputValue {
    /// Whether this value has the shape of `kind`.
    pub fn fits(&self, kind: InputType) -> bool {
        matches!(
            (self, kind),
            (InputValue::Bool(_), InputType::Bool)
                | (InputValue::Number(_), InputType::Number)
                | (InputValue::String(_), InputType::String | InputType::Enum)
                | (InputValue::List(_), InputType::ListString)
                | (InputValue::Map(_), InputType::MapString)
        )
    }
    /// A short human rendering for messages and tables (not HCL).
    pub fn display(&self) -> String {
        match self {
            InputValue::Bool(b) => b.to_string(),
            InputValue::Number(n) => n.to_string(),
            InputValue::String(s) => s.clone(),
            InputValue::List(items) => items.join(", "),
            InputValue::Map(m) => m
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            InputValue::Bool(_) => "a bool",
            InputValue::Number(_) => "a number",
            InputValue::String(_) => "a string",
            InputValue::List(_) => "a list",
            InputValue::Map(_) => "a map",
        }
    }
}

impl<'de> Deserialize<'de> for InputValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis;
        impl<'de> Visitor<'de> for Vis {
            type Value = InputValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number, bool, list of strings or map of strings")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<InputValue, E> {
                Ok(InputValue::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<InputValue, E> {
                Ok(InputValue::Number(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<InputValue, E> {
                Ok(InputValue::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<InputValue, E> {
                serde_json::Number::from_f64(v)
                    .map(InputValue::Number)
                    .ok_or_else(|| E::custom("numbers must be finite"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<InputValue, E> {
                Ok(InputValue::String(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<InputValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Scalar>()? {
                    items.push(item.0);
                }
                Ok(InputValue::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InputValue, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v = map.next_value::<Scalar>()?;
                    if out.insert(k.clone(), v.0).is_some() {
                        return Err(de::Error::custom(format!("duplicate map key `{k}`")));
                    }
                }
                Ok(InputValue::Map(out))
            }
        }
        d.deserialize_any(Vis)
    }
}

/// A list item or map value: strings only, so `[1, 2]` is an error rather than a guess.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis;
        impl Visitor<'_> for Vis {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string (quote numbers and bools in lists and maps)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
        }
        d.deserialize_str(Vis)
    }
}

/// Parses a decimal number strictly: `-12`, `3.5`, `1e3`; never `inf`, `NaN`, `0x1f` or `+1`.
pub fn parse_number(s: &str) -> Option<serde_json::Number> {
    let bytes = s.as_bytes();
    let mut i = 0;
    if bytes.first() == Some(&b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return None;
    }
    let mut integer = true;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        integer = false;
        if !digits(&mut i) {
            return None;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        integer = false;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    if integer {
        if let Ok(v) = s.parse::<i64>() {
            return Some(v.into());
        }
        if let Ok(v) = s.parse::<u64>() {
            return Some(v.into());
        }
    }
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .and_then(serde_json::Number::from_f64)
}

/// Quotes text typed by a user for a markdown message: a code span, no backticks or
/// line breaks inside, cut at 80 characters, so it cannot mention, link or break layout.
pub fn quote_user(s: &str) -> String {
    let mut cleaned: String = s
        .chars()
        .map(|c| {
            if c == '`' {
                '\''
            } else if c.is_control() {
                ' '
            } else {
                c
            }
        })
        .take(80)
        .collect();
    if s.chars().count() > 80 {
        cleaned.push('…');
    }
    format!("`{cleaned}`")
}
