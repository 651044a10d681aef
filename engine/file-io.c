/* file-io.c — see file-io.h. */
#include "file-io.h"

#include "ivl.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void set_errno_error(GError **error, int err, const char *path, const char *what)
{
  g_autofree char *shown = g_filename_display_name(path);
  g_set_error(error, IVL_ERROR, err == ENOENT ? IVL_ERROR_NOT_FOUND : IVL_ERROR_IO, "%s: %s: %s",
              shown, what, g_strerror(err));
}

static const char *kind_of(mode_t mode)
{
  if (S_ISDIR(mode))
    return "a folder";
  if (S_ISFIFO(mode))
    return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode))
    return "a device";
  if (S_ISSOCK(mode))
    return "a socket";
  return "something else";
}

/* O_NONBLOCK keeps open() on a FIFO from waiting for a writer; the fstat then refuses it. */
static int open_regular(const char *path, struct stat *st, GError **error)
{
  int fd = g_open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) {
    set_errno_error(error, errno, path, "cannot open");
    return -1;
  }
  if (fstat(fd, st) != 0) {
    set_errno_error(error, errno, path, "cannot read");
    close(fd);
    return -1;
  }
  if (!S_ISREG(st->st_mode)) {
    g_autofree char *shown = g_filename_display_name(path);
    g_set_error(error, IVL_ERROR, IVL_ERROR_IO, "%s: is %s, not a regular file", shown,
                kind_of(st->st_mode));
    close(fd);
    return -1;
  }
  /* Reads of a regular file never block; clear the flag anyway for any later use. */
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

gboolean ivl_file_read(const char *path, gsize max_bytes, char **contents, gsize *length,
                       GError **error)
{
  struct stat st;
  int fd = open_regular(path, &st, error);
  if (fd < 0)
    return FALSE;
  if ((guint64)st.st_size > max_bytes) {
    g_autofree char *shown = g_filename_display_name(path);
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "%s: %" G_GUINT64_FORMAT " bytes, more than the %" G_GSIZE_FORMAT
                " bytes ivl reads from such a file",
                shown, (guint64)st.st_size, max_bytes);
    close(fd);
    return FALSE;
  }
  gsize size = (gsize)st.st_size, done = 0;
  char *buf = g_try_malloc(size + 1);
  if (!buf) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY, "Not enough memory to read %s", path);
    close(fd);
    return FALSE;
  }
  /* A file that shrinks while read ends early; one that grows is read up to its first size. */
  while (done < size) {
    ssize_t n = read(fd, buf + done, size - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      set_errno_error(error, errno, path, "cannot read");
      g_free(buf);
      close(fd);
      return FALSE;
    }
    if (n == 0)
      break;
    done += (gsize)n;
  }
  close(fd);
  buf[done] = '\0';
  *contents = buf;
  if (length)
    *length = done;
  return TRUE;
}

GMappedFile *ivl_file_map(const char *path, GError **error)
{
  struct stat st;
  int fd = open_regular(path, &st, error);
  if (fd < 0)
    return NULL;
  g_autoptr(GError) local = NULL;
  GMappedFile *map = g_mapped_file_new_from_fd(fd, FALSE, &local);
  close(fd);
  if (!map) {
    g_autofree char *shown = g_filename_display_name(path);
    g_set_error(error, IVL_ERROR, IVL_ERROR_IO, "%s: cannot map the file", shown);
  }
  return map;
}

int ivl_output_open(const char *path, GError **error)
{
  int fd = g_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC, 0666);
  if (fd < 0) {
    int err = errno;
    g_autofree char *shown = g_filename_display_name(path);
    if (err == ENXIO)
      g_set_error(error, IVL_ERROR, IVL_ERROR_IO, "%s: a FIFO with no reader", shown);
    else
      g_set_error(error, IVL_ERROR, IVL_ERROR_IO, "%s: cannot write: %s", shown, g_strerror(err));
    return -1;
  }
  /* Writes then wait for a slow reader instead of failing with EAGAIN. */
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

gboolean ivl_output_write(int fd, const void *data, gsize length, const char *path,
                          GError **error)
{
  const char *p = data;
  while (length > 0) {
    ssize_t n = write(fd, p, length);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      set_errno_error(error, n < 0 ? errno : ENOSPC, path, "cannot write");
      return FALSE;
    }
    p += n;
    length -= (gsize)n;
  }
  return TRUE;
}

gboolean ivl_output_close(int fd, const char *path, GError **error)
{
  if (close(fd) != 0) {
    set_errno_error(error, errno, path, "cannot write");
    return FALSE;
  }
  return TRUE;
}

gboolean ivl_file_write(const char *path, const void *data, gsize length, GError **error)
{
  int fd = ivl_output_open(path, error);
  if (fd < 0)
    return FALSE;
  if (!ivl_output_write(fd, data, length, path, error)) {
    close(fd);
    return FALSE;
  }
  return ivl_output_close(fd, path, error);
}
