/* hs_config: being written. */
#include "hs_config.h"
