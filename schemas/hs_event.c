/* hs_event: being written. */
#include "hs_event.h"
