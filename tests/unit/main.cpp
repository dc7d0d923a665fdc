// The Catch2 runner of rthub-unit-tests; the cases live in one file per class under test.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
