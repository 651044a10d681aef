/* Proves engine/ivl.h compiles on its own and its error domain links. */
#include "ivl.h"

int main(void)
{
  return ivl_error_quark() != 0 ? 0 : 1;
}
