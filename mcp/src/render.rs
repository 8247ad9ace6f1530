//! A `tools/call` result as the text the model reads: text as it is, images and audio as a
//! note, resource links and embedded resources by their URI (and text), and
//! `structuredContent` as JSON when the content does not already carry it. Images the
//! model APIs take (PNG, JPEG, GIF, WebP, bounded in size and number) also go along as
//! images, for the wire formats that take them in a tool result.

use serde_json::Value;
use sortie_transports::ImageData;

/// Image types every model API that takes images accepts.
const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];
/// Largest image sent on, in base64 bytes (it is also kept in the mission's events).
pub const MAX_IMAGE_BASE64: usize = 1024 * 1024;
/// Most images sent on from one result.
pub const MAX_IMAGES: usize = 4;

/// True when an `image` content block goes along as an image.
fn attachable(block: &Value) -> bool {
    let s = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("");
    s("type") == "image"
        && IMAGE_TYPES.contains(&s("mimeType"))
        && !s("data").is_empty()
        && s("data").len() <= MAX_IMAGE_BASE64
}

/// The images of a `CallToolResult` that go along with its text (at most [`MAX_IMAGES`]).
pub fn images(result: &Value) -> Vec<ImageData> {
    result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|b| attachable(b))
        .take(MAX_IMAGES)
        .map(|b| ImageData {
            media_type: b["mimeType"].as_str().unwrap_or_default().to_string(),
            data: b["data"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

/// The model-facing text of a `CallToolResult` (as JSON), and whether it is an error.
pub fn render(result: &Value) -> (String, bool) {
    let is_error = result
        .get("isError")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut parts: Vec<String> = Vec::new();
    let mut attached = 0;
    for block in result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if attachable(block) && attached < MAX_IMAGES {
            attached += 1;
            parts.push(format!(
                "[image {attached}: {}, about {} bytes, attached]",
                block["mimeType"].as_str().unwrap_or_default(),
                block["data"].as_str().map_or(0, |d| d.len() / 4 * 3)
            ));
            continue;
        }
        parts.push(block_text(block));
    }
    if let Some(structured) = result.get("structuredContent").filter(|v| !v.is_null()) {
        let json = serde_json::to_string(structured).unwrap_or_default();
        // Servers usually repeat the structured result as text; say it once.
        if !parts.iter().any(|p| p.trim() == json) {
            parts.push(format!("structuredContent: {json}"));
        }
    }
    let text = if parts.is_empty() {
        "(the tool returned no content)".to_string()
    } else {
        parts.join("\n")
    };
    (text, is_error)
}

fn block_text(block: &Value) -> String {
    let s = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("");
    let size = |k: &str| {
        block
            .get(k)
            .and_then(Value::as_str)
            .map_or(0, |d| d.len() / 4 * 3)
    };
    match s("type") {
        "text" => s("text").to_string(),
        "image" => format!(
            "[image: {}, about {} bytes, not shown to the model (its type or size cannot be sent)]",
            or(s("mimeType"), "unknown type"),
            size("data")
        ),
        "audio" => format!(
            "[audio: {}, about {} bytes, not shown to the model]",
            or(s("mimeType"), "unknown type"),
            size("data")
        ),
        "resource_link" => {
            let mut line = format!("[resource link: {}", s("uri"));
            for key in ["name", "description", "mimeType"] {
                if !s(key).is_empty() {
                    line.push_str(&format!(", {key}: {}", s(key)));
                }
            }
            line.push(']');
            line
        }
        "resource" => {
            let r = block.get("resource").cloned().unwrap_or(Value::Null);
            let rs = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            match r.get("text").and_then(Value::as_str) {
                Some(text) => format!("[resource {}]\n{text}", rs("uri")),
                None => format!(
                    "[resource {}: {}, binary, not shown to the model]",
                    rs("uri"),
                    or(&rs("mimeType"), "unknown type")
                ),
            }
        }
        other => format!("[content of type `{other}` not shown to the model]"),
    }
}

fn or<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.is_empty() {
        default
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_of_content_becomes_text_the_model_can_read() {
        let (text, err) = render(&json!({
            "content": [
                {"type":"text","text":"hello"},
                {"type":"image","mimeType":"image/png","data":"AAAA"},
                {"type":"resource_link","uri":"file:///a.txt","name":"a"},
                {"type":"resource","resource":{"uri":"mem://x","text":"inside"}}
            ],
            "structuredContent": {"n": 1}
        }));
        assert!(!err);
        assert_eq!(
            images(&json!({"content": [
                {"type":"image","mimeType":"image/png","data":"AAAA"},
                {"type":"image","mimeType":"image/tiff","data":"AAAA"},
                {"type":"image","mimeType":"image/png","data":"A".repeat(MAX_IMAGE_BASE64 + 4)}
            ]})),
            [ImageData {
                media_type: "image/png".into(),
                data: "AAAA".into()
            }],
            "only the types and sizes every API takes"
        );
        assert_eq!(
            text,
            "hello\n[image 1: image/png, about 3 bytes, attached]\n[resource link: file:///a.txt, name: a]\n[resource mem://x]\ninside\nstructuredContent: {\"n\":1}"
        );
    }

    #[test]
    fn is_error_is_kept_and_structured_content_already_in_text_is_not_repeated() {
        let (text, err) = render(&json!({
            "content": [{"type":"text","text":"{\"n\":1}"}],
            "structuredContent": {"n": 1},
            "isError": true
        }));
        assert!(err);
        assert_eq!(text, "{\"n\":1}");
    }
}
