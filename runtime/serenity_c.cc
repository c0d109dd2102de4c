#include "serenity/serenity_c.h"

#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "serenity/engine.h"

struct serenity_model {
  explicit serenity_model(serenity::Model m) : model(std::move(m)) {}
  serenity::Model model;
};

struct serenity_engine {
  explicit serenity_engine(serenity::Engine e) : engine(std::move(e)) {}
  serenity::Engine engine;
  std::vector<serenity::TensorView> inputs;
  std::vector<serenity::TensorView> outputs;
  std::string last_error;
};

namespace {

thread_local std::string last_error;

int Fail(const serenity::Status& status, serenity_engine* engine = nullptr) {
  last_error = status.ToString();
  if (engine != nullptr) engine->last_error = last_error;
  return static_cast<int>(status.code());
}

int NullArgument(const char* function, const char* argument) {
  return Fail(serenity::InvalidArgumentError(function, ": ", argument, " is NULL"));
}

// An int, not the enum: a C caller may store any value in the field.
bool ToAlgorithm(int scheduler, serenity::ScheduleAlgorithm* algorithm) {
  switch (scheduler) {
    case SERENITY_SCHEDULER_OPTIMAL:
      *algorithm = serenity::ScheduleAlgorithm::kOptimal;
      return true;
    case SERENITY_SCHEDULER_HEURISTIC:
      *algorithm = serenity::ScheduleAlgorithm::kHeuristic;
      return true;
    case SERENITY_SCHEDULER_STORED:
      *algorithm = serenity::ScheduleAlgorithm::kStored;
      return true;
  }
  return false;
}

int ToOptions(const serenity_engine_options* c, serenity::EngineOptions* options) {
  if (c == nullptr) return SERENITY_OK;
  if (!ToAlgorithm(c->scheduler, &options->scheduler)) {
    return Fail(serenity::InvalidArgumentError("serenity_engine_options.scheduler is ",
                                               c->scheduler,
                                               ", not a serenity_scheduler value"));
  }
  options->threads = c->threads;
  options->schedule_time_limit_seconds = c->schedule_time_limit_seconds;
  options->arena_time_limit_seconds = c->arena_time_limit_seconds;
  options->rewrites = c->rewrites != 0;
  options->profile = c->profile != 0;
  options->arena = c->arena;
  options->arena_bytes = c->arena_bytes;
  switch (c->plan_cache) {
    case SERENITY_PLAN_CACHE_ON:
      options->plan_cache = serenity::PlanCacheMode::kOn;
      break;
    case SERENITY_PLAN_CACHE_OFF:
      options->plan_cache = serenity::PlanCacheMode::kOff;
      break;
    case SERENITY_PLAN_CACHE_REFRESH:
      options->plan_cache = serenity::PlanCacheMode::kRefresh;
      break;
    default:
      return Fail(serenity::InvalidArgumentError("serenity_engine_options.plan_cache is ",
                                                 c->plan_cache,
                                                 ", not a serenity_plan_cache value"));
  }
  options->plan_cache_dir = c->plan_cache_dir != nullptr ? c->plan_cache_dir : "";
  options->use_stored_plan = c->use_stored_plan != 0;
  options->rewrite_time_limit_seconds = c->rewrite_time_limit_seconds;
  options->rewrite_work_limit = c->rewrite_work_limit;
  options->arena_node_limit = c->arena_node_limit;
  return SERENITY_OK;
}

// Engine errors that recur per call: bad handle, bad index.
int CheckEngine(const serenity_engine* engine, const char* function) {
  return engine == nullptr ? NullArgument(function, "engine") : SERENITY_OK;
}

int CheckIndex(const serenity_engine* engine, const std::vector<serenity::TensorView>& views,
               int index, const char* what) {
  if (index < 0 || index >= static_cast<int>(views.size())) {
    return Fail(serenity::OutOfRangeError(what, " index ", index,
                                          " is out of range: the model has ", views.size(),
                                          " ", what, "s"),
                const_cast<serenity_engine*>(engine));
  }
  return SERENITY_OK;
}

int FindByName(const serenity_engine* engine, const std::vector<serenity::TensorView>& views,
               const char* name, const char* what, int* index) {
  for (const serenity::TensorView& view : views) {
    if (view.name == name) {
      *index = view.index;
      return SERENITY_OK;
    }
  }
  return Fail(serenity::NotFoundError("no ", what, " named '", name, "'"),
              const_cast<serenity_engine*>(engine));
}

}  // namespace

