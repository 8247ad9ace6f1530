//! Sortie's integration tests: one binary, one file per behaviour under `suite/`.

mod suite;
