//! An MCP tool on each wire format, through the real binary, from the request bodies the
//! mock provider captured: the input schema cleaned per format (top-level `oneOf`
//! flattened for all, `not` kept for Anthropic only) and an image result sent as an image
//! where the format takes one (Anthropic `tool_result` image block, Responses
//! `input_image`), noted where it does not (Chat).

use serde_json::{json, Value};
use sortie_tests::anthropic_wire::{turn, Block};
use sortie_tests::mcp_servers::{faulty, toml};
use sortie_tests::responses_wire::{response, Item};
use sortie_tests::{run_to_end, sortie, text, write_local_config, MockProvider, Reply};

/// Runs a mission on `provider` (a config section for the mock) that calls
/// `mcp__faulty__image`; returns the requests the mock received.
async fn mission(mock: &MockProvider, provider: &str, first: Reply, then: Reply) -> Vec<Value> {
    mock.push(first);
    mock.push(then);
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(
        home.path(),
        &mock.base_url(),
        &format!("{provider}{}", toml("faulty", &faulty(&[]), "")),
    );
    let mut cmd = sortie(home.path());
    cmd.env("SORTIE_TEST_WIRE_KEY", "sk-wire-test-0000000000")
        .args(["run", "--json", "look at the picture", "--cwd"])
        .arg(cwd.path());
    if !provider.is_empty() {
        cmd.args(["--provider", "wire"]);
    }
    let out = run_to_end(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let requests = mock.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    requests
}

/// The tool called `name` in a request's tool list, found under `at` (a JSON pointer
/// within each tool) and its schema under `schema`.
fn schema_of(request: &Value, name_at: &str, schema_at: &str, name: &str) -> Value {
    request["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t.pointer(name_at) == Some(&json!(name)))
        .unwrap_or_else(|| panic!("{name} not offered"))
        .pointer(schema_at)
        .expect("schema")
        .clone()
}

fn flattened(schema: &Value) {
    assert!(schema.get("oneOf").is_none(), "{schema}");
    assert_eq!(schema["type"], "object");
    for p in ["mode", "id", "path"] {
        assert!(schema["properties"].get(p).is_some(), "{p}: {schema}");
    }
}

const PICK: &str = "mcp__faulty__pick";
const IMAGE: &str = "mcp__faulty__image";

#[tokio::test]
async fn chat_completions_flattens_and_drops_not_and_notes_the_image() {
    let mock = MockProvider::start().await;
    let requests = mission(
        &mock,
        "",
        Reply::tool_call("c1", IMAGE, json!({})),
        Reply::text("a dot"),
    )
    .await;
    let schema = schema_of(&requests[0], "/function/name", "/function/parameters", PICK);
    flattened(&schema);
    assert!(
        schema.get("not").is_none(),
        "OpenAI refuses a top-level not: {schema}"
    );
    let tool_msg = requests[1]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("tool message")
        .clone();
    let content = tool_msg["content"].as_str().expect("text only on Chat");
    assert!(
        content.starts_with("a dot\n[image 1: image/png"),
        "{content}"
    );
    assert!(content.contains("are not shown"), "{content}");
}

#[tokio::test]
async fn anthropic_keeps_not_and_gets_an_image_block_in_the_tool_result() {
    let mock = MockProvider::start().await;
    let provider = format!(
        "\n[providers.wire]\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key_env = \"SORTIE_TEST_WIRE_KEY\"\nmodel = \"claude-mock\"\n",
        mock.root_url()
    );
    let requests = mission(
        &mock,
        &provider,
        turn(
            &[Block::ToolUse {
                id: "toolu_1",
                name: IMAGE,
                input: json!({}),
            }],
            "tool_use",
        ),
        turn(&[Block::Text("a dot")], "end_turn"),
    )
    .await;
    let schema = schema_of(&requests[0], "/name", "/input_schema", PICK);
    flattened(&schema);
    assert_eq!(
        schema["not"],
        json!({"required": ["id", "path"]}),
        "Anthropic takes not"
    );
    let result = requests[1]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .find(|b| b["type"] == "tool_result")
        .expect("tool_result");
    let content = result["content"].as_array().expect("blocks");
    assert_eq!(content[0]["type"], "text");
    assert!(content[0]["text"]
        .as_str()
        .expect("text")
        .contains("attached"));
    assert_eq!(content[1]["type"], "image");
    assert_eq!(content[1]["source"]["type"], "base64");
    assert_eq!(content[1]["source"]["media_type"], "image/png");
    assert!(content[1]["source"]["data"]
        .as_str()
        .expect("data")
        .starts_with("iVBORw0KGgo"));
}

#[tokio::test]
async fn responses_flattens_and_gets_an_input_image_in_the_function_call_output() {
    let mock = MockProvider::start().await;
    let provider = format!(
        "\n[providers.wire]\nkind = \"openai-responses\"\nbase_url = \"{}\"\napi_key_env = \"SORTIE_TEST_WIRE_KEY\"\nmodel = \"gpt-mock\"\n",
        mock.base_url()
    );
    let requests = mission(
        &mock,
        &provider,
        response(&[Item::Call {
            call_id: "call_1",
            name: IMAGE,
            arguments: json!({}),
        }]),
        response(&[Item::Text("a dot")]),
    )
    .await;
    let schema = schema_of(&requests[0], "/name", "/parameters", PICK);
    flattened(&schema);
    assert!(schema.get("not").is_none(), "{schema}");
    let output = requests[1]["input"]
        .as_array()
        .expect("input")
        .iter()
        .find(|i| i["type"] == "function_call_output")
        .expect("function_call_output")["output"]
        .clone();
    let items = output.as_array().expect("items");
    assert_eq!(items[0]["type"], "input_text");
    assert_eq!(items[1]["type"], "input_image");
    assert!(items[1]["image_url"]
        .as_str()
        .expect("url")
        .starts_with("data:image/png;base64,iVBORw0KGgo"));
}
