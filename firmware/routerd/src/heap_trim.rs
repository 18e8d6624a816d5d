//! Giving the heap freed after a burst of work back to the kernel.
//!
//! A burst (a full table received, a thousand peers' initial tables sent) allocates tens
//! of megabytes of buffers that are freed once the bytes have moved. glibc's allocator
//! keeps such freed chunks in its arenas, so the daemon's resident size stays at the
//! burst's high-water mark. [`HeapTrim`] counts the octets the loop moves; on the status
//! tick after a burst (at least [`BURST`] moved since the last trim, at most [`QUIET`]
//! in the last tick) it asks the allocator to return what is free (`malloc_trim(0)`,
//! a few milliseconds once per burst). musl's allocator (the image's static build)
//! returns large freed regions itself and has no such call: there this does nothing.
//!
//! The one `unsafe` block of this module is the libc call itself.

#![allow(unsafe_code)]

/// Octets moved since the last trim that make a burst.
const BURST: u64 = 4 * 1024 * 1024;
/// Octets moved in the last tick below which the burst is over.
const QUIET: u64 = 256 * 1024;

/// Octets moved, and when to trim.
#[derive(Debug, Default)]
pub(crate) struct HeapTrim {
    since_trim: u64,
    this_tick: u64,
}

impl HeapTrim {
    /// `octets` were received or queued for sending.
    pub(crate) fn moved(&mut self, octets: usize) {
        self.this_tick += octets as u64;
        self.since_trim += octets as u64;
    }

    /// Called on every status tick: trims when a burst has just ended. Returns whether it
    /// trimmed.
    pub(crate) fn tick(&mut self) -> bool {
        let quiet = self.this_tick <= QUIET;
        self.this_tick = 0;
        if !(quiet && self.since_trim >= BURST) {
            return false;
        }
        self.since_trim = 0;
        release_free_heap();
        true
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_heap() {
    // SAFETY: malloc_trim takes no pointers from us; it locks and walks the allocator's
    // own free lists and may be called at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_heap() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_after_a_burst_when_the_loop_is_quiet() {
        let mut t = HeapTrim::default();
        t.moved(BURST as usize);
        assert!(!t.tick(), "still busy in this tick");
        t.moved(1000);
        assert!(t.tick(), "the tick after the burst");
        assert!(!t.tick(), "once per burst");
        t.moved(QUIET as usize);
        assert!(!t.tick(), "keepalives are not a burst");
    }
}
