/* Embeds Serenity through its C API: loads a .srn model, fills every input
 * with a deterministic pattern, runs it once, and prints a summary of every
 * output.
 *
 *   run_model_c MODEL.srn [THREADS]
 */
#include <stdio.h>
#include <stdlib.h>

#include "serenity/serenity_c.h"

static int Check(int status, const char* what) {
  if (status != SERENITY_OK) {
    fprintf(stderr, "run_model_c: %s failed (%s): %s\n", what, serenity_status_name(status),
            serenity_last_error());
  }
  return status;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: run_model_c MODEL.srn [THREADS]\n");
    return 1;
  }
  serenity_model* model = NULL;
  serenity_engine* engine = NULL;
  serenity_engine_options options;
  serenity_engine_options_init(&options);
  if (argc == 3) options.threads = atoi(argv[2]);

  int exit_code = 1;
  int inputs = 0, outputs = 0, ops = 0;
  serenity_memory_info memory;
  serenity_plan_info plan;
  if (Check(serenity_model_load(argv[1], &model), "loading the model") ||
      Check(serenity_engine_create(model, &options, &engine), "creating the engine") ||
      Check(serenity_engine_input_count(engine, &inputs), "counting inputs") ||
      Check(serenity_engine_output_count(engine, &outputs), "counting outputs") ||
      Check(serenity_engine_operator_count(engine, &ops), "counting operators") ||
      Check(serenity_engine_memory(engine, &memory), "reading memory figures") ||
      Check(serenity_engine_plan_info(engine, &plan), "reading the plan's origin")) {
    goto done;
  }
  printf("serenity %s: %s, %d operators, arena %llu bytes (peak %llu, baseline %llu)\n",
         serenity_version(), argv[1], ops, (unsigned long long)memory.arena_bytes,
         (unsigned long long)memory.peak_bytes, (unsigned long long)memory.baseline_arena_bytes);
  /* A second run of the same model finds its plan in the cache ("hit"). */
  printf("plan cache %s, planning %.3f ms%s%s\n", plan.cache_status, plan.planning_ms,
         plan.cache_warning[0] != '\0' ? "; " : "", plan.cache_warning);

  for (int i = 0; i < inputs; ++i) {
    size_t count = 0;
    if (Check(serenity_engine_input_element_count(engine, i, &count), "reading an input size")) {
      goto done;
    }
    float* values = (float*)malloc(count * sizeof(float));
    if (values == NULL) goto done;
    for (size_t k = 0; k < count; ++k) values[k] = (float)((k * 7919 % 2001) / 1000.0 - 1.0);
    int status = Check(serenity_engine_set_input(engine, i, values, count), "setting an input");
    free(values);
    if (status) goto done;
  }
  if (Check(serenity_engine_invoke(engine), "invoke")) goto done;

  for (int i = 0; i < outputs; ++i) {
    const char* name = NULL;
    const int64_t* dims = NULL;
    size_t rank = 0, count = 0;
    if (Check(serenity_engine_output_name(engine, i, &name), "reading an output name") ||
        Check(serenity_engine_output_shape(engine, i, &dims, &rank), "reading a shape") ||
        Check(serenity_engine_output_element_count(engine, i, &count), "reading a size")) {
      goto done;
    }
    float* values = (float*)malloc((count ? count : 1) * sizeof(float));
    if (values == NULL) goto done;
    if (Check(serenity_engine_get_output(engine, i, values, count), "reading an output")) {
      free(values);
      goto done;
    }
    double sum = 0.0;
    size_t argmax = 0;
    for (size_t k = 0; k < count; ++k) {
      sum += values[k];
      if (values[k] > values[argmax]) argmax = k;
    }
    printf("output %d '%s' [", i, name);
    for (size_t d = 0; d < rank; ++d) printf(d ? ", %lld" : "%lld", (long long)dims[d]);
    printf("]: mean %.6g, max %.6g at %zu\n", count ? sum / (double)count : 0.0,
           count ? values[argmax] : 0.0f, argmax);
    free(values);
  }
  exit_code = 0;

done:
  serenity_engine_destroy(engine);
  serenity_model_destroy(model);
  return exit_code;
}
