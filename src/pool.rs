//! A small worker pool for `--jobs`: independent jobs (a scenario under one engine, a litmus
//! test) on up to N OS threads, their results handed back in the order of the jobs, so what
//! is printed and written does not depend on N or on which job finished first.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// The default `--jobs`: the cores this process may use (1 when that is unknown).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Each worker's stack: the size a main thread gets, so a run behaves as on the main thread.
const WORKER_STACK: usize = 8 << 20;

/// `f` over `items` on up to `jobs` threads. `done` sees each result in the order of `items`,
/// as soon as it and every earlier one are in; the results come back in that order. With
/// one job everything runs on the calling thread, as before `--jobs` existed. A panic in `f`
/// is passed on once the other workers have stopped.
pub fn map_ordered<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
    mut done: impl FnMut(&R),
) -> Vec<R> {
    let jobs = jobs.clamp(1, items.len().max(1));
    if jobs == 1 {
        return items
            .iter()
            .map(|t| {
                let r = f(t);
                done(&r);
                r
            })
            .collect();
    }
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<R>> = items.iter().map(|_| None).collect();
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..jobs {
            let (tx, next, f) = (tx.clone(), &next, &f);
            std::thread::Builder::new()
                .stack_size(WORKER_STACK)
                .spawn_scoped(s, move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(t) = items.get(i) else { break };
                    if tx.send((i, f(t))).is_err() {
                        break;
                    }
                })
                .expect("cannot start a worker thread");
        }
        drop(tx);
        let mut shown = 0;
        for (i, r) in rx {
            slots[i] = Some(r);
            while let Some(Some(r)) = slots.get(shown) {
                done(r);
                shown += 1;
            }
        }
    });
    slots
        .into_iter()
        .map(|r| r.expect("a worker stopped before its job was done"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_done_calls_keep_the_order_of_the_items() {
        // The first items take longest, so later ones finish first on other threads.
        let items: Vec<u64> = (0..12).collect();
        for jobs in [1, 2, 4, 64] {
            let mut seen = Vec::new();
            let got = map_ordered(
                &items,
                jobs,
                |&i| {
                    std::thread::sleep(std::time::Duration::from_millis(12 - i));
                    i * 10
                },
                |&r| seen.push(r),
            );
            let want: Vec<u64> = items.iter().map(|i| i * 10).collect();
            assert_eq!(got, want, "--jobs {jobs}");
            assert_eq!(seen, want, "--jobs {jobs}");
        }
        assert!(map_ordered(&[] as &[u8], 2, |&x| x, |_| {}).is_empty());
    }
}
