#include "serenity/version.h"

namespace serenity {

const char* VersionString() { return SERENITY_VERSION_STRING; }

}  // namespace serenity
