#include "serenity/scheduler/plan_csv.h"

#include <climits>
#include <sstream>

namespace serenity::scheduler {
namespace {

std::string Trim(const std::string& text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && (text[begin] == ' ' || text[begin] == '\t')) ++begin;
  while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\r')) {
    --end;
  }
  return text.substr(begin, end - begin);
}

// Fields separated by commas; a field in double quotes may hold commas, and
// "" for a quote (RFC 4180, within one line). Sets *unterminated when a quote
// is left open.
std::vector<std::string> SplitFields(const std::string& line, bool* unterminated) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;  // inside quotes
  bool was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c != '"') {
        field += c;
      } else if (i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else {
        quoted = false;
      }
    } else if (c == '"' && Trim(field).empty()) {
      quoted = true;
      was_quoted = true;
      field.clear();
    } else if (c == ',') {
      fields.push_back(was_quoted ? field : Trim(field));
      field.clear();
      was_quoted = false;
    } else if (!was_quoted) {
      field += c;
    }
  }
  *unterminated = quoted;
  fields.push_back(was_quoted ? field : Trim(field));
  return fields;
}

bool ParseUnsigned(const std::string& text, uint64_t* value) {
  if (text.empty() || text.size() > 19) return false;
  uint64_t result = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    result = result * 10 + static_cast<uint64_t>(c - '0');
  }
  *value = result;
  return true;
}

}  // namespace

Result<PlanCsv> ParsePlanCsv(const std::string& text, uint64_t alignment) {
  PlanCsv csv;
  // Column positions of id, lower, upper, size.
  int column[4] = {0, 1, 2, 3};
  static const char* const kNames[4] = {"id", "lower", "upper", "size"};
  bool first_line = true;
  std::istringstream in(text);
  std::string raw;
  int line_number = 0;
  while (std::getline(in, raw)) {
    ++line_number;
    const std::string line = Trim(raw);
    if (line.empty()) continue;
    bool unterminated = false;
    const std::vector<std::string> fields = SplitFields(line, &unterminated);
    if (unterminated) {
      return InvalidArgumentError("line ", line_number, ": a quoted field is not closed");
    }
    uint64_t unused = 0;
    if (first_line) {
      first_line = false;
      if (fields.size() < 2 || !ParseUnsigned(fields[1], &unused)) {
        for (int c = 0; c < 4; ++c) {
          column[c] = -1;
          for (size_t f = 0; f < fields.size(); ++f) {
            if (fields[f] == kNames[c]) column[c] = static_cast<int>(f);
          }
          if (column[c] < 0) {
            return InvalidArgumentError("line ", line_number, ": header has no '", kNames[c],
                                        "' column (expected id,lower,upper,size)");
          }
        }
        continue;
      }
    }
    PlanCsvRow row;
    row.line = line_number;
    uint64_t numbers[4] = {0, 0, 0, 0};
    for (int c = 0; c < 4; ++c) {
      if (column[c] >= static_cast<int>(fields.size())) {
        return InvalidArgumentError("line ", line_number, ": missing column '", kNames[c],
                                    "' (", fields.size(), " fields)");
      }
      const std::string& field = fields[column[c]];
      if (c == 0) {
        if (field.empty()) return InvalidArgumentError("line ", line_number, ": empty id");
        row.id = field;
      } else if (!ParseUnsigned(field, &numbers[c])) {
        return InvalidArgumentError("line ", line_number, ": ", kNames[c], " '", field,
                                    "' is not a non-negative integer");
      }
    }
    if (numbers[1] >= numbers[2]) {
      return InvalidArgumentError("line ", line_number, ": lower ", numbers[1],
                                  " is not below upper ", numbers[2],
                                  " (the interval [lower, upper) is half-open)");
    }
    if (numbers[2] > static_cast<uint64_t>(INT_MAX)) {
      return InvalidArgumentError("line ", line_number, ": upper ", numbers[2],
                                  " is too large (at most ", INT_MAX, ")");
    }
    row.lower = static_cast<int64_t>(numbers[1]);
    row.upper = static_cast<int64_t>(numbers[2]);
    row.size = numbers[3];
    PlanBuffer buffer;
    buffer.size = row.size;
    buffer.first = static_cast<int>(row.lower);
    buffer.last = static_cast<int>(row.upper - 1);
    buffer.alignment = alignment;
    csv.rows.push_back(std::move(row));
    csv.buffers.push_back(buffer);
  }
  return csv;
}

std::string CsvField(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos &&
      (text.empty() || (text.front() != ' ' && text.back() != ' '))) {
    return std::string(text);
  }
  std::string field = "\"";
  for (char c : text) {
    if (c == '"') field += '"';
    field += c == '\n' || c == '\r' ? ' ' : c;
  }
  return field + '"';
}

}  // namespace serenity::scheduler
