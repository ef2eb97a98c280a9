/* hs_http: being written. */
#include "hs_http.h"
