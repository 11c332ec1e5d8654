#include "tests/helpers.h"
