/* The Serenity C API: the essentials of serenity/engine.h for C apps and
 * other languages.
 *
 *   serenity_model* model = NULL;
 *   serenity_engine* engine = NULL;
 *   serenity_engine_options options;
 *   serenity_engine_options_init(&options);
 *   if (serenity_model_load("net.srn", &model) != SERENITY_OK ||
 *       serenity_engine_create(model, &options, &engine) != SERENITY_OK) {
 *     fprintf(stderr, "%s\n", serenity_last_error());
 *   }
 *   serenity_engine_set_input(engine, 0, pixels, count);
 *   serenity_engine_invoke(engine);
 *   serenity_engine_get_output(engine, 0, logits, count);
 *   serenity_engine_destroy(engine);
 *   serenity_model_destroy(model);
 *
 * Conventions:
 * - Handles are opaque. The caller owns every handle it gets from a
 *   *_load / *_create call and releases it with the matching *_destroy
 *   (NULL is accepted and ignored).
 * - Every call that can fail returns a serenity_status (the numeric values of
 *   serenity::StatusCode). On failure the out-parameters are left untouched
 *   and serenity_last_error() gives the message (per thread, until the next
 *   failing call on that thread); calls on an engine also record it on the
 *   engine (serenity_engine_last_error).
 * - A model must outlive every engine created from it. One engine must not
 *   be used from two threads at once; engines of one model may run in
 *   parallel.
 * - Strings and arrays returned through out-parameters are owned by the
 *   handle they came from and live as long as it does.
 * - Arena contents: write every input before every invoke; outputs are
 *   valid until the next set_input or invoke (see serenity/engine.h).
 */
#ifndef SERENITY_SERENITY_C_H_
#define SERENITY_SERENITY_C_H_

#include <stddef.h>
#include <stdint.h>

#include "serenity/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum serenity_status {
  SERENITY_OK = 0,
  SERENITY_INVALID_ARGUMENT = 1,
  SERENITY_OUT_OF_RANGE = 2,
  SERENITY_FAILED_PRECONDITION = 3,
  SERENITY_INVALID_MODEL = 10,
  SERENITY_UNSUPPORTED = 11,
  SERENITY_CORRUPT_CACHE = 12,
  SERENITY_RESOURCE_EXHAUSTED = 20,
  SERENITY_DEADLINE_EXCEEDED = 21,
  SERENITY_NOT_FOUND = 30,
  SERENITY_IO_ERROR = 31,
  SERENITY_BACKEND_ERROR = 32,
  SERENITY_INTERNAL = 40
} serenity_status;

typedef enum serenity_scheduler {
  SERENITY_SCHEDULER_OPTIMAL = 0,
  SERENITY_SCHEDULER_HEURISTIC = 1,
  SERENITY_SCHEDULER_STORED = 2
} serenity_scheduler;

/* What engine creation does with the plan cache (EngineOptions::plan_cache in
 * serenity/engine.h, which documents the key, the file format and the
 * default directory, $XDG_CACHE_HOME/serenity). */
typedef enum serenity_plan_cache {
  SERENITY_PLAN_CACHE_ON = 0,      /* reuse a valid entry, else plan and write one */
  SERENITY_PLAN_CACHE_OFF = 1,     /* never read or write it */
  SERENITY_PLAN_CACHE_REFRESH = 2  /* plan again and rewrite the entry */
} serenity_plan_cache;

/* How the engine's plan lowers memory (serenity::MemoryStrategy). */
typedef enum serenity_memory_strategy {
  SERENITY_MEMORY_ORDER = 0,     /* the optimal order alone */
  SERENITY_MEMORY_ALIASING = 1,  /* plus in-place ops and zero-copy concats */
  SERENITY_MEMORY_REWRITES = 2   /* plus identity graph rewrites */
} serenity_memory_strategy;

typedef struct serenity_model serenity_model;
typedef struct serenity_engine serenity_engine;

/* Fill with serenity_engine_options_init, then change what you need. */
typedef struct serenity_engine_options {
  int threads;                        /* 1: no pool (default); 0: one per core */
  int scheduler;                      /* a serenity_scheduler; default OPTIMAL */
  double schedule_time_limit_seconds; /* exact search wall-clock limit; <= 0: none */
  double arena_time_limit_seconds;    /* arena search wall-clock limit; <= 0: none */
  int rewrites;                       /* non-zero: allow graph rewrites (default 1) */
  int profile;                        /* non-zero: per-operator timing */
  /* Optional caller-owned arena: 64-byte aligned, at least
   * serenity_engine_required_arena_bytes long, outliving the engine.
   * NULL (default): the engine allocates its own. */
  void* arena;
  size_t arena_bytes;
  int plan_cache;                     /* a serenity_plan_cache; default ON */
  /* Directory of the plan cache, copied at create; NULL or "" (default):
   * $XDG_CACHE_HOME/serenity, else $HOME/.cache/serenity. */
  const char* plan_cache_dir;
  int use_stored_plan;                /* non-zero: use a serenity_compile'd plan (default 1) */
  double rewrite_time_limit_seconds;  /* rewrite search wall-clock limit; <= 0: none */
  /* Work budget of the rewrite search (EngineOptions::rewrite_work_limit in
   * serenity/engine.h): counted, not timed, so the result does not depend on
   * the machine or its load; 0: no rewrite trial. */
  uint64_t rewrite_work_limit;
  /* Work budget of each arena placement search, in nodes
   * (EngineOptions::arena_node_limit); 0: none. */
  uint64_t arena_node_limit;
} serenity_engine_options;

