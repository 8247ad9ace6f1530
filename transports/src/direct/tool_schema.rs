//! A tool's input schema as each wire format accepts it.
//!
//! The MCP client (sortie-mcp) checks a server's schema once (an object schema whose
//! `type`s, `properties` and `required` have their shapes) and keeps the rest as given;
//! what each API refuses at the top level of a tool's parameters is settled here, when the
//! request is encoded:
//! - Anthropic Messages takes `input_schema` as given, except `anyOf`, `oneOf` and `allOf`
//!   at the top level ("input_schema does not support oneOf, allOf, or anyOf at the top
//!   level"); `not`, `enum` and `if`/`then`/`else` pass.
//! - OpenAI Chat Completions and Responses refuse, on a function's `parameters`, those
//!   three and also `not`, `enum` and `if`/`then`/`else` at the top level.
//!
//! `anyOf`/`oneOf`/`allOf` of object schemas are flattened into the top-level
//! `properties` (every variant's properties offered; `required` keeps what every variant
//! requires, and all of `allOf`'s); the server still checks the arguments it gets. Strict
//! mode (`strict: true`, which would also demand `additionalProperties: false` and every
//! property required at every level) is never asked for: Chat sends no `strict`, Responses
//! `strict: false`. Schemas without those keywords (the built-in tools') are sent as they
//! are, without a copy.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// Refused at the top level by every API Sortie speaks: flattened.
const COMBINATORS: &[&str] = &["anyOf", "oneOf", "allOf"];

/// Refused at the top level by OpenAI's function parameters only: dropped there.
const OPENAI_REFUSED: &[&str] = &["not", "enum", "if", "then", "else"];

/// The schema for Anthropic's `input_schema`.
pub fn anthropic(schema: &Value) -> Cow<'_, Value> {
    clean(schema, &[])
}

/// The schema for an OpenAI (Chat or Responses) function's `parameters`.
pub fn openai(schema: &Value) -> Cow<'_, Value> {
    clean(schema, OPENAI_REFUSED)
}

fn clean<'a>(schema: &'a Value, dropped: &[&str]) -> Cow<'a, Value> {
    let Value::Object(map) = schema else {
        return Cow::Borrowed(schema);
    };
    let touched = |k: &String| COMBINATORS.contains(&k.as_str()) || dropped.contains(&k.as_str());
    if !map.keys().any(touched) {
        return Cow::Borrowed(schema);
    }
    let mut out: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !touched(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for key in COMBINATORS {
        if let Some(Value::Array(variants)) = map.get(*key) {
            flatten(&mut out, variants, *key == "allOf");
        }
    }
    out.insert("type".into(), Value::String("object".into()));
    out.entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    Cow::Owned(Value::Object(out))
}

/// Adds the variants' properties to `out`'s; their `required` names too when `all` (an
/// `allOf`), else only the names every variant requires.
fn flatten(out: &mut Map<String, Value>, variants: &[Value], all: bool) {
    let mut properties = match out.remove("properties") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    let mut required: Vec<Value> = match out.remove("required") {
        Some(Value::Array(r)) => r,
        _ => Vec::new(),
    };
    let names = |v: &Value| -> Vec<Value> {
        v.get("required")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for variant in variants {
        if let Some(props) = variant.get("properties").and_then(Value::as_object) {
            for (name, sub) in props {
                properties
                    .entry(name.clone())
                    .or_insert_with(|| sub.clone());
            }
        }
    }
    let extra: Vec<Value> = if all {
        variants.iter().flat_map(names).collect()
    } else {
        let first = variants.first().map(names).unwrap_or_default();
        first
            .into_iter()
            .filter(|n| variants.iter().all(|v| names(v).contains(n)))
            .collect()
    };
    for name in extra {
        if !required.contains(&name) {
            required.push(name);
        }
    }
    out.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plain_schema_is_sent_as_it_is_to_both() {
        let s = json!({"type":"object","properties":{"q":{"type":"string"}},"required":["q"]});
        assert!(matches!(anthropic(&s), Cow::Borrowed(_)));
        assert!(matches!(openai(&s), Cow::Borrowed(_)));
    }

    #[test]
    fn top_level_one_of_is_flattened_for_both_and_not_is_kept_for_anthropic_only() {
        let s = json!({
            "type": "object",
            "properties": {"mode": {"type": "string"}},
            "required": ["mode"],
            "oneOf": [
                {"properties": {"id": {"type": "string"}, "x": {"type": "number"}}, "required": ["id", "x"]},
                {"properties": {"path": {"type": "string"}, "x": {"type": "number"}}, "required": ["path", "x"]}
            ],
            "not": {"required": ["both"]}
        });
        let a = anthropic(&s).into_owned();
        assert_eq!(a["not"], json!({"required": ["both"]}));
        assert!(a.get("oneOf").is_none());
        assert_eq!(
            a["properties"],
            json!({"mode":{"type":"string"},"id":{"type":"string"},"x":{"type":"number"},"path":{"type":"string"}})
        );
        assert_eq!(
            a["required"],
            json!(["mode", "x"]),
            "what every variant requires"
        );
        let o = openai(&s).into_owned();
        assert!(o.get("not").is_none() && o.get("oneOf").is_none());
        assert_eq!(o["properties"], a["properties"]);
    }

    #[test]
    fn all_of_adds_every_variants_requirements() {
        let s = json!({"allOf": [
            {"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},
            {"type":"object","properties":{"b":{"type":"string"}},"required":["b"]}
        ]});
        let o = openai(&s).into_owned();
        assert_eq!(
            o,
            json!({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["a","b"]})
        );
    }
}
