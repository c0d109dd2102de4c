#!/usr/bin/env bash
# CI's install job (.ci/run calls it after the ASan job): Serenity as an app
# sees it. For each library kind (static, shared):
#   1. configure, build and `cmake --install` into a temporary prefix
#      (build/ci-install-<kind>; no tests, no benchmarks);
#   2. check the install tree: every installed header compiles on its own
#      against the prefix alone and pulls in no FlatBuffers, XNNPACK or
#      pthreadpool header; for the shared library, the dynamic symbol table
#      exports the whole C API and none of the internals;
#   3. make zoo models with the installed serenity_zoo;
#   4. configure examples/ as a separate CMake project against the installed
#      package (find_package(Serenity 0.1)), build the C and C++ examples and
#      the README's C++ example, run them on the models;
#   5. build the C example with `cc ... $(pkg-config --cflags --libs serenity)`
#      and run it.
# The C, C++ and pkg-config builds must print the same outputs.
#   scripts/ci-install.sh [static|shared]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
export CI="${CI:-true}"
jobs="${JOBS:-2}"
kinds=("$@")
[[ ${#kinds[@]} -eq 0 ]] && kinds=(static shared)

work=$(mktemp -d "${TMPDIR:-/tmp}/serenity-ci-install.XXXXXX")
trap 'rm -rf "$work"' EXIT

step_start=$SECONDS
section() {
  printf '(step took %d s)\n' $((SECONDS - step_start))
  step_start=$SECONDS
  printf '\n==== install: %s ====\n' "$*"
}
fail() {
  echo "ci-install: $*" >&2
  exit 1
}

# The README's C++ example must be examples/hello_serenity.cc, which is built
# and run below.
readme_example=$(awk '/^## Using Serenity in your app/{in_section=1; next}
                      in_section && /^## /{exit}
                      in_section && /^```c\+\+/{fence=1; next}
                      in_section && fence && /^```/{exit}
                      in_section && fence {print}' README.md)
if [[ "$readme_example" != "$(cat examples/hello_serenity.cc)" ]]; then
  diff <(printf '%s\n' "$readme_example") examples/hello_serenity.cc || true
  fail "README.md's C++ example differs from examples/hello_serenity.cc"
fi

for kind in "${kinds[@]}"; do
  case "$kind" in
    static) shared=OFF ;;
    shared) shared=ON ;;
    *) fail "unknown library kind '$kind' (static or shared)" ;;
  esac
  build=build/ci-install-$kind
  prefix=$work/prefix-$kind

  section "$kind: configure, build, install into $prefix"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=$shared \
        -DSERENITY_BUILD_TESTS=OFF -DSERENITY_BUILD_BENCH=OFF \
        -DCMAKE_INSTALL_PREFIX="$prefix" >"$work/configure-$kind.log" ||
    { cat "$work/configure-$kind.log"; fail "$kind: configure failed"; }
  cmake --build "$build" -j "$jobs"
  cmake --install "$build" >"$work/install-$kind.log"
  (cd "$prefix" && find . -type f -o -type l | sort | sed 's|^\./||' |
     awk -F/ '{n[$1]++; if (n[$1] <= 16) print "  " $0; else if (n[$1] == 17) print "  " $1 "/..."}')
  for tool in serenity_run serenity_inspect serenity_schedule serenity_plan onnx2srn serenity_zoo; do
    [[ -x "$prefix/bin/$tool" ]] || fail "$kind: bin/$tool is not installed"
  done
  if [[ $kind == shared ]]; then
    library=$(find "$prefix" -name libserenity.so -print -quit)
    [[ -n "$library" ]] || fail "shared: no libserenity.so installed"
    [[ -z "$(find "$prefix" -name '*.a')" ]] || fail "shared: static libraries installed"
  else
    [[ -n "$(find "$prefix" -name libserenity_runtime.a)" ]] || fail "static: no libserenity_runtime.a"
  fi

  # Apps need no FlatBuffers: it is used through headers, at build time only.
  ! grep -rl -i flatbuffers "$prefix/lib" --include='*.cmake' --include='*.pc' ||
    fail "$kind: the installed package asks for FlatBuffers"

  section "$kind: installed headers stand alone, with no FlatBuffers/XNNPACK inside"
  headers=$(cd "$prefix/include" && find serenity -name '*.h' | sort)
  [[ -n "$headers" ]] || fail "$kind: no headers installed"
  echo "$headers" | sed 's/^/  /'
  for header in $headers; do
    echo "#include \"$header\"" | c++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only \
      -I"$prefix/include" -x c++ - || fail "$kind: $header does not compile on its own"
  done
  echo '#include "serenity/serenity_c.h"' | cc -std=c11 -Wall -Wextra -Werror -pedantic \
    -fsyntax-only -I"$prefix/include" -x c - || fail "$kind: serenity_c.h is not C"
  # Every namespace-scope function and class in the installed headers is
  # exported (SERENITY_API), inline, or a template; so a new declaration
  # without the macro fails here instead of as a link error in an app.
  unmarked=$(cd "$prefix/include" && awk '
    /^[A-Za-z_]/ && /\(/ && prev !~ /^template/ &&
      !/^(SERENITY_API|template|inline|static|namespace|class|struct|enum|using|typedef|extern|constexpr)/ {
      print FILENAME ":" FNR ": " $0
    }
    /^class [^;]*$/ && !/SERENITY_API/ && prev !~ /^template/ { print FILENAME ":" FNR ": " $0 }
    !/^[ \t]*$/ { prev = $0 }' $headers)
  [[ -z "$unmarked" ]] || fail "$kind: declarations without SERENITY_API:"$'\n'"$unmarked"
  # Every file the preprocessor opens, through line markers.
  opened=$(for header in $headers; do echo "#include \"$header\""; done |
           c++ -std=c++17 -E -I"$prefix/include" -x c++ - | awk '/^# [0-9]+ "/{print $3}' | sort -u)
  leaked=$(echo "$opened" | grep -E 'flatbuffers|serenity_generated|xnnpack|pthreadpool' || true)
  [[ -z "$leaked" ]] || fail "$kind: installed headers include $leaked"
  outside=$(echo "$opened" | grep -F '/serenity/' | grep -vF "\"$prefix/include/" || true)
  [[ -z "$outside" ]] || fail "$kind: headers resolved outside the prefix: $outside"
  echo "  ok: $(echo "$headers" | wc -l) headers; none reaches FlatBuffers, XNNPACK or pthreadpool"

  if [[ $kind == shared ]]; then
    section "shared: exported symbols of $(basename "$library")"
    symbols=$(nm -D --defined-only "$library" | awk '{print $3}')
    demangled=$(echo "$symbols" | c++filt)
    c_api=$(grep -oE 'SERENITY_API [^(]*[ *](serenity_[a-z0-9_]+)\(' "$prefix/include/serenity/serenity_c.h" |
            grep -oE 'serenity_[a-z0-9_]+\($' | tr -d '(')
    missing=$(comm -23 <(echo "$c_api" | sort -u) <(echo "$symbols" | sort -u))
    [[ -z "$missing" ]] || fail "shared: C API functions not exported: $missing"
    for wanted in 'serenity::Engine::Create(' 'serenity::Model::Load(' 'serenity::Status::ToString' \
                  'serenity::VersionString()' 'serenity::scheduler::AlgorithmName('; do
      grep -qF "$wanted" <<<"$demangled" || fail "shared: $wanted is not exported"
    done
    # Standard-library template code the compiler emits with default
    # visibility (std::vector<...>::_M_realloc_insert<serenity::kernels::...>,
    # std::thread's state for an internal lambda) names internal types but is
    # not an entry point into them; everything else must be API.
    internal=$(echo "$demangled" |
               grep -vE '^([A-Za-z_][A-Za-z0-9_:<>, *&]* )?(typeinfo for |typeinfo name for |vtable for )?std::' |
               grep -E '^xnn_|pthreadpool|flatbuffers::|serenity::(fb|kernels|platforms)::|serenity::scheduler::internal::|anonymous namespace' || true)
    [[ -z "$internal" ]] || fail "shared: internals exported: $(echo "$internal" | head -5)"
    printf '  ok: %d symbols exported, %d C API functions (all), %d serenity:: C++ symbols,\n' \
      "$(echo "$symbols" | wc -l)" "$(echo "$c_api" | wc -l)" \
      "$(echo "$demangled" | grep -c '^serenity::')"
    printf '      no xnn_*, pthreadpool*, flatbuffers:: or serenity::{fb,kernels,platforms}:: symbol\n'
    ldd "$library" | sed 's/^\s*/  ldd: /'
  fi

  section "$kind: zoo models from the installed serenity_zoo; installed serenity_run"
  "$prefix/bin/serenity_run" --version
  "$prefix/bin/serenity_zoo" --out "$work/zoo" --only tiny_all_ops --only darts_cifar >/dev/null
  "$prefix/bin/serenity_run" --model "$work/zoo/tiny_all_ops.srn" --runs 1 --warmup 0 | sed 's/^/  /'

  section "$kind: examples/ as an outside project (find_package(Serenity 0.1))"
  cmake -S examples -B "$work/examples-$kind" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$prefix" >"$work/examples-configure-$kind.log" ||
    { cat "$work/examples-configure-$kind.log"; fail "$kind: examples do not configure"; }
  grep -E 'Found|Serenity' "$work/examples-configure-$kind.log" | sed 's/^/  /' || true
  cmake --build "$work/examples-$kind" -j "$jobs"
  if [[ $kind == shared ]]; then
    # The app loads libserenity.so from the prefix. ldd's output is captured
    # first: under pipefail, `ldd | grep -q` fails whenever grep exits before
    # ldd has written everything (SIGPIPE), which is what broke a CI run.
    app_libs=$(ldd "$work/examples-$kind/run_model_cc")
    grep -qE "libserenity[.]so.* => $prefix/" <<<"$app_libs" ||
      fail "shared: run_model_cc does not load libserenity.so from the prefix: $(grep serenity <<<"$app_libs")"
  fi
  for model in tiny_all_ops darts_cifar; do
    srn=$work/zoo/$model.srn
    c_out=$("$work/examples-$kind/run_model_c" "$srn" 2)
    cc_out=$("$work/examples-$kind/run_model_cc" "$srn" 2)
    hello_out=$("$work/examples-$kind/hello_serenity" "$srn")
    printf '%s\n' "$c_out" "$cc_out" "$hello_out" | sed "s/^/  $model: /"
    [[ "$(grep '^output' <<<"$c_out")" == "$(grep '^output' <<<"$cc_out")" ]] ||
      fail "$kind: C and C++ examples disagree on $model"
    grep -q '^output 0' <<<"$c_out" || fail "$kind: run_model_c printed no output on $model"
    grep -q '^y\[0\] = ' <<<"$hello_out" || fail "$kind: hello_serenity printed nothing on $model"
    echo "$c_out" | grep '^output' >"$work/outputs-$kind-$model.txt"
  done

  section "$kind: the C example through pkg-config"
  PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name serenity.pc -print -quit)")
  export PKG_CONFIG_PATH
  echo "  pkg-config --modversion serenity: $(pkg-config --modversion serenity)"
  echo "  pkg-config --cflags --libs serenity: $(pkg-config --cflags --libs serenity)"
  # shellcheck disable=SC2046  # word splitting of the flags is the point
  cc -std=c11 -Wall -Wextra -Werror examples/run_model.c -o "$work/run_model_c_pc-$kind" \
     $(pkg-config --cflags --libs serenity)
  pc_out=$(LD_LIBRARY_PATH="$(pkg-config --variable=libdir serenity)" \
           "$work/run_model_c_pc-$kind" "$work/zoo/tiny_all_ops.srn" 2)
  echo "$pc_out" | sed 's/^/  /'
  [[ "$(grep '^output' <<<"$pc_out")" == "$(cat "$work/outputs-$kind-tiny_all_ops.txt")" ]] ||
    fail "$kind: the pkg-config build disagrees with the CMake build"
  unset PKG_CONFIG_PATH
done

if [[ ${#kinds[@]} -eq 2 ]]; then
  section "static and shared agree"
  for model in tiny_all_ops darts_cifar; do
    cmp -s "$work/outputs-static-$model.txt" "$work/outputs-shared-$model.txt" ||
      fail "static and shared builds disagree on $model"
  done
  echo "  ok"
fi
section "done"
