/* hs_provider: being written. */
#include "hs_provider.h"
