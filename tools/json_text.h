// JSON text helpers shared by the command-line tools.
#ifndef SERENITY_TOOLS_JSON_TEXT_H_
#define SERENITY_TOOLS_JSON_TEXT_H_

#include <cstdio>
#include <string>

namespace serenity::tools {

// `text` as a quoted JSON string: quotes and backslashes escaped, control
// characters as \u00XX (model and tensor names come from untrusted files).
inline std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace serenity::tools

#endif  // SERENITY_TOOLS_JSON_TEXT_H_