extern "C" {

const char* serenity_version(void) { return serenity::VersionString(); }

uint32_t serenity_format_version(void) { return serenity::kFormatVersion; }

const char* serenity_status_name(int status) {
  switch (status) {
    case 0: case 1: case 2: case 3: case 10: case 11: case 12:
    case 20: case 21: case 30: case 31: case 32: case 40:
      return serenity::StatusCodeName(static_cast<serenity::StatusCode>(status));
    default:
      return "unknown";
  }
}

const char* serenity_last_error(void) { return last_error.c_str(); }

void serenity_engine_options_init(serenity_engine_options* options) {
  if (options == nullptr) return;
  const serenity::EngineOptions defaults;
  options->threads = defaults.threads;
  options->scheduler = SERENITY_SCHEDULER_OPTIMAL;
  options->schedule_time_limit_seconds = defaults.schedule_time_limit_seconds;
  options->arena_time_limit_seconds = defaults.arena_time_limit_seconds;
  options->rewrites = defaults.rewrites ? 1 : 0;
  options->profile = 0;
  options->arena = nullptr;
  options->arena_bytes = 0;
  options->plan_cache = SERENITY_PLAN_CACHE_ON;
  options->plan_cache_dir = nullptr;
  options->use_stored_plan = defaults.use_stored_plan ? 1 : 0;
  options->rewrite_time_limit_seconds = defaults.rewrite_time_limit_seconds;
  options->rewrite_work_limit = defaults.rewrite_work_limit;
  options->arena_node_limit = defaults.arena_node_limit;
}

int serenity_model_load(const char* path, serenity_model** model) {
  if (path == nullptr) return NullArgument("serenity_model_load", "path");
  if (model == nullptr) return NullArgument("serenity_model_load", "model");
  serenity::Result<serenity::Model> loaded = serenity::Model::Load(path);
  if (!loaded.ok()) return Fail(loaded.status());
  serenity_model* handle = new (std::nothrow) serenity_model(std::move(loaded).value());
  if (handle == nullptr) return Fail(serenity::ResourceExhaustedError("out of memory"));
  *model = handle;
  return SERENITY_OK;
}

int serenity_model_from_buffer(const void* data, size_t size, serenity_model** model) {
  if (data == nullptr) return NullArgument("serenity_model_from_buffer", "data");
  if (model == nullptr) return NullArgument("serenity_model_from_buffer", "model");
  serenity::Result<serenity::Model> loaded =
      serenity::Model::FromBuffer(static_cast<const uint8_t*>(data), size);
  if (!loaded.ok()) return Fail(loaded.status());
  serenity_model* handle = new (std::nothrow) serenity_model(std::move(loaded).value());
  if (handle == nullptr) return Fail(serenity::ResourceExhaustedError("out of memory"));
  *model = handle;
  return SERENITY_OK;
}

void serenity_model_destroy(serenity_model* model) { delete model; }

int serenity_engine_required_arena_bytes(const serenity_model* model,
                                         const serenity_engine_options* options,
                                         size_t* arena_bytes) {
  if (model == nullptr) return NullArgument("serenity_engine_required_arena_bytes", "model");
  if (arena_bytes == nullptr) {
    return NullArgument("serenity_engine_required_arena_bytes", "arena_bytes");
  }
  serenity::EngineOptions cpp;
  if (int status = ToOptions(options, &cpp); status != SERENITY_OK) return status;
  serenity::Result<uint64_t> bytes = serenity::Engine::RequiredArenaBytes(model->model, cpp);
  if (!bytes.ok()) return Fail(bytes.status());
  *arena_bytes = static_cast<size_t>(*bytes);
  return SERENITY_OK;
}

int serenity_engine_create(const serenity_model* model, const serenity_engine_options* options,
                           serenity_engine** engine) {
  if (model == nullptr) return NullArgument("serenity_engine_create", "model");
  if (engine == nullptr) return NullArgument("serenity_engine_create", "engine");
  serenity::EngineOptions cpp;
  if (int status = ToOptions(options, &cpp); status != SERENITY_OK) return status;
  serenity::Result<serenity::Engine> created = serenity::Engine::Create(model->model, cpp);
  if (!created.ok()) return Fail(created.status());
  serenity_engine* handle = new (std::nothrow) serenity_engine(std::move(created).value());
  if (handle == nullptr) return Fail(serenity::ResourceExhaustedError("out of memory"));
  for (int i = 0; i < handle->engine.num_inputs(); ++i) {
    handle->inputs.push_back(*handle->engine.input(i));
  }
  for (int i = 0; i < handle->engine.num_outputs(); ++i) {
    handle->outputs.push_back(*handle->engine.output(i));
  }
  *engine = handle;
  return SERENITY_OK;
}

void serenity_engine_destroy(serenity_engine* engine) { delete engine; }

const char* serenity_engine_last_error(const serenity_engine* engine) {
  return engine == nullptr ? "" : engine->last_error.c_str();
}

int serenity_engine_invoke(serenity_engine* engine) {
  if (int s = CheckEngine(engine, "serenity_engine_invoke"); s != SERENITY_OK) return s;
  serenity::Status status = engine->engine.Invoke();
  return status.ok() ? SERENITY_OK : Fail(status, engine);
}

int serenity_engine_input_count(const serenity_engine* engine, int* count) {
  if (int s = CheckEngine(engine, "serenity_engine_input_count"); s != SERENITY_OK) return s;
  if (count == nullptr) return NullArgument("serenity_engine_input_count", "count");
  *count = static_cast<int>(engine->inputs.size());
  return SERENITY_OK;
}

int serenity_engine_output_count(const serenity_engine* engine, int* count) {
  if (int s = CheckEngine(engine, "serenity_engine_output_count"); s != SERENITY_OK) return s;
  if (count == nullptr) return NullArgument("serenity_engine_output_count", "count");
  *count = static_cast<int>(engine->outputs.size());
  return SERENITY_OK;
}

int serenity_engine_input_index(const serenity_engine* engine, const char* name, int* index) {
  if (int s = CheckEngine(engine, "serenity_engine_input_index"); s != SERENITY_OK) return s;
  if (name == nullptr) return NullArgument("serenity_engine_input_index", "name");
  if (index == nullptr) return NullArgument("serenity_engine_input_index", "index");
  return FindByName(engine, engine->inputs, name, "input", index);
}

int serenity_engine_output_index(const serenity_engine* engine, const char* name, int* index) {
  if (int s = CheckEngine(engine, "serenity_engine_output_index"); s != SERENITY_OK) return s;
  if (name == nullptr) return NullArgument("serenity_engine_output_index", "name");
  if (index == nullptr) return NullArgument("serenity_engine_output_index", "index");
  return FindByName(engine, engine->outputs, name, "output", index);
}

int serenity_engine_input_name(const serenity_engine* engine, int index, const char** name) {
  if (int s = CheckEngine(engine, "serenity_engine_input_name"); s != SERENITY_OK) return s;
  if (name == nullptr) return NullArgument("serenity_engine_input_name", "name");
  if (int s = CheckIndex(engine, engine->inputs, index, "input"); s != SERENITY_OK) return s;
  *name = engine->inputs[index].name.c_str();
  return SERENITY_OK;
}

int serenity_engine_output_name(const serenity_engine* engine, int index, const char** name) {
  if (int s = CheckEngine(engine, "serenity_engine_output_name"); s != SERENITY_OK) return s;
  if (name == nullptr) return NullArgument("serenity_engine_output_name", "name");
  if (int s = CheckIndex(engine, engine->outputs, index, "output"); s != SERENITY_OK) return s;
  *name = engine->outputs[index].name.c_str();
  return SERENITY_OK;
}

int serenity_engine_input_shape(const serenity_engine* engine, int index, const int64_t** dims,
                                size_t* rank) {
  if (int s = CheckEngine(engine, "serenity_engine_input_shape"); s != SERENITY_OK) return s;
  if (dims == nullptr || rank == nullptr) {
    return NullArgument("serenity_engine_input_shape", "dims or rank");
  }
  if (int s = CheckIndex(engine, engine->inputs, index, "input"); s != SERENITY_OK) return s;
  *dims = engine->inputs[index].boundary_shape.data();
  *rank = engine->inputs[index].boundary_shape.size();
  return SERENITY_OK;
}

int serenity_engine_output_shape(const serenity_engine* engine, int index, const int64_t** dims,
                                 size_t* rank) {
  if (int s = CheckEngine(engine, "serenity_engine_output_shape"); s != SERENITY_OK) return s;
  if (dims == nullptr || rank == nullptr) {
    return NullArgument("serenity_engine_output_shape", "dims or rank");
  }
  if (int s = CheckIndex(engine, engine->outputs, index, "output"); s != SERENITY_OK) return s;
  *dims = engine->outputs[index].boundary_shape.data();
  *rank = engine->outputs[index].boundary_shape.size();
  return SERENITY_OK;
}

int serenity_engine_input_element_count(const serenity_engine* engine, int index, size_t* count) {
  if (int s = CheckEngine(engine, "serenity_engine_input_element_count"); s != SERENITY_OK) {
    return s;
  }
  if (count == nullptr) return NullArgument("serenity_engine_input_element_count", "count");
  if (int s = CheckIndex(engine, engine->inputs, index, "input"); s != SERENITY_OK) return s;
  *count = engine->inputs[index].num_elements;
  return SERENITY_OK;
}

int serenity_engine_output_element_count(const serenity_engine* engine, int index,
                                         size_t* count) {
  if (int s = CheckEngine(engine, "serenity_engine_output_element_count"); s != SERENITY_OK) {
    return s;
  }
  if (count == nullptr) return NullArgument("serenity_engine_output_element_count", "count");
  if (int s = CheckIndex(engine, engine->outputs, index, "output"); s != SERENITY_OK) return s;
  *count = engine->outputs[index].num_elements;
  return SERENITY_OK;
}

int serenity_engine_input_data(serenity_engine* engine, int index, float** data) {
  if (int s = CheckEngine(engine, "serenity_engine_input_data"); s != SERENITY_OK) return s;
  if (data == nullptr) return NullArgument("serenity_engine_input_data", "data");
  if (int s = CheckIndex(engine, engine->inputs, index, "input"); s != SERENITY_OK) return s;
  *data = engine->inputs[index].data;
  return SERENITY_OK;
}

int serenity_engine_output_data(const serenity_engine* engine, int index, const float** data) {
  if (int s = CheckEngine(engine, "serenity_engine_output_data"); s != SERENITY_OK) return s;
  if (data == nullptr) return NullArgument("serenity_engine_output_data", "data");
  if (int s = CheckIndex(engine, engine->outputs, index, "output"); s != SERENITY_OK) return s;
  *data = engine->outputs[index].data;
  return SERENITY_OK;
}

int serenity_engine_set_input(serenity_engine* engine, int index, const float* data,
                              size_t count) {
  if (int s = CheckEngine(engine, "serenity_engine_set_input"); s != SERENITY_OK) return s;
  serenity::Status status = engine->engine.SetInput(index, data, count);
  return status.ok() ? SERENITY_OK : Fail(status, engine);
}

int serenity_engine_get_output(serenity_engine* engine, int index, float* data, size_t count) {
  if (int s = CheckEngine(engine, "serenity_engine_get_output"); s != SERENITY_OK) return s;
  serenity::Status status = engine->engine.GetOutput(index, data, count);
  return status.ok() ? SERENITY_OK : Fail(status, engine);
}

int serenity_engine_memory(const serenity_engine* engine, serenity_memory_info* info) {
  if (int s = CheckEngine(engine, "serenity_engine_memory"); s != SERENITY_OK) return s;
  if (info == nullptr) return NullArgument("serenity_engine_memory", "info");
  const serenity::MemoryFigures& memory = engine->engine.memory();
  info->arena_bytes = memory.arena_bytes;
  info->peak_bytes = memory.peak_bytes;
  info->baseline_arena_bytes = memory.baseline_arena_bytes;
  info->stored_order_peak_bytes = memory.stored_order_peak_bytes;
  info->weights_bytes = memory.weights_bytes;
  info->packed_weight_bytes = memory.packed_weight_bytes;
  return SERENITY_OK;
}

int serenity_engine_plan_info(const serenity_engine* engine, serenity_plan_info* info) {
  if (int s = CheckEngine(engine, "serenity_engine_plan_info"); s != SERENITY_OK) return s;
  if (info == nullptr) return NullArgument("serenity_engine_plan_info", "info");
  const serenity::ExecutionPlan& plan = engine->engine.plan();
  info->cache_status = serenity::PlanCacheStatusName(plan.cache.status);
  info->cache_warning = plan.cache.warning.c_str();
  info->planning_ms = plan.planning_ms;
  switch (plan.strategy) {
    case serenity::MemoryStrategy::kOrder:
      info->memory_strategy = SERENITY_MEMORY_ORDER;
      break;
    case serenity::MemoryStrategy::kAliasing:
      info->memory_strategy = SERENITY_MEMORY_ALIASING;
      break;
    case serenity::MemoryStrategy::kRewrites:
      info->memory_strategy = SERENITY_MEMORY_REWRITES;
      break;
  }
  info->order_proven_optimal = plan.schedule.optimal ? 1 : 0;
  info->time_limited = plan.time_limited() ? 1 : 0;
  info->cache_provisional = plan.cache.provisional ? 1 : 0;
  info->rewrite_work = plan.rewrite_work;
  return SERENITY_OK;
}

int serenity_engine_operator_count(const serenity_engine* engine, int* count) {
  if (int s = CheckEngine(engine, "serenity_engine_operator_count"); s != SERENITY_OK) return s;
  if (count == nullptr) return NullArgument("serenity_engine_operator_count", "count");
  *count = engine->engine.num_operators();
  return SERENITY_OK;
}

}  // extern "C"