/* Where an engine's plan came from and what it cost. */
typedef struct serenity_plan_info {
  /* "off", "miss", "hit", "refreshed", "aot" (the model's own plan) or
   * "retried" (the cache entry was provisional: planned again); the string
   * lives as long as the engine. */
  const char* cache_status;
  const char* cache_warning;  /* "" or one line: why the cache was not used */
  double planning_ms;         /* search, or cache lookup and checks */
  int memory_strategy;        /* a serenity_memory_strategy */
  int order_proven_optimal;   /* non-zero when the exact search proved its order */
  /* Non-zero when a wall-clock limit (not a work or memory budget) cut a
   * search of the plan short: the plan depends on the machine's speed and
   * load (ExecutionPlan::time_limited). */
  int time_limited;
  /* Non-zero when the cache entry written for the plan is provisional (a
   * later load plans again). */
  int cache_provisional;
  uint64_t rewrite_work;      /* work the rewrite search spent */
} serenity_plan_info;

typedef struct serenity_memory_info {
  uint64_t arena_bytes;
  uint64_t peak_bytes;
  uint64_t baseline_arena_bytes;
  uint64_t stored_order_peak_bytes;
  uint64_t weights_bytes;
  uint64_t packed_weight_bytes;
} serenity_memory_info;

/* The library's version, "0.1.0" (SERENITY_VERSION_STRING in serenity/version.h
 * is the version of the headers the app was compiled against). */
SERENITY_API const char* serenity_version(void);
/* The .srn format version this library reads (the version field of the files
 * it accepts). */
SERENITY_API uint32_t serenity_format_version(void);
/* A short name for a status ("invalid argument"); "unknown" if none. */
SERENITY_API const char* serenity_status_name(int status);
/* The message of the last failing call on this thread ("" if none). */
SERENITY_API const char* serenity_last_error(void);

SERENITY_API void serenity_engine_options_init(serenity_engine_options* options);

/* SERENITY_NOT_FOUND / SERENITY_IO_ERROR (file), SERENITY_INVALID_MODEL,
 * SERENITY_UNSUPPORTED, SERENITY_INVALID_ARGUMENT (NULL arguments). */
SERENITY_API int serenity_model_load(const char* path, serenity_model** model);
/* The bytes are copied; the caller may free them after the call. */
SERENITY_API int serenity_model_from_buffer(const void* data, size_t size, serenity_model** model);
SERENITY_API void serenity_model_destroy(serenity_model* model);

/* The arena bytes serenity_engine_create needs with these options. */
SERENITY_API int serenity_engine_required_arena_bytes(const serenity_model* model,
                                                      const serenity_engine_options* options,
                                                      size_t* arena_bytes);
/* options may be NULL (defaults). Errors as Engine::Create in engine.h,
 * e.g. SERENITY_INVALID_ARGUMENT for a caller arena that is too small (the
 * message gives the size needed). */
SERENITY_API int serenity_engine_create(const serenity_model* model,
                                        const serenity_engine_options* options,
                                        serenity_engine** engine);
SERENITY_API void serenity_engine_destroy(serenity_engine* engine);
/* The last error recorded on this engine ("" if none). */
SERENITY_API const char* serenity_engine_last_error(const serenity_engine* engine);

SERENITY_API int serenity_engine_invoke(serenity_engine* engine);

SERENITY_API int serenity_engine_input_count(const serenity_engine* engine, int* count);
SERENITY_API int serenity_engine_output_count(const serenity_engine* engine, int* count);
/* SERENITY_NOT_FOUND if no input/output has that name. */
SERENITY_API int serenity_engine_input_index(const serenity_engine* engine, const char* name,
                                             int* index);
SERENITY_API int serenity_engine_output_index(const serenity_engine* engine, const char* name,
                                              int* index);
/* SERENITY_OUT_OF_RANGE for a bad index. */
SERENITY_API int serenity_engine_input_name(const serenity_engine* engine, int index,
                                            const char** name);
SERENITY_API int serenity_engine_output_name(const serenity_engine* engine, int index,
                                             const char** name);
/* The shape of the arrays set_input takes / get_output fills. */
SERENITY_API int serenity_engine_input_shape(const serenity_engine* engine, int index,
                                             const int64_t** dims, size_t* rank);
SERENITY_API int serenity_engine_output_shape(const serenity_engine* engine, int index,
                                              const int64_t** dims, size_t* rank);
SERENITY_API int serenity_engine_input_element_count(const serenity_engine* engine, int index,
                                                     size_t* count);
SERENITY_API int serenity_engine_output_element_count(const serenity_engine* engine, int index,
                                                      size_t* count);
/* The tensor inside the arena (the graph's layout, NHWC for 4-D tensors),
 * valid while the engine lives. */
SERENITY_API int serenity_engine_input_data(serenity_engine* engine, int index, float** data);
SERENITY_API int serenity_engine_output_data(const serenity_engine* engine, int index,
                                             const float** data);
/* Copies with a size check (SERENITY_INVALID_ARGUMENT when count differs
 * from the element count); converts the layout when the model asks for it. */
SERENITY_API int serenity_engine_set_input(serenity_engine* engine, int index, const float* data,
                                           size_t count);
SERENITY_API int serenity_engine_get_output(serenity_engine* engine, int index, float* data,
                                            size_t count);

SERENITY_API int serenity_engine_memory(const serenity_engine* engine, serenity_memory_info* info);
SERENITY_API int serenity_engine_operator_count(const serenity_engine* engine, int* count);
SERENITY_API int serenity_engine_plan_info(const serenity_engine* engine, serenity_plan_info* info);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* SERENITY_SERENITY_C_H_ */
