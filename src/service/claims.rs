//! Waiting on another attempt that claimed a piece of work.
//!
//! Copies of one delivery can run at once (replicas, a redelivery while the first try
//! still runs). Work that must happen once is claimed by whoever gets there first. A
//! copy that finds the claim taken must not answer "done": that records the delivery,
//! and if the claimer then fails, nobody does the work. It waits for the claimer's
//! result instead, and gives up with an error (500: the delivery stays unrecorded, so a
//! redelivery tries again) when that takes long.

use std::time::Duration;

/// How long a copy waits for a claimer before it gives up with an error: within the
/// 10 seconds GitHub waits for an answer, so GitHub sees the 500.
pub const WAIT_FOR_CLAIMER: Duration = Duration::from_secs(8);

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

/// The deliveries this process is handling. Handlers run in their own task, so one
/// outlives its HTTP request when GitHub gives up after 10 seconds; shutdown (and a
/// test that moves its clock) waits for them here.
#[derive(Debug, Default)]
pub struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

/// One delivery being handled; dropping it ends it.
#[derive(Debug)]
pub struct Handling<'a> {
    of: &'a InFlight,
}

impl InFlight {
    /// Starts handling a delivery.
    pub fn enter(&self) -> Handling<'_> {
        self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Handling { of: self }
    }

    /// How many deliveries are being handled now.
    pub fn count(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until no delivery is being handled, for at most `limit`; `false` when
    /// some still were at the end.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let idle = self.idle.notified();
            if self.count() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.count() == 0;
            }
        }
    }
}

impl Drop for Handling<'_> {
    fn drop(&mut self) {
        if self
            .of
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            == 1
        {
            self.of.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_comes_when_the_last_handler_ends_and_not_before() {
        let in_flight = InFlight::default();
        assert!(
            in_flight.wait_idle(Duration::from_millis(1)).await,
            "nothing running"
        );
        let first = in_flight.enter();
        let second = in_flight.enter();
        assert_eq!(in_flight.count(), 2);
        drop(first);
        assert!(
            !in_flight.wait_idle(Duration::from_millis(50)).await,
            "one is still running"
        );
        let ends = async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(second);
        };
        let (idle, ()) = tokio::join!(in_flight.wait_idle(Duration::from_secs(10)), ends);
        assert!(idle);
        assert_eq!(in_flight.count(), 0);
    }

    #[tokio::test]
    async fn a_wait_gives_up_within_the_bound() {
        let started = tokio::time::Instant::now();
        let mut wait = Wait::new();
        let mut looks = 1;
        while wait.pause().await {
            looks += 1;
        }
        assert!(started.elapsed() <= WAIT_FOR_CLAIMER);
        assert!(looks > 5, "it looked again several times: {looks}");
    }
}
