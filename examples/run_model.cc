// Embeds Serenity through its C++ API: loads a .srn model, fills every input
// with a deterministic pattern, runs it once, and prints a summary of every
// output and the memory figures.
//
//   run_model_cc MODEL.srn [THREADS]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "serenity/engine.h"

namespace {

int Fail(const char* what, const serenity::Status& status) {
  std::fprintf(stderr, "run_model_cc: %s: %s\n", what, status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: run_model_cc MODEL.srn [THREADS]\n");
    return 1;
  }
  // The Model outlives the Engine: the engine reads weights and names from it.
  serenity::Result<serenity::Model> model = serenity::Model::Load(argv[1]);
  if (!model.ok()) return Fail("loading the model", model.status());

  serenity::EngineOptions options;
  if (argc == 3) options.threads = std::atoi(argv[2]);
  serenity::Result<serenity::Engine> engine = serenity::Engine::Create(*model, options);
  if (!engine.ok()) return Fail("creating the engine", engine.status());

  const serenity::MemoryFigures& memory = engine->memory();
  std::printf("serenity %s: %s, %d operators, %s schedule%s\n", serenity::VersionString(), argv[1],
              engine->num_operators(),
              serenity::scheduler::AlgorithmName(engine->schedule().algorithm),
              engine->schedule().optimal ? " (proven optimal)" : "");
  std::printf("arena %llu bytes, peak %llu, baseline arena %llu, weights %llu (packed %llu)\n",
              static_cast<unsigned long long>(memory.arena_bytes),
              static_cast<unsigned long long>(memory.peak_bytes),
              static_cast<unsigned long long>(memory.baseline_arena_bytes),
              static_cast<unsigned long long>(memory.weights_bytes),
              static_cast<unsigned long long>(memory.packed_weight_bytes));

  for (int i = 0; i < engine->num_inputs(); ++i) {
    serenity::Result<serenity::TensorView> input = engine->input(i);
    if (!input.ok()) return Fail("reading an input", input.status());
    std::vector<float> values(input->num_elements);
    for (size_t k = 0; k < values.size(); ++k) {
      values[k] = static_cast<float>((k * 7919 % 2001) / 1000.0 - 1.0);
    }
    serenity::Status status = engine->SetInput(i, values.data(), values.size());
    if (!status.ok()) return Fail("setting an input", status);
  }
  serenity::Status status = engine->Invoke();
  if (!status.ok()) return Fail("invoke", status);

  for (int i = 0; i < engine->num_outputs(); ++i) {
    serenity::Result<serenity::TensorView> output = engine->output(i);
    if (!output.ok()) return Fail("reading an output", output.status());
    std::vector<float> values(output->num_elements);
    status = engine->GetOutput(i, values.data(), values.size());
    if (!status.ok()) return Fail("reading an output", status);
    double sum = 0.0;
    size_t argmax = 0;
    for (size_t k = 0; k < values.size(); ++k) {
      sum += values[k];
      if (values[k] > values[argmax]) argmax = k;
    }
    std::string shape;
    for (int64_t d : output->boundary_shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    std::printf("output %d '%s' [%s]: mean %.6g, max %.6g at %zu\n", i, output->name.c_str(),
                shape.c_str(), values.empty() ? 0.0 : sum / static_cast<double>(values.size()),
                values.empty() ? 0.0f : values[argmax], argmax);
  }
  return 0;
}
