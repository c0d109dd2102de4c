// A work-sharing thread pool for Serenity's own kernels, which never waits
// for a helper thread that has not started.
//
// Why not pthreadpool: every pthreadpool call returns only after each worker
// has woken up and checked in, even when the calling thread has already done
// (or stolen) all the work. On a loaded machine a worker that the OS has
// descheduled then costs a scheduler time slice (milliseconds) per operator:
// at 2 threads the zoo models ran up to 50x slower than at 1 on a 2-core
// machine shared with compilers. Here the calling thread claims chunks from
// the same job as the helpers and waits only for chunks a helper has
// actually claimed, so a sleeping or descheduled helper costs nothing. The
// caller claims from the first chunk up, helpers from the last down, so
// consecutive operators split their rows alike and each thread mostly reads
// what it wrote itself (in its own core's cache).
//
// Plain declarations on purpose: the AVX2 translation units call
// WorkPoolRun and must not instantiate inline code shared with the rest of
// the program (see dense_conv.h).
#ifndef SERENITY_KERNELS_WORK_POOL_H_
#define SERENITY_KERNELS_WORK_POOL_H_

#include <cstddef>

namespace serenity::kernels {

class WorkPool;

// The process-wide pool for `threads` threads in all (the caller plus
// threads - 1 helpers), created on first use and never destroyed; its
// helpers spin briefly after each job, then sleep. nullptr for threads <= 1.
// Thread-safe. Allocates (threads, synchronisation) only on the first call
// for a given count: call it when binding, not when running.
WorkPool* WorkPoolForThreads(size_t threads);

// Calls task(context, i) once for every i in [0, count), on the calling
// thread and on whichever helpers are awake, and returns when all calls have
// returned. pool == nullptr: all on the calling thread. Jobs from several
// threads on one pool run one after the other. Allocates nothing.
void WorkPoolRun(WorkPool* pool, void (*task)(void* context, size_t index), void* context,
                 size_t count);

}  // namespace serenity::kernels

#endif  // SERENITY_KERNELS_WORK_POOL_H_
