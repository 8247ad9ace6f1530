//! The stream-json parser against the real output of Claude Code 2.1.328.

use sortie_transports::claude_code::{Ended, StreamJsonParser};
use sortie_transports::{ErrorClass, StopReason, TransportEvent};

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/claude-code-2.1.328")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(name: &str) -> (Vec<TransportEvent>, StreamJsonParser) {
    let mut parser = StreamJsonParser::new();
    let events = fixture(name).lines().flat_map(|l| parser.line(l)).collect();
    (events, parser)
}

fn failure(name: &str) -> sortie_transports::TransportError {
    match parse(name).1.ended() {
        Some(Ended::Failed(e)) => e.clone(),
        other => panic!("{name}: expected a failure, got {other:?}"),
    }
}

#[test]
fn a_text_turn_gives_session_text_usage_cost_and_done() {
    let (events, parser) = parse("01_say_hi.jsonl");
    assert!(matches!(parser.ended(), Some(Ended::Success)));
    assert_eq!(
        parser.session(),
        Some("c0247314-b874-4f41-9685-aff81bea1849")
    );
    let usage = events.iter().find_map(|e| match e {
        TransportEvent::Usage(u) => Some(*u),
        _ => None,
    });
    let usage = usage.expect("usage");
    assert_eq!((usage.input_tokens, usage.output_tokens), (2714, 5));
    let cost = events.iter().find_map(|e| match e {
        TransportEvent::Cost(c) => Some(*c),
        _ => None,
    });
    assert!((cost.expect("cost") - 0.010956).abs() < 1e-12);
    assert_eq!(
        events
            .iter()
            .filter(|e| !matches!(e, TransportEvent::Usage(_) | TransportEvent::Cost(_)))
            .cloned()
            .collect::<Vec<_>>(),
        vec![
            TransportEvent::Session {
                id: "c0247314-b874-4f41-9685-aff81bea1849".into()
            },
            TransportEvent::TextDelta("hi from mock".into()),
            TransportEvent::Done(StopReason::EndTurn),
        ]
    );
}

#[test]
fn a_resumed_run_counts_only_its_own_tokens_and_cost() {
    let (events, _) = parse("05_resume_turn2.jsonl");
    let cost = events.iter().find_map(|e| match e {
        TransportEvent::Cost(c) => Some(*c),
        _ => None,
    });
    // total_cost_usd (0.0222) includes turn 1 of the session; this run cost 0.0112.
    assert!((cost.expect("cost") - 0.011191999999999999).abs() < 1e-12);
    let usage = events.iter().find_map(|e| match e {
        TransportEvent::Usage(u) => Some(*u),
        _ => None,
    });
    assert_eq!(usage.expect("usage").input_tokens, 2773);
}

#[test]
fn tool_calls_and_the_results_the_cli_ran_come_in_order() {
    let (events, parser) = parse("06_tool_default.jsonl");
    assert!(matches!(parser.ended(), Some(Ended::Success)));
    let shapes: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            TransportEvent::ToolCall {
                name, arguments, ..
            } => Some(format!("call {name} {arguments}")),
            TransportEvent::ToolResult {
                content,
                is_error,
                denied,
                ..
            } => Some(format!("result {content} {is_error} {denied}")),
            TransportEvent::TextDelta(t) => Some(format!("text {t}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        shapes,
        vec![
            r#"call Bash {"command":"echo hi","description":"Print hi"}"#.to_string(),
            "result hi false false".into(),
            "text tool said: hi".into(),
        ]
    );
}

#[test]
fn a_permission_denial_marks_its_tool_result() {
    let (events, _) = parse("07_tool_needs_perm_default.jsonl");
    let denied: Vec<(bool, bool)> = events
        .iter()
        .filter_map(|e| match e {
            TransportEvent::ToolResult {
                is_error, denied, ..
            } => Some((*is_error, *denied)),
            _ => None,
        })
        .collect();
    assert_eq!(denied, vec![(true, true)]);
}

#[test]
fn signed_thinking_keeps_its_signature() {
    let (events, _) = parse("16a_thinking_turn1.jsonl");
    assert!(events.contains(&TransportEvent::ThinkingDelta {
        text: "mock thinking".into(),
        signature: Some("mocksig6bf4880b838847d68c92a2da923aa280".into()),
    }));
}

#[test]
fn api_errors_are_classified_like_the_api_s_own_and_success_alone_is_not_success() {
    for (file, class, status) in [
        (
            "13_error_400_thinking.jsonl",
            ErrorClass::StaleThinking,
            Some(400),
        ),
        (
            "16b_resume_stale_thinking_400.jsonl",
            ErrorClass::StaleThinking,
            Some(400),
        ),
        ("13_error_403.jsonl", ErrorClass::Entitlement, Some(403)),
        (
            "14_error_401_maxretries2.jsonl",
            ErrorClass::AuthExpired,
            Some(401),
        ),
        (
            "14_error_429_maxretries2.jsonl",
            ErrorClass::RateLimited { retry_after: None },
            Some(429),
        ),
        (
            "14_error_500_maxretries2.jsonl",
            ErrorClass::ServerError,
            Some(500),
        ),
        (
            "15_error_500_maxretries0.jsonl",
            ErrorClass::ServerError,
            Some(500),
        ),
        (
            "14_error_529_maxretries2.jsonl",
            ErrorClass::Overloaded,
            Some(529),
        ),
        (
            "31_conn_refused_maxretries1.jsonl",
            ErrorClass::Network,
            None,
        ),
    ] {
        let e = failure(file);
        assert_eq!(
            (e.class, e.status),
            (class, status),
            "{file}: {}",
            e.message
        );
        assert!(
            e.message.starts_with("claude: API error: "),
            "{file}: {}",
            e.message
        );
        assert!(
            !e.message.contains("API Error: API"),
            "{file}: {}",
            e.message
        );
    }
}

#[test]
fn the_cli_s_own_retries_become_warnings() {
    let (events, _) = parse("14_error_529_maxretries2.jsonl");
    let warnings: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            TransportEvent::Warning(w) => Some(w),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 2);
    assert_eq!(
        warnings[0],
        "claude retried after 529 overloaded (attempt 1 of 2, waiting 620 ms)"
    );
}

