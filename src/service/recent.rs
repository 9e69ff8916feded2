//! Delivery ids this process knows were processed, in memory and bounded.
//!
//! GitHub redelivers with the same `X-GitHub-Delivery` id. When a redelivery
//! reaches the replica that recorded the delivery, this answers "duplicate"
//! without touching the store. The store's delivery records stay the truth:
//! an id missing here (another replica, a restart, evicted) is looked up there.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// How many ids a service remembers by default: GitHub redelivers within hours,
/// and a few thousand ids of ~40 bytes cost well under a megabyte.
pub const DEFAULT_CAPACITY: usize = 8192;

/// A bounded set of delivery ids; the oldest is forgotten first.
#[derive(Debug)]
pub struct RecentDeliveries {
    capacity: usize,
    inner: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Default for RecentDeliveries {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl RecentDeliveries {
    /// Remembers at most `capacity` ids (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Ring::default()),
        }
    }

    /// Whether `delivery_id` is known to have been processed.
    pub fn contains(&self, delivery_id: &str) -> bool {
        self.lock().ids.contains(delivery_id)
    }

    /// Remembers `delivery_id`, forgetting the oldest id when full.
    pub fn insert(&self, delivery_id: &str) {
        let mut ring = self.lock();
        if ring.ids.contains(delivery_id) {
            return;
        }
        while ring.order.len() >= self.capacity {
            if let Some(old) = ring.order.pop_front() {
                ring.ids.remove(&old);
            }
        }
        ring.ids.insert(delivery_id.to_owned());
        ring.order.push_back(delivery_id.to_owned());
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    /// True when no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // The ring is consistent after every statement: a panic elsewhere cannot break it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_id_is_known() {
        let recent = RecentDeliveries::new(4);
        recent.insert("72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert!(recent.contains("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
        assert!(!recent.contains("72d3162e-cc78-11e3-81ab-4c9367dc0959"));
        assert!(!recent.contains("72d3162e-cc78-11e3-81ab-4c9367dc095"));
        assert!(!recent.contains("72D3162E-CC78-11E3-81AB-4C9367DC0958"));
        assert!(!recent.contains(""));
    }

    #[test]
    fn the_oldest_id_is_forgotten_first_and_the_size_stays_bounded() {
        let recent = RecentDeliveries::new(3);
        for id in ["a", "b", "c", "b", "d"] {
            recent.insert(id);
        }
        assert_eq!(recent.len(), 3);
        assert!(!recent.contains("a"));
        for id in ["b", "c", "d"] {
            assert!(recent.contains(id), "{id}");
        }
        for i in 0..1000 {
            recent.insert(&format!("id-{i}"));
        }
        assert_eq!(recent.len(), 3);
        assert!(recent.contains("id-999"));
        assert!(!recent.contains("id-996"));
    }
}
