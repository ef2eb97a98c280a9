/* hs_kafka: being written. */
#include "hs_kafka.h"
