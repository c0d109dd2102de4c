// Command-line flag parsing shared by the tools: one argument at a time,
// "--name=value" or "--name value".
#ifndef SERENITY_TOOLS_FLAG_ARG_H_
#define SERENITY_TOOLS_FLAG_ARG_H_

#include <string>

#include "serenity/status.h"

namespace serenity::tools {

// The argument at argv[*index]; Value() may consume the next one.
class FlagArg {
 public:
  FlagArg(int argc, char** argv, int* index) : argc_(argc), argv_(argv), index_(index) {
    name_ = argv[*index];
    const size_t eq = name_.find('=');
    if (name_.rfind("--", 0) == 0 && eq != std::string::npos) {
      value_ = name_.substr(eq + 1);
      name_ = name_.substr(0, eq);
      has_value_ = true;
    }
  }

  // "--name" (or the whole argument when it is not "--name=value").
  const std::string& name() const { return name_; }
  bool has_value() const { return has_value_; }

  // The value after '=', else the next argument (consumed).
  Status Value(std::string* out) {
    if (has_value_) {
      *out = value_;
      return Status::Ok();
    }
    if (*index_ + 1 >= argc_) return InvalidArgumentError(name_, " needs a value");
    *out = argv_[++*index_];
    return Status::Ok();
  }

  // For switches: "--name=value" is an error.
  Status NoValue() const {
    if (has_value_) return InvalidArgumentError(name_, " takes no value");
    return Status::Ok();
  }

 private:
  int argc_;
  char** argv_;
  int* index_;
  std::string name_;
  std::string value_;
  bool has_value_ = false;
};

}  // namespace serenity::tools

#endif  // SERENITY_TOOLS_FLAG_ARG_H_
