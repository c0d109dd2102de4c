#include "serenity/engine.h"  // declares VersionString (exported)
#include "serenity/version.h"

namespace serenity {

const char* VersionString() { return SERENITY_VERSION_STRING; }

}  // namespace serenity
