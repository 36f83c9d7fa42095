use std::hash::{Hash, Hasher};

/// Stable across processes and runs: decides which worker owns a camera.
pub fn camera_route(camera_id: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    camera_id.hash(&mut hasher);
    hasher.finish()
}

/// One worker's place among its peers, which decides the cameras it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    pub worker: u64,
    pub peers: u64,
}

impl Ownership {
    /// The only worker of a single-threaded run, which owns every camera.
    pub const ALONE: Ownership = Ownership {
        worker: 0,
        peers: 1,
    };

    pub fn owns(&self, camera_id: &str) -> bool {
        camera_route(camera_id) % self.peers.max(1) == self.worker
    }
}
