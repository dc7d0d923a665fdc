/* export.h: the RTHUB_API visibility macro shared by the C and C++ headers. */
#ifndef RTHUB_EXPORT_H
#define RTHUB_EXPORT_H

/* Symbols are hidden by default (-fvisibility=hidden); RTHUB_API marks the public ones.
 * RTHUB_STATIC is defined by consumers of the static library (done by the CMake target). */
#if defined(RTHUB_STATIC)
#define RTHUB_API
#elif defined(_WIN32)
#if defined(RTHUB_BUILDING)
#define RTHUB_API __declspec(dllexport)
#else
#define RTHUB_API __declspec(dllimport)
#endif
#else
#define RTHUB_API __attribute__((visibility("default")))
#endif

#endif
