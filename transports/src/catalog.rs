//! Model catalogs: each provider's models endpoint, filtered to chat models.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One model a provider lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<String>,
}

/// Words in a model id that mark it as something other than a chat model.
const NOT_CHAT: &[&str] = &[
    "embed",
    "whisper",
    "tts",
    "dall-e",
    "davinci",
    "babbage",
    "moderation",
    "image",
    "audio",
    "realtime",
    "transcribe",
    "sora",
    "rerank",
    "search",
];

/// True unless the id names an embedding, speech, image, moderation ... model.
pub fn is_chat_model(id: &str) -> bool {
    let id = id.to_lowercase();
    !NOT_CHAT.iter().any(|w| id.contains(w))
}

/// Reads `{data: [{id, display_name?, owned_by?}]}` (OpenAI, xAI, Ollama, Anthropic), or
/// Ollama's native `{models: [{name}]}`, keeping chat models, sorted by id.
pub fn parse_models(body: &Value) -> Vec<ModelInfo> {
    let entries = body
        .get("data")
        .or_else(|| body.get("models"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    let mut models: Vec<ModelInfo> = entries
        .iter()
        .filter_map(|e| {
            let id = str_of(e, "id").or_else(|| str_of(e, "name"))?;
            Some(ModelInfo {
                display_name: str_of(e, "display_name"),
                owned_by: str_of(e, "owned_by"),
                id,
            })
        })
        .filter(|m| is_chat_model(&m.id))
        .collect();
    models.sort_by(|a, b| a.id.cmp(&b.id));
    models.dedup_by(|a, b| a.id == b.id);
    models
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn non_chat_models_are_filtered_out() {
        let body = json!({"data": [
            {"id": "gpt-4.1-mini", "owned_by": "system"},
            {"id": "text-embedding-3-small"},
            {"id": "whisper-1"},
            {"id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5"},
            {"id": "gpt-4o-realtime-preview"}
        ]});
        let ids: Vec<String> = parse_models(&body).into_iter().map(|m| m.id).collect();
        assert_eq!(ids, ["claude-sonnet-4-5", "gpt-4.1-mini"]);
        let ollama = json!({"models": [{"name": "qwen3:8b"}]});
        assert_eq!(parse_models(&ollama)[0].id, "qwen3:8b");
    }
}