#[test]
fn an_unknown_session_turn_limit_and_runs_without_result() {
    assert_eq!(
        failure("28_resume_unknown.jsonl").class,
        ErrorClass::SessionNotFound
    );
    let limit = failure("11_max_turns1.jsonl");
    assert_eq!(limit.class, ErrorClass::TurnLimit);
    assert!(limit
        .message
        .contains("Reached maximum number of turns (1)"));
    for file in [
        "27_kill_INT.jsonl",
        "27_kill_TERM.jsonl",
        "13_error_401_default_retries_timeout.jsonl",
        "17_streamjson_no_verbose.jsonl",
    ] {
        assert!(parse(file).1.ended().is_none(), "{file}");
    }
}

#[test]
fn garbage_lines_are_warnings_and_partial_stream_events_are_ignored() {
    let (events, parser) = parse("19_output_text.jsonl");
    assert_eq!(parser.garbage_lines(), 1);
    assert!(matches!(&events[..], [TransportEvent::Warning(w)] if w.contains("hi from mock")));

    let (events, parser) = parse("21_include_partial.jsonl");
    assert!(matches!(parser.ended(), Some(Ended::Success)));
    let texts = events
        .iter()
        .filter(|e| matches!(e, TransportEvent::TextDelta(_)))
        .count();
    assert_eq!(texts, 1);
}

#[test]
fn every_fixture_parses_without_panicking_and_truncated_lines_are_tolerated() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/claude-code-2.1.328");
    let mut fixtures = 0;
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        fixtures += 1;
        let name = path.display();
        let text = std::fs::read_to_string(&path).expect("read");
        let mut whole = StreamJsonParser::new();
        let expected: Vec<TransportEvent> = text.lines().flat_map(|l| whole.line(l)).collect();
        let mut parser = StreamJsonParser::new();
        let mut events = Vec::new();
        let mut cuts = 0;
        for line in text.lines() {
            // The first half of each line first: a CLI killed mid-write.
            let cut: String = line.chars().take(line.chars().count() / 2).collect();
            if !cut.trim().is_empty() {
                cuts += 1;
                let said = parser.line(&cut);
                assert!(
                    matches!(&said[..], [TransportEvent::Warning(_)]),
                    "{name}: a cut line must be one warning, got {said:?}"
                );
            }
            events.extend(parser.line(line));
        }
        // The cut lines change nothing else: the whole lines read as they do alone.
        assert_eq!(events, expected, "{name}");
        assert_eq!(
            parser.garbage_lines(),
            whole.garbage_lines() + cuts,
            "{name}"
        );
        assert_eq!(parser.session(), whole.session(), "{name}");
        assert_eq!(
            format!("{:?}", parser.ended()),
            format!("{:?}", whole.ended()),
            "{name}"
        );
    }
    assert!(fixtures >= 10, "only {fixtures} fixtures found");
}

#[test]
fn an_xai_style_bad_credentials_403_through_the_cli_is_an_expired_credential() {
    let mut parser = StreamJsonParser::new();
    let text = "API Error: 403 {\"code\": \"The caller does not have permission to execute the specified operation\", \"error\": \"The OAuth2 access token could not be validated. [WKE=unauthenticated:bad-credentials]\"}";
    let line = serde_json::json!({
        "type": "result", "subtype": "success", "is_error": true,
        "terminal_reason": "api_error", "api_error_status": 403, "result": text
    });
    parser.line(&line.to_string());
    match parser.ended() {
        Some(Ended::Failed(e)) => assert_eq!(e.class, ErrorClass::AuthExpired, "{}", e.message),
        other => panic!("{other:?}"),
    }
}
