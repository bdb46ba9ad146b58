#include "mpi_world.h"

#include <stdlib.h>

#ifdef LAFOV_HAVE_MPI
#include <mpi.h>
#endif

/* the first of the variables that holds a whole number >= 0, else def */
static int env_int(const char *const *names, int def)
{
    for (int i = 0; names[i]; i++) {
        const char *v = getenv(names[i]);
        char *e = NULL;
        long x = v ? strtol(v, &e, 10) : -1;
        if (v && e != v && *e == '\0' && x >= 0 && x < 1000000)
            return (int)x;
    }
    return def;
}

void lf_mpi_begin(int *argc, char ***argv, lf_mpi_world *w)
{
    /* set by launchers for the processes they start only (not SLURM_*: a batch script has them too) */
    static const char *const rank[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", NULL};
    static const char *const size[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", NULL};
    static const char *const local[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", NULL};
    w->mpi = 0;
    w->rank = env_int(rank, 0);
    w->size = env_int(size, 1);
    w->local_rank = env_int(local, 0);
#ifdef LAFOV_HAVE_MPI
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK")) { /* under a launcher */
        if (MPI_Init(argc, argv) == MPI_SUCCESS) {
            w->mpi = 1;
            MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
            MPI_Comm_size(MPI_COMM_WORLD, &w->size);
        }
    }
#else
    (void)argc;
    (void)argv;
#endif
    if (w->size < 1 || w->rank >= w->size) {
        w->rank = 0;
        w->size = 1;
    }
}

int lf_mpi_sum(const lf_mpi_world *w, int v)
{
#ifdef LAFOV_HAVE_MPI
    if (w->mpi) {
        int s = v;
        MPI_Allreduce(&v, &s, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        return s;
    }
#else
    (void)w;
#endif
    return v;
}

int lf_mpi_allreduce_floats(void *world, float *buf, size_t n)
{
    const lf_mpi_world *w = world;
#ifdef LAFOV_HAVE_MPI
    if (w->mpi) {
        const size_t chunk = (size_t)1 << 30;
        for (size_t i = 0; i < n; i += chunk) {
            int m = (int)(n - i < chunk ? n - i : chunk);
            if (MPI_Allreduce(MPI_IN_PLACE, buf + i, m, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
                return -1;
        }
        return 0;
    }
#else
    (void)buf;
    (void)n;
#endif
    return w->size > 1 ? -1 : 0;
}

void lf_mpi_abort(const lf_mpi_world *w, int code)
{
#ifdef LAFOV_HAVE_MPI
    if (w->mpi && w->size > 1)
        MPI_Abort(MPI_COMM_WORLD, code);
#else
    (void)w;
    (void)code;
#endif
}

void lf_mpi_end(lf_mpi_world *w)
{
#ifdef LAFOV_HAVE_MPI
    if (w->mpi)
        MPI_Finalize();
#endif
    w->mpi = 0;
}
