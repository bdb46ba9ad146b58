#include "event.h"

const char *lf_tag_class_name(lf_tag_class c)
{
    static const char *names[LF_TAG_NCLASSES] = {"time", "singles", "gating", "control", "bed", "unknown"};
    return (unsigned)c < LF_TAG_NCLASSES ? names[c] : "unknown";
}
