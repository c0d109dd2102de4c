// Raw arena-planning instances as CSV, the format of the MiniMalloc
// benchmarks: one buffer per row, `id,lower,upper,size`, live during the
// half-open interval [lower, upper). Parsing only: the caller reads the file.
#ifndef SERENITY_SCHEDULER_PLAN_CSV_H_
#define SERENITY_SCHEDULER_PLAN_CSV_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "serenity/scheduler/arena_planner.h"
#include "serenity/status.h"

namespace serenity::scheduler {

struct PlanCsvRow {
  std::string id;
  int64_t lower = 0;  // inclusive
  int64_t upper = 0;  // exclusive
  uint64_t size = 0;
  int line = 0;  // 1-based line in the text
};

struct PlanCsv {
  std::vector<PlanCsvRow> rows;
  // One per row: first = lower, last = upper - 1.
  std::vector<PlanBuffer> buffers;
};

// A field is separated from the next by a comma and trimmed of spaces and
// tabs, unless it is in double quotes: then it is taken as is, commas
// included, with "" for a quote (RFC 4180, within one line).
// The first non-empty line is a header when its second field is not a number;
// it must then name the columns id, lower, upper and size (any order; other
// columns are ignored). Without a header the first four columns are taken in
// that order. Blank lines and '\r' are ignored. Every row gets `alignment`.
// Errors (kInvalidArgument) start with "line N: " and name the field:
// a missing column, a field that is not a non-negative integer, lower >=
// upper, a time that does not fit in an int, or a quote left open.
Result<PlanCsv> ParsePlanCsv(const std::string& text, uint64_t alignment = 1);

// `text` as one CSV field ParsePlanCsv reads back: in double quotes (quotes
// doubled) when it holds a comma, a quote or a line break, or starts or ends
// with a space; as is otherwise. A row is one line, so a line break is written
// as a space (the one change the round trip makes).
std::string CsvField(std::string_view text);

}  // namespace serenity::scheduler

#endif  // SERENITY_SCHEDULER_PLAN_CSV_H_
