// The model type users load, re-exported from model_format so that embedding
// code includes only serenity/... runtime headers:
//
//   Result<Model> model = Model::Load("net.srn");
//
// See serenity/model_format/model.h for Model::Load / Model::FromBuffer, their
// errors, and the lifetime of a Model's bytes.
#ifndef SERENITY_MODEL_H_
#define SERENITY_MODEL_H_

#include "serenity/model_format/model.h"  // IWYU pragma: export

#endif  // SERENITY_MODEL_H_
