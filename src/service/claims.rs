//! Waiting on another attempt that claimed a piece of work.
//!
//! Copies of one delivery can run at once (replicas, a redelivery while the first try
//! still runs). Work that must happen once is claimed by whoever gets there first. A
//! copy that finds the claim taken must not answer "done": that records the delivery,
//! and if the claimer then fails, nobody does the work. It waits for the claimer's
//! result instead, and gives up with an error (500: the delivery stays unrecorded, so a
//! redelivery tries again) when that takes long.

use std::time::Duration;

/// How long a copy waits for a claimer before it gives up with an error.
pub const WAIT_FOR_CLAIMER: Duration = Duration::from_secs(15);

/// The pauses of one copy waiting on a claimer: growing, and bounded in total by
/// [`WAIT_FOR_CLAIMER`].
#[derive(Debug)]
pub struct Wait {
    deadline: tokio::time::Instant,
    pause: Duration,
}

impl Wait {
    /// Starts waiting now.
    pub fn new() -> Wait {
        Wait {
            deadline: tokio::time::Instant::now() + WAIT_FOR_CLAIMER,
            pause: Duration::from_millis(50),
        }
    }

    /// Sleeps before the next look; `false` (without sleeping) when the time is up
    /// and the caller should give up.
    pub async fn pause(&mut self) -> bool {
        if tokio::time::Instant::now() + self.pause > self.deadline {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(Duration::from_secs(2));
        true
    }
}

impl Default for Wait {
    fn default() -> Self {
        Wait::new()
    }
}
