//! The process's only unsafe code: libc calls that tune how the OS treats the server.
//! Each is best effort and does nothing off glibc/Linux.

/// Cap glibc's malloc arenas at two. By default every thread that allocates may get its own
/// arena (up to 8 per core), and memory freed into one is not reused by the others: a server
/// whose blocking threads fit thousands of models from weeks of history each kept ~20-40 MiB
/// more resident than it used (measured with 10,000 targets: 182-203 MiB with the default,
/// 163-169 MiB with one or two arenas). Call before any thread starts; an explicit
/// `MALLOC_ARENA_MAX` in the environment still wins.
#[allow(unsafe_code)]
pub(crate) fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; no other thread exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Make the calling thread a background thread, for the threads that refresh and refit
/// models: nice +`by`, then Linux's `SCHED_IDLE` policy, under which it runs only when no
/// ordinary thread of the process's group wants the core. A thread answering the HPA then
/// preempts model work at once instead of sharing the core with it by weight (nice alone
/// still gives a nice-5 thread a third of a contended core). Refreshes starve only if the
/// request path itself takes every core, and the staleness chain reports that
/// (`tidecast_target_state`, readiness, logs). Best effort: an error leaves the thread as is.
#[allow(unsafe_code)]
pub(crate) fn background_thread(by: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions; setpriority on our own thread id changes only
        // that thread's nice value (Linux keeps nice values per thread); sched_setscheduler
        // with pid 0 changes only the calling thread's policy, and SCHED_IDLE takes priority
        // 0, passed by a pointer to a live local.
        unsafe {
            let tid = libc::gettid();
            let now = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, (now + by).min(19));
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = by;
}

/// Model work (fits, artifacts decoded) since the heap was last trimmed.
static HEAP_CHURN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Note model work that leaves freed memory between long-lived allocations: a fit allocates
/// weeks of history and its temporaries around the small allocations of the model it leaves.
pub(crate) fn note_heap_churn() {
    HEAP_CHURN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// The churn count, for [`trim_heap`]'s caller to see whether anything happened.
pub(crate) fn heap_churn() -> u64 {
    HEAP_CHURN.load(std::sync::atomic::Ordering::Relaxed)
}

/// Return the free pages inside the heap to the OS (glibc's `malloc_trim(0)`). glibc gives
/// back only the top of each arena by itself, so the pages a fit freed between the models it
/// left stay resident: with 1,000 5-minute targets fitted, 79.5 MiB before a trim, 51.0 MiB
/// after. It walks the free lists (milliseconds for a heap of hundreds of MiB), on a model
/// thread. Does nothing off glibc.
#[allow(unsafe_code)]
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // What the trim started from (`free_bytes` is what it could return), read only when
        // logged: mallinfo2 walks every arena under its lock.
        let before = tracing::enabled!(tracing::Level::DEBUG).then(heap_in_use);
        // SAFETY: malloc_trim only returns free pages to the OS; it takes the arenas' locks.
        unsafe {
            libc::malloc_trim(0);
        }
        if let Some((in_use, free)) = before {
            tracing::debug!(in_use_bytes = in_use, free_bytes = free, "heap trimmed");
        }
    }
}

/// The heap's bytes in use and free inside it (glibc's `mallinfo2`, every arena).
#[allow(unsafe_code)]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn heap_in_use() -> (u64, u64) {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let m = unsafe { libc::mallinfo2() };
    ((m.uordblks + m.hblkhd) as u64, m.fordblks as u64)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The calling thread's nice value, from /proc (field 19 of its stat line).
    fn nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // The command name (field 2) may hold spaces; fields after its ')' are plain.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(16).unwrap().parse().unwrap()
    }

    /// The calling thread's scheduling policy.
    #[allow(unsafe_code)]
    fn policy() -> i32 {
        // SAFETY: no arguments to check; pid 0 is the calling thread.
        unsafe { libc::sched_getscheduler(0) }
    }

    #[test]
    fn a_background_thread_is_lowered_and_idle_class_and_only_it() {
        let (before, policy_before) = (nice(), policy());
        let (lowered, idle) = std::thread::spawn(move || {
            super::background_thread(5);
            (nice(), policy())
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (before + 5).min(19));
        assert_eq!(idle, libc::SCHED_IDLE);
        assert_eq!(nice(), before, "the test thread kept its priority");
        assert_eq!(policy(), policy_before, "and its policy");
    }
}
