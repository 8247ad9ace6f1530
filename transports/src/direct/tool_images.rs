//! A tool result's images on each wire format: Anthropic Messages takes image blocks in a
//! `tool_result`'s content, OpenAI Responses `input_image` items in a
//! `function_call_output`'s output; Chat Completions' tool messages take text only, so
//! there the model reads that the images could not be shown.

use serde_json::{json, Value};

use crate::ImageData;

/// Said after a Chat tool message's text when the result had images.
pub const CHAT_NOTE: &str =
    "(the image(s) above are not shown: this model API takes no images in tool results)";

/// Anthropic `tool_result.content`: the text alone, or a text block then image blocks.
pub fn anthropic(content: &str, images: &[ImageData]) -> Value {
    if images.is_empty() {
        return json!(content);
    }
    let mut blocks = vec![json!({"type": "text", "text": content})];
    blocks.extend(images.iter().map(|i| {
        json!({"type": "image", "source": {"type": "base64", "media_type": i.media_type, "data": i.data}})
    }));
    Value::Array(blocks)
}

/// Responses `function_call_output.output`: the text alone, or `input_text` then
/// `input_image` items (as data URLs).
pub fn responses(content: &str, images: &[ImageData]) -> Value {
    if images.is_empty() {
        return json!(content);
    }
    let mut items = vec![json!({"type": "input_text", "text": content})];
    items.extend(images.iter().map(|i| {
        json!({"type": "input_image", "image_url": format!("data:{};base64,{}", i.media_type, i.data)})
    }));
    Value::Array(items)
}

/// Chat's tool message text.
pub fn chat(content: &str, images: &[ImageData]) -> String {
    if images.is_empty() {
        content.to_string()
    } else {
        format!("{content}\n{CHAT_NOTE}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wire_format_gets_the_images_its_way() {
        let img = [ImageData {
            media_type: "image/png".into(),
            data: "iVBO".into(),
        }];
        assert_eq!(anthropic("t", &[]), json!("t"));
        assert_eq!(
            anthropic("t", &img),
            json!([{"type":"text","text":"t"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}}])
        );
        assert_eq!(
            responses("t", &img)[1],
            json!({"type":"input_image","image_url":"data:image/png;base64,iVBO"})
        );
        assert!(chat("t", &img).ends_with(CHAT_NOTE));
        assert_eq!(chat("t", &[]), "t");
    }
}
