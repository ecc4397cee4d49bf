//! The process's only unsafe code: two libc calls that tune how the OS treats the server.
//! Both are best effort and do nothing off glibc/Linux.

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

/// Lower the calling thread's scheduling priority (nice +`by`), for the threads that refresh
/// and refit models: when they compete with the threads answering the HPA for a core, the
/// kernel then runs the request path first. Best effort: an error leaves the priority as is.
#[allow(unsafe_code)]
pub(crate) fn lower_thread_priority(by: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions; setpriority on our own thread id changes only
        // that thread's nice value (Linux keeps nice values per thread).
        unsafe {
            let tid = libc::gettid();
            let now = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, (now + by).min(19));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = by;
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

    #[test]
    fn lowering_the_priority_changes_only_the_calling_thread() {
        let before = nice();
        let lowered = std::thread::spawn(move || {
            super::lower_thread_priority(5);
            nice()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (before + 5).min(19));
        assert_eq!(nice(), before, "the test thread kept its priority");
    }
}
