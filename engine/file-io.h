/* file-io.h — opening the files a user names: inputs that must be regular files (a FIFO or a
 * device would block or never end) and outputs written the way the shell's `>` writes. */
#ifndef IVL_FILE_IO_H
#define IVL_FILE_IO_H

#include <glib.h>

G_BEGIN_DECLS

/* Reads all of path, which must be a regular file of at most max_bytes, into a NUL-terminated
 * buffer. IVL_ERROR_NOT_FOUND when missing, IVL_ERROR_IO when unreadable or not a regular
 * file, IVL_ERROR_UNSUPPORTED when larger than max_bytes. */
gboolean ivl_file_read(const char *path, gsize max_bytes, char **contents, gsize *length,
                       GError **error);

/* Maps path for reading; the same errors as ivl_file_read, without a size bound. */
GMappedFile *ivl_file_map(const char *path, GError **error);

/* Opens path for writing as `>` does (created or truncated in place, never replaced, so a
 * symlink's target, a device or a FIFO with a reader gets the bytes); a FIFO without a reader
 * is an error rather than a wait. Returns the descriptor, or -1 with IVL_ERROR_IO. */
int ivl_output_open(const char *path, GError **error);

/* Writes all of data to fd, then (for ivl_output_close) closes it; IVL_ERROR_IO naming path. */
gboolean ivl_output_write(int fd, const void *data, gsize length, const char *path,
                          GError **error);
gboolean ivl_output_close(int fd, const char *path, GError **error);

/* open, write, close in one. */
gboolean ivl_file_write(const char *path, const void *data, gsize length, GError **error);

G_END_DECLS

#endif /* IVL_FILE_IO_H */
