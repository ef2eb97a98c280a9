/* hs_crypto: being written. */
#include "hs_crypto.h"
