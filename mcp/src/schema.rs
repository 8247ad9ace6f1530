//! A server's tool input schema, checked once: an object schema whose `type`s,
//! `properties` and `required` have their shapes (what no model API would take), without
//! meta-data. What each wire format refuses beyond that (`anyOf` at the top level for
//! all, `not` or `enum` there for OpenAI's) is settled when each request is encoded, in
//! sortie-transports' `direct::tool_schema`.

use serde_json::{Map, Value};

/// Longest schema accepted, as JSON: a bigger one is a server's mistake, and it would be
/// sent with every turn.
const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// Top-level keywords dropped: meta-data no provider needs, which some refuse.
const DROPPED: &[&str] = &["$schema", "$id", "$comment"];

/// The schema to send for a tool, or why the tool cannot be offered.
pub fn clean(schema: &Map<String, Value>) -> Result<Value, String> {
    let size = serde_json::to_string(schema).map(|s| s.len()).unwrap_or(0);
    if size > MAX_SCHEMA_BYTES {
        return Err(format!(
            "its input schema is {size} bytes (at most {MAX_SCHEMA_BYTES})"
        ));
    }
    match schema.get("type") {
        None => {}
        Some(Value::String(t)) if t == "object" => {}
        Some(other) => {
            return Err(format!(
                "its input schema has type {other}, and a tool's parameters must be an object"
            ))
        }
    }
    match schema.get("properties") {
        None | Some(Value::Object(_)) => {}
        Some(_) => return Err("its input schema's `properties` is not an object".into()),
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        if let Some((name, _)) = props
            .iter()
            .find(|(_, v)| !v.is_object() && !v.is_boolean())
        {
            return Err(format!(
                "its input schema's property `{name}` is not a schema"
            ));
        }
    }
    match schema.get("required") {
        None => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
        Some(_) => return Err("its input schema's `required` is not a list of names".into()),
    }
    check_types(&Value::Object(schema.clone()), "", 0)?;
    let mut out: Map<String, Value> = schema
        .iter()
        .filter(|(k, _)| !DROPPED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.insert("type".into(), Value::String("object".into()));
    out.entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    Ok(Value::Object(out))
}

/// The JSON types a `type` keyword may name.
const TYPES: &[&str] = &[
    "object", "array", "string", "number", "integer", "boolean", "null",
];

/// Deepest nesting of schemas looked into.
const MAX_DEPTH: usize = 32;

/// Checks, through every nested schema, that `type` names JSON types and that
/// `properties` and `required` have their shapes: what a model API would refuse.
fn check_types(schema: &Value, at: &str, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "its input schema nests deeper than {MAX_DEPTH} levels"
        ));
    }
    let Value::Object(map) = schema else {
        return Ok(());
    };
    let place = || {
        if at.is_empty() {
            String::new()
        } else {
            format!(" at `{at}`")
        }
    };
    match map.get("type") {
        None => {}
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => {}
        Some(Value::Array(ts))
            if ts
                .iter()
                .all(|t| t.as_str().is_some_and(|t| TYPES.contains(&t))) => {}
        Some(other) => {
            return Err(format!(
                "its input schema{} has type {other}, which is not a JSON type",
                place()
            ))
        }
    }
    if let Some(props) = map.get("properties") {
        let Value::Object(props) = props else {
            return Err(format!(
                "its input schema{}: `properties` is not an object",
                place()
            ));
        };
        for (name, sub) in props {
            let path = join(at, name);
            if !sub.is_object() && !sub.is_boolean() {
                return Err(format!(
                    "its input schema's property `{path}` is not a schema"
                ));
            }
            check_types(sub, &path, depth + 1)?;
        }
    }
    if let Some(required) = map.get("required") {
        if !required
            .as_array()
            .is_some_and(|r| r.iter().all(Value::is_string))
        {
            return Err(format!(
                "its input schema{}: `required` is not a list of names",
                place()
            ));
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = map.get(key) {
            check_types(sub, &join(at, &format!("[{key}]")), depth + 1)?;
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for sub in map.get(key).and_then(Value::as_array).into_iter().flatten() {
            check_types(sub, at, depth + 1)?;
        }
    }
    Ok(())
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().expect("object").clone()
    }

    #[test]
    fn a_good_schema_is_kept_minus_meta_data_and_made_an_explicit_object() {
        let s = clean(&obj(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"]
        })))
        .expect("clean");
        assert_eq!(
            s,
            json!({"type":"object","properties":{"q":{"type":"string"}},"required":["q"]})
        );
        assert_eq!(
            clean(&Map::new()).expect("empty"),
            json!({"type":"object","properties":{}})
        );
    }

    #[test]
    fn top_level_combinators_are_kept_for_the_encoders_to_settle_per_wire_format() {
        let given = json!({"type":"object","properties":{},"oneOf":[{"required":["a"]}],"not":{}});
        assert_eq!(clean(&obj(given.clone())).expect("kept"), given);
    }

    #[test]
    fn schemas_no_model_api_takes_are_refused_with_the_reason() {
        for (schema, why) in [
            (json!({"type":"string"}), "must be an object"),
            (
                json!({"type":"object","properties":[1]}),
                "`properties` is not an object",
            ),
            (
                json!({"type":"object","properties":{"a":3}}),
                "`a` is not a schema",
            ),
            (json!({"type":"object","required":"a"}), "`required`"),
            (
                json!({"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"strnig"}}}}}),
                "at `a.b` has type \"strnig\"",
            ),
        ] {
            let err = clean(&obj(schema)).expect_err("refused");
            assert!(err.contains(why), "{err}");
        }
        let huge = json!({"type":"object","description":"x".repeat(70_000)});
        assert!(clean(&obj(huge)).expect_err("huge").contains("bytes"));
    }
}
