#include "ivl.h"

G_DEFINE_QUARK(ivl-error-quark, ivl_error)
