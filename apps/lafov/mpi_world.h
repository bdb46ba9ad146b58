/* lafov CLI: the world of ranks a command runs in (`mpirun -n R lafov batch …`).
 *
 *   lf_mpi_world w; lf_mpi_begin(&argc, &argv, &w);   // w.rank of w.size; w.local_rank on this host
 *   int failed_everywhere = lf_mpi_sum(&w, failed_here);
 *   lf_mpi_end(&w);
 *
 * Built with MPI (LAFOV_HAVE_MPI, CMake LAFOV_MPI=AUTO|ON|OFF): MPI_Init, MPI_COMM_WORLD's rank and size,
 * sums by MPI_Allreduce, MPI_Finalize. Without MPI the ranks come from the launcher's environment
 * (OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK of Open MPI, else PMI_RANK/PMI_SIZE of MPICH's hydra), so
 * `mpirun` still spreads the jobs; sums are then this rank's alone. Outside any launcher: rank 0 of 1.
 */
#ifndef LF_MPI_WORLD_H
#define LF_MPI_WORLD_H

#include <stddef.h>

typedef struct lf_mpi_world {
    int rank, size, local_rank;
    int mpi; /* 1 when MPI_Init ran */
} lf_mpi_world;

void lf_mpi_begin(int *argc, char ***argv, lf_mpi_world *w);
int lf_mpi_sum(const lf_mpi_world *w, int v);
/* In-place sum over the ranks of n floats (MPI_Allreduce, in chunks below INT_MAX); the signature of
 * lf_recon_opts.reduce (user: the world). 0, or -1 when MPI failed or is not running (size > 1 without
 * MPI built in). */
int lf_mpi_allreduce_floats(void *world, float *buf, size_t n);
/* Ends every rank at once (MPI_Abort) when size > 1, so a failed rank cannot leave the others waiting in
 * a collective; a no-op otherwise. */
void lf_mpi_abort(const lf_mpi_world *w, int code);
void lf_mpi_end(lf_mpi_world *w);

#endif
