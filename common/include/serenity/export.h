// SERENITY_API marks the declarations that make up Serenity's public API.
//
// Every library target is compiled with hidden symbol visibility
// (-fvisibility=hidden -fvisibility-inlines-hidden), so the shared
// libserenity.so exports only what carries this macro: the C API, Model,
// Engine, Status and the few free functions their headers declare. Internals
// (kernels, planners, FlatBuffers code, the XNNPACK bindings) stay local to
// the library. In a static build the macro changes nothing for the app.
//
// Put it first in a function declaration and after the class key (and after
// any [[attribute]]) of a class: `SERENITY_API Status Foo();`,
// `class [[nodiscard]] SERENITY_API Status {...}`.
#ifndef SERENITY_EXPORT_H_
#define SERENITY_EXPORT_H_

#if defined(__GNUC__) || defined(__clang__)
#if defined(__cplusplus)
// The C++11 attribute form: GCC rejects a GNU __attribute__ after [[nodiscard]].
#define SERENITY_API [[gnu::visibility("default")]]
#else
#define SERENITY_API __attribute__((visibility("default")))
#endif
#else
#define SERENITY_API
#endif

#endif  // SERENITY_EXPORT_H_
