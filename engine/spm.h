/* spm.h — a C API over the SentencePiece library (libsentencepiece, C++), for the tokenizer
 * of InternVL3-9B (InternLM3's tokenizer.model). Only what tokenizer-spm.c needs: load a model
 * from its serialized bytes, encode text to ids, name and classify pieces, and decode a list of
 * pieces exactly as SentencePieceProcessor.decode(pieces) does in Python (the same library). */
#ifndef IVL_SPM_H
#define IVL_SPM_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct ivl_spm ivl_spm;

/* Loads a model from the bytes of a tokenizer.model file. On failure returns NULL and sets
 * *message to the library's reason (caller frees). */
ivl_spm *ivl_spm_new_from_serialized(const char *data, gsize len, char **message);
void ivl_spm_free(ivl_spm *spm);

/* Number of pieces; ids run from 0 to this minus one. */
gint32 ivl_spm_get_piece_size(const ivl_spm *spm);
/* The piece of an id (owned by the model); NULL when id is out of range. */
const char *ivl_spm_id_to_piece(const ivl_spm *spm, gint32 id);
/* The id of a piece; -1 when the model has no such piece (the library would answer <unk>). */
gint32 ivl_spm_piece_to_id(const ivl_spm *spm, const char *piece);

/* The score of a piece (its merge priority in a BPE model); 0 when id is out of range. */
float ivl_spm_get_score(const ivl_spm *spm, gint32 id);

typedef enum {
  IVL_SPM_PIECE_NORMAL,  /* a learned piece or a user-defined symbol */
  IVL_SPM_PIECE_UNKNOWN, /* <unk> */
  IVL_SPM_PIECE_CONTROL, /* <s>, </s>: decode to nothing */
  IVL_SPM_PIECE_BYTE,    /* <0x41>: one byte (byte fallback) */
  IVL_SPM_PIECE_UNUSED,
} ivl_spm_piece_kind;
ivl_spm_piece_kind ivl_spm_get_piece_kind(const ivl_spm *spm, gint32 id);

/* Appends the ids of text (len bytes) as SentencePieceProcessor.encode(text) gives them: the
 * model's own normalizer (dummy prefix, whitespace rules), no BOS or EOS. Text the library
 * refuses (it cannot: input is valid UTF-8) appends nothing. */
void ivl_spm_encode(const ivl_spm *spm, const char *text, gsize len, GArray *ids);

/* Appends SentencePieceProcessor.decode(pieces) to out: ▁ as a space, the first piece's
 * dummy prefix dropped, byte pieces joined into characters (a byte that starts no valid
 * character becomes U+FFFD), control pieces as nothing. Pieces need not be in the model. */
void ivl_spm_decode_pieces(const ivl_spm *spm, const char *const *pieces, gsize n, GString *out);

G_END_DECLS

#endif /* IVL_SPM_H */
