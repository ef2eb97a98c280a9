/* hs_state: being written. */
#include "hs_state.h"
