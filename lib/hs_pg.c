/* hs_pg: being written. */
#include "hs_pg.h"
