//! No held secret reaches the event log: an event whose JSON contains one (a provider
//! echoing a key in an error, a tool printing a token) is stored with it masked, and the
//! masked event is what subscribers receive.

use sortie_transports::held_secrets;

use crate::{MissionEvent, StoredEvent};

/// The event's stored bytes and the event itself, with every held secret masked.
pub(super) fn masked(value: Vec<u8>, stored: StoredEvent) -> (Vec<u8>, StoredEvent) {
    if !held_secrets::found_in(&value) {
        return (value, stored);
    }
    let text = held_secrets::mask(&String::from_utf8_lossy(&value));
    match serde_json::from_str::<StoredEvent>(&text) {
        Ok(event) => (text.into_bytes(), event),
        Err(_) => {
            // Masking broke the JSON (a secret with quotes in it): keep a note, not the event.
            let note = StoredEvent {
                event: MissionEvent::Warning {
                    message: "an event that held a secret could not be masked and was left out"
                        .into(),
                },
                ..stored
            };
            (serde_json::to_vec(&note).unwrap_or_default(), note)
        }
    }
}
