#include "data_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#ifndef LAFOV_INSTALL_DATA_DIR
#define LAFOV_INSTALL_DATA_DIR "/usr/local/share/lafov"
#endif
#ifndef LAFOV_SOURCE_DATA_DIR
#define LAFOV_SOURCE_DATA_DIR "data"
#endif

const char *lf_data_subdir(const char *sub, const char *env_var, char *buf, size_t n)
{
    const char *e = env_var ? getenv(env_var) : NULL;
    if (e && *e) {
        snprintf(buf, n, "%s", e);
        return buf;
    }
    e = getenv("LAFOV_DATA_DIR");
    struct stat st;
    if (e && *e)
        snprintf(buf, n, "%s/%s", e, sub);
    else if (snprintf(buf, n, "%s/%s", LAFOV_SOURCE_DATA_DIR, sub) > 0 && stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
        ; /* a build tree uses its own source tree's files */
    else
        snprintf(buf, n, "%s/%s", LAFOV_INSTALL_DATA_DIR, sub);
    return buf;
}
