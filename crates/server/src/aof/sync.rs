//! The background fsync thread: the event loop never waits for the disk.
//!
//! The loop `write()`s the AOF buffer itself (a copy into the page cache) and hands the
//! `fdatasync` to this thread. Requests coalesce: one fsync covers every write made before
//! it started, so under `appendfsync always` a whole batch of commands shares one fsync
//! (group commit). When an fsync ends the thread records the write sequence number it
//! covered and wakes the loop, which then releases the replies waiting for it.

use std::fs::File;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

#[derive(Default)]
struct State {
    /// The next fsync to run: the file and the write sequence it covers.
    job: Option<(Arc<File>, u64)>,
    /// True while an fsync runs.
    busy: bool,
    /// Highest write sequence known to be on disk.
    done: u64,
    /// The last fsync error, taken by the loop.
    error: Option<String>,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
    waker: Mutex<Option<Arc<mio::Waker>>>,
}

/// Handle to the fsync thread.
pub struct Syncer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Syncer")
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A poisoned lock only means the thread panicked mid-update; the counters are still
    // meaningful, so carry on rather than take the server down.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Syncer {
    /// Starts the thread.
    pub fn start() -> std::io::Result<Syncer> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
            waker: Mutex::new(None),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("aof-fsync".into()).spawn(move || run(&s))?;
        Ok(Syncer { shared, thread: Some(thread) })
    }

    /// Lets the thread wake the event loop when an fsync completes.
    pub fn set_waker(&self, waker: Arc<mio::Waker>) {
        *self.shared.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker);
    }

    /// Asks for `file` to be fsynced, covering writes up to `seq`. A request not yet
    /// started is replaced (the later one covers it).
    pub fn request(&self, file: Arc<File>, seq: u64) {
        let mut st = lock(&self.shared.state);
        st.job = Some((file, seq));
        // All waiters: `drain` may be waiting on the same condvar as the thread.
        self.shared.cv.notify_all();
    }

    /// True while an fsync runs or waits to run (`aof_pending_bio_fsync`).
    pub fn busy(&self) -> bool {
        let st = lock(&self.shared.state);
        st.busy || st.job.is_some()
    }

    /// The highest write sequence on disk, and an fsync error if one happened.
    pub fn poll(&self) -> (u64, Option<String>) {
        let mut st = lock(&self.shared.state);
        (st.done, st.error.take())
    }

    /// The highest write sequence on disk, leaving any error for [`Syncer::poll`].
    pub fn synced(&self) -> u64 {
        lock(&self.shared.state).done
    }

    /// Records writes known durable without the thread (a synchronous fsync).
    pub fn mark_done(&self, seq: u64) {
        let mut st = lock(&self.shared.state);
        st.done = st.done.max(seq);
    }

    /// Waits until no fsync runs or waits (before a synchronous fsync or a file switch).
    pub fn drain(&self) {
        let mut st = lock(&self.shared.state);
        while st.busy || st.job.is_some() {
            st = self.shared.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared) {
    loop {
        let (file, seq) = {
            let mut st = lock(&shared.state);
            loop {
                if let Some(job) = st.job.take() {
                    st.busy = true;
                    break job;
                }
                if st.stop {
                    return;
                }
                st = shared.cv.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        };
        let result = file.sync_data();
        {
            let mut st = lock(&shared.state);
            st.busy = false;
            match result {
                Ok(()) => st.done = st.done.max(seq),
                Err(e) => st.error = Some(e.to_string()),
            }
            shared.cv.notify_all();
        }
        if let Some(w) = shared.waker.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = w.wake();
        }
    }
}
