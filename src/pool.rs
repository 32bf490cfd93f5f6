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
    done: impl FnMut(&R),
) -> Vec<R> {
    map_ordered_by(items, jobs, |_| 0, f, done)
}

/// [`map_ordered`], with the items started in descending order of `cost` (a cheap estimate
/// of each one's run time; equal costs in item order): the longest jobs first, so the last
/// to finish are short ones and no worker is left alone on a long one at the end. Only the
/// start order changes: `done` and the results keep the order of `items`.
pub fn map_ordered_by<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    cost: impl Fn(&T) -> u64,
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
    let order = dispatch_order(items, cost);
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<R>> = items.iter().map(|_| None).collect();
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..jobs {
            let (tx, next, f, order) = (tx.clone(), &next, &f, &order);
            std::thread::Builder::new()
                .stack_size(WORKER_STACK)
                .spawn_scoped(s, move || {
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if tx.send((i, f(&items[i]))).is_err() {
                            break;
                        }
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

/// The indices of `items` by descending `cost`, equal costs in item order.
fn dispatch_order<T>(items: &[T], cost: impl Fn(&T) -> u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&items[i])));
    order
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

    #[test]
    fn the_costliest_items_start_first_and_results_keep_the_item_order() {
        // Costs 3, 1, 4, 1, 5, 9, 2, 6: started 9, 6, 5, 4, 3, 2, then the 1s in item order.
        let cost = [3u64, 1, 4, 1, 5, 9, 2, 6];
        let items: Vec<usize> = (0..cost.len()).collect();
        assert_eq!(
            dispatch_order(&items, |&i| cost[i]),
            vec![5, 7, 4, 2, 0, 6, 1, 3]
        );
        for jobs in [2, 3] {
            let started = std::sync::Mutex::new(Vec::new());
            let mut seen = Vec::new();
            let got = map_ordered_by(
                &items,
                jobs,
                |&i| cost[i],
                |&i| {
                    started.lock().unwrap().push(i);
                    std::thread::sleep(std::time::Duration::from_millis(5 * cost[i]));
                    i
                },
                |&r| seen.push(r),
            );
            assert_eq!(got, items, "--jobs {jobs}");
            assert_eq!(seen, items, "--jobs {jobs}");
            // The first `jobs` to start are the `jobs` costliest, in whatever order the
            // workers took them.
            let mut first = started.into_inner().unwrap()[..jobs].to_vec();
            first.sort();
            let mut want = dispatch_order(&items, |&i| cost[i])[..jobs].to_vec();
            want.sort();
            assert_eq!(first, want, "--jobs {jobs}");
        }
    }
}
