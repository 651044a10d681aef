// spm.cc — the C API of spm.h over sentencepiece::SentencePieceProcessor. No C++ exception
// or type crosses the API: the library reports through util::Status, and the few
// allocations that could throw std::bad_alloc are left to abort, as g_malloc does.
#include "spm.h"

#include <sentencepiece_processor.h>

#include <string>
#include <vector>

struct ivl_spm {
  sentencepiece::SentencePieceProcessor processor;
};

ivl_spm *ivl_spm_new_from_serialized(const char *data, gsize len, char **message)
{
  ivl_spm *spm = new ivl_spm;
  const auto status = spm->processor.LoadFromSerializedProto(std::string_view(data, len));
  if (!status.ok()) {
    if (message)
      *message = g_strdup(status.ToString().c_str());
    delete spm;
    return nullptr;
  }
  return spm;
}

void ivl_spm_free(ivl_spm *spm)
{
  delete spm;
}

gint32 ivl_spm_get_piece_size(const ivl_spm *spm)
{
  return spm->processor.GetPieceSize();
}

const char *ivl_spm_id_to_piece(const ivl_spm *spm, gint32 id)
{
  if (id < 0 || id >= spm->processor.GetPieceSize())
    return nullptr;
  return spm->processor.IdToPiece(id).c_str();
}

gint32 ivl_spm_piece_to_id(const ivl_spm *spm, const char *piece)
{
  // PieceToId answers unk_id for a string that is no piece; only <unk> itself maps there.
  const int id = spm->processor.PieceToId(piece);
  if (id < 0 || spm->processor.IdToPiece(id) != piece)
    return -1;
  return id;
}

float ivl_spm_get_score(const ivl_spm *spm, gint32 id)
{
  if (id < 0 || id >= spm->processor.GetPieceSize())
    return 0.0f;
  return spm->processor.GetScore(id);
}

ivl_spm_piece_kind ivl_spm_get_piece_kind(const ivl_spm *spm, gint32 id)
{
  const auto &p = spm->processor;
  if (p.IsUnknown(id))
    return IVL_SPM_PIECE_UNKNOWN;
  if (p.IsControl(id))
    return IVL_SPM_PIECE_CONTROL;
  if (p.IsByte(id))
    return IVL_SPM_PIECE_BYTE;
  if (p.IsUnused(id))
    return IVL_SPM_PIECE_UNUSED;
  return IVL_SPM_PIECE_NORMAL;
}

void ivl_spm_encode(const ivl_spm *spm, const char *text, gsize len, GArray *ids)
{
  std::vector<int> out;
  if (!spm->processor.Encode(std::string_view(text, len), &out).ok())
    return;
  for (int id : out) {
    gint32 v = id;
    g_array_append_val(ids, v);
  }
}

void ivl_spm_decode_pieces(const ivl_spm *spm, const char *const *pieces, gsize n, GString *out)
{
  if (n == 0)
    return;
  std::vector<std::string> v(pieces, pieces + n);
  std::string text;
  if (spm->processor.Decode(v, &text).ok())
    g_string_append_len(out, text.data(), (gssize)text.size());
}
