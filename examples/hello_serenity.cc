#include <cstdio>
#include <vector>

#include "serenity/engine.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto model = serenity::Model::Load(argv[1]);  // the model must outlive the engine
  if (!model.ok()) return std::fprintf(stderr, "%s\n", model.status().ToString().c_str()), 1;
  auto engine = serenity::Engine::Create(*model, serenity::EngineOptions{});
  if (!engine.ok()) return std::fprintf(stderr, "%s\n", engine.status().ToString().c_str()), 1;
  std::vector<float> x(engine->input(0)->num_elements, 0.5f), y(engine->output(0)->num_elements);
  if (!engine->SetInput(0, x.data(), x.size()).ok() || !engine->Invoke().ok() ||
      !engine->GetOutput(0, y.data(), y.size()).ok())
    return 1;
  std::printf("y[0] = %g, arena %.1f KiB\n", y[0], engine->memory().arena_bytes / 1024.0);
}
