//! What the renderer reads besides the request document, the plan summary and the
//! cost estimate: the environment's policy and the environment lock.

/// The parts of the environment's policy (`.github/tfpilot.yml`) the text depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnvPolicy {
    /// Approvals needed before merge, when known.
    pub required_approvals: Option<usize>,
    /// True when tfpilot applies by itself after the merge.
    pub auto_apply: bool,
    /// True when destroy needs the request id typed as confirmation.
    pub protected: bool,
}

/// The environment lock as this request sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockView {
    /// The request holding the lock, when it is held.
    pub holder: Option<String>,
    /// This request's place in the queue, 1 for next.
    pub queue_position: Option<usize>,
    /// How many requests wait in total.
    pub queue_length: Option<usize>,
}
