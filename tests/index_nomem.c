#include "test_util.h"
int main(int c, char **v) { t_init(c, v); return T_SKIP; }
