//! Event handlers: facts in, effects out.

/// What handling a delivery amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Facts changed and were saved.
    Processed,
    /// Understood, but nothing changed (an idempotent repeat).
    Unchanged,
    /// This delivery id was processed before.
    Duplicate,
    /// Not tfpilot's business (an unrelated workflow, a bot's comment, ...).
    Ignored,
    /// An event or action tfpilot does not handle.
    Unsupported,
}

impl Outcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Processed => "processed",
            Outcome::Unchanged => "unchanged",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::Unsupported => "unsupported",
        }
    }
}

/// An internal failure while handling a delivery (logged, answered with 500).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
}

/// The event handlers and what they need.
pub struct Service {}

impl Service {
    /// Handles one verified, parsed delivery.
    pub async fn handle_delivery(
        &self,
        _delivery_id: &str,
        _event: crate::core::webhook::Event,
    ) -> Result<Outcome, ServiceError> {
        Ok(Outcome::Unsupported)
    }

    /// Whether the store answers.
    pub async fn ready(&self) -> Result<(), ServiceError> {
        Ok(())
    }
}
